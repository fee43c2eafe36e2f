// Package cli is the crosswatch-edge command: the daemon (run), check-config and replay, with
// their flags, validation and wiring by hand; it hands the lab tools (edge/lab) their
// subcommands. The main package only calls Main, so tests can run the same code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/crosswatch/crosswatch/edge/lab"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// usage lists the daemon's commands, then the lab's.
var usage = func() string {
	var b strings.Builder
	b.WriteString(`crosswatch-edge: camera analytics for road and rail safety (identifies no one)

Commands:
  run           the daemon: every camera of the box from one config (--config /etc/crosswatch/edge.yaml)
  check-config  validate a box's config (--config), its scenes and models, or one scene file (--scene)
  replay        run a recorded clip through the edge pipeline and send its events to the aggregator

Lab tools:
`)
	for _, c := range lab.Commands {
		fmt.Fprintf(&b, "  %-12s  %s\n", c.Usage, c.Summary)
	}
	b.WriteString("Run 'crosswatch-edge COMMAND -h' for a command's flags; 'crosswatch-edge --version' prints the build.\n")
	return b.String()
}()

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
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = runCheck(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		tool, ok := lab.Find(args[0])
		if !ok {
			fmt.Fprintf(stderr, "crosswatch-edge: unknown command %q\n%s", args[0], usage)
			return 2
		}
		err = tool.Run(ctx, args[1:], stdout, stderr)
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
			if err := vision.CheckEvidenceModels(c.Models); err != nil {
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
	d := NewDaemon(box, log, hup)
	defer d.Close()
	if err := d.Open(ctx); err != nil {
		return err
	}
	return d.Run(ctx)
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
