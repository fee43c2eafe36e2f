package pipeline

import (
	"image"
	"strconv"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// An event's evidence shows it before, at and after the moment judged, evidenceSpan apart. The
// stills come from a ring of recent analysed frames, downscaled to the evidence's still size
// (640 × 360 for 16:9) and taken every evidenceEvery of stream time, plus the frame of each
// event and the first frame after each event's "after" time; only with evidence on. An event
// waits for its "after" still (evidenceSpan of stream time) before it goes to the outbox.
const (
	evidenceEvery = 250 * time.Millisecond
	evidenceSpan  = 800 * time.Millisecond
	// evidenceRing frames cover 3 s: enough for a "before" still of an event dated from a
	// stop line and raised at its confirm line a second or two later. About 8 MB at 640 × 360.
	evidenceRing = 12
	// evidenceWaiting bounds the events waiting for their "after" still: beyond it the oldest
	// goes out at once with the latest frame as its "after".
	evidenceWaiting = 64
)

// snapshot is one frame of the evidence ring with the tracks seen in it.
type snapshot struct {
	pos    time.Duration // stream time; -1: empty
	frame  gocv.Mat      // owned, at the still size
	tracks []edge.Track  // analysed-frame pixels
	// seen are the people and riders the detector found in the frame, tracked yet or not (a
	// track is reported from its second frame): pixelated too.
	seen []edge.Box
}

// waiting is an event raised and encoded, waiting for its "after" still.
type waiting struct {
	we  wire.Event
	ev  edge.Event
	pos time.Duration // stream time of the moment judged
}

// evidence holds the ring and the events waiting for their evidence. Every Mat is owned here.
type evidence struct {
	still   image.Point // evidence still size
	scale   float32     // still pixels per analysed pixel
	ring    [evidenceRing]snapshot
	newest  int // index of the newest snapshot; -1: none yet
	waiting []waiting
	// Reused per montage, so that making evidence allocates no slices per still.
	people, vehicles [vision.EvidenceStills][]edge.Box
	stills           [vision.EvidenceStills]vision.Still
}

func newEvidence(w, h int) *evidence {
	still, _ := vision.EvidenceLayout(w, h)
	ev := &evidence{still: still, scale: float32(still.X) / float32(w), newest: -1}
	for i := range ev.ring {
		ev.ring[i] = snapshot{pos: -1, frame: gocv.NewMatWithSize(still.Y, still.X, gocv.MatTypeCV8UC3)}
	}
	return ev
}

// push copies frame (analysed size), its tracks and the people detected in it into the ring,
// over the oldest snapshot.
func (ev *evidence) push(frame gocv.Mat, pos time.Duration, tracks []edge.Track, dets []edge.Detection) {
	if ev.newest >= 0 && ev.ring[ev.newest].pos == pos {
		return
	}
	ev.newest = (ev.newest + 1) % evidenceRing
	s := &ev.ring[ev.newest]
	gocv.Resize(frame, &s.frame, ev.still, 0, 0, gocv.InterpolationLinear) // Area is 10× slower at a ratio like 640→544
	s.pos, s.tracks, s.seen = pos, append(s.tracks[:0], tracks...), s.seen[:0]
	for _, d := range dets {
		if d.Class == edge.Person || d.Class == edge.Bicycle || d.Class == edge.Motorbike || d.Class == edge.ClassUnknown {
			s.seen = append(s.seen, d.Box)
		}
	}
}

// nearest returns the snapshot nearest to stream time t among those with after < pos < before
// (nil: none).
func (ev *evidence) nearest(t, after, before time.Duration) *snapshot {
	var best *snapshot
	for i := range ev.ring {
		s := &ev.ring[i]
		if s.pos < 0 || s.pos <= after || s.pos >= before {
			continue
		}
		if best == nil || absDur(s.pos-t) < absDur(best.pos-t) {
			best = s
		}
	}
	return best
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

func (ev *evidence) close() {
	for i := range ev.ring {
		ev.ring[i].frame.Close()
	}
}

// evidenceFrame runs after the rules on each analysed frame: it keeps the ring and sends the
// events whose "after" still has come.
func (p *Pipeline) evidenceFrame(frame gocv.Mat, pos time.Duration, tracks []edge.Track, dets []edge.Detection) {
	ev := p.ev
	if ev.newest < 0 || pos-ev.ring[ev.newest].pos >= evidenceEvery {
		ev.push(frame, pos, tracks, dets)
	}
	for len(ev.waiting) > 0 && pos >= ev.waiting[0].pos+evidenceSpan {
		ev.push(frame, pos, tracks, dets) // the "after" still: the first frame from its time
		p.sendWaiting()
	}
}

// holdEvent keeps an encoded event until its "after" still has come. An event raised on the
// frame being analysed has that frame in the ring: it is the "at" still.
func (p *Pipeline) holdEvent(we wire.Event, e edge.Event) {
	ev := p.ev
	if p.curPos >= 0 && !p.curFrame.Empty() {
		ev.push(p.curFrame, p.curPos, p.curTracks, p.curDets)
	}
	if len(ev.waiting) >= evidenceWaiting {
		p.sendWaiting()
	}
	// Events arrive in the order raised, not always of their times (a confirm line): keep the
	// queue sorted by when each one's "after" still comes.
	w := waiting{we: we, ev: e, pos: e.Time.Sub(p.cfg.Start)}
	i := len(ev.waiting)
	for i > 0 && ev.waiting[i-1].pos > w.pos {
		i--
	}
	ev.waiting = append(ev.waiting, waiting{})
	copy(ev.waiting[i+1:], ev.waiting[i:])
	ev.waiting[i] = w
}

// flushEvidence sends every waiting event with the stills there are (the stream ended).
func (p *Pipeline) flushEvidence() {
	for p.ev != nil && len(p.ev.waiting) > 0 {
		p.sendWaiting()
	}
}

// sendWaiting makes the evidence of the first waiting event and adds it to the outbox batch.
func (p *Pipeline) sendWaiting() {
	ev := p.ev
	w := ev.waiting[0]
	copy(ev.waiting, ev.waiting[1:])
	ev.waiting = ev.waiting[:len(ev.waiting)-1]
	if stills := ev.pick(w.pos); stills[1] != nil {
		for i, s := range stills {
			ev.stills[i] = ev.stillOf(i, s, w)
		}
		jpg, err := p.cfg.Evidence.Montage(ev.stills[:], judged(p.cfg.Scene, w.ev), wire.MaxEvidenceBytes)
		if err != nil {
			p.log.Warn("event without evidence image", "id", w.we.ID, "err", err)
		} else {
			w.we.Evidence = jpg
		}
	}
	p.add(w.we.ID, wire.KindEvents, edge.Severity(w.ev.Type), w.we)
	p.newEvents++
}

// pick returns the snapshots for the stills of an event at stream time pos: the nearest to
// pos, and those nearest to evidenceSpan before and after it (the "at" one where there is none,
// as when the stream began less than a span ago). All nil: the ring is empty.
func (ev *evidence) pick(pos time.Duration) [vision.EvidenceStills]*snapshot {
	const far = time.Duration(1 << 62)
	at := ev.nearest(pos, -far, far)
	if at == nil {
		return [vision.EvidenceStills]*snapshot{}
	}
	// Within two spans of the moment: a frame from before or after a quarantine (another view,
	// or long ago) is no still of this event.
	before := ev.nearest(pos-evidenceSpan, pos-2*evidenceSpan, at.pos)
	after := ev.nearest(pos+evidenceSpan, at.pos, pos+2*evidenceSpan)
	if before == nil {
		before = at
	}
	if after == nil {
		after = at
	}
	return [vision.EvidenceStills]*snapshot{before, at, after}
}

// stillOf returns snapshot s as still i of event w's evidence: its people, vehicles and the
// event's road user in still pixels.
func (ev *evidence) stillOf(i int, s *snapshot, w waiting) vision.Still {
	st := vision.Still{Frame: s.frame, At: s.pos - w.pos}
	ev.people[i], ev.vehicles[i] = ev.people[i][:0], ev.vehicles[i][:0]
	scale := func(b edge.Box) edge.Box {
		return edge.Box{X0: b.X0 * ev.scale, Y0: b.Y0 * ev.scale, X1: b.X1 * ev.scale, Y1: b.Y1 * ev.scale}
	}
	for _, t := range s.tracks {
		// The box drawn is the measured one (where the rules judged the road user); both the
		// measured and the filtered box are pixelated, as either may be the looser.
		b := t.Box
		if t.Meas.Area() > 0 {
			b = t.Meas
		}
		if t.ID == w.ev.Track {
			st.Subject = scale(b)
		}
		switch t.Class {
		case edge.Person, edge.Bicycle, edge.Motorbike, edge.ClassUnknown:
			ev.people[i] = append(ev.people[i], scale(t.Box))
			if b != t.Box {
				ev.people[i] = append(ev.people[i], scale(b))
			}
		}
		if t.Class.Motor() {
			ev.vehicles[i] = append(ev.vehicles[i], scale(t.Box))
			if b != t.Box {
				ev.vehicles[i] = append(ev.vehicles[i], scale(b))
			}
		}
	}
	for _, b := range s.seen {
		ev.people[i] = append(ev.people[i], scale(b))
	}
	st.People, st.Vehicles = ev.people[i], ev.vehicles[i]
	return st
}

// judged returns what the evidence of e draws: its road user's name, the zone or line of the
// scene it was judged on, and the signal.
func judged(s *scene.Scene, e edge.Event) vision.Judged {
	j := vision.Judged{Subject: e.Class.String() + " " + strconv.Itoa(e.Track), Time: e.Time}
	if sg := e.Signal; sg != nil {
		j.Signal, j.Source = sg.Light, sg.Source
		if sg.Light == edge.Red {
			j.Into = max(0, e.Time.Sub(sg.Since))
		}
	}
	for _, a := range s.Approaches {
		if a.ID == e.Zone {
			j.Lines = append(j.Lines, a.StopLine)
			if a.ConfirmLine != nil {
				j.Lines = append(j.Lines, a.ConfirmLine)
			}
		}
	}
	for _, c := range s.Crosswalks {
		if c.ID == e.Zone {
			j.Zones = append(j.Zones, c.Polygon)
		}
	}
	for _, z := range s.Roadways {
		if z.ID == e.Zone {
			j.Zones = append(j.Zones, z.Polygon)
		}
	}
	for _, z := range s.PlatformEdges {
		if z.ID == e.Zone {
			j.Zones = append(j.Zones, z.Polygon)
		}
	}
	for _, z := range s.Tracks {
		if z.ID == e.Zone {
			j.Zones = append(j.Zones, z.Polygon)
		}
	}
	return j
}
