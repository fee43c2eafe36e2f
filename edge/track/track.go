// Package track follows detections across the frames of one camera: a constant-velocity Kalman
// filter on each box's bottom-centre anchor, greedy IoU association on predicted boxes. Pure and
// deterministic; track ids are small per-camera numbers that die with the track.
package track

import (
	"slices"

	"github.com/crosswatch/crosswatch/edge"
)

// Config tunes the tracker. What judges a road user's motion is in seconds of stream time (see
// settledS and Config.RiderSpeed), so that the same motion is judged the same at any analysed
// rate; what judges the detector counts its passes (Update's calls): a detection seen twice is a
// road user, one missed pass is flicker. Lengthening the coast to the seconds that MaxMisses
// spans at 15 fps cost the 6 and 11 fps clips a red-light runner and a count (docs/BENCHMARKS.md).
type Config struct {
	MinIoU      float32 // least IoU between a predicted box and a detection to associate them
	MaxMisses   int     // detector passes a track coasts without a detection before it ends
	MinHits     int     // matched passes before a track is reported
	ProcessNoiz float32 // Kalman process noise (pixels/s² scale)
	MeasNoise   float32 // Kalman measurement noise (pixels)
	// DormantS is how long a standing vehicle's track, lost by the detector (a car waiting at a
	// red light behind a bus or a crowd on the zebra), waits to be found again at its place
	// before it ends: found, it is the same track, with the same id and history.
	DormantS float32
	// RiderSpeed, in heights of the road user's own box per second, is the speed above which a
	// track the detector sees only as a person is a rider: walking is about 0.8 heights per
	// second and sprinting 2, a motorbike crossing the picture in town 5 to 8 (see vote). Riding
	// away from or toward a high camera moves little in the picture: the rules find those riders
	// by their lane and direction (rules.Engine.riding).
	RiderSpeed float32
}

// DefaultConfig suits 5-30 fps fixed cameras.
func DefaultConfig() Config {
	return Config{MinIoU: 0.1, MaxMisses: 8, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2, DormantS: 10, RiderSpeed: 4}
}

// Stats counts what the tracker did since it was made, for eval: a track begun is a new id; a
// revived one is a dormant track found again (an identity switch avoided); a rider is a
// "person" track made a rider by its speed.
type Stats struct {
	Begun, Revived, Riders int
}

// axis is a 1-D constant-velocity Kalman filter: state (p, v), covariance [[a b][b c]].
type axis struct{ p, v, a, b, c float32 }

func (k *axis) predict(dt, q float32) {
	k.p += k.v * dt
	// P = F P Fᵀ + Q with F = [[1 dt][0 1]], Q from white acceleration noise.
	dt2 := dt * dt
	k.a += 2*dt*k.b + dt2*k.c + q*dt2*dt2/4
	k.b += dt*k.c + q*dt2*dt/2
	k.c += q * dt2
}

func (k *axis) correct(z, r float32) {
	s := k.a + r
	ka, kb := k.a/s, k.b/s
	y := z - k.p
	k.p += ka * y
	k.v += kb * y
	k.a, k.b, k.c = (1-ka)*k.a, (1-ka)*k.b, k.c-kb*k.b
}

type state struct {
	edge.Track
	votes [edge.NumClasses]int32 // matched frames per detected class
	x, y  axis                   // bottom-centre anchor
	w, h  float32                // smoothed size
	pred  edge.Box
	// seen is the track's matched time: the sum of the intervals (Update's dt) of the frames it
	// was matched in after its first; n matched frames at 15 fps are (n-1)/15 s.
	seen float32
	// fastFor is the matched time since the first of the latest matched frames in a row faster
	// than Config.RiderSpeed (fast: the latest matched frame was one).
	fastFor float32
	fast    bool
	rider   bool    // seen riding: moving at a vehicle's speed (sticky)
	lost    float64 // tracker time when it went dormant
}

// group is a class's family for association: a track of one family never takes a detection of
// the other once its class is settled, so a car crossing a zebra full of people keeps its
// track instead of jumping to a person in front of it. Two-wheelers belong to both: a rider is
// detected as a person or a motorbike, and a far car is often called a motorbike.
func group(c edge.Class) int {
	switch c {
	case edge.Car, edge.Bus, edge.Truck:
		return 2
	case edge.Person:
		return 1
	}
	return 0
}

// settledS is the matched time that makes a track's class family firm, and for which a "person"
// must move faster than Config.RiderSpeed to be a rider; its velocity is trusted for that once
// it was matched for steadyS. They replace counts of 3 and 4 matched frames, and are those
// counts at the product's 15 analysed fps (2 intervals span 0.133 s, 3 span 0.2 s), at 12 and
// 12.5 fps (24 and 25 fps cameras) too; at 10 fps settledS still is, and steadyS is 3 frames.
// With the detector on every second analysed frame they are 2 and 3 matched frames.
const (
	settledS = 0.11
	steadyS  = 0.18
)

// sameObject is the IoU with a track's predicted box above which a detection of the other
// family is still the same object, misclassified in this frame (a low-resolution rider called
// a car); a person in front of a car overlaps its box far less.
const sameObject = 0.5

type pair struct {
	iou  float32
	t, d int32
}

// Tracker associates detections frame by frame. Not safe for concurrent use.
type Tracker struct {
	cfg    Config
	live   []state
	nextID int
	// scratch reused every frame so that steady state allocates nothing
	pairs   []pair
	usedDet []bool
	out     []edge.Track
	ended   []int
	reset   []int   // tracks ended by Reset, reported by the next Update
	dormant []state // standing tracks lost lately, waiting to be found again
	now     float64 // seconds since the tracker began (the sum of Update's dt; float64: an edge runs for months)
	stats   Stats
}

// New returns a tracker.
func New(cfg Config) *Tracker { return &Tracker{cfg: cfg, nextID: 1} }

// Update advances all tracks by dt seconds and associates dets. It returns the confirmed tracks
// (matched this frame or coasting) and the ids of tracks that ended; both slices are owned by the
// tracker and valid until the next call.
func (tr *Tracker) Update(dt float32, dets []edge.Detection) (tracks []edge.Track, ended []int) {
	if dt <= 0 {
		dt = 1e-3
	}
	tr.now += float64(dt)
	q := tr.cfg.ProcessNoiz
	for i := range tr.live {
		s := &tr.live[i]
		s.x.predict(dt, q)
		s.y.predict(dt, q)
		s.pred = edge.Box{X0: s.x.p - s.w/2, Y0: s.y.p - s.h, X1: s.x.p + s.w/2, Y1: s.y.p}
	}
	tr.pairs = tr.pairs[:0]
	for ti := range tr.live {
		for di := range dets {
			iou := tr.live[ti].pred.IoU(dets[di].Box)
			if iou >= tr.cfg.MinIoU && (iou >= sameObject || compatible(&tr.live[ti], dets[di].Class)) {
				tr.pairs = append(tr.pairs, pair{iou, int32(ti), int32(di)})
			}
		}
	}
	slices.SortFunc(tr.pairs, comparePairs)
	tr.usedDet = resize(tr.usedDet, len(dets))
	for i := range tr.live {
		tr.live[i].Misses++ // cleared below when matched
	}
	for _, p := range tr.pairs {
		s := &tr.live[p.t]
		if tr.usedDet[p.d] || s.Misses == 0 {
			continue
		}
		tr.usedDet[p.d] = true
		d := dets[p.d]
		r := tr.cfg.MeasNoise
		s.x.correct((d.Box.X0+d.Box.X1)/2, r)
		s.y.correct(d.Box.Y1, r)
		s.w += 0.5 * (d.Box.W() - s.w)
		s.h += 0.5 * (d.Box.H() - s.h)
		s.Meas = d.Box
		s.Misses = 0
		s.Hits++
		s.seen += dt
		s.Score = d.Score
		s.votes[d.Class]++
		if h := max(s.h, 1); s.seen >= steadyS && s.x.v*s.x.v+s.y.v*s.y.v > tr.cfg.RiderSpeed*tr.cfg.RiderSpeed*h*h {
			if s.fast {
				s.fastFor += dt
			}
			s.fast = true
		} else {
			s.fast, s.fastFor = false, 0
		}
		if !s.rider && s.fast && s.fastFor >= settledS {
			s.rider = true
			if vote(&s.votes, false) == edge.Person {
				tr.stats.Riders++ // a "person" made a rider (a car's own speed changes nothing)
			}
		}
		s.Class = vote(&s.votes, s.rider)
	}
	// End stale tracks, keeping order stable.
	tr.ended = append(tr.ended[:0], tr.reset...)
	tr.reset = tr.reset[:0]
	n := 0
	for _, s := range tr.live {
		if s.Misses > tr.cfg.MaxMisses || (s.Hits < tr.cfg.MinHits && s.Misses > 1) {
			switch {
			case s.Hits >= tr.cfg.MinHits && tr.cfg.DormantS > 0 && s.Class.Motor() && tr.standing(&s):
				s.lost = tr.now
				tr.dormant = append(tr.dormant, s)
			case s.Hits >= tr.cfg.MinHits:
				tr.ended = append(tr.ended, s.ID)
			}
			continue
		}
		tr.live[n] = s
		n++
	}
	tr.live = tr.live[:n]
	n = 0
	for _, s := range tr.dormant {
		if tr.now-s.lost > float64(tr.cfg.DormantS) {
			tr.ended = append(tr.ended, s.ID)
			continue
		}
		tr.dormant[n] = s
		n++
	}
	tr.dormant = tr.dormant[:n]
	for di, d := range dets {
		if tr.usedDet[di] {
			continue
		}
		if tr.revive(d, dt) {
			continue
		}
		tr.stats.Begun++
		cx := (d.Box.X0 + d.Box.X1) / 2
		big := float32(1e4)
		tr.live = append(tr.live, state{
			Track: edge.Track{ID: tr.nextID, Class: d.Class, Score: d.Score, Hits: 1, Meas: d.Box},
			x:     axis{p: cx, a: 4, c: big}, y: axis{p: d.Box.Y1, a: 4, c: big},
			w: d.Box.W(), h: d.Box.H(),
		})
		tr.live[len(tr.live)-1].votes[d.Class]++
		tr.nextID++
	}
	tr.out = tr.out[:0]
	for i := range tr.live {
		s := &tr.live[i]
		if s.Hits < tr.cfg.MinHits {
			continue
		}
		s.Box = edge.Box{X0: s.x.p - s.w/2, Y0: s.y.p - s.h, X1: s.x.p + s.w/2, Y1: s.y.p}
		s.VX, s.VY = s.x.v, s.y.v
		tr.out = append(tr.out, s.Track)
	}
	return tr.out, tr.ended
}

// standing reports whether a track that the detector lost was standing still (slower than a
// tenth of its height per second): a waiting vehicle, which will be found again at the same
// place. A moving one has coasted along its path for MaxMisses frames already. People are not
// kept dormant: one walking past where another stood would take the other's track, and the
// rules tell a person's broken track from a new person by themselves (rules.area.lostNear).
func (tr *Tracker) standing(s *state) bool {
	h := max(s.h, 1)
	return s.x.v*s.x.v+s.y.v*s.y.v < 0.01*h*h
}

// revive gives detection d to the dormant track it overlaps best (IoU at least 0.25 with where
// it was last measured, of a compatible class), which comes back as the same road user: true
// if one took it. dt is the frame's interval, which its match adds to the track's matched time.
func (tr *Tracker) revive(d edge.Detection, dt float32) bool {
	best, bestIoU := -1, float32(0.25)
	for i := range tr.dormant {
		if !compatible(&tr.dormant[i], d.Class) {
			continue
		}
		if iou := tr.dormant[i].Meas.IoU(d.Box); iou >= bestIoU {
			best, bestIoU = i, iou
		}
	}
	if best < 0 {
		return false
	}
	s := tr.dormant[best]
	tr.dormant = slices.Delete(tr.dormant, best, best+1)
	big := float32(1e4)
	s.x = axis{p: (d.Box.X0 + d.Box.X1) / 2, a: 4, c: big}
	s.y = axis{p: d.Box.Y1, a: 4, c: big}
	s.w, s.h = d.Box.W(), d.Box.H()
	s.Meas, s.Score, s.Misses, s.fast, s.fastFor = d.Box, d.Score, 0, false, 0
	s.Hits++
	s.seen += dt
	s.votes[d.Class]++
	s.Class = vote(&s.votes, s.rider)
	tr.live = append(tr.live, s)
	tr.stats.Revived++
	return true
}

// compatible reports whether track s may take a detection of class c: always while its class
// is not settled, then only within its family (or one that overlaps it as the same object).
func compatible(s *state, c edge.Class) bool {
	if s.seen < settledS {
		return true
	}
	g, h := group(s.Class), group(c)
	return g == 0 || h == 0 || g == h
}

// Stats returns what the tracker did since it was made.
func (tr *Tracker) Stats() Stats { return tr.stats }

// Reset ends every track, as when the camera's view has changed and no box can belong to a
// track from before: the next Update reports them ended and matches its detections to none.
func (tr *Tracker) Reset() {
	for _, s := range tr.live {
		if s.Hits >= tr.cfg.MinHits {
			tr.reset = append(tr.reset, s.ID)
		}
	}
	for _, s := range tr.dormant {
		tr.reset = append(tr.reset, s.ID)
	}
	tr.live, tr.dormant = tr.live[:0], tr.dormant[:0]
}

// vote returns the class seen in most matched frames (unknown only when nothing else was
// seen). A class from one frame is noisy: a vehicle entering the frame, or split by an
// occluder, looks person-sized for a few frames. One exception: a rider. A track seen riding (a
// detector's motorbike or bicycle, with the rider merged in) in at least one frame for every
// five it was seen as a person is a rider. Seen from behind, the machine under a rider is often
// hidden and a COCO model finds only the person; a pedestrian is seen riding at most for a
// moment, passing behind a parked machine. So is a "person" that moved faster than
// Config.RiderSpeed for settledS of matched frames in a row (ridden, true): no one walks at that
// speed, and a rider is part of the vehicle for every rule (a motorbike unless a bicycle was seen
// under it).
func vote(v *[edge.NumClasses]int32, fast bool) edge.Class {
	best := edge.ClassUnknown
	for c := 1; c < edge.NumClasses; c++ {
		if v[c] > v[best] || (best == edge.ClassUnknown && v[c] > 0) {
			best = edge.Class(c)
		}
	}
	if best != edge.Person {
		return best
	}
	machine := edge.Motorbike
	if v[edge.Bicycle] > v[edge.Motorbike] {
		machine = edge.Bicycle
	}
	if fast || (v[machine] > 0 && 5*v[machine] >= v[edge.Person]) {
		return machine
	}
	return edge.Person
}

// comparePairs orders by IoU, best first, then by index so that ties are deterministic.
func comparePairs(a, b pair) int {
	switch {
	case a.iou != b.iou:
		if a.iou > b.iou {
			return -1
		}
		return 1
	case a.t != b.t:
		return int(a.t - b.t)
	}
	return int(a.d - b.d)
}

func resize(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}
