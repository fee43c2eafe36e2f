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
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// Daemon is `crosswatch-edge run`: one box, any number of cameras, each with its own pipeline
// goroutines, and one outbox, one relay and one MQTT connection for them all. Open builds it,
// Run runs it until ctx ends (then drains), Close releases what Open made.
type Daemon struct {
	box    *Box
	log    *slog.Logger
	ob     *outbox.Outbox
	store  *watchedOutbox
	rl     *relay.Relay
	client *mqtt.Client
	feed   *signals.Feed // the controller's phases for the box's signals (MQTT and phases files)
	ln     net.Listener  // metrics, health and readiness; nil: none
	reg    *prometheus.Registry
	met    *boxMetrics
	models *vision.Models // nil when the models directory cannot be read

	mu   sync.Mutex
	cams map[string]*camRunner // guarded by mu; by camera id

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

// OpenDaemon checks the box's identity, opens the outbox and the metrics listener, and starts
// the MQTT connection (in the background). Nothing reads a camera before Run.
func OpenDaemon(box *Box, log *slog.Logger) (*Daemon, error) {
	c := box.Config
	withIdentity, err := c.Broker.identity.options(c.Broker.URL, c.Device, log, configNames)
	if err != nil {
		return nil, err
	}
	d := &Daemon{box: box, log: log, feed: signals.NewFeed(), cams: map[string]*camRunner{}, minBackoff: time.Second, maxBackoff: 30 * time.Second}
	d.reg = prometheus.NewRegistry()
	d.met = newBoxMetrics(d)
	d.reg.MustRegister(d.met)
	opts := outbox.Options{MaxRows: c.Outbox.MaxRows, MaxBytes: c.Outbox.MaxBytes, ReserveBytes: c.Outbox.ReserveBytes, Gap: d.met.countGaps(edge.GapBuilder(c.Device))}
	// A packaged box has its state directory; a box run by hand gets the folder made.
	if err := os.MkdirAll(filepath.Dir(c.Outbox.Path), 0o700); err != nil {
		return nil, fmt.Errorf("outbox.path: %w", err)
	}
	if d.ob, err = outbox.Open(c.Outbox.Path, opts); err != nil {
		return nil, fmt.Errorf("outbox.path: %w", err)
	}
	d.store = newWatchedOutbox(d.ob)
	if c.Metrics.Listen != "" {
		if d.ln, err = net.Listen("tcp", c.Metrics.Listen); err != nil {
			d.ob.Close()
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
	}
	for _, cam := range box.Cameras {
		if cam.Phases != "" {
			if err := loadPhases(cam.Phases, d.feed); err != nil {
				d.Close()
				return nil, err
			}
		}
	}
	d.models, _ = vision.OpenModels(c.Models)
	mo := mqtt.Options{Broker: c.Broker.URL, Device: c.Device, Software: "crosswatch-edge " + buildinfo.Version(), Log: log,
		OnAck: func(ids []string) { d.rl.Ack(ids) },
		Backlog: func() (int, time.Duration) {
			qctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := d.ob.Stats(qctx)
			if err != nil || st.Oldest.IsZero() {
				return st.Rows, 0
			}
			return st.Rows, time.Since(st.Oldest)
		},
		OnPhase:             d.feed.Add,
		SignalDisagreements: d.signalDisagreements,
		ViewChanges:         d.viewChanges,
		ViewMismatch:        d.viewMismatch,
	}
	withIdentity(&mo)
	if d.client, err = mqtt.Dial(mo); err != nil {
		d.Close()
		return nil, fmt.Errorf("broker.url: %w", err)
	}
	d.rl = relay.New(d.store, d.client, relay.DefaultConfig(), log, nil)
	return d, nil
}

// configNames names the identity's fields as edge.yaml does.
var configNames = identityNames{"broker.token_file", "broker.ca", "broker.cert", "broker.key", "broker.server_name", "broker.ca, broker.cert, broker.key, broker.server_name", "broker.insecure", "broker.url"}

// Run starts every camera, serves the metrics, reloads the config on each value from reload
// (SIGHUP), and when ctx ends stops the cameras (each finishes the frame in hand and commits),
// waits up to outbox.drain_timeout for the aggregator's acknowledgements and returns nil.
// Whatever is unacknowledged stays in the outbox for the next start.
func (d *Daemon) Run(ctx context.Context, reload <-chan os.Signal) error {
	// The sender outlives the cameras: it carries what they committed last.
	sctx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSender()
	var g errgroup.Group
	g.Go(func() error { return d.rl.Run(sctx) })
	g.Go(func() error { d.client.RunStatus(sctx, 5*time.Second); return nil })
	var srv *http.Server
	if d.ln != nil {
		srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics: %w", err)
			}
			return nil
		})
	}
	d.log.Info("edge started", "version", buildinfo.Version(), "device", d.box.Config.Device, "cameras", len(d.box.Cameras),
		"broker", d.box.Config.Broker.URL, "outbox", d.box.Config.Outbox.Path, "metrics", d.box.Config.Metrics.Listen)
	d.apply(ctx, d.box.Cameras)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-reload:
			d.reload(ctx)
		}
	}
	d.log.Info("stopping: the cameras finish their frames and commit")
	d.apply(ctx, nil) // stops every camera and waits for it
	d.drain(d.box.Config.Outbox.DrainTimeout)
	if srv != nil {
		sd, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sd)
		cancel()
	}
	stopSender()
	return g.Wait()
}

// drain waits until the outbox is empty or timeout passes, woken by each acknowledgement.
func (d *Daemon) drain(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	d.rl.Notify()
	for {
		changed := d.store.changed() // before reading the rows: a delete after it wakes us
		st, err := d.ob.Stats(context.Background())
		if err == nil && st.Rows == 0 {
			d.log.Info("outbox drained: everything acknowledged by the aggregator")
			return
		}
		select {
		case <-changed:
		case <-t.C:
			d.log.Warn("drain timeout: messages stay in the outbox for the next start", "pending", st.Rows, "timeout", timeout,
				"broker_connected", d.client.Connected())
			return
		}
	}
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
				d.log.Info("camera removed", "camera", r.cam.ID)
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
	path := d.box.Path
	b, err := os.ReadFile(path)
	var c *BoxConfig
	if err == nil {
		c, err = parseBox(b, path)
	}
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		d.log.Error("reload refused: the config is not valid; the cameras run on as they were", "config", path, "err", err)
		return
	}
	old := d.box.Config
	if c.Device != old.Device || c.Broker != old.Broker || c.Outbox != old.Outbox || c.Metrics != old.Metrics || c.Models != old.Models || c.Evidence != old.Evidence {
		d.log.Warn("reload: device, broker, outbox, metrics, models and evidence take effect at the next start only", "config", path)
	}
	var want []BoxCamera
	for _, cc := range c.Cameras {
		cam, err := loadCamera(cc)
		if err == nil {
			err = d.checkModels(cam)
		}
		if err != nil {
			d.log.Error("reload: camera's scene fails; the camera stays down and retries", "camera", cc.ID, "err", err)
			cam = &BoxCamera{CameraCfg: cc, loadErr: err}
		}
		if cc.Phases != "" && err == nil {
			if err := loadPhases(cc.Phases, d.feed); err != nil {
				d.log.Error("reload: phases file", "camera", cc.ID, "err", err)
			}
		}
		want = append(want, *cam)
	}
	d.log.Info("config reloaded", "config", path, "cameras", len(want))
	d.apply(ctx, want)
}

// checkModels checks that the models directory holds the camera's detector model.
func (d *Daemon) checkModels(cam *BoxCamera) error {
	if cam.Scene.Detector.Kind != "dnn" {
		return nil
	}
	m, err := vision.OpenModels(d.box.Config.Models)
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
	for {
		began := time.Now()
		err := cam.loadErr
		if err == nil {
			err = d.runCameraOnce(ctx, &cam, st)
		}
		if ctx.Err() != nil {
			st.setDown("stopped")
			return
		}
		if errors.Is(err, errEnded) {
			st.setDown("ended: " + err.Error())
			d.log.Info("camera's video file ended; it stays down until the config changes", "camera", cam.ID, "source", cam.Source)
			<-ctx.Done()
			return
		}
		st.setDown(err.Error())
		if time.Since(began) > time.Minute {
			wait = d.minBackoff // it ran a while: this is a new failure, not the same one again
		}
		d.log.Error("camera down; retrying", "camera", cam.ID, "err", err, "in", wait)
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
	c := d.box.Config
	sc := cam.Scene
	live := camera.IsLive(cam.Source)
	var pipe atomic.Pointer[pipeline.Pipeline]
	var src vision.Source
	var width, height int
	st.setDown("connecting to " + cam.Source)
	if live {
		s, err := camera.OpenStream(ctx, cam.Source, camera.StreamOptions{Log: d.log.With("camera", cam.ID),
			OnDrop: func(time.Time) { st.setDown("source dropped; reconnecting") },
			OnGap: func(from, to time.Time) {
				st.reconnects.Add(1)
				st.setUp()
				if p := pipe.Load(); p != nil {
					p.SourceGap(from, to)
				}
			}})
		if err != nil {
			return err
		}
		defer s.Close()
		src, width, height = s, s.Width, s.Height
	} else {
		f, err := camera.OpenFile(cam.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		src, width, height = f, f.Width, f.Height
	}
	cfg := analysis.Config{Device: c.Device, Scene: sc, Width: width, Height: height, Start: time.Now().UTC(), CountPeriod: time.Minute,
		Feed: d.feed, Reference: cam.Reference, Live: live, Meter: &st.meter}
	if sc.Detector.Kind == "dnn" {
		cfg.Models = d.models
	}
	if c.Evidence {
		// One anonymiser per camera: it holds Mats and networks, used from the camera's goroutine.
		a, closeA, err := openAnonymiser(c.Models)
		if err != nil {
			d.log.Warn("events carry no evidence image", "camera", cam.ID, "err", err)
		} else {
			defer closeA()
			cfg.Evidence = a
		}
	}
	p, err := analysis.New(cfg, src, d.store, d.rl.Notify, d.log.With("camera", cam.ID))
	if err != nil {
		return fmt.Errorf("scene %s: %w", cam.CameraCfg.Scene, err)
	}
	defer p.Close()
	pipe.Store(p.Pipeline)
	st.pipe.Store(p.Pipeline)
	defer st.pipe.Store(nil)
	st.setUp()
	d.log.Info("camera up", "camera", cam.ID, "source", cam.Source, "size", fmt.Sprintf("%dx%d", width, height))
	stats, err := p.Run(ctx, nil)
	st.setDown("stopped")
	if err != nil {
		return err
	}
	if ctx.Err() == nil && !live {
		return fmt.Errorf("%w after %d frames", errEnded, stats.Frames)
	}
	if ctx.Err() == nil {
		return errors.New("the stream ended")
	}
	return nil
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

// Close stops the MQTT connection (with a last status) and closes the outbox and listener.
func (d *Daemon) Close() error {
	if d.client != nil {
		d.client.Close()
	}
	if d.ln != nil {
		d.ln.Close()
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

// watchedOutbox is the box's outbox as the pipelines and the relay see it: it remembers
// whether the last append failed (readiness) and wakes the drain after each delete.
type watchedOutbox struct {
	*outbox.Outbox
	appendErr atomic.Pointer[error]
	mu        sync.Mutex
	wake      chan struct{} // closed after a delete; guarded by mu
}

func newWatchedOutbox(o *outbox.Outbox) *watchedOutbox {
	return &watchedOutbox{Outbox: o, wake: make(chan struct{})}
}

// Append implements pipeline.Outbox.
func (w *watchedOutbox) Append(ctx context.Context, msgs ...edge.Message) error {
	err := w.Outbox.Append(ctx, msgs...)
	if err != nil {
		w.appendErr.Store(&err)
	} else if w.appendErr.Load() != nil {
		w.appendErr.Store(nil)
	}
	return err
}

// Delete implements relay.Store.
func (w *watchedOutbox) Delete(ctx context.Context, ids []string) (int, error) {
	n, err := w.Outbox.Delete(ctx, ids)
	w.mu.Lock()
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
	return n, err
}

// changed returns a channel closed at the next delete.
func (w *watchedOutbox) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// lastAppendErr is the error of the last append, nil when it succeeded.
func (w *watchedOutbox) lastAppendErr() error {
	if e := w.appendErr.Load(); e != nil {
		return *e
	}
	return nil
}

var (
	_ pipeline.Outbox = (*watchedOutbox)(nil)
	_ relay.Store     = (*watchedOutbox)(nil)
)

// eventTypes are the labels of crosswatch_edge_events_total.
var eventTypes = wire.EventTypes
