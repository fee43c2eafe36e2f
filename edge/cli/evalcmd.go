package cli

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

func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("eval")
	scenePath := fs.String("scene", "", "scene file (required)")
	clip := fs.String("clip", "", "video file (required)")
	truthPath := fs.String("truth", "", "ground truth JSON: violations of {type, zone, t or start and end}, optionally non_events and crossings of {zone, n} (docs/ACCURACY.md) (required)")
	tolerance := fs.Duration("tolerance", time.Second, "how far in time a detection may be from its truth event")
	asJSON := fs.Bool("json", false, "print JSON")
	list := fs.Bool("list", false, "also list every truth event, non-event and detection, to find what was missed (with --json: as \"list\")")
	phases := fs.String("phases", "", "the signal controller's recorded feed (JSON lines of phase messages), for signals with feed: true")
	refFlag := fs.String("view-reference", "", "the scene's view reference (default: <scene>.view.pgm beside the scene, if there; else one is learned from the clip's first steady seconds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenePath == "" || *clip == "" || *truthPath == "" {
		return errors.New("--scene, --clip and --truth are required")
	}
	sc, err := scenefile.Load(*scenePath)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*truthPath)
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	truth, err := eval.ParseTruth(b)
	if err != nil {
		return fmt.Errorf("truth %s: %w", *truthPath, err)
	}
	truthCounts := truth.Crossings
	src, err := camera.OpenFile(*clip)
	if err != nil {
		return err
	}
	defer src.Close()
	var mem memOutbox
	start := time.Unix(0, 0).UTC()
	feed := signals.NewFeed()
	if *phases != "" {
		// The feed's times are wall-clock: the clip starts at the truth's start.
		if truth.Start.IsZero() {
			return fmt.Errorf("--phases: the truth file has no start time to align the feed with")
		}
		start = truth.Start
		if err := loadPhases(*phases, feed); err != nil {
			return err
		}
	}
	ref, refPath, err := readReference(*refFlag, *scenePath)
	if err != nil {
		return err
	}
	p, err := analysis.New(analysis.Config{Device: "eval", Scene: sc, Width: src.Width, Height: src.Height, Start: start, CountPeriod: time.Minute, Models: modelsIfAny(sc), Feed: feed, Reference: ref},
		src, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		if refPath != "" {
			return fmt.Errorf("%s: %w", refPath, err)
		}
		return err
	}
	var stats pipeline.Stats
	defer func() {
		if !*asJSON {
			fmt.Fprintf(stdout, "signal sources disagreed %d times\n", p.SignalDisagreements())
			if stats.ViewChanges > 0 {
				fmt.Fprintf(stdout, "camera view changed %d times (tracks restarted)\n", stats.ViewChanges)
			}
			fmt.Fprintf(stdout, "tracks: %d begun, %d waiting vehicles found again after the detector lost them, %d riders by speed\n",
				stats.Tracks.Begun, stats.Tracks.Revived, stats.Tracks.Riders)
			fmt.Fprintln(stdout, formatView(viewReport(stats, refPath)))
		}
	}()
	defer p.Close()
	if stats, err = p.Run(ctx, nil); err != nil {
		return err
	}
	var got []eval.Event
	counted := map[string]int{} // zone → road users, for the text report
	for _, m := range mem.msgs {
		e, err := wire.DecodeEvent(m.Payload)
		if err != nil {
			if c, err := wire.DecodeCounts(m.Payload); err == nil {
				for _, n := range c.Counts {
					counted[c.Zone] += n
				}
			}
			continue
		}
		got = append(got, eval.Event{Type: e.Type, Zone: e.Zone, T: e.Time.Sub(start).Seconds()})
	}
	r := eval.Compare(truth.Violations, got, tolerance.Seconds())
	r.CompareCounts(truthCounts, counted)
	if !*asJSON && len(counted)+len(truthCounts) > 0 {
		zones := make([]string, 0, len(counted))
		for z := range counted {
			zones = append(zones, z)
		}
		for z := range truthCounts {
			if _, ok := counted[z]; !ok {
				zones = append(zones, z)
			}
		}
		sort.Strings(zones)
		for _, z := range zones {
			if n, ok := truthCounts[z]; ok {
				defer fmt.Fprintf(stdout, "road users counted in %s: %d (truth %d)\n", z, counted[z], n)
			} else {
				defer fmt.Fprintf(stdout, "road users counted in %s: %d\n", z, counted[z])
			}
		}
	}
	var lines []eval.Line
	if *list {
		lines = eval.List(truth, got, tolerance.Seconds())
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			eval.Report
			View view        `json:"view"`
			List []eval.Line `json:"list,omitempty"`
		}{r, viewReport(stats, refPath), lines})
	}
	types := make([]string, 0, len(r.Types))
	for k := range r.Types {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		s := r.Types[k]
		fmt.Fprintf(stdout, "%-24s tp %3d  fp %3d  fn %3d  precision %s  recall %s\n", k, s.TP, s.FP, s.FN, fmtRatio(s.Precision), fmtRatio(s.Recall))
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, formatLine(l))
	}
	return nil
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
