package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
)

// replayFlags are the flags of `crosswatch-edge replay`.
type replayFlags struct {
	scene, clip, device, broker, outbox, start, models, phases, ref string
	drain                                                           time.Duration
	progress, verbose, evidence                                     bool
	outboxOpts                                                      func(device string) outbox.Options
	identity                                                        func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error)
}

func parseReplay(args []string, stderr io.Writer) (*replayFlags, error) {
	var f replayFlags
	fs := newFlags("replay")
	fs.StringVar(&f.scene, "scene", "", "scene file of the camera (required)")
	fs.StringVar(&f.clip, "clip", "", "video file to replay, or a live source: rtsp://…, http://…, /dev/videoN (required)")
	fs.StringVar(&f.device, "device", "edge-1", "this device's id")
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fs.StringVar(&f.outbox, "outbox", "", "outbox database (default: crosswatch-outbox.db beside the clip)")
	fs.StringVar(&f.start, "start", "", "wall-clock time of the clip's start, RFC 3339 (default: the clip's modification time)")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long to wait at the end for the aggregator to acknowledge everything")
	fs.BoolVar(&f.progress, "progress", isTerminal(stderr), "show a progress bar")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
	fs.StringVar(&f.models, "models", vision.ModelsDir(), "installed models directory (make models): the evidence images need its person and face detectors")
	fs.BoolVar(&f.evidence, "evidence", true, "attach an anonymised evidence image to each event (needs --models)")
	fs.StringVar(&f.phases, "phases", "", "a recorded signal-controller feed: JSON lines of phase messages, for signals with feed: true")
	fs.StringVar(&f.ref, "view-reference", "", "the scene's view reference (default: <scene>.view.pgm beside the scene, if there; else one is learned from the first steady seconds)")
	f.outboxOpts = sender.OutboxFlags(fs)
	f.identity = sender.IdentityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.scene == "" || f.clip == "" {
		return nil, errors.New("--scene and --clip are required")
	}
	if err := wire.CheckName("device", f.device); err != nil {
		return nil, fmt.Errorf("--device: %w", err)
	}
	if err := mqtt.CheckBroker(f.broker); err != nil {
		return nil, fmt.Errorf("--broker: %w", err)
	}
	if f.outbox == "" {
		f.outbox = filepath.Join(filepath.Dir(f.clip), "crosswatch-outbox.db")
		if camera.IsLive(f.clip) {
			f.outbox = "crosswatch-outbox.db"
		}
	}
	return &f, nil
}

// replay is one run of `crosswatch-edge replay`: a recorded clip (or a live source) through the
// pipeline into an outbox, and from there to the aggregator. Each step opens what it needs and
// leaves its closing to close, which undoes them in reverse.
type replay struct {
	f       *replayFlags
	log     *slog.Logger
	live    bool
	src     vision.Source
	width   int
	height  int
	t0      time.Time
	ob      *outbox.Outbox
	store   *sender.Watched // the outbox, as the pipeline and the sender see it
	snd     *sender.Sender
	feed    *signals.Feed
	pipe    atomic.Pointer[pipeline.Pipeline] // for the callbacks made before the pipeline
	closers []func()
}

func (r *replay) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// runReplay is `replay`. The errors come in the order of what they concern: flags, scene,
// clip, identity, outbox, then the pipeline.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseReplay(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	r := &replay{f: f, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), live: camera.IsLive(f.clip), feed: signals.NewFeed()}
	defer r.close()
	sc, err := scenefile.Load(f.scene)
	if err != nil {
		return err
	}
	ref, refPath, err := scene.ReadReference(f.ref, f.scene)
	if err != nil {
		return err
	}
	if err := r.openSource(ctx); err != nil {
		return err
	}
	if err := r.openSender(ctx); err != nil {
		return err
	}
	p, err := r.newPipeline(sc, ref, stderr)
	if err != nil {
		if refPath != "" {
			return fmt.Errorf("%s: %w", refPath, err)
		}
		return err
	}
	st, runErr := r.run(ctx, p, stderr)
	r.report(stdout, st)
	return r.finish(ctx, stdout, runErr)
}

// openSource opens the clip, or a live camera: that runs until interrupted, reconnecting when
// the stream drops, and each outage goes to the aggregator as a gap record.
func (r *replay) openSource(ctx context.Context) error {
	if !r.live {
		f, err := camera.OpenFile(r.f.clip)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() { f.Close() })
		r.src, r.width, r.height = f, f.Width, f.Height
		r.t0, err = clipStart(r.f.start, r.f.clip)
		return err
	}
	st, err := camera.OpenStream(ctx, r.f.clip, camera.StreamOptions{Log: r.log, OnGap: func(from, to time.Time) {
		if p := r.pipe.Load(); p != nil {
			p.SourceGap(from, to)
		}
	}})
	if err != nil {
		return err
	}
	r.closers = append(r.closers, func() { st.Close() })
	r.src, r.width, r.height, r.t0 = st, st.Width, st.Height, time.Now().UTC()
	return nil
}

// openSender checks the device's identity (after the scene and the clip, whose errors come
// first; before the outbox is made), opens the outbox, reads the phases file and starts the
// sender.
func (r *replay) openSender(ctx context.Context) error {
	withIdentity, err := r.f.identity(r.f.broker, r.f.device, r.log)
	if err != nil {
		return err
	}
	if r.ob, err = outbox.Open(r.f.outbox, r.f.outboxOpts(r.f.device)); err != nil {
		return err
	}
	r.closers = append(r.closers, func() { r.ob.Close() })
	if r.f.phases != "" {
		if err := r.feed.LoadFile(r.f.phases); err != nil {
			return fmt.Errorf("--phases: %w", err)
		}
	}
	r.store = sender.NewWatched(r.ob) // the drain wakes at each acknowledged delete
	cfg := sender.Config{Broker: r.f.broker, Device: r.f.device, Software: sender.Software, Relay: relay.DefaultConfig(), Log: r.log}
	if r.snd, err = sender.Dial(ctx, r.store, cfg, withIdentity, r.statusOptions); err != nil {
		return err
	}
	stop := r.snd.Start(ctx)
	r.closers = append(r.closers, func() { stop() })
	return nil
}

// statusOptions takes the controller's live phases, when it publishes them, and reports the
// pipeline's signal disagreements and view changes in the device's status.
func (r *replay) statusOptions(o *mqtt.Options) {
	o.OnPhase = r.feed.Add
	o.SignalDisagreements = func() int {
		if p := r.pipe.Load(); p != nil {
			return p.SignalDisagreements()
		}
		return 0
	}
	o.ViewChanges = func() (int, time.Time) {
		if p := r.pipe.Load(); p != nil {
			return p.ViewChanges()
		}
		return 0, time.Time{}
	}
	o.ViewMismatch = func() (bool, time.Time) {
		if p := r.pipe.Load(); p != nil {
			return p.ViewMismatch()
		}
		return false, time.Time{}
	}
}

// newPipeline builds the camera's pipeline: with the models for a DNN scene, and the evidence
// anonymiser unless --evidence=false.
func (r *replay) newPipeline(sc *scene.Scene, ref []byte, stderr io.Writer) (*analysis.Camera, error) {
	cfg := analysis.Config{Device: r.f.device, Scene: sc, Width: r.width, Height: r.height, Start: r.t0, CountPeriod: time.Minute, Feed: r.feed, Reference: ref}
	if sc.Detector.Kind == "dnn" {
		m, err := vision.OpenModels(r.f.models)
		if err != nil {
			return nil, fmt.Errorf("scene %s: detector.kind dnn: %w", r.f.scene, err)
		}
		cfg.Models = m
	}
	if r.f.evidence {
		// Without the models there is no evidence image at all: an image that might show a
		// face never leaves the box.
		a, closeA, err := vision.OpenEvidenceAnonymiser(r.f.models)
		if err != nil {
			fmt.Fprintf(stderr, "replay: events carry no evidence image: %v\n", err)
		} else {
			r.closers = append(r.closers, closeA)
			cfg.Evidence = a
		}
	}
	p, err := analysis.New(cfg, r.src, r.store, r.snd.Notify, r.log)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { p.Close() })
	r.pipe.Store(p.Pipeline)
	return p, nil
}

// run runs the pipeline to the clip's end (or the interrupt), with the progress bar if asked.
func (r *replay) run(ctx context.Context, p *analysis.Camera, stderr io.Writer) (pipeline.Stats, error) {
	var bar func(pipeline.Stats)
	if r.f.progress {
		// No percentage: container frame counts over-report. Frames, rate and stream time instead.
		bar = func(s pipeline.Stats) {
			fmt.Fprintf(stderr, "\r  %6d frames  %6.1f fps  stream %-8s  events %d   ", s.Frames,
				float64(s.Frames)/s.Elapsed.Seconds(), s.Stream.Truncate(time.Second), sum(s.Events))
		}
	}
	st, err := p.Run(ctx, bar)
	if r.f.progress {
		fmt.Fprintln(stderr)
	}
	return st, err
}

func (r *replay) report(stdout io.Writer, st pipeline.Stats) {
	fmt.Fprintf(stdout, "replay: %d frames (%.1f s of video) in %.1f s, %.0f fps; %d analysed after the motion gate\n",
		st.Frames, st.Stream.Seconds(), st.Elapsed.Seconds(), float64(st.Frames)/st.Elapsed.Seconds(), st.Analysed)
	fmt.Fprintf(stdout, "events: %s; count records: %d\n", formatEvents(st.Events), st.Counts)
	if st.Quarantines > 0 {
		fmt.Fprintf(stdout, "view did not match its scene %d times, %.1f s in all: nothing judged or counted then (sent as view_mismatch gaps)\n", st.Quarantines, st.Quarantined.Seconds())
	}
}

// finish waits for the aggregator to acknowledge everything, unless interrupted, and says what
// stays in the outbox. A live source ends only by an interrupt: that is its normal stop, and a
// second one skips the wait.
func (r *replay) finish(ctx context.Context, stdout io.Writer, runErr error) error {
	stopped := ctx
	if r.live {
		var stop context.CancelFunc
		stopped, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	dctx, cancel := context.WithTimeout(stopped, r.f.drain)
	defer cancel()
	connected := r.snd.Client.WaitConnected(dctx)
	var stats outbox.Stats
	if connected {
		stats, _ = r.snd.Drain(dctx)
	} else {
		stats, _ = r.ob.Stats(context.Background())
	}
	rejected := r.snd.Rejections.Err()
	fmt.Fprintf(stdout, "outbox %s: %d pending", r.f.outbox, stats.Rows)
	switch {
	case stats.Rows == 0 && rejected != nil:
		// Acknowledged, so deleted (sent again they would be refused again), but not recorded.
		fmt.Fprintln(stdout, " (all acknowledged by the aggregator, some of them as refused)")
	case stats.Rows == 0:
		fmt.Fprintln(stdout, " (all acknowledged by the aggregator)")
	default:
		fmt.Fprintln(stdout, " (kept; they are sent on the next run)")
	}
	switch {
	case runErr != nil:
		return runErr
	case stopped.Err() != nil:
		return errors.New("interrupted; everything found so far is in the outbox")
	case !connected:
		return fmt.Errorf("broker %s unreachable for %v; %d messages kept in the outbox %s", r.f.broker, r.f.drain, stats.Rows, r.f.outbox)
	case stats.Rows > 0:
		return fmt.Errorf("the aggregator did not acknowledge %d messages within %v; they stay in the outbox %s", stats.Rows, r.f.drain, r.f.outbox)
	}
	return rejected
}
