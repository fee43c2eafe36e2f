package track

import (
	"fmt"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

var still = edge.Box{X0: 0, Y0: 0, X1: 10, Y1: 10}

func det(b edge.Box) []edge.Detection {
	return []edge.Detection{{Box: b, Class: edge.Car, Score: 0.8}}
}

func ids(tracks []edge.Track) string {
	var s []int
	for _, t := range tracks {
		s = append(s, t.ID)
	}
	return fmt.Sprint(s)
}

// A track is reported from its MinHits-th match on, with the detection's box while it stands
// still; it coasts through MaxMisses missed frames and ends at the next, reported as ended.
func TestTrackLifecycleBoundaries(t *testing.T) {
	tr := New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2})
	if tk, _ := tr.Update(0.1, det(still)); len(tk) != 0 {
		t.Fatalf("reported after 1 hit: %+v", tk)
	}
	tk, _ := tr.Update(0.1, det(still))
	if len(tk) != 1 || tk[0].ID != 1 || tk[0].Hits != 2 || tk[0].Box != still {
		t.Fatalf("after 2 hits: %+v, want track 1 with the detection's box %v", tk, still)
	}
	for miss := 1; miss <= 3; miss++ {
		tk, ended := tr.Update(0.1, nil)
		if ids(tk) != "[1]" || len(ended) != 0 || tk[0].Misses != miss {
			t.Fatalf("miss %d: tracks %+v ended %v, want track 1 coasting", miss, tk, ended)
		}
	}
	if tk, ended := tr.Update(0.1, nil); len(tk) != 0 || fmt.Sprint(ended) != "[1]" {
		t.Fatalf("miss 4: tracks %+v ended %v, want track 1 ended", tk, ended)
	}
}

// An unconfirmed track survives one missed frame (the next may confirm it) but not two, and
// ends unreported: it was never a road user anyone saw.
func TestUnconfirmedTrack(t *testing.T) {
	tr := New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2})
	tr.Update(0.1, det(still))
	tr.Update(0.1, nil)
	if tk, _ := tr.Update(0.1, det(still)); ids(tk) != "[1]" {
		t.Fatalf("after hit, miss, hit: %+v, want track 1 confirmed", tk)
	}
	tr2 := New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2})
	tr2.Update(0.1, det(still))
	tr2.Update(0.1, nil)
	if _, ended := tr2.Update(0.1, nil); len(ended) != 0 {
		t.Fatalf("an unconfirmed track reported ended: %v", ended)
	}
	if tk, _ := tr2.Update(0.1, det(still)); len(tk) != 0 {
		t.Fatalf("the dropped track came back: %+v (a new one needs 2 hits)", tk)
	}
}

// A detection overlapping the prediction by exactly MinIoU is matched; new tracks take ids
// 1, 2, 3 in order.
func TestMinIoUInclusiveAndIDs(t *testing.T) {
	tr := New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 1, ProcessNoiz: 400, MeasNoise: 2})
	tr.Update(0.1, det(still))
	half := edge.Box{X0: 0, Y0: 0, X1: 10, Y1: 5} // IoU with still: 50/100 = 0.5 exactly
	if tk, _ := tr.Update(0.1, det(half)); ids(tk) != "[1]" {
		t.Fatalf("IoU = MinIoU: tracks %s, want track 1 matched", ids(tk))
	}
	tr = New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 1, ProcessNoiz: 400, MeasNoise: 2})
	far := []edge.Detection{{Box: still, Class: edge.Car}, {Box: edge.Box{X0: 100, Y0: 0, X1: 110, Y1: 10}, Class: edge.Car}, {Box: edge.Box{X0: 200, Y0: 0, X1: 210, Y1: 10}, Class: edge.Person}}
	if tk, _ := tr.Update(0.1, far); ids(tk) != "[1 2 3]" {
		t.Fatalf("new tracks %s, want [1 2 3]", ids(tk))
	}
}

func TestVote(t *testing.T) {
	for _, c := range []struct {
		votes map[edge.Class]int32
		want  edge.Class
	}{
		{map[edge.Class]int32{}, edge.ClassUnknown},
		{map[edge.Class]int32{edge.Car: 2, edge.Bus: 2}, edge.Car}, // a tie: the first class
		{map[edge.Class]int32{edge.Car: 2, edge.Bus: 3}, edge.Bus},
		{map[edge.Class]int32{edge.Person: 5, edge.Motorbike: 1}, edge.Motorbike}, // 1 in 5: a rider
		{map[edge.Class]int32{edge.Person: 6, edge.Motorbike: 1}, edge.Person},
		{map[edge.Class]int32{edge.Person: 5, edge.Bicycle: 1, edge.Motorbike: 1}, edge.Motorbike}, // equal: motorbike
		{map[edge.Class]int32{edge.Person: 10, edge.Bicycle: 2, edge.Motorbike: 1}, edge.Bicycle},
		{map[edge.Class]int32{edge.ClassUnknown: 3, edge.Person: 1}, edge.Person}, // unknown only when nothing else
	} {
		var v [edge.NumClasses]int32
		for k, n := range c.votes {
			v[k] = n
		}
		if got := vote(&v, false); got != c.want {
			t.Errorf("vote(%v) = %v, want %v", c.votes, got, c.want)
		}
	}
}

func TestComparePairs(t *testing.T) {
	for _, c := range []struct {
		a, b pair
		sign int
	}{
		{pair{0.6, 0, 0}, pair{0.5, 0, 0}, -1}, // better IoU first
		{pair{0.5, 0, 0}, pair{0.6, 0, 0}, 1},
		{pair{0.5, 1, 0}, pair{0.5, 2, 0}, -1}, // then lower track index
		{pair{0.5, 2, 0}, pair{0.5, 1, 0}, 1},
		{pair{0.5, 1, 3}, pair{0.5, 1, 1}, 1}, // then lower detection index
		{pair{0.5, 1, 1}, pair{0.5, 1, 3}, -1},
		{pair{0.5, 1, 1}, pair{0.5, 1, 1}, 0},
	} {
		got := comparePairs(c.a, c.b)
		if (got < 0) != (c.sign < 0) || (got > 0) != (c.sign > 0) {
			t.Errorf("comparePairs(%v, %v) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}

// The class is the majority of the matched frames' classes, the first frame's included.
func TestClassByMajorityOfFrames(t *testing.T) {
	cfg := Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 1, ProcessNoiz: 400, MeasNoise: 2}
	seq := func(classes ...edge.Class) edge.Class {
		tr := New(cfg)
		var tk []edge.Track
		for _, c := range classes {
			tk, _ = tr.Update(0.1, []edge.Detection{{Box: still, Class: c, Score: 0.8}})
		}
		return tk[0].Class
	}
	if c := seq(edge.Car, edge.Person, edge.Person, edge.Person); c != edge.Person {
		t.Errorf("car once then person 3 times: %v, want person", c)
	}
	if c := seq(edge.Car, edge.Bus); c != edge.Car {
		t.Errorf("car then bus (a tie, car first in class order): %v, want car", c)
	}
}

// Reset reports every confirmed track ended at the next Update, one confirmed by exactly
// MinHits too, and none that was never confirmed.
func TestResetEndsConfirmedTracks(t *testing.T) {
	tr := New(Config{MinIoU: 0.5, MaxMisses: 3, MinHits: 2, ProcessNoiz: 400, MeasNoise: 2})
	other := edge.Box{X0: 100, Y0: 0, X1: 110, Y1: 10}
	tr.Update(0.1, det(still))
	tr.Update(0.1, []edge.Detection{{Box: still, Class: edge.Car}, {Box: other, Class: edge.Car}}) // 1: 2 hits; 2: 1 hit
	tr.Reset()
	tk, ended := tr.Update(0.1, nil)
	if len(tk) != 0 || fmt.Sprint(ended) != "[1]" {
		t.Fatalf("after Reset: tracks %+v ended %v, want [1] ended", tk, ended)
	}
}
