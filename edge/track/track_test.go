package track

import (
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

func box(cx, bottom, w, h float32) edge.Box {
	return edge.Box{X0: cx - w/2, Y0: bottom - h, X1: cx + w/2, Y1: bottom}
}

// Two cars pass each other in opposite lanes; each keeps its id and the velocities have the right sign.
func TestTwoObjectsKeepIDs(t *testing.T) {
	tr := New(DefaultConfig())
	ids := map[int]float32{}
	for f := 0; f < 40; f++ {
		y := float32(f * 8)
		dets := []edge.Detection{
			{Box: box(100, 400-y, 30, 56), Class: edge.Car, Score: 1},
			{Box: box(160, 60+y, 30, 56), Class: edge.Car, Score: 1},
		}
		tracks, _ := tr.Update(1.0/15, dets)
		if f >= 1 && len(tracks) != 2 {
			t.Fatalf("frame %d: %d tracks", f, len(tracks))
		}
		for _, tk := range tracks {
			ids[tk.ID] = tk.VY
		}
	}
	if len(ids) != 2 {
		t.Fatalf("ids %v: want 2 stable ids", ids)
	}
	if ids[1] > -60 || ids[2] < 60 {
		t.Fatalf("velocities %v: want about -120 and +120 px/s", ids)
	}
}

// A track coasts through a short occlusion on its predicted path and keeps its id.
func TestCoastThroughGap(t *testing.T) {
	tr := New(DefaultConfig())
	var id int
	for f := 0; f < 30; f++ {
		var dets []edge.Detection
		if f < 10 || f > 14 {
			dets = []edge.Detection{{Box: box(100+float32(f)*6, 200, 30, 30), Class: edge.Car, Score: 1}}
		}
		tracks, _ := tr.Update(0.1, dets)
		if f == 9 {
			id = tracks[0].ID
		}
		if f > 14 && (len(tracks) != 1 || tracks[0].ID != id) {
			t.Fatalf("frame %d: tracks %+v, want id %d", f, tracks, id)
		}
	}
}

func TestEndsAfterMisses(t *testing.T) {
	tr := New(DefaultConfig())
	for f := 0; f < 3; f++ {
		tr.Update(0.1, []edge.Detection{{Box: box(50, 50, 20, 20), Class: edge.Person}})
	}
	var ended []int
	for f := 0; f < DefaultConfig().MaxMisses+1; f++ {
		var e []int
		_, e = tr.Update(0.1, nil)
		ended = append(ended, e...)
	}
	if len(ended) != 1 || len(tr.live) != 0 {
		t.Fatalf("ended %v live %d", ended, len(tr.live))
	}
}

func BenchmarkUpdate20(b *testing.B) {
	tr := New(DefaultConfig())
	dets := make([]edge.Detection, 20)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j := range dets {
			dets[j] = edge.Detection{Box: box(float32(j*40+20), float32(100+i%200), 30, 50), Class: edge.Car, Score: 1}
		}
		tr.Update(1.0/15, dets)
	}
}

// After Reset (the camera's view changed), the next Update reports every track ended and a
// box where the old one was starts a new track.
func TestResetEndsEveryTrack(t *testing.T) {
	tr := New(DefaultConfig())
	dets := []edge.Detection{{Box: box(100, 300, 30, 56), Class: edge.Car, Score: 1}}
	var before []edge.Track
	for f := 0; f < 5; f++ {
		before, _ = tr.Update(1.0/15, dets)
	}
	if len(before) != 1 {
		t.Fatalf("%d tracks before the reset", len(before))
	}
	old := before[0].ID
	tr.Reset()
	tracks, ended := tr.Update(1.0/15, dets)
	if len(ended) != 1 || ended[0] != old {
		t.Fatalf("ended %v, want [%d]", ended, old)
	}
	for _, tk := range tracks {
		if tk.ID == old {
			t.Fatalf("track %d survived the reset", old)
		}
	}
	if _, ended = tr.Update(1.0/15, dets); len(ended) != 0 {
		t.Fatalf("ended %v again", ended)
	}
}

// A track seen riding often enough is a rider, even when most frames found only the person.
func TestVoteRider(t *testing.T) {
	for _, c := range []struct {
		name                       string
		person, motorbike, bicycle int32
		want                       edge.Class
	}{
		{"person only", 9, 0, 0, edge.Person},
		{"rider seen from behind", 5, 1, 0, edge.Motorbike},
		{"cyclist", 8, 0, 2, edge.Bicycle},
		{"pedestrian passing a parked motorbike", 12, 1, 0, edge.Person},
		{"motorbike", 1, 6, 0, edge.Motorbike},
	} {
		var v [edge.NumClasses]int32
		v[edge.Person], v[edge.Motorbike], v[edge.Bicycle] = c.person, c.motorbike, c.bicycle
		if got := vote(&v); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The frame path allocates nothing in steady state (docs/BENCHMARKS.md): twenty tracks,
// people and riders among them, updated every frame.
func TestUpdateAllocatesNothing(t *testing.T) {
	tr := New(DefaultConfig())
	dets := make([]edge.Detection, 20)
	i := 0
	step := func() {
		for j := range dets {
			dets[j] = edge.Detection{Box: box(float32(j*40+20), float32(100+i%200), 30, 50), Class: edge.Class(1 + j%6), Score: 1}
		}
		tr.Update(1.0/15, dets)
		i++
	}
	for range 30 {
		step() // tracks born, buffers grown
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per frame", n)
	}
}
