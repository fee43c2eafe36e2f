// Package rules turns one camera's tracks and signal states into safety events and road-user
// counts. Pure and deterministic: time comes in with every step.
package rules

import (
	"math"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Sink receives what the rules find. Calls happen on the caller's goroutine, inside Step.
type Sink interface {
	Event(edge.Event)
	Count(edge.Count)
}

type approach struct {
	scene.Approach
	x0, y0 float32 // stop line start, pixels
	tx, ty float32 // unit tangent along the line
	nx, ny float32 // unit normal, pointing the way traffic travels
	length float32
	signal int // index into the scene's signals
	margin float32
	count  edge.Count
}

type trackState struct {
	before  []bool // per approach: the track was seen with its leading corner before the line
	crossed []bool // per approach: the crossing was already judged
}

// Engine applies the scene's rules. Not safe for concurrent use.
type Engine struct {
	approaches []approach
	tracks     map[int]*trackState
	period     time.Duration
	bucket     time.Time // start of the current count period
}

// New returns an engine for a scene analysed at w×h pixels, counting in periods of period.
func New(s *scene.Scene, w, h int, period time.Duration) *Engine {
	e := &Engine{tracks: map[int]*trackState{}, period: period}
	fw, fh := float32(w), float32(h)
	for _, a := range s.Approaches {
		x0, y0 := float32(a.StopLine[0].X)*fw, float32(a.StopLine[0].Y)*fh
		x1, y1 := float32(a.StopLine[1].X)*fw, float32(a.StopLine[1].Y)*fh
		l := float32(math.Hypot(float64(x1-x0), float64(y1-y0)))
		ap := approach{Approach: a, x0: x0, y0: y0, tx: (x1 - x0) / l, ty: (y1 - y0) / l, length: l,
			margin: 0.01 * float32(math.Hypot(float64(w), float64(h)))}
		ap.nx, ap.ny = -ap.ty, ap.tx
		if ap.nx*float32(a.Direction.X)*fw+ap.ny*float32(a.Direction.Y)*fh < 0 {
			ap.nx, ap.ny = -ap.nx, -ap.ny
		}
		for i, g := range s.Signals {
			if g.ID == a.Signal {
				ap.signal = i
			}
		}
		ap.count = edge.Count{Site: a.Site, Zone: a.ID, Period: period}
		e.approaches = append(e.approaches, ap)
	}
	return e
}

// Step applies the rules to one analysed frame. signals[i] is the state of the scene's i-th
// signal; tracks and ended come from the tracker.
func (e *Engine) Step(now time.Time, signals []edge.SignalState, tracks []edge.Track, ended []int, sink Sink) {
	e.rollCounts(now, sink)
	for _, tk := range tracks {
		if tk.Misses > 0 {
			continue // coasting: position is a prediction, not evidence
		}
		st := e.tracks[tk.ID]
		if st == nil {
			st = &trackState{before: make([]bool, len(e.approaches)), crossed: make([]bool, len(e.approaches))}
			e.tracks[tk.ID] = st
		}
		for i := range e.approaches {
			a := &e.approaches[i]
			lead := a.leading(tk.Box)
			if lead <= 0 && a.within(tk.Box) {
				st.before[i] = true
			}
			// A crossing needs the track seen before the line, then clearly past it: jitter of a
			// vehicle stopped at the line never counts, nor does one first seen already past it.
			if !st.before[i] || st.crossed[i] || lead <= a.margin || !a.within(tk.Box) {
				continue
			}
			st.crossed[i] = true
			if tk.Class == edge.ClassUnknown {
				continue
			}
			a.count.N[tk.Class]++
			if !tk.Class.Motor() || a.signal >= len(signals) {
				continue
			}
			sig := signals[a.signal]
			if sig.Light != edge.Red {
				continue
			}
			if sig.OnsetSeen && now.Sub(sig.Since).Seconds() < a.GraceS {
				continue
			}
			s := sig
			sink.Event(edge.Event{Type: wire.RedLightRunning, Time: now, Site: a.Site, Zone: a.ID,
				Class: tk.Class, Confidence: confidence(tk), Track: tk.ID, Signal: &s})
		}
	}
	for _, id := range ended {
		delete(e.tracks, id)
	}
}

// Flush emits the counts of the current, incomplete period.
func (e *Engine) Flush(sink Sink) {
	if e.bucket.IsZero() {
		return
	}
	for i := range e.approaches {
		sink.Count(e.approaches[i].count)
	}
	e.bucket = time.Time{}
}

func (e *Engine) rollCounts(now time.Time, sink Sink) {
	b := now.Truncate(e.period)
	if b.Equal(e.bucket) {
		return
	}
	if !e.bucket.IsZero() {
		for i := range e.approaches {
			sink.Count(e.approaches[i].count)
		}
	}
	e.bucket = b
	for i := range e.approaches {
		a := &e.approaches[i]
		a.count.Start, a.count.N = b, [edge.NumClasses]int{}
	}
}

// leading returns how far the box corner furthest along the direction of travel is past the line.
func (a *approach) leading(b edge.Box) float32 {
	x := b.X0
	if a.nx > 0 {
		x = b.X1
	}
	y := b.Y0
	if a.ny > 0 {
		y = b.Y1
	}
	return (x-a.x0)*a.nx + (y-a.y0)*a.ny
}

// within reports whether the box centre projects onto the stop line (with a little slack).
func (a *approach) within(b edge.Box) bool {
	cx, cy := (b.X0+b.X1)/2, (b.Y0+b.Y1)/2
	s := (cx-a.x0)*a.tx + (cy-a.y0)*a.ty
	slack := 0.1 * a.length
	return s >= -slack && s <= a.length+slack
}

func confidence(tk edge.Track) float64 {
	c := 0.6 + 0.05*float64(tk.Hits)
	if tk.Score > 0 {
		c *= float64(tk.Score)
	}
	return math.Min(c, 0.99)
}
