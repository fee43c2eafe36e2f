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
	"time"

	"github.com/crosswatch/crosswatch/edge/eval"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	signals "github.com/crosswatch/crosswatch/hw/signal"
)

// memOutbox keeps what the pipeline appends, for evaluation.
type memOutbox struct{ msgs []outbox.Message }

func (m *memOutbox) Append(_ context.Context, msgs ...outbox.Message) error {
	m.msgs = append(m.msgs, msgs...)
	return nil
}

// truthFile is the ground truth format: synth writes it, and real clips are labelled in it.
type truthFile struct {
	Violations []eval.Event `json:"violations"`
	Start      time.Time    `json:"start"` // the clip's wall-clock start, when known
	// Crossings are the road users that entered each counted zone, each once (optional).
	Crossings []struct {
		Zone string `json:"zone"`
		N    int    `json:"n"`
	} `json:"crossings"`
}

func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("eval")
	scenePath := fs.String("scene", "", "scene file (required)")
	clip := fs.String("clip", "", "video file (required)")
	truthPath := fs.String("truth", "", "ground truth JSON with a violations list of {type, t, zone} and, optionally, crossings of {zone, n} (required)")
	tolerance := fs.Duration("tolerance", time.Second, "how far in time a detection may be from its truth event")
	asJSON := fs.Bool("json", false, "print JSON")
	list := fs.Bool("list", false, "also list every truth event and detection, to find what was missed")
	phases := fs.String("phases", "", "the signal controller's recorded feed (JSON lines of phase messages), for signals with feed: true")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenePath == "" || *clip == "" || *truthPath == "" {
		return errors.New("--scene, --clip and --truth are required")
	}
	sc, err := scene.Load(*scenePath)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*truthPath)
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	var truth truthFile
	if err := json.Unmarshal(b, &truth); err != nil {
		return fmt.Errorf("truth %s: %w", *truthPath, err)
	}
	for i, v := range truth.Violations {
		if v.Type == "" || v.Zone == "" || v.T < 0 {
			return fmt.Errorf("truth %s: violations[%d]: needs type, zone and t >= 0", *truthPath, i)
		}
	}
	truthCounts := map[string]int{}
	for i, c := range truth.Crossings {
		if c.Zone == "" || c.N < 0 {
			return fmt.Errorf("truth %s: crossings[%d]: needs zone and n >= 0", *truthPath, i)
		}
		truthCounts[c.Zone] += c.N
	}
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
	p, err := pipeline.New(pipeline.Config{Device: "eval", Scene: sc, Width: src.Width, Height: src.Height, Start: start, CountPeriod: time.Minute, Models: modelsIfAny(sc), Feed: feed},
		src, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	var stats pipeline.Stats
	defer func() {
		if !*asJSON {
			fmt.Fprintf(stdout, "signal sources disagreed %d times\n", p.SignalDisagreements())
			if stats.ViewChanges > 0 {
				fmt.Fprintf(stdout, "camera view changed %d times (tracks restarted)\n", stats.ViewChanges)
			}
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
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	types := make([]string, 0, len(r.Types))
	for k := range r.Types {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		s := r.Types[k]
		fmt.Fprintf(stdout, "%-24s tp %3d  fp %3d  fn %3d  precision %.3f  recall %.3f\n", k, s.TP, s.FP, s.FN, s.Precision, s.Recall)
	}
	if *list {
		all := make([]struct {
			who string
			e   eval.Event
		}, 0, len(truth.Violations)+len(got))
		for _, e := range truth.Violations {
			all = append(all, struct {
				who string
				e   eval.Event
			}{"truth", e})
		}
		for _, e := range got {
			all = append(all, struct {
				who string
				e   eval.Event
			}{"found", e})
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].e.T < all[j].e.T })
		for _, x := range all {
			fmt.Fprintf(stdout, "%8.2f s  %-5s  %-24s %s\n", x.e.T, x.who, x.e.Type, x.e.Zone)
		}
	}
	return nil
}
