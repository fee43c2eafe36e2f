package vision

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

const ringFPS = 15

func solidFrame(w, h int, v float64) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), h, w, gocv.MatTypeCV8UC3)
}

// Without evidence there is no ring: the analyser keeps no downscaled frames.
func TestNoEvidenceNoRing(t *testing.T) {
	s := scene.Defaults()
	s.Detector = scene.Classical()
	a, err := NewAnalyser(AnalyserConfig{Scene: &s, Width: 640, Height: 480, Detector: NewClassical(640, 480, s.Detector, nil, nil)}, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.ring != nil {
		t.Fatal("an evidence ring without evidence")
	}
	if _, ok := a.NewestStill(); ok {
		t.Fatal("a still without evidence")
	}
}

// keepEvery keeps frame in r as the pipeline has the analyser keep it: one still every
// edge.EvidenceEvery of stream time.
func keepEvery(r *stillRing, frame gocv.Mat, pos time.Duration, tracks []edge.Track, dets []edge.Detection) {
	if newest, ok := r.newestPos(); !ok || pos-newest >= edge.EvidenceEvery {
		r.push(frame, pos, tracks, dets)
	}
}

// Keeping the ring costs no allocation per frame: the snapshots' Mats and track slices are
// reused (the Mats are at the still size from the start).
func TestEvidenceRingAllocatesNothingPerFrame(t *testing.T) {
	r := newStillRing(640, 480)
	defer r.close()
	frame := solidFrame(640, 480, 90)
	defer frame.Close()
	tracks := []edge.Track{{ID: 1, Box: edge.Box{X0: 10, Y0: 10, X1: 50, Y1: 90}, Class: edge.Person}, {ID: 2, Class: edge.Car}}
	dets := []edge.Detection{{Box: edge.Box{X0: 10, Y0: 10, X1: 50, Y1: 90}, Class: edge.Person}}
	pos := time.Duration(0)
	step := func() { // the frames of one ring period: one of them is copied in
		for end := pos + edge.EvidenceEvery; pos < end; pos += time.Second / ringFPS {
			keepEvery(r, frame, pos, tracks, dets)
		}
	}
	for range 2 * evidenceRing { // every snapshot filled once, slices grown
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per ring period (%v of frames), want 0", n, edge.EvidenceEvery)
	}
}

// BenchmarkEvidenceFrame is the per-frame cost of the evidence ring (a 640×480 frame; one in
// four is copied, downscaled, into the ring).
func BenchmarkEvidenceFrame(b *testing.B) {
	r := newStillRing(640, 480)
	defer r.close()
	frame := solidFrame(640, 480, 90)
	defer frame.Close()
	tracks := []edge.Track{{ID: 1, Class: edge.Person}, {ID: 2, Class: edge.Car}}
	b.ReportAllocs()
	for i := range b.N {
		keepEvery(r, frame, time.Duration(i)*time.Second/ringFPS, tracks, nil)
	}
}

// The stills of an event come from within two spans of its moment: after a quarantine (frames
// of a view seconds later), or when the stream has just begun, the "at" frame stands in.
func TestEvidencePick(t *testing.T) {
	r := newStillRing(640, 480)
	defer r.close()
	frame := solidFrame(640, 480, 0)
	defer frame.Close()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, at := range []int{0, 250, 500, 750, 1000, 9000, 9250} { // 1.0 s to 9.0 s: quarantined
		r.push(frame, ms(at), nil, nil)
	}
	pos := func(s *snapshot) int { return int(s.pos / time.Millisecond) }
	for _, c := range []struct {
		event int
		want  [3]int
	}{
		{900, [3]int{0, 1000, 1000}},     // nothing from 9 s stands for +0.8 s: the "at" frame does
		{500, [3]int{0, 500, 1000}},      // the nearest to -0.3 s and to 1.3 s
		{100, [3]int{0, 0, 1000}},        // no frame before the stream's first
		{9100, [3]int{9000, 9000, 9250}}, // 1.0 s is 8 s before: not a still of this event
	} {
		got := r.pick(ms(c.event))
		if g := [3]int{pos(got[0]), pos(got[1]), pos(got[2])}; g != c.want {
			t.Errorf("event at %d ms: stills at %v ms, want %v", c.event, g, c.want)
		}
	}
}
