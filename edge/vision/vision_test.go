package vision

import (
	"image"
	"image/color"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// frames returns n 640×480 frames with a box moving across a noisy background.
func frames(n int) []gocv.Mat {
	out := make([]gocv.Mat, n)
	for i := range out {
		m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
		m.SetTo(gocv.NewScalar(70, 70, 70, 0))
		x := 20 + (i*7)%560
		gocv.Rectangle(&m, image.Rect(x, 200, x+34, 260), color.RGBA{200, 40, 40, 255}, -1)
		out[i] = m
	}
	return out
}

func closeAll(ms []gocv.Mat) {
	for _, m := range ms {
		m.Close()
	}
}

// The classical detector finds a moving box once the background model has learnt.
func TestClassicalFindsMovingBox(t *testing.T) {
	fs := frames(60)
	defer closeAll(fs)
	d := scene.Defaults()
	c := NewClassical(640, 480, d.Detector, nil, nil)
	defer c.Close()
	var found int
	for _, f := range fs {
		found = len(c.Detect(f))
	}
	if found != 1 {
		t.Fatalf("found %d blobs in the last frame, want 1", found)
	}
}

func BenchmarkGate(b *testing.B) {
	fs := frames(16)
	defer closeAll(fs)
	g := NewGate(640, 480, nil, nil)
	defer g.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		g.Moving(fs[i%len(fs)])
	}
}

func BenchmarkClassicalDetect640(b *testing.B) {
	fs := frames(16)
	defer closeAll(fs)
	c := NewClassical(640, 480, scene.Defaults().Detector, nil, nil)
	defer c.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Detect(fs[i%len(fs)])
	}
}

func BenchmarkPrep720to640(b *testing.B) {
	src := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	p := NewPrep(640, 360)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Into(src, &dst)
	}
}

func BenchmarkSignalRead(b *testing.B) {
	fs := frames(1)
	defer closeAll(fs)
	s := scene.Defaults()
	s.Signals = []scene.Signal{{ID: "a", Kind: "vehicle", Region: &[2]scene.Point{{X: 0.6, Y: 0.2}, {X: 0.65, Y: 0.35}}}}
	r := NewSignalReader(&s, 640, 480)
	defer r.Close()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Read(fs[0], now)
	}
}

// A head that goes dark for a moment between amber and red still has its red onset observed; one
// first seen red, or red after a long dark spell, has not.
func TestSignalOnsetThroughADarkGap(t *testing.T) {
	s := scene.Defaults()
	s.Signals = []scene.Signal{{ID: "a", Kind: "vehicle", Region: &[2]scene.Point{{X: 0.6, Y: 0.2}, {X: 0.65, Y: 0.35}}}}
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	play := func(seq []edge.Light) edge.SignalState {
		r := NewSignalReader(&s, 640, 480)
		defer r.Close()
		for f, l := range seq {
			r.update(0, l, t0.Add(time.Duration(f)*100*time.Millisecond))
		}
		return r.state[0]
	}
	rep := func(l edge.Light, n int) []edge.Light {
		out := make([]edge.Light, n)
		for i := range out {
			out[i] = l
		}
		return out
	}
	cat := func(ls ...[]edge.Light) []edge.Light {
		var out []edge.Light
		for _, l := range ls {
			out = append(out, l...)
		}
		return out
	}
	U, A, R := edge.LightUnknown, edge.Amber, edge.Red
	for _, c := range []struct {
		name  string
		seq   []edge.Light
		onset bool
		since int // frame when red first showed
	}{
		{"amber, red", cat(rep(A, 10), rep(R, 10)), true, 10},
		{"amber, dark 0.3 s, red", cat(rep(A, 10), rep(U, 3), rep(R, 10)), true, 13},
		{"amber, dark 1.2 s, red", cat(rep(A, 10), rep(U, 12), rep(R, 10)), true, 22},
		{"amber, dark 3 s, red", cat(rep(A, 10), rep(U, 30), rep(R, 10)), false, 40},
		{"red from the start", rep(R, 10), false, 0},
		{"dark, then red", cat(rep(U, 5), rep(R, 10)), false, 5},
	} {
		st := play(c.seq)
		if st.Light != R || st.OnsetSeen != c.onset || !st.Since.Equal(t0.Add(time.Duration(c.since)*100*time.Millisecond)) {
			t.Errorf("%s: %v onset_seen=%v since +%v, want red onset_seen=%v since +%v", c.name, st.Light, st.OnsetSeen,
				st.Since.Sub(t0), c.onset, time.Duration(c.since)*100*time.Millisecond)
		}
	}
}

// A box moving across the picture is motion; a different picture altogether is a new view.
func TestGateViewChanged(t *testing.T) {
	fs := frames(3)
	defer closeAll(fs)
	g := NewGate(640, 480, nil, nil)
	defer g.Close()
	g.Moving(fs[0])
	if !g.Moving(fs[1]) || g.ViewChanged() {
		t.Fatalf("a moving box: moving and the same view expected (changed %.2f)", g.changed)
	}
	other := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer other.Close()
	other.SetTo(gocv.NewScalar(180, 200, 160, 0))
	gocv.Rectangle(&other, image.Rect(0, 0, 320, 240), color.RGBA{20, 20, 20, 255}, -1)
	if !g.Moving(other) || !g.ViewChanged() {
		t.Fatalf("another picture: a view change expected (changed %.2f)", g.changed)
	}
	if g.Moving(other); g.ViewChanged() {
		t.Fatalf("the same picture again is no view change (changed %.2f)", g.changed)
	}
}

// A burned-in clock ticking in a mask, or a signal lamp changing colour, is not motion: the
// gate does not wake the detector for it. The same change outside them is.
func TestGateIgnoresMasksAndSignalHeads(t *testing.T) {
	clock := [][]scene.Point{{{X: 0, Y: 0}, {X: 0.3, Y: 0}, {X: 0.3, Y: 0.1}, {X: 0, Y: 0.1}}}
	lamp := []image.Rectangle{image.Rect(560, 100, 600, 220)}
	g := NewGate(640, 480, clock, lamp)
	defer g.Close()
	frame := func(paint ...image.Rectangle) gocv.Mat {
		m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
		m.SetTo(gocv.NewScalar(90, 90, 90, 0))
		for _, r := range paint {
			gocv.Rectangle(&m, r, color.RGBA{250, 250, 250, 255}, -1)
		}
		return m
	}
	still, tick, red := frame(), frame(image.Rect(10, 5, 150, 40)), frame(image.Rect(565, 110, 595, 150))
	outside := frame(image.Rect(300, 300, 360, 380))
	defer closeAll([]gocv.Mat{still, tick, red, outside})
	g.Moving(still)
	if g.Moving(tick) {
		t.Fatal("the clock ticking in its mask woke the gate")
	}
	if g.Moving(red) {
		t.Fatal("a signal lamp changing woke the gate")
	}
	if !g.Moving(outside) {
		t.Fatal("a change outside the masks did not wake the gate")
	}
	open := NewGate(640, 480, nil, nil) // the check can fail: without the masks, the clock is motion
	defer open.Close()
	open.Moving(still)
	if !open.Moving(tick) {
		t.Fatal("without masks the clock should wake the gate")
	}
}

// A rider and their motorbike, found apart by a COCO model, become one motorbike; a pedestrian
// beside a bicycle, or one walking past below a motorbike, stays a person.
func TestMergeRiders(t *testing.T) {
	bike := edge.Detection{Box: edge.Box{X0: 100, Y0: 140, X1: 130, Y1: 200}, Class: edge.Motorbike, Score: 0.5}
	for _, c := range []struct {
		name    string
		person  edge.Box
		classes []edge.Class
	}{
		{"rider seen from behind", edge.Box{X0: 102, Y0: 110, X1: 128, Y1: 175}, []edge.Class{edge.Motorbike}},
		{"rider with a foot down", edge.Box{X0: 98, Y0: 112, X1: 126, Y1: 203}, []edge.Class{edge.Motorbike}},
		{"pedestrian beside it", edge.Box{X0: 132, Y0: 120, X1: 152, Y1: 198}, []edge.Class{edge.Person, edge.Motorbike}},
		{"pedestrian nearer the camera", edge.Box{X0: 105, Y0: 170, X1: 125, Y1: 240}, []edge.Class{edge.Person, edge.Motorbike}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dets := mergeRiders([]edge.Detection{{Box: c.person, Class: edge.Person, Score: 0.8}, bike})
			var got []edge.Class
			for _, d := range dets {
				got = append(got, d.Class)
			}
			if len(got) != len(c.classes) || got[0] != c.classes[0] || len(got) > 1 && got[1] != c.classes[1] {
				t.Fatalf("classes %v, want %v", got, c.classes)
			}
			if len(dets) == 1 {
				if b := dets[0].Box; b.Y0 != c.person.Y0 || b.Y1 != max(c.person.Y1, 200) || dets[0].Score != 0.8 {
					t.Fatalf("merged %+v: want the union and the better score", dets[0])
				}
			}
		})
	}
}

// The frame path allocates nothing in steady state (docs/BENCHMARKS.md): the motion gate and
// the classical detector over moving frames.
func TestFramePathAllocatesNothing(t *testing.T) {
	fs := frames(16)
	defer closeAll(fs)
	clock := [][]scene.Point{{{X: 0, Y: 0}, {X: 0.3, Y: 0}, {X: 0.3, Y: 0.1}, {X: 0, Y: 0.1}}}
	g := NewGate(640, 480, clock, nil) // masked, as in a scene with a burned-in clock
	defer g.Close()
	c := NewClassical(640, 480, scene.Defaults().Detector, clock, nil)
	defer c.Close()
	i := 0
	step := func() {
		if g.Moving(fs[i%len(fs)]) {
			c.Detect(fs[i%len(fs)])
		}
		i++
	}
	for range 40 {
		step() // Mats and buffers grown
	}
	if n := testing.AllocsPerRun(50, step); n != 0 {
		t.Fatalf("%.1f allocations per frame", n)
	}
}
