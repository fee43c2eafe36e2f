// Package signal gives the rules one state per signal head from the sources a scene names: the
// camera's reading, the controller's phase feed and a fixed-time plan. It picks a source per
// head in the scene's order of preference, records which one it used, and counts the times two
// sources disagree. No OpenCV here: the camera's reading comes in from edge/vision.
package signal

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// PlanLight returns a fixed-time plan's light at t and when that light began.
func PlanLight(p scene.Plan, t time.Time) (edge.Light, time.Time) {
	// In whole nanoseconds: a float of seconds since 1970 is off by a tenth of a microsecond.
	cycle := int64(p.CycleS * 1e9)
	ns := (t.UnixNano() - int64(p.OffsetS*1e9)) % cycle
	if ns < 0 {
		ns += cycle
	}
	start := t.Add(-time.Duration(ns))
	phase := float64(ns) / 1e9
	switch {
	case phase < p.GreenS:
		return edge.Green, start
	case phase < p.GreenS+p.AmberS:
		return edge.Amber, start.Add(time.Duration(p.GreenS * float64(time.Second)))
	}
	return edge.Red, start.Add(time.Duration((p.GreenS + p.AmberS) * float64(time.Second)))
}

// Feed holds the latest phase the controller reported for each signal head. Safe for
// concurrent use: the MQTT client writes, the pipeline reads.
type Feed struct {
	mu     sync.Mutex
	phases map[string][]wire.Phase // per signal, time order, the last few
}

// NewFeed returns an empty feed.
func NewFeed() *Feed { return &Feed{phases: map[string][]wire.Phase{}} }

// Add records a phase message. Messages may arrive out of order; each signal keeps its last 8.
func (f *Feed) Add(p wire.Phase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := append(f.phases[p.Signal], p)
	for i := len(ps) - 1; i > 0 && ps[i].Time.Before(ps[i-1].Time); i-- {
		ps[i], ps[i-1] = ps[i-1], ps[i]
	}
	if len(ps) > 8 {
		ps = ps[len(ps)-8:]
	}
	f.phases[p.Signal] = ps
}

// State returns the signal's light at t from the latest phase at or before t, when it began, and
// whether the feed knows: a phase older than stale is not trusted (the feed may have stopped).
func (f *Feed) State(signal string, t time.Time, stale time.Duration) (edge.Light, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := f.phases[signal]
	for i := len(ps) - 1; i >= 0; i-- {
		if !ps[i].Time.After(t) {
			if t.Sub(ps[i].Time) > stale {
				return edge.LightUnknown, time.Time{}, false
			}
			return lightOf(ps[i].State), ps[i].Time, true
		}
	}
	return edge.LightUnknown, time.Time{}, false
}

func lightOf(s string) edge.Light {
	switch s {
	case "red":
		return edge.Red
	case "amber":
		return edge.Amber
	case "green":
		return edge.Green
	}
	return edge.LightUnknown
}

// Stale is how long a feed phase stays trusted without a newer message: longer than any phase.
const Stale = 3 * time.Minute

// disagreeAfter is how long two sources must differ before it counts: a camera sees a change
// a frame or two after the controller makes it.
const disagreeAfter = time.Second

// Sources combines the sources of a scene's signal heads. Not safe for concurrent use, except
// Disagreements.
type Sources struct {
	signals  []scene.Signal
	feed     *Feed // nil: no feed
	out      []edge.SignalState
	differ   []time.Time // per signal: since when two sources differ; zero when they agree
	counted  []bool      // this episode was counted
	disagree atomic.Int64
	order    [][]int // per signal: source indexes in order of preference
}

// NewSources returns the combiner for the scene's signals; feed may be nil.
func NewSources(signals []scene.Signal, feed *Feed) *Sources {
	n := len(signals)
	s := &Sources{signals: signals, feed: feed, out: make([]edge.SignalState, n), differ: make([]time.Time, n), counted: make([]bool, n)}
	for _, g := range signals {
		s.order = append(s.order, preference(g))
	}
	return s
}

// Disagreements returns how many times two sources disagreed for longer than a second. Safe
// for concurrent use.
func (s *Sources) Disagreements() int { return int(s.disagree.Load()) }

// Combine returns each signal's state at now, given the camera's readings (camera[i] for the
// scene's i-th signal; unknown where the camera does not see it, or sees it dark or
// unreadable): the first source in the signal's order that knows, or unknown when none does
// or the scene marks the head unknown. The slice is owned by Sources.
func (s *Sources) Combine(now time.Time, camera []edge.SignalState) []edge.SignalState {
	for i, g := range s.signals {
		if g.State == "unknown" {
			// Marked unreadable in the scene: whatever its sources say, the rules get unknown
			// and judge nothing by it.
			s.out[i] = edge.SignalState{}
			continue
		}
		var cands [3]edge.SignalState // camera, feed, plan
		if i < len(camera) && camera[i].Light != edge.LightUnknown {
			cands[0] = camera[i]
			cands[0].Source = wire.SignalCamera
		}
		if g.Feed && s.feed != nil {
			if l, since, ok := s.feed.State(g.ID, now, Stale); ok {
				cands[1] = edge.SignalState{Light: l, Since: since, OnsetSeen: true, Source: wire.SignalFeed}
			}
		}
		if g.Plan != nil {
			l, since := PlanLight(*g.Plan, now)
			cands[2] = edge.SignalState{Light: l, Since: since, OnsetSeen: true, Source: wire.SignalPlan}
		}
		s.track(i, now, cands)
		s.out[i] = edge.SignalState{}
		for _, src := range s.order[i] {
			if c := cands[src]; c.Light != edge.LightUnknown {
				s.out[i] = c
				break
			}
		}
	}
	return s.out
}

// track counts a disagreement when two known sources differ for longer than disagreeAfter,
// once per episode.
func (s *Sources) track(i int, now time.Time, cands [3]edge.SignalState) {
	var first edge.Light
	differ := false
	for _, c := range cands {
		if c.Light == edge.LightUnknown {
			continue
		}
		if first == edge.LightUnknown {
			first = c.Light
		} else if c.Light != first {
			differ = true
		}
	}
	switch {
	case !differ:
		s.differ[i], s.counted[i] = time.Time{}, false
	case s.differ[i].IsZero():
		s.differ[i] = now
	case !s.counted[i] && now.Sub(s.differ[i]) >= disagreeAfter:
		s.counted[i] = true
		s.disagree.Add(1)
	}
}

// preference returns the source indexes (0 camera, 1 feed, 2 plan) in the signal's order.
func preference(g scene.Signal) []int {
	if len(g.Prefer) == 0 {
		return defaultOrder
	}
	order := make([]int, 0, 3)
	for _, p := range g.Prefer {
		switch p {
		case "camera":
			order = append(order, 0)
		case "feed":
			order = append(order, 1)
		case "plan":
			order = append(order, 2)
		}
	}
	return order
}

// defaultOrder: the controller knows best, then what the camera sees, then the plan.
var defaultOrder = []int{1, 0, 2}
