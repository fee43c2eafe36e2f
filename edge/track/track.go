// Package track follows detections across the frames of one camera: a constant-velocity Kalman
// filter on each box's bottom-centre anchor, greedy IoU association on predicted boxes. Pure and
// deterministic; track ids are small per-camera numbers that die with the track.
package track

import (
	"slices"

	"github.com/crosswatch/crosswatch/edge"
)

// Config tunes the tracker.
type Config struct {
	MinIoU      float32 // least IoU between a predicted box and a detection to associate them
	MaxMisses   int     // frames a track coasts without a detection before it ends
	MinHits     int     // matched frames before a track is reported
	ProcessNoiz float32 // Kalman process noise (pixels/s² scale)
	MeasNoise   float32 // Kalman measurement noise (pixels)
}

// DefaultConfig suits 5-30 fps fixed cameras.
func DefaultConfig() Config {
	return Config{MinIoU: 0.1, MaxMisses: 8, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2}
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
}

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
	reset   []int // tracks ended by Reset, reported by the next Update
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
			if iou := tr.live[ti].pred.IoU(dets[di].Box); iou >= tr.cfg.MinIoU {
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
		s.Score = d.Score
		s.votes[d.Class]++
		s.Class = vote(&s.votes)
	}
	// End stale tracks, keeping order stable.
	tr.ended = append(tr.ended[:0], tr.reset...)
	tr.reset = tr.reset[:0]
	n := 0
	for _, s := range tr.live {
		if s.Misses > tr.cfg.MaxMisses || (s.Hits < tr.cfg.MinHits && s.Misses > 1) {
			if s.Hits >= tr.cfg.MinHits {
				tr.ended = append(tr.ended, s.ID)
			}
			continue
		}
		tr.live[n] = s
		n++
	}
	tr.live = tr.live[:n]
	for di, d := range dets {
		if tr.usedDet[di] {
			continue
		}
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

// Reset ends every track, as when the camera's view has changed and no box can belong to a
// track from before: the next Update reports them ended and matches its detections to none.
func (tr *Tracker) Reset() {
	for _, s := range tr.live {
		if s.Hits >= tr.cfg.MinHits {
			tr.reset = append(tr.reset, s.ID)
		}
	}
	tr.live = tr.live[:0]
}

// vote returns the class seen in most matched frames (unknown only when nothing else was
// seen). A class from one frame is noisy: a vehicle entering the frame, or split by an
// occluder, looks person-sized for a few frames. One exception: a track seen riding (a
// detector's motorbike or bicycle, with the rider merged in) in at least one frame for every
// five it was seen as a person is a rider. Seen from behind, the machine under a rider is often
// hidden and a COCO model finds only the person; a pedestrian is seen riding at most for a
// moment, passing behind a parked machine.
func vote(v *[edge.NumClasses]int32) edge.Class {
	best := edge.ClassUnknown
	for c := 1; c < edge.NumClasses; c++ {
		if v[c] > v[best] || (best == edge.ClassUnknown && v[c] > 0) {
			best = edge.Class(c)
		}
	}
	if best == edge.Person {
		ridden := edge.Motorbike
		if v[edge.Bicycle] > v[edge.Motorbike] {
			ridden = edge.Bicycle
		}
		if v[ridden] > 0 && 5*v[ridden] >= v[edge.Person] {
			return ridden
		}
	}
	return best
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
