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
	stop    line
	confirm *line  // scene.Approach.ConfirmLine; nil: none
	heads   []head // the heads outside every lane (Signal and Signals)
	lanes   []lane
	margin  float32
	entry   float32 // pixels per second across the line: a vehicle moving in, not standing
	front   float32 // where in the box's depth the vehicle's front is judged, from its back (scene.Approach.Front)
	count   edge.Count
}

// head is a signal head as the rules read it.
type head struct {
	i     int    // index into the scene's signals; -1: a head marked unknown (scene.Signal.State)
	arrow string // the movement of an arrow head (scene.Signal.Arrow); "": a ball head, every movement
}

// lane is a stretch of an approach's stop line with heads of its own.
type lane struct {
	from, to float32 // along the stop line, pixels from its first point
	heads    []head
}

// line is a polyline in pixels crossed one way. A box is judged against one segment: the one
// nearest to its centre (ties: the earlier), taken as a whole line, so beyond either end of
// the polyline the end segment's line goes on. A two-point line is one segment, as before.
type line struct {
	segs   []segment
	length float32 // of every segment together
}

// segment is one straight piece of a line.
type segment struct {
	x0, y0 float32 // start
	tx, ty float32 // unit tangent along the segment
	nx, ny float32 // unit normal, pointing the way traffic travels
	length float32
	at     float32 // along the line to the segment's start
}

func newLine(p []scene.Point, dir scene.Point, fw, fh float32) line {
	var ln line
	for j := 1; j < len(p); j++ {
		x0, y0 := float32(p[j-1].X)*fw, float32(p[j-1].Y)*fh
		x1, y1 := float32(p[j].X)*fw, float32(p[j].Y)*fh
		l := float32(math.Hypot(float64(x1-x0), float64(y1-y0)))
		sg := segment{x0: x0, y0: y0, tx: (x1 - x0) / l, ty: (y1 - y0) / l, length: l, at: ln.length}
		sg.nx, sg.ny = -sg.ty, sg.tx
		if sg.nx*float32(dir.X)*fw+sg.ny*float32(dir.Y)*fh < 0 {
			sg.nx, sg.ny = -sg.nx, -sg.ny
		}
		ln.segs = append(ln.segs, sg)
		ln.length += l
	}
	return ln
}

// nearest returns the index of the segment nearest to (x, y), the earlier on a tie, and how far
// along it (x, y) projects, unclamped.
func (l *line) nearest(x, y float32) (int, float32) {
	best, bestD, bestS := 0, float32(math.MaxFloat32), float32(0)
	for i := range l.segs {
		sg := &l.segs[i]
		s := (x-sg.x0)*sg.tx + (y-sg.y0)*sg.ty
		c := min(sg.length, max(0, s))
		dx, dy := sg.x0+c*sg.tx-x, sg.y0+c*sg.ty-y
		if d := dx*dx + dy*dy; d < bestD {
			best, bestD, bestS = i, d, s
		}
	}
	return best, bestS
}

// seg returns the segment that judges box b: the one nearest to its centre.
func (l *line) seg(b edge.Box) *segment {
	if len(l.segs) == 1 {
		return &l.segs[0]
	}
	i, _ := l.nearest((b.X0+b.X1)/2, (b.Y0+b.Y1)/2)
	return &l.segs[i]
}

// along returns where (x, y) lies along the line, in pixels from its first point: its
// projection onto the nearest segment, clamped to it except beyond the line's two ends.
func (l *line) along(x, y float32) float32 {
	i, s := l.nearest(x, y)
	sg := &l.segs[i]
	if i > 0 {
		s = max(0, s)
	}
	if i < len(l.segs)-1 {
		s = min(sg.length, s)
	}
	return sg.at + s
}

// across returns a velocity's component along the normal of the segment that judges box b.
func (l *line) across(b edge.Box, vx, vy float32) float32 {
	sg := l.seg(b)
	return vx*sg.nx + vy*sg.ny
}

// held is a stop line crossing waiting for the confirm line or, on an approach without one, a
// crossing on red waiting for the vehicle to proceed (see proceeded).
type held struct {
	t   time.Time        // the stop line crossing
	sig edge.SignalState // the approach's signal then (zero: none)
	// On an approach without a confirm line: the road user, and how fast it last moved across
	// the line in heights of its box per second (judged if its track ends while it drives on).
	class edge.Class
	conf  float64
	speed float32
}

// A vehicle that crosses the stop line on red has run it only once it proceeds into the
// junction: its front a whole box height (about its own length, whatever the perspective) past
// the line while the light is still not green. One that creeps over the bar and stops there,
// then goes on green, has not; red-light cameras tell the two apart with a second loop past the
// stop line (a scene's confirm_line is that loop). A held crossing is dropped when the light
// turns green, after holdFor, or when its track ends unless it was then driving on at
// leaveSpeed or faster (out of the view or behind something, before it got a height past).
const (
	proceedHeights = 1.0
	holdFor        = 10 * time.Second
	leaveSpeed     = 1.0 // box heights per second across the line
)

type trackState struct {
	before  []bool // per approach: the track was seen with its front before the line
	crossed []bool // per approach: the crossing was already judged
	held    []held // per approach: a crossing waiting for the confirm line (zero t: none)
	spanned []bool // per approach: the box centre was over the line's span in an earlier frame
	areas   []areaState
	jay     areaState // in a roadway outside every crosswalk
	// arrived: the track began as a road user coming into view (at the frame's border, or
	// while the view itself was new), not in the middle of the picture. See Engine.arrival.
	arrived bool
	// riding: in its latest measured frame a "person" moved like a rider on an approach's lanes;
	// ridingFor: for how long since the first of its measured frames in a row that did (the sum
	// of the analysed frames' intervals after that first); rider: it did so for riderFor, and
	// is a motorbike for every rule (see approach.riding).
	riding    bool
	ridingFor time.Duration
	rider     bool
	// alighted: the person's track began over a vehicle's box: a driver or passenger getting
	// out (after a crash, at the kerb), who did not step into the road from the kerb.
	alighted bool
	// entry is 1 + the index of the first approach or count line with a leg the track crossed
	// (0: none yet); turned: its turning movement was counted.
	entry  int
	turned bool
}

// areaState is one track's history with one polygon zone.
type areaState struct {
	outside  bool      // seen outside the zone (so a later inside is an entry)
	inside   bool      // in a visit (with hysteresis)
	seen     bool      // seen inside in the latest frame
	entered  time.Time // when the current visit began
	lastIn   time.Time // the last frame seen inside
	fired    bool      // this visit's event was emitted
	counted  bool      // this track was counted in the zone, or found to be one counted already
	judged   bool      // a crosswalk entry was judged against its signal
	ex, ey   float32   // where the current visit began
	entryIdx int       // for jaywalking: the roadway entered
	boarding time.Time // platform edge: the last frame of this visit with a train boarding
}

// Area kinds.
const (
	kindCrosswalk = iota
	kindRoadway
	kindPlatformEdge
	kindTrack
)

// area is a polygon zone in pixels with the rule it carries.
type area struct {
	kind   int
	id     string
	site   string
	poly   []float32  // x0, y0, x1, y1, …
	heads  []walkHead // crosswalk: its heads, one per direction of crossing (or one for all)
	cx, cy float32    // crosswalk: its centroid, where a person crossing heads from the kerb
	graceS float64
	dwellS float64 // platform edge
	berth  int     // platform edge: index of its berth signal, -1 for none
	count  edge.Count
	counts bool // counts entries by people and cycles
	recent [4]recentEvent
	// counted is where the road users counted lately were last seen in the zone, to tell a
	// track that broke and began again from a road user not yet counted.
	counted [16]recentEvent
}

// recentEvent is where an area's rule fired and when its track was last seen in the area. A
// person whose track breaks (an occluder, a dark coat on dark ballast) comes back as a new
// track; the same event from the same place within repeatWindow of losing the first track is
// that person again, not a second event.
type recentEvent struct {
	x, y  float32
	t     time.Time
	track int
}

// repeatWindow and repeatRadius (a fraction of the frame diagonal) bound the above.
const (
	repeatWindow = 3 * time.Second
	repeatRadius = 0.06
	entrySpeed   = 0.05 // of the frame diagonal per second
)

// repeated reports whether an event of track at (x, y) repeats a recent event of another
// track at the same place, one no longer seen, and remembers it if not. The same track's
// second visit is an event of its own, and so is a second person while the first is in view.
func (a *area) repeated(track int, x, y float32, now time.Time, radius float32, tracks []edge.Track) bool {
	oldest := 0
	for i, r := range a.recent {
		if !r.t.IsZero() && r.track != track && now.Sub(r.t) < repeatWindow && (r.x-x)*(r.x-x)+(r.y-y)*(r.y-y) < radius*radius &&
			!seen(tracks, r.track) {
			a.recent[i] = recentEvent{x, y, now, track} // the same person, still here
			return true
		}
		if r.t.Before(a.recent[oldest].t) {
			oldest = i
		}
	}
	a.recent[oldest] = recentEvent{x, y, now, track}
	return false
}

// Timing of the person rules: an entry is confirmed once a track was seen inside for confirm,
// and a visit ends after leave outside, so a box jittering on a zone's border neither fires
// nor re-enters. Durations inside are measured between frames seen inside, never extended by
// the hysteresis.
const (
	confirm = 200 * time.Millisecond
	leave   = 500 * time.Millisecond
	// jayConfirm: how long a person must be in the roadway outside every crosswalk.
	jayConfirm = 500 * time.Millisecond
	// edgeTolerance: how far off a crosswalk's border a person is still on it, in heights of
	// the person's box.
	edgeTolerance = 0.25
)

// Engine applies the scene's rules. Not safe for concurrent use.
type Engine struct {
	approaches []approach
	areas      []area
	crosswalks []int // indexes into areas
	roadways   []int
	tracks     map[int]*trackState
	period     time.Duration
	bucket     time.Time // start of the current count period
	margin     float32   // pixels: a person this close to a crosswalk is on it
	radius     float32   // pixels: repeatRadius
	w, h       float32   // the analysed frame
	// view is when the current view began: the first frame, or the last Restart. A track that
	// begins within arrivalWindow of it was in view already; later, one that begins inside a
	// zone, away from the frame's border, where a counted road user's track was just lost, is
	// that road user (see stepPerson).
	view time.Time
	prev time.Time // the previous Step's time (zero before the first)
}

// New returns an engine for a scene analysed at w×h pixels, counting in periods of period.
func New(s *scene.Scene, w, h int, period time.Duration) *Engine {
	fw, fh := float32(w), float32(h)
	e := &Engine{tracks: map[int]*trackState{}, period: period, w: fw, h: fh}
	diag := float32(math.Hypot(float64(w), float64(h)))
	// Count lines are approaches with no signal: crossings are counted, never judged.
	lines := append([]scene.Approach(nil), s.Approaches...)
	for _, c := range s.CountLines {
		lines = append(lines, c.Approach())
	}
	for _, a := range lines {
		ap := approach{Approach: a, stop: newLine(a.StopLine, a.Direction, fw, fh),
			margin: 0.01 * diag, entry: entrySpeed * diag, heads: headsOf(s, a.Heads()), front: float32(a.Front)}
		if ap.front == 0 {
			ap.front = 1
		}
		for _, ln := range a.Lanes {
			from := ap.stop.along(float32(ln.Stretch[0].X)*fw, float32(ln.Stretch[0].Y)*fh)
			to := ap.stop.along(float32(ln.Stretch[1].X)*fw, float32(ln.Stretch[1].Y)*fh)
			ap.lanes = append(ap.lanes, lane{from: min(from, to), to: max(from, to), heads: headsOf(s, ln.Heads())})
		}
		if a.ConfirmLine != nil {
			c := newLine(a.ConfirmLine, a.Direction, fw, fh)
			ap.confirm = &c
		}
		ap.count = edge.Count{Site: a.Site, Zone: a.ID, Period: period}
		e.approaches = append(e.approaches, ap)
	}
	e.margin = 0.01 * diag
	e.radius = repeatRadius * diag
	px := func(pts []scene.Point) []float32 {
		out := make([]float32, 0, 2*len(pts))
		for _, p := range pts {
			out = append(out, float32(p.X)*fw, float32(p.Y)*fh)
		}
		return out
	}
	add := func(a area) int {
		a.count = edge.Count{Site: a.site, Zone: a.id, Period: period}
		e.areas = append(e.areas, a)
		return len(e.areas) - 1
	}
	for _, c := range s.Crosswalks {
		a := area{kind: kindCrosswalk, id: c.ID, site: c.Site, poly: px(c.Polygon), graceS: c.GraceS, counts: true}
		a.cx, a.cy = centroid(a.poly)
		walk := func(id string, dir scene.Point) {
			for _, h := range headsOf(s, []string{id}) {
				g := s.Signals[signalIndex(s, id)]
				dx, dy := float32(dir.X)*fw, float32(dir.Y)*fh
				if n := float32(math.Hypot(float64(dx), float64(dy))); n > 0 {
					dx, dy = dx/n, dy/n
				}
				a.heads = append(a.heads, walkHead{head: h, ped: g.Kind == "pedestrian", dx: dx, dy: dy})
			}
		}
		if c.Signal != "" {
			walk(c.Signal, scene.Point{})
		}
		for _, cs := range c.Signals {
			walk(cs.Signal, cs.Direction)
		}
		e.crosswalks = append(e.crosswalks, add(a))
	}
	for _, z := range s.Roadways {
		e.roadways = append(e.roadways, add(area{kind: kindRoadway, id: z.ID, site: z.Site, poly: px(z.Polygon)}))
	}
	for _, z := range s.PlatformEdges {
		add(area{kind: kindPlatformEdge, id: z.ID, site: z.Site, poly: px(z.Polygon), dwellS: z.DwellS, berth: signalIndex(s, z.Berth), counts: true})
	}
	for _, z := range s.Tracks {
		add(area{kind: kindTrack, id: z.ID, site: z.Site, poly: px(z.Polygon)})
	}
	return e
}

// headsOf returns the heads named ids.
func headsOf(s *scene.Scene, ids []string) []head {
	var hs []head
	for _, id := range ids {
		i := signalIndex(s, id)
		if i < 0 {
			continue // not in a validated scene
		}
		h := head{i: i, arrow: s.Signals[i].Arrow}
		if s.Signals[i].State == "unknown" {
			h.i = -1
		}
		hs = append(hs, h)
	}
	return hs
}

// signalIndex returns the index of the scene's signal id, -1 for none.
func signalIndex(s *scene.Scene, id string) int {
	for i, g := range s.Signals {
		if id != "" && g.ID == id {
			return i
		}
	}
	return -1
}

// Step applies the rules to one analysed frame. signals[i] is the state of the scene's i-th
// signal; tracks and ended come from the tracker.
func (e *Engine) Step(now time.Time, signals []edge.SignalState, tracks []edge.Track, ended []int, sink Sink) {
	e.rollCounts(now, sink)
	if e.view.IsZero() {
		e.view = now
	}
	var dt time.Duration // this frame's interval
	if !e.prev.IsZero() {
		dt = now.Sub(e.prev)
	}
	e.prev = now
	for _, tk := range tracks {
		if tk.Misses > 0 {
			continue // coasting: position is a prediction, not evidence
		}
		if tk.Meas.Area() > 0 {
			tk.Box = tk.Meas // judge by what was measured (see edge.Track.Meas)
		}
		st := e.tracks[tk.ID]
		if st == nil {
			n := len(e.approaches)
			st = &trackState{before: make([]bool, n), crossed: make([]bool, n), spanned: make([]bool, n), held: make([]held, n), areas: make([]areaState, len(e.areas)),
				arrived: e.arrival(now, tk.Box), alighted: tk.Class == edge.Person && alighting(tk, tracks)}
			e.tracks[tk.ID] = st
		}
		if tk.Class == edge.Person && !st.rider {
			switch {
			case !e.riding(tk):
				st.riding, st.ridingFor = false, 0
			case st.riding:
				st.ridingFor += dt
			default:
				st.riding = true
			}
			st.rider = st.riding && st.ridingFor >= riderFor
		}
		if st.rider {
			tk.Class = edge.Motorbike // part of the vehicle: judged at stop lines, by no person rule
		}
		if tk.Class == edge.Person || tk.Class == edge.Bicycle {
			e.stepPerson(now, signals, tk, tracks, st, sink)
		}
		for i := range e.approaches {
			a := &e.approaches[i]
			lead := a.stop.frontPast(tk.Box, a.front)
			within := a.stop.within(tk.Box)
			if h := &st.held[i]; !h.t.IsZero() {
				switch {
				case a.confirm != nil:
					if a.confirm.frontPast(tk.Box, a.front) > 0 {
						at, sig := h.t, h.sig
						*h = held{}
						a.judge(tk, at, sig, sink)
						e.turn(st, i, tk)
					}
				case lead >= proceedHeights*tk.Box.H():
					at, sig := h.t, h.sig
					*h = held{}
					a.violation(tk, at, sig, sink)
				case now.Sub(h.t) > holdFor || a.state(signals, tk.Box).Light == edge.Green:
					*h = held{} // it waited over the bar, and went (if at all) on green
				default:
					h.class, h.conf = tk.Class, confidence(tk)
					h.speed = a.stop.across(tk.Box, tk.VX, tk.VY) / max(tk.Box.H(), 1)
				}
			}
			switch {
			case lead <= 0 && within:
				st.before[i] = true
			case within && !st.spanned[i] && a.stop.past(tk.Box, false) <= 0 && a.stop.across(tk.Box, tk.VX, tk.VY) >= a.entry:
				// The first frame over the line's span finds the box already astride it, moving
				// across: a vehicle that came in from the side of the frame (or from behind an
				// occluder) and is entering now. Standing there, it would be a waiting vehicle
				// whose roof overhangs the bar, which is not judged.
				st.before[i] = true
			}
			if within {
				st.spanned[i] = true
			}
			// A crossing needs the track seen before the line, then clearly past it: jitter of a
			// vehicle stopped at the line never counts, nor does one first seen already past it.
			if !st.before[i] || st.crossed[i] || lead <= a.margin || !within {
				continue
			}
			st.crossed[i] = true
			sig := a.state(signals, tk.Box)
			if a.confirm != nil {
				// Counted and judged in a later measured frame with the front past the confirm
				// line. Not in this one even if it is past it already: a box that jumps past
				// both lines at once may be a track that switched to another road user (in the
				// Hanoi queue a waiting rider's track jumped 170 px into the junction at 13.4 s;
				// it was not measured again, and judging it at once raised a false event).
				st.held[i] = held{t: now, sig: sig}
				continue
			}
			if tk.Class != edge.ClassUnknown {
				a.count.N[tk.Class]++
				e.turn(st, i, tk)
			}
			if !a.violates(tk, now, sig) {
				continue
			}
			if lead < proceedHeights*tk.Box.H() {
				st.held[i] = held{t: now, sig: sig, class: tk.Class, conf: confidence(tk),
					speed: a.stop.across(tk.Box, tk.VX, tk.VY) / max(tk.Box.H(), 1)}
				continue
			}
			a.violation(tk, now, sig, sink)
		}
	}
	for _, id := range ended {
		if st := e.tracks[id]; st != nil {
			for i := range st.held {
				h := &st.held[i]
				if a := &e.approaches[i]; !h.t.IsZero() && a.confirm == nil && h.speed >= leaveSpeed {
					sig := h.sig
					sink.Event(edge.Event{Type: wire.RedLightRunning, Time: h.t, Site: a.Site, Zone: a.ID,
						Class: h.class, Confidence: h.conf, Track: id, Signal: &sig})
				}
			}
		}
		delete(e.tracks, id)
	}
}

// stepPerson applies the crosswalk, roadway, platform-edge and track rules to a person (or a
// cyclist, who is counted on crosswalks but judged by none of the person rules).
func (e *Engine) stepPerson(now time.Time, signals []edge.SignalState, tk edge.Track, tracks []edge.Track, st *trackState, sink Sink) {
	// The anchor is the bottom centre: where the feet are.
	x, y := (tk.Box.X0+tk.Box.X1)/2, tk.Box.Y1
	// Next to the paint is on the crosswalk, for jaywalking: within a quarter of the person's
	// own height (about 40 cm, wherever in the picture they are: the box's height carries the
	// perspective). A walker of a legal group whose feet are just off the stripes is crossing on
	// it. Entries and counts use the paint itself (with the 1 % border margin).
	border := max(e.margin, edgeTolerance*tk.Box.H())
	onCrosswalk := false
	for i := range e.areas {
		a, as := &e.areas[i], &st.areas[i]
		in := inside(a.poly, x, y)
		if a.kind == kindCrosswalk && !in {
			d := distance(a.poly, x, y)
			in = d <= e.margin // on the paint's border
			onCrosswalk = onCrosswalk || d <= border
		}
		if a.kind == kindCrosswalk && in {
			onCrosswalk = true
		}
		wasOutside := as.outside
		visit(as, in, now)
		if a.kind == kindRoadway && !in && !wasOutside && distance(a.poly, x, y) <= border {
			// Feet within a quarter of the person's height of the roadway's edge (the kerb's
			// width, wherever in the picture) are not yet off the road: a person who comes into
			// view there, from behind a parked van or a showcase at the kerb, and walks on has
			// not stepped in from outside.
			as.outside = false
		}
		as.seen = in
		if in && as.entered.Equal(now) {
			as.ex, as.ey = x, y
		}
		if in && as.fired {
			a.touch(tk.ID, x, y, now)
		}
		if in && as.counted {
			a.touchCounted(tk.ID, x, y, now)
		}
		if !as.inside || as.lastIn.Sub(as.entered) < confirm {
			continue
		}
		// Counted once per road user, decided when the track is confirmed in the zone. A track
		// that begins inside a zone in mid-picture, where a counted road user's track was just
		// lost, is that road user again: the track broke (people passing each other, a sign
		// post the detector merged with a passer-by), and counting it would inflate the zone's
		// rates. It takes the lost one's place, so its own breaks are not counted either. One
		// that entered from outside the zone, came into the picture, was there when the view
		// began, or begins beside a counted road user who is still tracked (two people walking
		// together whom the detector had seen as one) is counted.
		if a.counts && !as.counted {
			as.counted = true
			lost := -1
			if !as.outside && !st.arrived {
				lost = a.lostNear(tk.ID, x, y, now, e.radius, tracks)
			}
			if lost < 0 {
				a.count.N[tk.Class]++
				a.touchCounted(tk.ID, x, y, now)
			} else {
				a.counted[lost] = recentEvent{x, y, now, tk.ID} // takes the lost one's place
			}
		}
		if tk.Class != edge.Person {
			continue
		}
		switch a.kind {
		case kindCrosswalk:
			// Only an entry from outside is judged: a person already on the crosswalk when the
			// light changed, or when first seen, is finishing a crossing.
			if as.judged || !as.outside {
				continue
			}
			as.judged = true
			h := a.governing(as.ex, as.ey, tk.VX, tk.VY)
			if h == nil {
				continue
			}
			sig := headState(signals, h.head)
			if !dontWalk(sig.Light, h.ped) || (sig.OnsetSeen && as.entered.Sub(sig.Since).Seconds() < a.graceS) {
				continue
			}
			s := sig
			sink.Event(edge.Event{Type: wire.PedAgainstSignal, Time: as.entered, Site: a.site, Zone: a.id,
				Class: tk.Class, Confidence: confidence(tk), Track: tk.ID, Signal: &s})
		case kindPlatformEdge:
			// While a train stands with its doors open, people at the edge are boarding or
			// alighting: the dwell clock starts again when the doors close, so whoever is
			// still at the edge then (leaning on a closing door, say) counts after dwell_s.
			if a.berth >= 0 && a.berth < len(signals) && signals[a.berth].Light == edge.Green {
				as.boarding = now
				continue
			}
			from := as.entered
			if as.boarding.After(from) {
				from = as.boarding
			}
			if as.fired || as.lastIn.Sub(from).Seconds() < a.dwellS {
				continue
			}
			as.fired = true
			if a.repeated(tk.ID, x, y, now, e.radius, tracks) {
				continue
			}
			sink.Event(edge.Event{Type: wire.PlatformEdgeIntrusion, Time: from.Add(time.Duration(a.dwellS * float64(time.Second))),
				Site: a.site, Zone: a.id, Class: tk.Class, Confidence: confidence(tk), Track: tk.ID})
		case kindTrack:
			if as.fired {
				continue
			}
			as.fired = true
			if a.repeated(tk.ID, x, y, now, e.radius, tracks) {
				continue
			}
			sink.Event(edge.Event{Type: wire.TrackIntrusion, Time: as.entered, Site: a.site, Zone: a.id,
				Class: tk.Class, Confidence: confidence(tk), Track: tk.ID})
		}
	}
	if tk.Class != edge.Person {
		return
	}
	// Jaywalking: in a roadway, off every crosswalk, having come from outside the roadway.
	road := -1
	for _, i := range e.roadways {
		if st.areas[i].seen {
			road = i
			break
		}
	}
	jay := &st.jay
	visit(jay, road >= 0 && !onCrosswalk, now)
	if !jay.inside || jay.fired || road < 0 {
		return
	}
	jay.entryIdx = road
	if jay.lastIn.Sub(jay.entered) < jayConfirm {
		return
	}
	r := &e.areas[jay.entryIdx]
	if !st.areas[jay.entryIdx].outside || st.alighted {
		return // first seen in the roadway (a worker, a track that began mid-crossing) or getting out of a vehicle
	}
	jay.fired = true
	if r.repeated(tk.ID, x, y, now, e.radius, tracks) {
		return
	}
	sink.Event(edge.Event{Type: wire.Jaywalking, Time: jay.entered, Site: r.site, Zone: r.id,
		Class: tk.Class, Confidence: confidence(tk), Track: tk.ID})
}

// Riders. Seen from behind or from above, a COCO detector often finds the rider and not the
// machine under them, and the tracker's own test (a "person" at a motorbike's speed across the
// picture) misses riders moving toward or away from a high camera, whose picture moves little.
// What no pedestrian does is move down an approach's lanes with the traffic: within a stop
// line's span, near the line, in its direction of travel. A pedestrian crossing the road there
// moves across the lanes.
const (
	// riderFor: how long in a row, in measured frames. At 10 to 15 analysed fps it is the 3
	// measured frames it replaces (2 intervals span 0.133 to 0.2 s, 1 at most 0.1 s); at 7.5
	// (the detector on every second frame at 15) it takes 2 measured frames.
	riderFor   = 110 * time.Millisecond
	riderReach = 10   // how far before or past the stop line, in heights of the box
	riderSpeed = 0.15 // least speed along the direction of travel, in heights per second
)

// riding reports whether person track tk moves like a rider on one of the approaches' lanes.
func (e *Engine) riding(tk edge.Track) bool {
	h := tk.Box.H()
	for i := range e.approaches {
		l := &e.approaches[i].stop
		sg := l.seg(tk.Box)
		along, across := tk.VX*sg.nx+tk.VY*sg.ny, tk.VX*sg.tx+tk.VY*sg.ty
		centre := (sg.past(tk.Box, true) + sg.past(tk.Box, false)) / 2
		if l.within(tk.Box) && along > riderSpeed*h && along >= 2*max(across, -across) && max(centre, -centre) <= riderReach*h {
			return true
		}
	}
	return false
}

// alighting reports whether person track tk, first seen now, is getting out of a vehicle: half
// of its box or more lies over where a motor vehicle was last measured (one coasting too: the
// person getting out hides it).
func alighting(tk edge.Track, tracks []edge.Track) bool {
	for _, v := range tracks {
		if v.ID == tk.ID || !v.Class.Motor() {
			continue
		}
		b := v.Box
		if v.Meas.Area() > 0 {
			b = v.Meas
		}
		ix := min(tk.Box.X1, b.X1) - max(tk.Box.X0, b.X0)
		iy := min(tk.Box.Y1, b.Y1) - max(tk.Box.Y0, b.Y0)
		if ix > 0 && iy > 0 && 2*ix*iy >= tk.Box.Area() {
			return true
		}
	}
	return false
}

// Restart begins a new view at now, as after the camera's view changed and every track ended:
// the road users then in view are counted where they are first seen.
func (e *Engine) Restart(now time.Time) { e.view = now }

// arrivalWindow is how long after a view begins a new track counts as in view already: time for
// the detector to find everyone (a background model learns for its first 2 s).
const arrivalWindow = 3 * time.Second

// borderMargin is how close to the frame's border (a fraction of its width or height) a track's
// first box must come to count as arriving from outside the picture.
const borderMargin = 0.02

// arrival reports whether a track first seen at now with box b came into view then: early in
// the view, or at the frame's border.
func (e *Engine) arrival(now time.Time, b edge.Box) bool {
	mx, my := borderMargin*e.w, borderMargin*e.h
	return now.Sub(e.view) <= arrivalWindow || b.X0 <= mx || b.Y0 <= my || b.X1 >= e.w-mx || b.Y1 >= e.h-my
}

// touchCounted notes that track, counted in the area, is in it at (x, y).
func (a *area) touchCounted(track int, x, y float32, now time.Time) {
	oldest := 0
	for i, r := range a.counted {
		if r.track == track && !r.t.IsZero() {
			a.counted[i] = recentEvent{x, y, now, track}
			return
		}
		if r.t.Before(a.counted[oldest].t) {
			oldest = i
		}
	}
	a.counted[oldest] = recentEvent{x, y, now, track}
}

// lostNear returns the index in a.counted of another track counted in the area, no longer
// seen, that was within radius of (x, y) less than repeatWindow ago; -1 for none.
func (a *area) lostNear(track int, x, y float32, now time.Time, radius float32, tracks []edge.Track) int {
	for i, r := range a.counted {
		if !r.t.IsZero() && r.track != track && now.Sub(r.t) < repeatWindow && (r.x-x)*(r.x-x)+(r.y-y)*(r.y-y) < radius*radius &&
			!seen(tracks, r.track) {
			return i
		}
	}
	return -1
}

// touch notes that track, whose event the area remembers, is still in the area at (x, y).
func (a *area) touch(track int, x, y float32, now time.Time) {
	for i := range a.recent {
		if a.recent[i].track == track && !a.recent[i].t.IsZero() {
			a.recent[i] = recentEvent{x, y, now, track}
		}
	}
}

// seen reports whether track id was matched in this frame.
func seen(tracks []edge.Track, id int) bool {
	for _, t := range tracks {
		if t.ID == id {
			return t.Misses == 0
		}
	}
	return false
}

// visit updates a track's presence in a zone with hysteresis: a visit begins at the first
// frame inside and ends after leave outside.
func visit(as *areaState, in bool, now time.Time) {
	switch {
	case in && !as.inside:
		as.inside, as.entered, as.fired, as.judged = true, now, false, false
		as.lastIn = now
	case in:
		as.lastIn = now
	case as.inside && now.Sub(as.lastIn) >= leave:
		as.inside, as.outside = false, true
	case !as.inside:
		as.outside = true
	}
}

// walkHead is a head that governs people crossing a crosswalk in one direction.
type walkHead struct {
	head
	ped    bool    // a pedestrian head (else the conflicting vehicle phase)
	dx, dy float32 // the direction of crossing it governs, a unit vector in pixels; 0: every one
}

// governing returns the crosswalk's head for a person who stepped onto it at (ex, ey), moving
// at (vx, vy); nil for none. With a head per direction, the person crosses from where they
// stepped on toward the crosswalk's centre (toward the far kerb), and the head whose direction
// is nearest to that way governs. When that way is not within 60° of any head's direction (a
// person who stepped on from the side, or at the centre itself), the way they move decides;
// a person standing still there is judged by the first head listed.
func (a *area) governing(ex, ey, vx, vy float32) *walkHead {
	switch len(a.heads) {
	case 0:
		return nil
	case 1:
		return &a.heads[0]
	}
	best, cos := a.nearestHead(a.cx-ex, a.cy-ey)
	if cos < 0.5 {
		if b, c := a.nearestHead(vx, vy); c > 0 {
			best = b
		}
	}
	return &a.heads[best]
}

// nearestHead returns the head whose direction is nearest to (dx, dy) and the cosine between
// them (0 for a zero vector).
func (a *area) nearestHead(dx, dy float32) (int, float32) {
	n := float32(math.Hypot(float64(dx), float64(dy)))
	if n < 1e-3 {
		return 0, 0
	}
	best, bestCos := 0, float32(-2)
	for i, h := range a.heads {
		if c := (dx*h.dx + dy*h.dy) / n; c > bestCos {
			best, bestCos = i, c
		}
	}
	return best, bestCos
}

// centroid returns the centre of area of a polygon (x0, y0, x1, y1, …), or the mean of its
// points for one of no area.
func centroid(poly []float32) (x, y float32) {
	var a, cx, cy, mx, my float64
	n := len(poly) / 2
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		xi, yi, xj, yj := float64(poly[2*i]), float64(poly[2*i+1]), float64(poly[2*j]), float64(poly[2*j+1])
		c := xj*yi - xi*yj
		a += c
		cx += (xj + xi) * c
		cy += (yj + yi) * c
		mx += xi / float64(n)
		my += yi / float64(n)
	}
	if math.Abs(a) < 1e-9 {
		return float32(mx), float32(my)
	}
	return float32(cx / (3 * a)), float32(cy / (3 * a))
}

// dontWalk reports whether a crosswalk's signal says not to walk: a pedestrian head on red or
// amber (flashing don't walk), or the conflicting vehicle phase on green or amber.
func dontWalk(l edge.Light, ped bool) bool {
	if ped {
		return l == edge.Red || l == edge.Amber
	}
	return l == edge.Green || l == edge.Amber
}

// inside reports whether (x, y) is inside the polygon (even-odd rule).
func inside(poly []float32, x, y float32) bool {
	in := false
	n := len(poly) / 2
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		xi, yi, xj, yj := poly[2*i], poly[2*i+1], poly[2*j], poly[2*j+1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// distance returns how far (x, y) is from the polygon's boundary.
func distance(poly []float32, x, y float32) float32 {
	best := float32(math.MaxFloat32)
	n := len(poly) / 2
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		ax, ay, bx, by := poly[2*j], poly[2*j+1], poly[2*i], poly[2*i+1]
		dx, dy := bx-ax, by-ay
		t := float32(0)
		if l := dx*dx + dy*dy; l > 0 {
			t = min(1, max(0, ((x-ax)*dx+(y-ay)*dy)/l))
		}
		px, py := ax+t*dx-x, ay+t*dy-y
		best = min(best, float32(math.Sqrt(float64(px*px+py*py))))
	}
	return best
}

// Flush emits the counts of the current, incomplete period.
func (e *Engine) Flush(sink Sink) {
	if e.bucket.IsZero() {
		return
	}
	e.emitCounts(sink)
	e.bucket = time.Time{}
}

func (e *Engine) emitCounts(sink Sink) {
	for i := range e.approaches {
		sink.Count(e.approaches[i].count)
	}
	for i := range e.areas {
		if e.areas[i].counts {
			sink.Count(e.areas[i].count)
		}
	}
}

func (e *Engine) rollCounts(now time.Time, sink Sink) {
	b := now.Truncate(e.period)
	if b.Equal(e.bucket) {
		return
	}
	if !e.bucket.IsZero() {
		e.emitCounts(sink)
	}
	e.bucket = b
	for i := range e.approaches {
		a := &e.approaches[i]
		a.count.Start, a.count.N, a.count.Movements = b, [edge.NumClasses]int{}, nil
	}
	for i := range e.areas {
		a := &e.areas[i]
		a.count.Start, a.count.N = b, [edge.NumClasses]int{}
	}
}

// turn notes that track tk, counted crossing approach i, entered by its leg or, if it entered
// by another leg, left by this one: a turning movement, counted once per road user with the
// entry's counts in the current period.
func (e *Engine) turn(st *trackState, i int, tk edge.Track) {
	leg := e.approaches[i].Leg
	if leg == "" || st.turned || tk.Class == edge.ClassUnknown {
		return
	}
	if st.entry == 0 {
		st.entry = i + 1
		return
	}
	in := &e.approaches[st.entry-1]
	if in.Leg == leg {
		return // a second line of the leg it came in by
	}
	st.turned = true
	if in.count.Movements == nil {
		in.count.Movements = map[string][edge.NumClasses]int{}
	}
	k := in.Leg + ">" + leg
	n := in.count.Movements[k]
	n[tk.Class]++
	in.count.Movements[k] = n
}

// judge counts a crossing of the stop line at time at, and raises red_light_running if it
// violates the signal then.
func (a *approach) judge(tk edge.Track, at time.Time, sig edge.SignalState, sink Sink) {
	if tk.Class == edge.ClassUnknown {
		return
	}
	a.count.N[tk.Class]++
	if a.violates(tk, at, sig) {
		a.violation(tk, at, sig, sink)
	}
}

// violates reports whether a crossing of the stop line at time at, with the approach's signal
// then, is against it: a motor vehicle on red, after the grace from the red's onset.
func (a *approach) violates(tk edge.Track, at time.Time, sig edge.SignalState) bool {
	if tk.Class == edge.ClassUnknown || !tk.Class.Motor() || sig.Light != edge.Red {
		return false
	}
	return !sig.OnsetSeen || at.Sub(sig.Since).Seconds() >= a.GraceS
}

// violation raises red_light_running for a crossing at time at.
func (a *approach) violation(tk edge.Track, at time.Time, sig edge.SignalState, sink Sink) {
	s := sig // a copy only here: the parameter's address would move it to the heap at every call
	sink.Event(edge.Event{Type: wire.RedLightRunning, Time: at, Site: a.Site, Zone: a.ID,
		Class: tk.Class, Confidence: confidence(tk), Track: tk.ID, Signal: &s})
}

// FrontPoint returns the point of box b (pixels of a w×h frame) that approach a judges as the
// road user's front: on the box's centre, moved along the normal of the stop line's segment
// that judges the box to where the crossing test measures (see scene.Approach.Front). For
// drawing.
func FrontPoint(a scene.Approach, b edge.Box, w, h int) (x, y float32) {
	l := newLine(a.StopLine, a.Direction, float32(w), float32(h))
	front := float32(a.Front)
	if front == 0 {
		front = 1
	}
	centre := (l.past(b, true) + l.past(b, false)) / 2
	k := l.frontPast(b, front) - centre
	sg := l.seg(b)
	return (b.X0+b.X1)/2 + k*sg.nx, (b.Y0+b.Y1)/2 + k*sg.ny
}

// frontPast returns how far the vehicle's front is past the line: the point front of the way
// from the box's back corner to its leading corner (along the direction of travel).
func (l *line) frontPast(b edge.Box, front float32) float32 {
	sg := l.seg(b)
	back := sg.past(b, false)
	return back + front*(sg.past(b, true)-back)
}

// past returns how far the box's front (or back) corner along the normal of the segment that
// judges it is past that segment's line: the back corner's is at most 0 while any of the box
// is still before it.
func (l *line) past(b edge.Box, front bool) float32 { return l.seg(b).past(b, front) }

func (sg *segment) past(b edge.Box, front bool) float32 {
	x, y := b.X0, b.Y0
	if (sg.nx > 0) == front {
		x = b.X1
	}
	if (sg.ny > 0) == front {
		y = b.Y1
	}
	return (x-sg.x0)*sg.nx + (y-sg.y0)*sg.ny
}

// within reports whether the box centre projects onto the line: onto the segment nearest to
// it, with a little slack (a tenth of the line's length) beyond the line's two ends.
func (l *line) within(b edge.Box) bool {
	i, s := l.nearest((b.X0+b.X1)/2, (b.Y0+b.Y1)/2)
	slack := 0.1 * l.length
	return (i > 0 || s >= -slack) && (i < len(l.segs)-1 || s <= l.segs[i].length+slack)
}

// state returns the signal state that governs a road user with box b crossing the approach:
// that of the heads of the lane whose stretch its centre crosses in, or, outside every lane,
// of the approach's own heads (with none, the nearest lane's). See resolve.
func (a *approach) state(signals []edge.SignalState, b edge.Box) edge.SignalState {
	hs := a.heads
	if len(a.lanes) > 0 {
		at := a.stop.along((b.X0+b.X1)/2, (b.Y0+b.Y1)/2)
		best, bestD := 0, float32(math.MaxFloat32)
		for i, ln := range a.lanes {
			if d := max(ln.from-at, at-ln.to, 0); d < bestD {
				best, bestD = i, d
			}
		}
		if bestD == 0 || len(hs) == 0 {
			hs = a.lanes[best].heads
		}
	}
	return resolve(signals, hs)
}

// resolve combines the heads that govern one lane (or one approach) into one state, without
// knowing which movement the road user makes. Unreadable heads (unknown: dark, out of view,
// marked unknown) are left out; none readable, or two readable heads for the same movement
// (two ball heads, two left arrows) disagreeing, is unknown: nothing is judged on a reading
// that contradicts itself. Otherwise the most permissive light wins, green over amber over red,
// because the road user may be making the movement a green head allows: the lane is red only
// when every readable head is. A red state's onset is the latest of its heads' red onsets,
// the least time into red.
func resolve(signals []edge.SignalState, hs []head) edge.SignalState {
	var out edge.SignalState
	for j, h := range hs {
		s := headState(signals, h)
		if s.Light == edge.LightUnknown {
			continue
		}
		for _, o := range hs[:j] {
			if so := headState(signals, o); o.arrow == h.arrow && so.Light != edge.LightUnknown && so.Light != s.Light {
				return edge.SignalState{}
			}
		}
		switch {
		case out.Light == edge.LightUnknown, permissive(s.Light) > permissive(out.Light):
			out = s
		case s.Light == out.Light && s.Since.After(out.Since):
			out = s
		}
	}
	return out
}

// headState returns a head's state, unknown for a head marked unknown or out of range.
func headState(signals []edge.SignalState, h head) edge.SignalState {
	if h.i < 0 || h.i >= len(signals) {
		return edge.SignalState{}
	}
	return signals[h.i]
}

// permissive orders the known lights red < amber < green.
func permissive(l edge.Light) int {
	switch l {
	case edge.Red:
		return 1
	case edge.Amber:
		return 2
	case edge.Green:
		return 3
	}
	return 0
}

func confidence(tk edge.Track) float64 {
	c := 0.6 + 0.05*float64(tk.Hits)
	if tk.Score > 0 {
		c *= float64(tk.Score)
	}
	return math.Min(c, 0.99)
}
