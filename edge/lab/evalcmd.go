package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/eval"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
)

// memOutbox keeps what the pipeline appends, for evaluation.
type memOutbox struct{ msgs []edge.Message }

func (m *memOutbox) Append(_ context.Context, msgs ...edge.Message) error {
	m.msgs = append(m.msgs, msgs...)
	return nil
}

// evalFlags are the flags of `crosswatch-edge eval`.
type evalFlags struct {
	scene, clip, truth, phases, ref string
	tolerance                       time.Duration
	asJSON, list                    bool
}

func parseEval(args []string) (*evalFlags, error) {
	var f evalFlags
	fs := newFlags("eval")
	fs.StringVar(&f.scene, "scene", "", "scene file (required)")
	fs.StringVar(&f.clip, "clip", "", "video file (required)")
	fs.StringVar(&f.truth, "truth", "", "ground truth JSON: violations of {type, zone, t or start and end}, optionally non_events and crossings of {zone, n} (docs/ACCURACY.md) (required)")
	fs.DurationVar(&f.tolerance, "tolerance", time.Second, "how far in time a detection may be from its truth event")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.BoolVar(&f.list, "list", false, "also list every truth event, non-event and detection, to find what was missed (with --json: as \"list\")")
	fs.StringVar(&f.phases, "phases", "", "the signal controller's recorded feed (JSON lines of phase messages), for signals with feed: true")
	fs.StringVar(&f.ref, "view-reference", "", "the scene's view reference (default: <scene>.view.pgm beside the scene, if there; else one is learned from the clip's first steady seconds)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.scene == "" || f.clip == "" || f.truth == "" {
		return nil, errors.New("--scene, --clip and --truth are required")
	}
	return &f, nil
}

func runEval(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f, err := parseEval(args)
	if err != nil {
		return err
	}
	sc, err := scenefile.Load(f.scene)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(f.truth)
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	truth, err := eval.ParseTruth(b)
	if err != nil {
		return fmt.Errorf("truth %s: %w", f.truth, err)
	}
	run, err := evalClip(ctx, f, sc, truth)
	if run != nil && !f.asJSON {
		defer run.printFooter(stdout) // also when the run failed: what it saw until then
	}
	if err != nil {
		return err
	}
	r := eval.Compare(truth.Violations, run.got, f.tolerance.Seconds())
	r.CompareCounts(truth.Crossings, run.counted)
	var lines []eval.Line
	if f.list {
		lines = eval.List(truth, run.got, f.tolerance.Seconds())
	}
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			eval.Report
			View view        `json:"view"`
			List []eval.Line `json:"list,omitempty"`
		}{r, viewReport(run.stats, run.refPath), lines})
	}
	printScores(stdout, r)
	for _, l := range lines {
		fmt.Fprintln(stdout, formatLine(l))
	}
	printCounts(stdout, run.counted, truth.Crossings)
	return nil
}

// evalRun is what the pipeline found in the clip.
type evalRun struct {
	got          []eval.Event
	counted      map[string]int // zone → road users
	stats        pipeline.Stats
	refPath      string
	disagreement int // times the signal sources disagreed
}

// evalClip runs the scene's pipeline over the clip, into memory. It returns a run, with what
// was seen so far, also with an error once the pipeline is built.
func evalClip(ctx context.Context, f *evalFlags, sc *scene.Scene, truth eval.Truth) (*evalRun, error) {
	src, err := camera.OpenFile(f.clip)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	start := time.Unix(0, 0).UTC()
	feed := signals.NewFeed()
	if f.phases != "" {
		// The feed's times are wall-clock: the clip starts at the truth's start.
		if truth.Start.IsZero() {
			return nil, fmt.Errorf("--phases: the truth file has no start time to align the feed with")
		}
		start = truth.Start
		if err := feed.LoadFile(f.phases); err != nil {
			return nil, fmt.Errorf("--phases: %w", err)
		}
	}
	ref, refPath, err := scene.ReadReference(f.ref, f.scene)
	if err != nil {
		return nil, err
	}
	var mem memOutbox
	p, err := analysis.New(analysis.Config{Device: "eval", Scene: sc, Width: src.Width, Height: src.Height, Start: start, CountPeriod: time.Minute, Models: modelsIfAny(sc), Feed: feed, Reference: ref},
		src, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		if refPath != "" {
			return nil, fmt.Errorf("%s: %w", refPath, err)
		}
		return nil, err
	}
	run := &evalRun{refPath: refPath, counted: map[string]int{}}
	run.stats, err = p.Run(ctx, nil)
	p.Close()
	run.disagreement = p.SignalDisagreements()
	if err != nil {
		return run, err
	}
	run.collect(mem.msgs, start)
	return run, nil
}

// collect reads the events and count records the pipeline appended.
func (run *evalRun) collect(msgs []edge.Message, start time.Time) {
	for _, m := range msgs {
		e, err := wire.DecodeEvent(m.Payload)
		if err != nil {
			if c, err := wire.DecodeCounts(m.Payload); err == nil {
				for _, n := range c.Counts {
					run.counted[c.Zone] += n
				}
			}
			continue
		}
		run.got = append(run.got, eval.Event{Type: e.Type, Zone: e.Zone, T: e.Time.Sub(start).Seconds()})
	}
}

// printFooter prints what the text report ends with: the signal sources, the view and the tracks.
func (run *evalRun) printFooter(stdout io.Writer) {
	st := run.stats
	fmt.Fprintf(stdout, "signal sources disagreed %d times\n", run.disagreement)
	if st.ViewChanges > 0 {
		fmt.Fprintf(stdout, "camera view changed %d times (tracks restarted)\n", st.ViewChanges)
	}
	fmt.Fprintf(stdout, "tracks: %d begun, %d waiting vehicles found again after the detector lost them, %d riders by speed\n",
		st.Tracks.Begun, st.Tracks.Revived, st.Tracks.Riders)
	fmt.Fprintln(stdout, formatView(viewReport(st, run.refPath)))
}

// printScores prints precision and recall per event type.
func printScores(stdout io.Writer, r eval.Report) {
	types := make([]string, 0, len(r.Types))
	for k := range r.Types {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		s := r.Types[k]
		fmt.Fprintf(stdout, "%-24s tp %3d  fp %3d  fn %3d  precision %s  recall %s\n", k, s.TP, s.FP, s.FN, fmtRatio(s.Precision), fmtRatio(s.Recall))
	}
}

// printCounts prints the road users counted per zone, with the truth's count where it has one.
func printCounts(stdout io.Writer, counted, truth map[string]int) {
	zones := make([]string, 0, len(counted))
	for z := range counted {
		zones = append(zones, z)
	}
	for z := range truth {
		if _, ok := counted[z]; !ok {
			zones = append(zones, z)
		}
	}
	sort.Strings(zones)
	for _, z := range zones {
		if n, ok := truth[z]; ok {
			fmt.Fprintf(stdout, "road users counted in %s: %d (truth %d)\n", z, counted[z], n)
		} else {
			fmt.Fprintf(stdout, "road users counted in %s: %d\n", z, counted[z])
		}
	}
}

// view is what eval reports of the view check: where the reference came from, and how often
// and how long the camera was quarantined (its view did not match its scene).
type view struct {
	Reference    string    `json:"reference"` // the file, or "learned"
	Quarantines  int       `json:"quarantines"`
	QuarantinedS float64   `json:"quarantined_s"`
	At           []float64 `json:"at,omitempty"` // when each began, seconds of stream time
}

func viewReport(st pipeline.Stats, refPath string) view {
	v := view{Reference: refPath, Quarantines: st.Quarantines, QuarantinedS: st.Quarantined.Seconds()}
	for _, at := range st.QuarantineAt {
		v.At = append(v.At, at.Seconds())
	}
	if refPath == "" {
		v.Reference = "learned"
	}
	return v
}

func formatView(v view) string {
	ref := "view reference " + v.Reference
	if v.Reference == "learned" {
		ref = "view reference learned from the clip (the scene has none)"
	}
	if v.Quarantines == 0 {
		return ref + "; the view matched its scene throughout"
	}
	at := make([]string, len(v.At))
	for i, s := range v.At {
		at[i] = fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%s; view did not match its scene %d times (from %s), %.1f s in all: nothing judged or counted then", ref, v.Quarantines, strings.Join(at, ", "), v.QuarantinedS)
}

// fmtRatio prints a precision or recall, or "–" when there was nothing to count.
func fmtRatio(p *float64) string {
	if p == nil {
		return "    –"
	}
	return fmt.Sprintf("%.3f", *p)
}

// formatLine is one line of eval --list: time (or window), who, type, zone, and what it is.
func formatLine(l eval.Line) string {
	when := fmt.Sprintf("%8.2f s", l.T)
	if l.Start != nil && l.End != nil {
		when = fmt.Sprintf("%8.2f s (%.2f–%.2f)", l.T, *l.Start, *l.End)
	}
	who := l.Who
	switch {
	case l.Who == "truth" && !l.Matched:
		who += " (missed)"
	case l.Who == "found" && !l.Matched:
		who += " (false)"
	}
	typ, zone := l.Type, l.Zone
	if typ == "" {
		typ = "-"
	}
	if zone == "" {
		zone = "-"
	}
	line := fmt.Sprintf("%-22s  %-15s  %-24s %s", when, who, typ, zone)
	if len(l.On) > 0 {
		if l.Who == "non_event" {
			line += "  " + l.On[0]
		} else {
			line += "  on a non-event: " + strings.Join(l.On, "; ")
		}
	}
	return line
}
