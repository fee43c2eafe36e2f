package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// Daemon is `crosswatch-edge run`: one box, any number of cameras, each with its own pipeline
// goroutines, and one outbox, one relay and one MQTT connection for them all. Open makes what
// it needs, Run runs it until ctx ends (then drains), Close releases what Open made. (Not
// called Main: that is the binary's entry point, as in aggregator/cli.)
type Daemon struct {
	Box    *Box
	Log    *slog.Logger
	Reload <-chan os.Signal // each value reloads the config (SIGHUP); nil: never

	ob    *outbox.Outbox
	store *sender.Watched
	snd   *sender.Sender
	// refusals is snd.Rejections once Dial has returned: the status callbacks, which the
	// connection may call while Dial runs, read it instead of snd.
	refusals atomic.Pointer[sender.Rejections]
	feed     *signals.Feed // the controller's phases for the box's signals (MQTT and phases files)
	ln       net.Listener  // metrics, health and readiness; nil: none
	reg      *prometheus.Registry
	met      *boxMetrics
	models   *vision.Models // nil when the models directory cannot be read
	// nets lends the box's DNN cameras their networks: one per core, shared (a network is
	// about 18 MB; docs/BENCHMARKS.md, the DNN detector). Closed by Close, after Run.
	nets *vision.DNNPool

	mu   sync.Mutex
	cams map[string]*camRunner // guarded by mu; by camera id

	scenes *sceneSync // the aggregator's scenes for the box's cameras (scenesync.go)

	// backoff bounds a failed camera's retries (tests shorten it).
	minBackoff, maxBackoff time.Duration
}

// camRunner is one camera's running pipeline goroutine.
type camRunner struct {
	cam    BoxCamera
	state  *camState
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDaemon returns the daemon of a loaded box (loadBox), logging to log and reloading its config
// at each value from reload.
func NewDaemon(box *Box, log *slog.Logger, reload <-chan os.Signal) *Daemon {
	d := &Daemon{Box: box, Log: log, Reload: reload, feed: signals.NewFeed(), cams: map[string]*camRunner{},
		minBackoff: time.Second, maxBackoff: 30 * time.Second}
	d.reg = prometheus.NewRegistry()
	d.met = newBoxMetrics(d)
	d.reg.MustRegister(d.met)
	return d
}

// Open checks the box's identity (before it makes anything), opens the outbox and the metrics
// listener, reads the phases files and starts the MQTT connection (in the background: a broker
// not there yet is no error). Nothing reads a camera before Run. After an error, Close releases
// what Open made.
func (d *Daemon) Open(ctx context.Context) error {
	c := d.Box.Config
	withIdentity, err := c.Broker.Identity.Options(c.Broker.URL, c.Device, d.Log, configNames)
	if err != nil {
		return err
	}
	if err := d.openOutbox(); err != nil {
		return err
	}
	if c.Metrics.Listen != "" {
		if d.ln, err = net.Listen("tcp", c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
	}
	for _, cam := range d.Box.Cameras {
		if cam.Phases == "" {
			continue
		}
		if err := d.feed.LoadFile(cam.Phases); err != nil {
			return fmt.Errorf("--phases: %w", err)
		}
	}
	d.models, _ = vision.OpenModels(c.Models)
	if d.models != nil {
		d.nets = vision.NewDNNPool(d.models, runtime.NumCPU())
	}
	d.scenes = newSceneSync(d.Log, d.scenePath)
	cfg := sender.Config{Broker: c.Broker.URL, Device: c.Device, Software: "crosswatch-edge " + buildinfo.Version(), Relay: relay.DefaultConfig(), Log: d.Log}
	d.snd, err = sender.Dial(ctx, d.store, cfg, withIdentity, func(o *mqtt.Options) {
		o.OnPhase = d.feed.Add
		o.OnScene = d.scenes.receive
		o.SignalDisagreements = d.signalDisagreements
		o.ViewChanges = d.viewChanges
		o.ViewMismatch = d.viewMismatch
		o.Cameras = d.cameraStatuses
		o.OnFrameRequest = d.frameRequested
		o.OnConnect = d.connected
	})
	if err != nil {
		return fmt.Errorf("broker.url: %w", err)
	}
	d.refusals.Store(d.snd.Rejections)
	return nil
}

// openOutbox opens the box's outbox, making its folder if need be: a packaged box has its
// state directory, a box run by hand gets the folder made.
func (d *Daemon) openOutbox() error {
	c := d.Box.Config
	opts := outbox.Options{MaxRows: c.Outbox.MaxRows, MaxBytes: c.Outbox.MaxBytes, ReserveBytes: c.Outbox.ReserveBytes, Gap: d.met.countGaps(edge.GapBuilder(c.Device))}
	if err := os.MkdirAll(filepath.Dir(c.Outbox.Path), 0o700); err != nil {
		return fmt.Errorf("outbox.path: %w", err)
	}
	ob, err := outbox.Open(c.Outbox.Path, opts)
	if err != nil {
		return fmt.Errorf("outbox.path: %w", err)
	}
	d.ob, d.store = ob, sender.NewWatched(ob)
	return nil
}

// configNames names the identity's fields as edge.yaml does.
var configNames = sender.IdentityNames{TokenFile: "broker.token_file", CA: "broker.ca", Cert: "broker.cert", Key: "broker.key", ServerName: "broker.server_name",
	TLS: "broker.ca, broker.cert, broker.key, broker.server_name", Insecure: "broker.insecure", Broker: "broker.url"}

// Run starts every camera, serves the metrics, reloads the config on each value from Reload
// (SIGHUP), and when ctx ends stops the cameras (each finishes the frame in hand and commits),
// waits up to outbox.drain_timeout for the aggregator's acknowledgements and returns nil.
// Whatever is unacknowledged stays in the outbox for the next start.
func (d *Daemon) Run(ctx context.Context) error {
	// The sender outlives the cameras: it carries what they committed last.
	sctx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSender()
	var g errgroup.Group
	g.Go(func() error { return d.snd.Run(sctx) })
	stopMetrics := d.serveMetrics(&g)
	c := d.Box.Config
	d.Log.Info("edge started", "version", buildinfo.Version(), "device", c.Device, "cameras", len(d.Box.Cameras),
		"broker", c.Broker.URL, "outbox", c.Outbox.Path, "metrics", c.Metrics.Listen)
	d.apply(ctx, d.Box.Cameras)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-d.Reload:
			d.reload(ctx)
		case <-d.scenes.wake: // a scene from the aggregator was written over a camera's file
			d.reload(ctx)
		}
	}
	d.Log.Info("stopping: the cameras finish their frames and commit")
	d.apply(ctx, nil) // stops every camera and waits for it
	d.drain(c.Outbox.DrainTimeout)
	stopMetrics()
	stopSender()
	return g.Wait()
}

// serveMetrics serves /metrics, /healthz and /readyz on the listener, if there is one, in a
// goroutine of g; the function it returns shuts the server down (within 2 s).
func (d *Daemon) serveMetrics(g *errgroup.Group) (stop func()) {
	if d.ln == nil {
		return func() {}
	}
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	})
	return func() {
		sd, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sd)
	}
}

// drain waits until the outbox is empty or timeout passes, woken by each acknowledgement.
func (d *Daemon) drain(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := d.snd.Drain(ctx)
	if err == nil {
		d.Log.Info("outbox drained: everything acknowledged by the aggregator")
		return
	}
	d.Log.Warn("drain timeout: messages stay in the outbox for the next start", "pending", st.Rows, "timeout", timeout,
		"broker_connected", d.snd.Client.Connected())
}

// apply makes the running cameras those of want: it stops the cameras no longer there or
// changed (waiting for each), and starts the new and changed ones. Cameras that are the same
// keep running untouched.
func (d *Daemon) apply(ctx context.Context, want []BoxCamera) {
	d.mu.Lock()
	var stopping []*camRunner
	keep := map[string]bool{}
	for _, w := range want {
		if r, ok := d.cams[w.ID]; ok && r.cam.same(&w) {
			keep[w.ID] = true
		}
	}
	for id, r := range d.cams {
		if !keep[id] {
			r.cancel()
			stopping = append(stopping, r)
		}
	}
	d.mu.Unlock()
	for _, r := range stopping {
		<-r.done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range stopping {
		delete(d.cams, r.cam.ID)
		if !slices.ContainsFunc(want, func(w BoxCamera) bool { return w.ID == r.cam.ID }) {
			d.met.forget(r.cam.ID)
			if ctx.Err() == nil {
				d.Log.Info("camera removed", "camera", r.cam.ID)
			}
		}
	}
	for _, w := range want {
		if keep[w.ID] {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		r := &camRunner{cam: w, state: d.met.camera(w.ID), cancel: cancel, done: make(chan struct{})}
		d.cams[w.ID] = r
		go func() {
			defer close(r.done)
			d.runCamera(cctx, r)
		}()
	}
}

// reload reads the config again. A config that does not decode or validate is refused (the
// cameras run on as they were); a camera whose scene fails goes down alone and retries.
// Settings of the box itself (device, broker, outbox, metrics, models) need a restart.
func (d *Daemon) reload(ctx context.Context) {
	path := d.Box.Path
	b, err := os.ReadFile(path)
	var c *BoxConfig
	if err == nil {
		c, err = parseBox(b, path)
	}
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		d.Log.Error("reload refused: the config is not valid; the cameras run on as they were", "config", path, "err", err)
		return
	}
	old := d.Box.Config
	if c.Device != old.Device || c.Broker != old.Broker || c.Outbox != old.Outbox || c.Metrics != old.Metrics || c.Models != old.Models || c.Evidence != old.Evidence {
		d.Log.Warn("reload: device, broker, outbox, metrics, models and evidence take effect at the next start only", "config", path)
	}
	var want []BoxCamera
	for _, cc := range c.Cameras {
		cam, err := loadCamera(cc)
		if err == nil {
			err = d.checkModels(cam)
		}
		if err != nil {
			d.Log.Error("reload: camera's scene fails; the camera stays down and retries", "camera", cc.ID, "err", err)
			cam = &BoxCamera{CameraCfg: cc, loadErr: err}
		}
		if cc.Phases != "" && err == nil {
			if err := d.feed.LoadFile(cc.Phases); err != nil {
				d.Log.Error("reload: phases file", "camera", cc.ID, "err", err)
			}
		}
		want = append(want, *cam)
	}
	d.Log.Info("config reloaded", "config", path, "cameras", len(want))
	d.apply(ctx, want)
}

// checkModels checks that the models directory holds the camera's detector model.
func (d *Daemon) checkModels(cam *BoxCamera) error {
	if cam.Scene.Detector.Kind != "dnn" {
		return nil
	}
	m, err := vision.OpenModels(d.Box.Config.Models)
	if err == nil {
		err = m.CheckDetector(cam.Scene.Detector.Model)
	}
	if err != nil {
		return fmt.Errorf("models: detector model %s: %w", cam.Scene.Detector.Model, err)
	}
	return nil
}

// errEnded means a file source played to its end: the camera is done until a reload.
var errEnded = errors.New("the video file ended")

// runCamera runs a camera until ctx ends, restarting it with backoff when it fails. A camera
// that fails never stops the others.
func (d *Daemon) runCamera(ctx context.Context, r *camRunner) {
	st, cam := r.state, r.cam
	wait := d.minBackoff
	var sites []string // the sites of the zones of the scene last run
	for {
		began := time.Now()
		err := cam.loadErr
		if err == nil {
			if s := pipeline.ZoneSites(cam.Scene); sites == nil || !slices.Equal(s, sites) {
				// A new or changed camera, or a scene fixed on disk: what the aggregator refused
				// of it before no longer keeps the box unready.
				sites = s
				d.snd.Rejections.Reset(cam.ID, sites)
			}
			err = d.runCameraOnce(ctx, &cam, st)
		}
		if ctx.Err() != nil {
			st.setDown("stopped")
			return
		}
		if errors.Is(err, errEnded) {
			st.setDown("ended: " + err.Error())
			d.Log.Info("camera's video file ended; it stays down until the config changes", "camera", cam.ID, "source", cam.Source)
			<-ctx.Done()
			return
		}
		st.setDown(err.Error())
		if time.Since(began) > time.Minute {
			wait = d.minBackoff // it ran a while: this is a new failure, not the same one again
		}
		d.Log.Error("camera down; retrying", "camera", cam.ID, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			st.setDown("stopped")
			return
		case <-t.C:
		}
		wait = min(2*wait, d.maxBackoff)
		// Read the scene again: one fixed on disk (or broken) shows at the next attempt.
		if c, err := loadCamera(cam.CameraCfg); err != nil {
			cam.loadErr = err
		} else if err := d.checkModels(c); err != nil {
			cam.loadErr = err
		} else {
			cam = *c
		}
	}
}

// runCameraOnce opens the camera's source and runs its pipeline until the source fails, a
// file ends or ctx ends.
func (d *Daemon) runCameraOnce(ctx context.Context, cam *BoxCamera, st *camState) error {
	c := d.Box.Config
	sc := cam.Scene
	live := camera.IsLive(cam.Source)
	var pipe atomic.Pointer[pipeline.Pipeline]
	st.setDown("connecting to " + cam.Source)
	src, width, height, closeSrc, err := d.openSource(ctx, cam, st, &pipe)
	if err != nil {
		return err
	}
	defer closeSrc()
	cfg := analysis.Config{Device: c.Device, Scene: sc, Width: width, Height: height, Start: time.Now().UTC(), CountPeriod: time.Minute,
		Feed: d.feed, Reference: cam.Reference, Live: live, Meter: &st.meter}
	if sc.Detector.Kind == "dnn" {
		cfg.Models, cfg.Detectors = d.models, d.nets
	}
	if c.Evidence {
		// One anonymiser per camera: it holds Mats and networks, used from the camera's goroutine.
		a, closeA, err := vision.OpenEvidenceAnonymiser(c.Models)
		if err != nil {
			d.Log.Warn("events carry no evidence image, and the camera sends no reference still", "camera", cam.ID, "err", err)
		} else {
			defer closeA()
			cfg.Evidence = a
		}
	}
	cfg.Stills, cfg.OnSignals = &st.stills, d.kickStatus
	cfg.OnStill = func(b []byte, _ time.Time, reason string) { d.sendFrame(cam.ID, b, reason) }
	st.stills.Ask(st.startReason(cam.sceneBytes)) // its first analysed frame is the camera's reference still
	p, err := analysis.New(cfg, src, d.store, d.snd.Notify, d.Log.With("camera", cam.ID))
	if err != nil {
		return fmt.Errorf("scene %s: %w", cam.CameraCfg.Scene, err)
	}
	defer p.Close()
	pipe.Store(p.Pipeline)
	st.pipe.Store(p.Pipeline)
	defer st.pipe.Store(nil)
	st.setUp()
	d.Log.Info("camera up", "camera", cam.ID, "source", cam.Source, "size", fmt.Sprintf("%dx%d", width, height))
	stats, err := p.Run(ctx, nil)
	st.setDown("stopped")
	switch {
	case err != nil:
		return err
	case ctx.Err() == nil && !live:
		return fmt.Errorf("%w after %d frames", errEnded, stats.Frames)
	case ctx.Err() == nil:
		return errors.New("the stream ended")
	}
	return nil
}

// openSource opens the camera's file or live stream; a stream's outages go to the camera's
// state and, as gap records, to its pipeline once there is one. The caller calls closeSrc.
func (d *Daemon) openSource(ctx context.Context, cam *BoxCamera, st *camState, pipe *atomic.Pointer[pipeline.Pipeline]) (src vision.Source, width, height int, closeSrc func(), err error) {
	if !camera.IsLive(cam.Source) {
		f, err := camera.OpenFile(cam.Source)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		return f, f.Width, f.Height, func() { f.Close() }, nil
	}
	s, err := camera.OpenStream(ctx, cam.Source, camera.StreamOptions{Log: d.Log.With("camera", cam.ID),
		OnDrop: func(time.Time) { st.setReconnecting("source dropped; reconnecting") },
		OnGap: func(from, to time.Time) {
			st.reconnects.Add(1)
			st.setUp()
			if p := pipe.Load(); p != nil {
				p.SourceGap(from, to)
			}
		}})
	if err != nil {
		return nil, 0, 0, nil, err
	}
	return s, s.Width, s.Height, func() { s.Close() }, nil
}

// signalDisagreements, viewChanges and viewMismatch sum the cameras for the box's status.
func (d *Daemon) signalDisagreements() int {
	n := 0
	d.eachPipeline(func(p *pipeline.Pipeline) { n += p.SignalDisagreements() })
	return n
}

func (d *Daemon) viewChanges() (int, time.Time) {
	n, last := 0, time.Time{}
	d.eachPipeline(func(p *pipeline.Pipeline) {
		k, t := p.ViewChanges()
		n += k
		if t.After(last) {
			last = t
		}
	})
	return n, last
}

func (d *Daemon) viewMismatch() (bool, time.Time) {
	on, since := false, time.Time{}
	d.eachPipeline(func(p *pipeline.Pipeline) {
		if m, t := p.ViewMismatch(); m && (!on || t.Before(since)) {
			on, since = true, t
		}
	})
	return on, since
}

func (d *Daemon) eachPipeline(f func(*pipeline.Pipeline)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.cams {
		if p := r.state.pipe.Load(); p != nil {
			f(p)
		}
	}
}

// Close stops the MQTT connection (with a last status) and closes the outbox and listener:
// whatever Open made, also after Open failed.
func (d *Daemon) Close() error {
	if d.nets != nil {
		d.nets.Close() // Run has stopped every camera
	}
	if d.snd != nil {
		d.snd.Close()
	}
	if d.ln != nil {
		d.ln.Close()
	}
	if d.ob == nil {
		return nil
	}
	return d.ob.Close()
}

// Addr is the metrics listener's address, or "" when there is none.
func (d *Daemon) Addr() string {
	if d.ln == nil {
		return ""
	}
	return d.ln.Addr().String()
}

// eventTypes are the labels of crosswatch_edge_events_total.
var eventTypes = wire.EventTypes
