package track

import (
	"slices"
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
	// A moving track ends after MaxMisses frames without a detection.
	for f := 0; f < 3; f++ {
		tr.Update(0.1, []edge.Detection{{Box: box(50+10*float32(f), 50, 20, 20), Class: edge.Person}})
	}
	var ended []int
	for f := 0; f < DefaultConfig().MaxMisses+1; f++ {
		var e []int
		_, e = tr.Update(0.1, nil)
		ended = append(ended, e...)
	}
	if len(ended) != 1 || len(tr.live) != 0 || len(tr.dormant) != 0 {
		t.Fatalf("moving: ended %v live %d dormant %d", ended, len(tr.live), len(tr.dormant))
	}
	// A standing vehicle waits DormantS more to be found again, then ends.
	tr = New(DefaultConfig())
	for f := 0; f < 3; f++ {
		tr.Update(0.1, []edge.Detection{{Box: box(50, 50, 20, 20), Class: edge.Car}})
	}
	ended = nil
	frames := 0
	for ; len(ended) == 0 && frames < 1000; frames++ {
		_, e := tr.Update(0.1, nil)
		ended = append(ended, e...)
	}
	if want := DefaultConfig().MaxMisses + 1 + int(DefaultConfig().DormantS/0.1); len(ended) != 1 || frames < want-1 || frames > want+1 {
		t.Fatalf("standing: ended %v after %d frames, want 1 after about %d", ended, frames, want)
	}
}

// A car waiting at a red light that the detector loses for seconds (a bus passes in front of
// it) is the same track when it is found again, also after it has begun to move off.
func TestWaitingVehicleFoundAgain(t *testing.T) {
	tr := New(DefaultConfig())
	car := func(x float32) []edge.Detection {
		return []edge.Detection{{Box: box(x, 300, 60, 40), Class: edge.Car, Score: 0.9}}
	}
	var id int
	for f := 0; f < 20; f++ {
		tracks, _ := tr.Update(1.0/15, car(200))
		if len(tracks) == 1 {
			id = tracks[0].ID
		}
	}
	for f := 0; f < 15*6; f++ { // six seconds unseen
		if tracks, ended := tr.Update(1.0/15, nil); len(ended) > 0 {
			t.Fatalf("frame %d: ended %v while waiting", f, ended)
		} else if f > DefaultConfig().MaxMisses && len(tracks) != 0 {
			t.Fatalf("frame %d: a lost track is reported: %+v", f, tracks)
		}
	}
	var got []int
	for f := 0; f < 10; f++ { // moving off
		tracks, _ := tr.Update(1.0/15, car(205+4*float32(f)))
		for _, tk := range tracks {
			got = append(got, tk.ID)
		}
	}
	if len(got) == 0 || slices.ContainsFunc(got, func(g int) bool { return g != id }) {
		t.Fatalf("after moving off: ids %v, want only %d", got, id)
	}
	if st := tr.Stats(); st.Revived != 1 || st.Begun != 1 {
		t.Errorf("stats %+v, want 1 begun and 1 revived", st)
	}
}

// A car crossing a zebra full of people keeps its track: while it is hidden for a moment, the
// people in front of it do not take it over.
func TestVehicleTrackIgnoresPeople(t *testing.T) {
	tr := New(DefaultConfig())
	var carID int
	for f := 0; f < 30; f++ {
		x := 100 + 6*float32(f)
		var dets []edge.Detection
		if f < 10 || f > 13 {
			dets = append(dets, edge.Detection{Box: box(x, 300, 80, 50), Class: edge.Car, Score: 0.9})
		} else {
			// hidden for a moment by a person crossing in front of it, over its box
			dets = append(dets, edge.Detection{Box: box(x+10, 305, 24, 60), Class: edge.Person, Score: 0.8})
		}
		tracks, _ := tr.Update(1.0/15, dets)
		for _, tk := range tracks {
			if tk.Class == edge.Car {
				if carID == 0 {
					carID = tk.ID
				}
				if tk.ID != carID {
					t.Fatalf("frame %d: the car is track %d, was %d", f, tk.ID, carID)
				}
				if tk.Misses == 0 && tk.Meas.H() > 55 {
					t.Fatalf("frame %d: the car's track took a person's box %+v", f, tk.Meas)
				}
			}
		}
	}
	if carID == 0 {
		t.Fatal("no car track")
	}
}

// A track the detector sees only as a person, moving at a motorbike's speed, is a rider (the
// machine hidden under it, seen from behind); a person walking or running is not.
func TestRiderByMotion(t *testing.T) {
	for _, c := range []struct {
		name  string
		speed float32 // heights of the box per second
		want  edge.Class
	}{
		{"walking", 0.8, edge.Person},
		{"running", 2.0, edge.Person},
		{"riding across the picture", 6, edge.Motorbike},
	} {
		tr := New(DefaultConfig())
		var got edge.Class
		for f := 0; f < 15; f++ {
			y := 400 - c.speed*50*float32(f)/15
			tracks, _ := tr.Update(1.0/15, []edge.Detection{{Box: box(300, y, 25, 50), Class: edge.Person, Score: 0.8}})
			if len(tracks) == 1 {
				got = tracks[0].Class
			}
		}
		if got != c.want {
			t.Errorf("%s at %v heights/s: %v, want %v", c.name, c.speed, got, c.want)
		}
	}
}

// The same motion is judged at the same moment of stream time whatever the analysed rate: a
// "person" riding across the picture is a rider after about a third of a second at 15 fps and
// with the detector on every second frame (7.5 fps), not after as many frames; and a track's class
// family is firm after 0.11 s of matches, 2 frames at 7.5 fps but 3 at 15.
func TestRateIndependent(t *testing.T) {
	for _, fps := range []float32{15, 7.5} {
		tr := New(DefaultConfig())
		at := float32(-1) // stream time from the first detection to the one that made it a rider
		for f := 0; float32(f)/fps < 1; f++ {
			tt := float32(f) / fps
			tracks, _ := tr.Update(1/fps, []edge.Detection{{Box: box(300, 400-6*50*tt, 25, 50), Class: edge.Person, Score: 0.8}})
			if len(tracks) == 1 && tracks[0].Class == edge.Motorbike {
				at = tt
				break
			}
		}
		if at < 0.3 || at > 0.45 {
			t.Errorf("%v fps: a rider after %.3f s, want 0.3-0.45 s", fps, at)
		}

		// A person standing, then a car detection over them (IoU 0.31): the car is matched to the
		// person's track while its class is not yet settled, and starts its own track after.
		for _, c := range []struct {
			frames int
			want   bool // the car detection joins the person's track
		}{{int(fps / 7.5), true}, {int(fps/7.5) + 1, false}} { // matched for 0.067 s (15 fps) or 0; for 0.133 s
			tr := New(DefaultConfig())
			for range c.frames {
				tr.Update(1/fps, []edge.Detection{{Box: box(300, 400, 25, 50), Class: edge.Person, Score: 0.8}})
			}
			tracks, _ := tr.Update(1/fps, []edge.Detection{{Box: box(320, 400, 80, 50), Class: edge.Car, Score: 0.8}})
			joined := len(tracks) == 1 && tracks[0].ID == 1 && tracks[0].Misses == 0
			if joined != c.want {
				t.Errorf("%v fps, person for %d frames then a car: joined %v (tracks %+v), want %v", fps, c.frames, joined, tracks, c.want)
			}
		}
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
		if got := vote(&v, false); got != c.want {
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

// After months of frames (the tracker's clock at 10⁷ s), a dormant vehicle still ends after
// DormantS: a clock that stopped advancing would keep it, and revive it for any car there.
func TestDormantEndsAfterMonths(t *testing.T) {
	tr := New(DefaultConfig())
	tr.now = 1e7
	for f := 0; f < 3; f++ {
		tr.Update(1.0/15, []edge.Detection{{Box: box(50, 50, 20, 20), Class: edge.Car}})
	}
	var ended []int
	for f := 0; f < 15*int(DefaultConfig().DormantS+2) && len(ended) == 0; f++ {
		_, e := tr.Update(1.0/15, nil)
		ended = append(ended, e...)
	}
	if len(ended) != 1 {
		t.Fatalf("after DormantS + 2 s of frames at t = 10⁷ s: ended %v, dormant %d", ended, len(tr.dormant))
	}
}
