// Package cli is the crosswatch-edge command: flags, validation and wiring by hand. The main
// package only calls Main, so tests can run the same code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// Software names this build in status messages.
const Software = "crosswatch-edge 0.1"

const usage = `crosswatch-edge: camera analytics for road and rail safety (identifies no one)

Commands:
  run           the daemon: every camera of the box from one config (--config /etc/crosswatch/edge.yaml)
  check-config  validate a box's config (--config), its scenes and models, or one scene file (--scene)
  synth         render a seeded synthetic intersection or platform clip with its scene and ground truth
  replay        run a recorded clip through the edge pipeline and send its events to the aggregator
  scene draw    draw a scene over a frame of its clip, to PNG, to check it by eye
  evidence      write anonymised evidence images of a clip's frames (people and plates pixelated, faces blurred)
  burst         fault and soak harness: append numbered synthetic events and send them
  bench         decode alone vs the full pipeline on one clip, in one run
  eval          precision and recall per event type against a ground-truth file
Run 'crosswatch-edge COMMAND -h' for a command's flags; 'crosswatch-edge --version' prints the build.
`

// Main runs the command in args (without the program name) and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = runDaemon(ctx, args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, buildinfo.Line("crosswatch-edge"))
		return 0
	case "evidence":
		err = runEvidence(ctx, args[1:], stdout)
	case "synth":
		err = runSynth(args[1:], stdout)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = runCheck(args[1:], stdout)
	case "scene":
		err = runScene(ctx, args[1:], stdout)
	case "burst":
		err = runBurst(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "eval":
		err = runEval(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "crosswatch-edge: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errBadInput) {
		fmt.Fprintf(stderr, "crosswatch-edge %s: %v\n", args[0], errors.Unwrap(err))
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "crosswatch-edge %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("crosswatch-edge "+name, flag.ContinueOnError)
	return fs
}

func runSynth(args []string, stdout io.Writer) error {
	fs := newFlags("synth")
	seed := fs.Uint64("seed", 1, "seed; the same seed renders the same clip")
	out := fs.String("out", "", "output directory (required)")
	dur := fs.Duration("duration", time.Minute, "clip length")
	fps := fs.Int("fps", 15, "frames per second")
	size := fs.String("size", "640x480", "frame size of the clip, WxH")
	codec := fs.String("codec", "mjpg", "mjpg (clip.avi) or h264 (clip.mp4)")
	kind := fs.String("kind", synth.Intersection, "intersection (red light, crossings, jaywalking) or platform (edge dwell, track)")
	variant := fs.String("variant", synth.Day, "day, night (dusk: low contrast, more noise) or occlusion (a tree canopy or a pillar)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	cfg := synth.DefaultConfig(*seed)
	cfg.Duration, cfg.FPS, cfg.Codec, cfg.Kind, cfg.Variant = *dur, *fps, *codec, *kind, *variant
	if _, err := fmt.Sscanf(*size, "%dx%d", &cfg.Width, &cfg.Height); err != nil {
		return fmt.Errorf("--size %q: want WxH such as 1280x720", *size)
	}
	t, err := synth.Generate(cfg, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "synth: wrote %s, scene.yaml and truth.json in %s (%d violations, %.0f s at %d fps)\n",
		t.Clip, *out, len(t.Violations), t.DurationS, t.FPS)
	return nil
}

// loadPhases reads a recorded controller feed: one phase message (JSON) per line.
func loadPhases(path string, feed *signals.Feed) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--phases: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, err := wire.DecodePhase([]byte(line))
		if err != nil {
			return fmt.Errorf("--phases %s:%d: %w", path, i+1, err)
		}
		feed.Add(p)
	}
	return nil
}

func runCheck(args []string, stdout io.Writer) error {
	fs := newFlags("check-config")
	scenePath := fs.String("scene", "", "scene file to validate")
	configPath := fs.String("config", "", "the box's config (edge.yaml) to validate, with every camera's scene and the models they need")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*scenePath == "") == (*configPath == "") {
		return badInput(errors.New("--config or --scene is required (one of them)"))
	}
	if *configPath != "" {
		box, err := loadBox(*configPath)
		if err != nil {
			return badInput(err)
		}
		c := box.Config
		fmt.Fprintf(stdout, "%s: ok (device %s, broker %s, %d cameras, outbox %s)\n", *configPath, c.Device, c.Broker.URL, len(box.Cameras), c.Outbox.Path)
		for _, cam := range box.Cameras {
			fmt.Fprintf(stdout, "  camera %s: %s, scene %s (detector %s)\n", cam.ID, cam.Source, cam.CameraCfg.Scene, cam.Scene.Detector.Kind)
			if len(cam.Scene.Overrides) > 0 {
				fmt.Fprintf(stdout, "  camera %s: warning: %s override the product's detector defaults (docs/SCENES.md)\n", cam.ID, strings.Join(cam.Scene.Overrides, ", "))
			}
		}
		if c.Evidence {
			if _, _, err := checkEvidenceModels(c.Models); err != nil {
				fmt.Fprintf(stdout, "%s: warning: events will carry no evidence image: %v\n", *configPath, err)
			}
		}
		return nil
	}
	s, err := scenefile.Load(*scenePath)
	if err != nil {
		return badInput(err)
	}
	fmt.Fprintf(stdout, "%s: ok (camera %s, %d signals, %d approaches, %d crosswalks, %d roadways, %d platform edges, %d tracks, %d count lines)\n", *scenePath, s.Camera,
		len(s.Signals), len(s.Approaches), len(s.Crosswalks), len(s.Roadways), len(s.PlatformEdges), len(s.Tracks), len(s.CountLines))
	if len(s.Overrides) > 0 {
		fmt.Fprintf(stdout, "%s: warning: %s override the product's detector defaults; a real camera's scene holds geometry, signals and sites only (docs/SCENES.md)\n",
			*scenePath, strings.Join(s.Overrides, ", "))
	}
	return nil
}

// errBadInput marks an error in what the user gave (a config, a flag): exit status 2.
var errBadInput = errors.New("bad input")

type badInputError struct{ err error }

func (e badInputError) Error() string        { return e.err.Error() }
func (e badInputError) Unwrap() error        { return e.err }
func (e badInputError) Is(target error) bool { return target == errBadInput }

func badInput(err error) error { return badInputError{err} }

// checkEvidenceModels checks the models the evidence images need.
func checkEvidenceModels(dir string) (string, string, error) {
	m, err := vision.OpenModels(dir)
	if err != nil {
		return "", "", err
	}
	if err := m.CheckDetector(evidencePeopleModel); err != nil {
		return "", "", err
	}
	if err := m.CheckONNX(evidenceFaceModel); err != nil {
		return "", "", err
	}
	return evidencePeopleModel, evidenceFaceModel, nil
}

// runDaemon is `run`: the box's daemon from its config, until SIGTERM or SIGINT (then it
// drains and returns nil: exit status 0); SIGHUP reloads the config.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run")
	configPath := fs.String("config", DefaultConfigPath, "the box's config (docs: README, configs/edge.example.yaml)")
	level := fs.String("log-level", "", "debug, info, warn or error (default: the config's log.level)")
	format := fs.String("log-format", "", "text or json (default: the config's log.format)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// SIGHUP is caught before anything else, so that a reload during the start is not fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	box, err := loadBox(*configPath)
	if err != nil {
		return badInput(err)
	}
	if *level == "" {
		*level = box.Config.Log.Level
	}
	if *format == "" {
		*format = box.Config.Log.Format
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return badInput(err)
	}
	d, err := OpenDaemon(box, log)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Run(ctx, hup)
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay")
	scenePath := fs.String("scene", "", "scene file of the camera (required)")
	clipPath := fs.String("clip", "", "video file to replay, or a live source: rtsp://…, http://…, /dev/videoN (required)")
	device := fs.String("device", "edge-1", "this device's id")
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	obPath := fs.String("outbox", "", "outbox database (default: crosswatch-outbox.db beside the clip)")
	start := fs.String("start", "", "wall-clock time of the clip's start, RFC 3339 (default: the clip's modification time)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long to wait at the end for the aggregator to acknowledge everything")
	progress := fs.Bool("progress", isTerminal(stderr), "show a progress bar")
	verbose := fs.Bool("v", false, "debug logging")
	models := fs.String("models", defaultModels(), "installed models directory (make models): the evidence images need its person and face detectors")
	evidence := fs.Bool("evidence", true, "attach an anonymised evidence image to each event (needs --models)")
	phases := fs.String("phases", "", "a recorded signal-controller feed: JSON lines of phase messages, for signals with feed: true")
	refFlag := fs.String("view-reference", "", "the scene's view reference (default: <scene>.view.pgm beside the scene, if there; else one is learned from the first steady seconds)")
	outboxOpts := outboxFlags(fs)
	identity := identityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenePath == "" || *clipPath == "" {
		return errors.New("--scene and --clip are required")
	}
	if err := wire.CheckName("device", *device); err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if err := mqtt.CheckBroker(*broker); err != nil {
		return fmt.Errorf("--broker: %w", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	sc, err := scenefile.Load(*scenePath)
	if err != nil {
		return err
	}
	ref, refPath, err := readReference(*refFlag, *scenePath)
	if err != nil {
		return err
	}
	var pipe atomic.Pointer[pipeline.Pipeline]
	var src vision.Source
	var width, height int
	var t0 time.Time
	if camera.IsLive(*clipPath) {
		// A live camera: runs until interrupted, reconnecting when the stream drops; each
		// outage goes to the aggregator as a gap record.
		st, err := camera.OpenStream(ctx, *clipPath, camera.StreamOptions{Log: log, OnGap: func(from, to time.Time) {
			if p := pipe.Load(); p != nil {
				p.SourceGap(from, to)
			}
		}})
		if err != nil {
			return err
		}
		defer st.Close()
		src, width, height, t0 = st, st.Width, st.Height, time.Now().UTC()
	} else {
		f, err := camera.OpenFile(*clipPath)
		if err != nil {
			return err
		}
		defer f.Close()
		src, width, height = f, f.Width, f.Height
		if t0, err = clipStart(*start, *clipPath); err != nil {
			return err
		}
	}
	// After the scene and the clip, whose errors come first; before the outbox is made.
	withIdentity, err := identity(*broker, *device, log)
	if err != nil {
		return err
	}
	if *obPath == "" {
		*obPath = filepath.Join(filepath.Dir(*clipPath), "crosswatch-outbox.db")
		if camera.IsLive(*clipPath) {
			*obPath = "crosswatch-outbox.db"
		}
	}
	ob, err := outbox.Open(*obPath, outboxOpts(*device))
	if err != nil {
		return err
	}
	defer ob.Close()

	feed := signals.NewFeed()
	if *phases != "" {
		if err := loadPhases(*phases, feed); err != nil {
			return err
		}
	}
	store := newWatchedOutbox(ob) // the drain below wakes at each acknowledged delete
	rl, client, stopSender, err := startSender(ctx, store, *broker, *device, relay.DefaultConfig().ResendAfter, 0, log, withIdentity, func(o *mqtt.Options) {
		o.OnPhase = feed.Add // live phases from the controller, when it publishes them
		o.SignalDisagreements = func() int {
			if p := pipe.Load(); p != nil {
				return p.SignalDisagreements()
			}
			return 0
		}
		o.ViewChanges = func() (int, time.Time) {
			if p := pipe.Load(); p != nil {
				return p.ViewChanges()
			}
			return 0, time.Time{}
		}
		o.ViewMismatch = func() (bool, time.Time) {
			if p := pipe.Load(); p != nil {
				return p.ViewMismatch()
			}
			return false, time.Time{}
		}
	})
	if err != nil {
		return err
	}
	defer stopSender()

	cfg := analysis.Config{Device: *device, Scene: sc, Width: width, Height: height, Start: t0, CountPeriod: time.Minute, Feed: feed, Reference: ref}
	if sc.Detector.Kind == "dnn" {
		if cfg.Models, err = vision.OpenModels(*models); err != nil {
			return fmt.Errorf("scene %s: detector.kind dnn: %w", *scenePath, err)
		}
	}
	if *evidence {
		// Without the models there is no evidence image at all: an image that might show a
		// face never leaves the box.
		a, closeA, err := openAnonymiser(*models)
		if err != nil {
			fmt.Fprintf(stderr, "replay: events carry no evidence image: %v\n", err)
		} else {
			defer closeA()
			cfg.Evidence = a
		}
	}
	p, err := analysis.New(cfg, src, store, rl.Notify, log)
	if err != nil {
		if refPath != "" {
			return fmt.Errorf("%s: %w", refPath, err)
		}
		return err
	}
	defer p.Close()
	pipe.Store(p.Pipeline)
	var bar func(pipeline.Stats)
	if *progress {
		// No percentage: container frame counts over-report. Frames, rate and stream time instead.
		bar = func(s pipeline.Stats) {
			fmt.Fprintf(stderr, "\r  %6d frames  %6.1f fps  stream %-8s  events %d   ", s.Frames,
				float64(s.Frames)/s.Elapsed.Seconds(), s.Stream.Truncate(time.Second), sum(s.Events))
		}
	}
	st, runErr := p.Run(ctx, bar)
	if *progress {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "replay: %d frames (%.1f s of video) in %.1f s, %.0f fps; %d analysed after the motion gate\n",
		st.Frames, st.Stream.Seconds(), st.Elapsed.Seconds(), float64(st.Frames)/st.Elapsed.Seconds(), st.Analysed)
	fmt.Fprintf(stdout, "events: %s; count records: %d\n", formatEvents(st.Events), st.Counts)
	if st.Quarantines > 0 {
		fmt.Fprintf(stdout, "view did not match its scene %d times, %.1f s in all: nothing judged or counted then (sent as view_mismatch gaps)\n", st.Quarantines, st.Quarantined.Seconds())
	}

	// Wait for the aggregator to acknowledge everything, unless we were interrupted. A live
	// source ends only by an interrupt: that is its normal stop, and a second one skips the wait.
	live := camera.IsLive(*clipPath)
	stopped := ctx
	if live {
		var stop context.CancelFunc
		stopped, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *drain)
	defer cancel()
	connected := client.WaitConnected(dctx)
	rl.Notify()
	var stats outbox.Stats
	for {
		changed := store.changed() // before reading the rows: a delete after it wakes us
		stats, _ = ob.Stats(context.Background())
		if !connected || stats.Rows == 0 || dctx.Err() != nil || stopped.Err() != nil {
			break
		}
		select {
		case <-changed:
		case <-dctx.Done():
		case <-stopped.Done():
		}
	}
	fmt.Fprintf(stdout, "outbox %s: %d pending", *obPath, stats.Rows)
	if stats.Rows == 0 {
		fmt.Fprintln(stdout, " (all acknowledged by the aggregator)")
	} else {
		fmt.Fprintln(stdout, " (kept; they are sent on the next run)")
	}
	switch {
	case runErr != nil:
		return runErr
	case stopped.Err() != nil:
		return errors.New("interrupted; everything found so far is in the outbox")
	case !connected:
		return fmt.Errorf("broker %s unreachable for %v; %d messages kept in the outbox %s", *broker, *drain, stats.Rows, *obPath)
	case stats.Rows > 0:
		return fmt.Errorf("the aggregator did not acknowledge %d messages within %v; they stay in the outbox %s", stats.Rows, *drain, *obPath)
	}
	return nil
}

// outboxFlags declares the outbox's bounds; past them the on-full policy evicts the lowest
// severity, oldest first, and reports a gap. It returns a function that builds the options.
func outboxFlags(fs *flag.FlagSet) func(device string) outbox.Options {
	rows := fs.Int("outbox-max-rows", 2_000_000, "outbox bound in messages (0: none)")
	bytes := fs.Int64("outbox-max-bytes", 1<<30, "outbox bound in payload bytes (0: none)")
	reserve := fs.Int64("outbox-reserve", 4<<20, "bytes kept free beside the outbox for the disk-full policy")
	return func(device string) outbox.Options {
		return outbox.Options{MaxRows: *rows, MaxBytes: *bytes, ReserveBytes: *reserve, Gap: edge.GapBuilder(device)}
	}
}

func clipStart(flagVal, clip string) (time.Time, error) {
	if flagVal != "" {
		t, err := time.Parse(time.RFC3339, flagVal)
		if err != nil {
			return time.Time{}, fmt.Errorf("--start: %w", err)
		}
		return t, nil
	}
	st, err := os.Stat(clip)
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

func formatEvents(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
