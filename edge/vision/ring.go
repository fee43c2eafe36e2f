package vision

import (
	"image"
	"strconv"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// evidenceRing frames of an evidence ring cover 3 s at edge.EvidenceEvery: enough for a
// "before" still of an event dated from a stop line and raised at its confirm line a second
// or two later. About 8 MB at 640 × 360.
const evidenceRing = 12

// snapshot is one frame of the evidence ring with the tracks seen in it.
type snapshot struct {
	pos    time.Duration // stream time; -1: empty
	frame  gocv.Mat      // owned, at the still size
	tracks []edge.Track  // analysed-frame pixels
	// seen are the people and riders the detector found in the frame, tracked yet or not (a
	// track is reported from its second frame): pixelated too.
	seen []edge.Box
}

// stillRing holds recent analysed frames, downscaled to the evidence's still size (640 × 360
// for 16:9), for the stills of events. Every Mat is owned here.
type stillRing struct {
	still  image.Point // evidence still size
	scale  float32     // still pixels per analysed pixel
	ring   [evidenceRing]snapshot
	newest int // index of the newest snapshot; -1: none yet
	// Reused per montage, so that making evidence allocates no slices per still.
	people, vehicles [EvidenceStills][]edge.Box
	stills           [EvidenceStills]Still
}

func newStillRing(w, h int) *stillRing {
	still, _ := EvidenceLayout(w, h)
	r := &stillRing{still: still, scale: float32(still.X) / float32(w), newest: -1}
	for i := range r.ring {
		r.ring[i] = snapshot{pos: -1, frame: gocv.NewMatWithSize(still.Y, still.X, gocv.MatTypeCV8UC3)}
	}
	return r
}

// push copies frame (analysed size), its tracks and the people detected in it into the ring,
// over the oldest snapshot; nothing if the newest snapshot is of the same stream time.
func (r *stillRing) push(frame gocv.Mat, pos time.Duration, tracks []edge.Track, dets []edge.Detection) {
	if r.newest >= 0 && r.ring[r.newest].pos == pos {
		return
	}
	r.newest = (r.newest + 1) % evidenceRing
	s := &r.ring[r.newest]
	gocv.Resize(frame, &s.frame, r.still, 0, 0, gocv.InterpolationLinear) // Area is 10× slower at a ratio like 640→544
	s.pos, s.tracks, s.seen = pos, append(s.tracks[:0], tracks...), s.seen[:0]
	for _, d := range dets {
		if d.Class == edge.Person || d.Class == edge.Bicycle || d.Class == edge.Motorbike || d.Class == edge.ClassUnknown {
			s.seen = append(s.seen, d.Box)
		}
	}
}

// newestPos returns the stream time of the newest snapshot; false: the ring is empty.
func (r *stillRing) newestPos() (time.Duration, bool) {
	if r.newest < 0 {
		return 0, false
	}
	return r.ring[r.newest].pos, true
}

// nearest returns the snapshot nearest to stream time t among those with after < pos < before
// (nil: none).
func (r *stillRing) nearest(t, after, before time.Duration) *snapshot {
	var best *snapshot
	for i := range r.ring {
		s := &r.ring[i]
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

func (r *stillRing) close() {
	for i := range r.ring {
		r.ring[i].frame.Close()
	}
}

// pick returns the snapshots for the stills of an event at stream time pos: the nearest to
// pos, and those nearest to edge.EvidenceSpan before and after it (the "at" one where there is
// none, as when the stream began less than a span ago). All nil: the ring is empty.
func (r *stillRing) pick(pos time.Duration) [EvidenceStills]*snapshot {
	const far = time.Duration(1 << 62)
	const span = edge.EvidenceSpan
	at := r.nearest(pos, -far, far)
	if at == nil {
		return [EvidenceStills]*snapshot{}
	}
	// Within two spans of the moment: a frame from before or after a quarantine (another view,
	// or long ago) is no still of this event.
	before := r.nearest(pos-span, pos-2*span, at.pos)
	after := r.nearest(pos+span, at.pos, pos+2*span)
	if before == nil {
		before = at
	}
	if after == nil {
		after = at
	}
	return [EvidenceStills]*snapshot{before, at, after}
}

// stillOf returns snapshot s as still i of the evidence of event e judged at stream time pos:
// its people, vehicles and the event's road user in still pixels.
func (r *stillRing) stillOf(i int, s *snapshot, e edge.Event, pos time.Duration) Still {
	st := Still{Frame: s.frame, At: s.pos - pos}
	r.people[i], r.vehicles[i] = r.people[i][:0], r.vehicles[i][:0]
	scale := func(b edge.Box) edge.Box {
		return edge.Box{X0: b.X0 * r.scale, Y0: b.Y0 * r.scale, X1: b.X1 * r.scale, Y1: b.Y1 * r.scale}
	}
	for _, t := range s.tracks {
		// The box drawn is the measured one (where the rules judged the road user); both the
		// measured and the filtered box are pixelated, as either may be the looser.
		b := t.Box
		if t.Meas.Area() > 0 {
			b = t.Meas
		}
		if t.ID == e.Track {
			st.Subject = scale(b)
		}
		switch t.Class {
		case edge.Person, edge.Bicycle, edge.Motorbike, edge.ClassUnknown:
			r.people[i] = append(r.people[i], scale(t.Box))
			if b != t.Box {
				r.people[i] = append(r.people[i], scale(b))
			}
		}
		if t.Class.Motor() {
			r.vehicles[i] = append(r.vehicles[i], scale(t.Box))
			if b != t.Box {
				r.vehicles[i] = append(r.vehicles[i], scale(b))
			}
		}
	}
	for _, b := range s.seen {
		r.people[i] = append(r.people[i], scale(b))
	}
	st.People, st.Vehicles = r.people[i], r.vehicles[i]
	return st
}

// judgedOf returns what the evidence of e draws: its road user's name, the zone or line of the
// scene it was judged on, and the signal.
func judgedOf(s *scene.Scene, e edge.Event) Judged {
	j := Judged{Subject: e.Class.String() + " " + strconv.Itoa(e.Track), Time: e.Time}
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
