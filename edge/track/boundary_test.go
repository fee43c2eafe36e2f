package track

import (
	"fmt"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

// Cases sitting exactly on the tracker's thresholds (written for the mutants that survived
// scripts/mutate.sh, docs/TESTING.md). Boxes and intervals are chosen so that the arithmetic is
// exact in float32: a track that stands at `still` predicts exactly `still`.

// settle matches n detections of class c at still, dt apart.
func settle(tr *Tracker, n int, dt float32, c edge.Class) {
	for range n {
		tr.Update(dt, []edge.Detection{{Box: still, Class: c, Score: 0.8}})
	}
}

// A settled car's track takes a person detection that overlaps its predicted box by exactly
// sameObject (the same object, misclassified in this frame), not one that overlaps it less.
func TestOtherFamilyAtSameObjectIoU(t *testing.T) {
	for _, c := range []struct {
		bottom float32
		joined bool
	}{
		{5, true},    // IoU 50/100 = 0.5 exactly
		{4.5, false}, // IoU 0.45
	} {
		tr := New(DefaultConfig())
		settle(tr, 3, 0.1, edge.Car) // matched for 0.2 s: settled
		person := edge.Box{X0: 0, Y0: 0, X1: 10, Y1: c.bottom}
		if iou := still.IoU(person); c.joined && iou != sameObject {
			t.Fatalf("IoU %v, want exactly %v", iou, sameObject)
		}
		tk, _ := tr.Update(0.1, []edge.Detection{{Box: person, Class: edge.Person, Score: 0.8}})
		joined := len(tk) == 1 && tk[0].ID == 1 && tk[0].Misses == 0
		if joined != c.joined {
			t.Errorf("person with IoU %v over a settled car: joined %v (tracks %+v), want %v", still.IoU(person), joined, tk, c.joined)
		}
	}
}

// A track's class family is firm once it was matched for exactly settledS (two frames
// float32(0.11) apart): a car over a person's track then starts its own track; one frame
// earlier it joins it.
func TestClassSettledAtExactlySettledS(t *testing.T) {
	for _, c := range []struct {
		frames int
		joined bool
	}{{1, true}, {2, false}} {
		tr := New(DefaultConfig())
		for range c.frames {
			tr.Update(0.11, []edge.Detection{{Box: box(300, 400, 25, 50), Class: edge.Person, Score: 0.8}})
		}
		tk, _ := tr.Update(0.11, []edge.Detection{{Box: box(320, 400, 80, 50), Class: edge.Car, Score: 0.8}})
		joined := len(tk) == 1 && tk[0].ID == 1 && tk[0].Misses == 0
		if joined != c.joined {
			t.Errorf("person for %d frames 0.11 s apart, then a car: joined %v (tracks %+v), want %v", c.frames, joined, tk, c.joined)
		}
	}
}

// A "person" moving at a rider's speed is a rider once its velocity is trusted (matched for
// steadyS) and it was fast for settledS of matched frames in a row, both limits included: at
// 0.09 s a frame it is fast from the 3rd frame (0.18 s) and a rider at the 5th (fast for
// 0.18 s); at 0.11 s a frame fast from the 3rd (0.22 s) and a rider at the 4th (fast for
// exactly 0.11 s). Every such person counts once in Stats.Riders; a fast car counts none.
func TestRiderAtExactLimits(t *testing.T) {
	for _, c := range []struct {
		dt    float32
		class edge.Class
		at    int // 1-based frame from which the track is a motorbike; 0: never
	}{
		{0.09, edge.Person, 5},
		{0.11, edge.Person, 4},
		{0.11, edge.Car, 0},
	} {
		tr := New(DefaultConfig())
		got := 0
		for f := 1; f <= 8; f++ {
			// 6 heights of the box a second, upward (a rider from 4)
			y := 1000 - 6*50*c.dt*float32(f-1)
			tk, _ := tr.Update(c.dt, []edge.Detection{{Box: box(300, y, 25, 50), Class: c.class, Score: 0.8}})
			if f == 1 {
				continue // not reported before its second hit
			}
			if len(tk) != 1 || tk[0].ID != 1 {
				t.Fatalf("dt %v frame %d: tracks %+v, want track 1", c.dt, f, tk)
			}
			if got == 0 && tk[0].Class == edge.Motorbike {
				got = f
			}
		}
		if got != c.at {
			t.Errorf("%v every %v s: a motorbike from frame %d, want %d", c.class, c.dt, got, c.at)
		}
		want := 0
		if c.class == edge.Person {
			want = 1
		}
		if st := tr.Stats(); st.Riders != want {
			t.Errorf("%v every %v s: stats %+v, want %d riders", c.class, c.dt, st, want)
		}
	}
}

// A dormant car is found again when a detection overlaps where it was last measured by
// exactly 0.25, and still exactly DormantS after it was lost; it ended just after.
func TestDormantLimitsInclusive(t *testing.T) {
	cfg := Config{MinIoU: 0.5, MaxMisses: 1, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2, DormantS: 2}
	quarter := edge.Box{X0: 0, Y0: 0, X1: 10, Y1: 2.5} // IoU with still: 25/100
	if iou := still.IoU(quarter); iou != 0.25 {
		t.Fatalf("IoU %v, want 0.25", iou)
	}
	for _, c := range []struct {
		name   string
		misses int // updates without the car, 0.5 s apart: it is lost (dormant) at the 2nd, t = 2 s
		det    edge.Box
		found  bool   // the detection revives track 1
		ended  string // what has ended by the update with det
	}{
		{"IoU 0.25, 0.5 s after lost", 2, quarter, true, "[]"},
		{"IoU 0.2, 0.5 s after lost", 2, edge.Box{X0: 0, Y0: 0, X1: 10, Y1: 2}, false, "[]"},
		{"at its place, exactly DormantS after lost", 5, still, true, "[]"},
		{"at its place, DormantS + 0.5 s after lost", 6, still, false, "[1]"},
	} {
		tr := New(cfg)
		settle(tr, 2, 0.5, edge.Car)
		ended := []int{}
		for range c.misses {
			_, e := tr.Update(0.5, nil)
			ended = append(ended, e...)
		}
		tk, e := tr.Update(0.5, det(c.det))
		ended = append(ended, e...)
		st := tr.Stats()
		found := st.Revived == 1 && ids(tk) == "[1]"
		if found != c.found || fmt.Sprint(ended) != c.ended {
			t.Errorf("%s: found again %v (tracks %s, stats %+v), ended %v; want found %v, ended %s", c.name, found, ids(tk), st, ended, c.found, c.ended)
		}
	}
}

// A car found again counts the frame it was found in: one more hit, and a vote for the class it
// was found as (a car found again as a bus, then seen as a bus, is a bus once the bus frames
// outnumber the car's).
func TestFoundAgainCountsItsFrame(t *testing.T) {
	cfg := Config{MinIoU: 0.5, MaxMisses: 1, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2, DormantS: 2}
	tr := New(cfg)
	settle(tr, 2, 0.5, edge.Car)
	tr.Update(0.5, nil)
	tr.Update(0.5, nil) // dormant
	tk, _ := tr.Update(0.5, []edge.Detection{{Box: still, Class: edge.Bus, Score: 0.8}})
	if len(tk) != 1 || tk[0].ID != 1 || tk[0].Hits != 3 || tk[0].Class != edge.Car {
		t.Fatalf("found again as a bus: %+v, want track 1, 3 hits, a car (2 votes to 1)", tk)
	}
	for f, want := range []edge.Class{edge.Car, edge.Bus} { // 2 to 2: the first class; then 2 to 3
		tk, _ = tr.Update(0.5, []edge.Detection{{Box: still, Class: edge.Bus, Score: 0.8}})
		if len(tk) != 1 || tk[0].Class != want || tk[0].Hits != 4+f {
			t.Fatalf("bus frame %d after: %+v, want a %v with %d hits", f+1, tk, want, 4+f)
		}
	}
}

// A lost car waits dormant only if it stood still (slower than a tenth of its height per
// second): one creeping at a twentieth does; one driving down or across the picture ends after
// its coast.
func TestStandingIsATenthOfTheHeight(t *testing.T) {
	for _, c := range []struct {
		name    string
		vx, vy  float32 // px/s; the box is 40 px high
		dormant bool
	}{
		{"creeping across", 2, 0, true},
		{"creeping down", 0, 2, true},
		{"driving down", 0, 60, false},
		{"driving across", 60, 0, false},
	} {
		tr := New(DefaultConfig())
		for f := range 30 {
			ts := float32(f) / 15
			tr.Update(1.0/15, []edge.Detection{{Box: box(200+c.vx*ts, 300+c.vy*ts, 60, 40), Class: edge.Car, Score: 0.9}})
		}
		var ended []int
		for range DefaultConfig().MaxMisses + 1 {
			_, e := tr.Update(1.0/15, nil)
			ended = append(ended, e...)
		}
		if dormant := len(ended) == 0 && len(tr.dormant) == 1; dormant != c.dormant {
			t.Errorf("%s: dormant %v (ended %v, %d dormant), want %v", c.name, dormant, ended, len(tr.dormant), c.dormant)
		}
	}
}

// Standing is slower than a tenth of the box's height per second, exactly a tenth excluded: a
// 50 px box at 5 px/s (25 = 0.01·50·50 exactly in float32) is moving, in x or in y.
func TestStandingExcludesATenth(t *testing.T) {
	tr := New(DefaultConfig())
	for _, c := range []struct {
		vx, vy float32
		want   bool
	}{
		{5, 0, false},
		{0, 5, false},
		{3, 4, false}, // 9 + 16 = 25
		{4.99, 0, true},
		{0, 4.99, true},
		{3, 3.99, true},
	} {
		s := state{h: 50, x: axis{v: c.vx}, y: axis{v: c.vy}}
		if got := tr.standing(&s); got != c.want {
			t.Errorf("50 px high at (%v, %v) px/s: standing %v, want %v", c.vx, c.vy, got, c.want)
		}
	}
}

// A "person" whose speed is exactly Config.RiderSpeed is not fast: the track's velocity is set
// to 4 heights of its 50 px box per second (200 px/s, across or down the picture) and every
// detection sits exactly on its prediction, so the filter keeps that velocity; a hair faster
// it is a rider.
func TestRiderSpeedExcluded(t *testing.T) {
	for _, c := range []struct {
		vx, vy float32
		rider  bool
	}{
		{200, 0, false},
		{0, 200, false},
		{120, 160, false}, // 120² + 160² = 200²
		{201, 0, true},
	} {
		tr := New(DefaultConfig())
		person := []edge.Detection{{Box: box(400, 400, 20, 50), Class: edge.Person, Score: 0.8}}
		tr.Update(0.125, person)
		tr.Update(0.125, person)
		s := &tr.live[0]
		s.x.v, s.y.v = c.vx, c.vy
		for range 8 { // 1 s: steady after 0.18 s, fast for settledS after that
			p := box(s.x.p+c.vx*0.125, s.y.p+c.vy*0.125, s.w, s.h)
			tr.Update(0.125, []edge.Detection{{Box: p, Class: edge.Person, Score: 0.8}})
			if s.x.v != c.vx || s.y.v != c.vy || s.h != 50 {
				t.Fatalf("velocity (%v, %v), height %v: the detections moved the filter", s.x.v, s.y.v, s.h)
			}
		}
		if got := s.Class == edge.Motorbike; got != c.rider {
			t.Errorf("a person at (%v, %v) px/s, 50 px high: %v, want rider %v", c.vx, c.vy, s.Class, c.rider)
		}
	}
}
