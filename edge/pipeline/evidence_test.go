package pipeline

import (
	"context"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// The three stills of an event's evidence are the frames before, at and after the moment
// judged, about 0.8 s apart. Each frame of the clip has its own grey level (4 × its number), so
// a still's grey level says which frame it is; a person steps onto the track at 1.0 s (the
// track intrusion is dated from the entry and raised after the rules' confirmation).
func TestEvidenceStillsBeforeAtAfter(t *testing.T) {
	m := modelsOrSkip(t)
	people, err := vision.NewDNN(m, "yolo-fastest-1.1-xl", 0.999) // finds no one: only the grey levels matter
	if err != nil {
		t.Fatal(err)
	}
	defer people.Close()
	anon := vision.NewAnonymiser(people, nil)
	defer anon.Close()
	const n, enter = 60, 15 // 4 s; the person is there from frame 15 (1.0 s)
	pics := make([]gocv.Mat, n)
	for i := range pics {
		pics[i] = solid(float64(4 * i))
		defer pics[i].Close()
	}
	src := &frames{n: n, picture: func(i int) gocv.Mat { return pics[i] }}
	det := &script{dets: func(k int) []edge.Detection {
		if k < enter {
			return nil
		}
		return []edge.Detection{{Box: edge.Box{X0: 300, Y0: 380, X1: 340, Y1: 470}, Class: edge.Person, Score: 0.9}}
	}}
	p, ob := newPipeline(t, platformScene(), src, det, Config{Evidence: anon})
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 || evs[0].Type != wire.TrackIntrusion || len(evs[0].Evidence) == 0 {
		t.Fatalf("events %d, want one track intrusion with evidence: %+v", len(evs), evs)
	}
	at := evs[0].Time.Sub(start)
	img, err := gocv.IMDecode(evs[0].Evidence, gocv.IMReadGrayScale)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Cols() > vision.EvidenceWidth || img.Rows() > wire.MaxEvidenceHeight {
		t.Fatalf("evidence %dx%d", img.Cols(), img.Rows())
	}
	// Each still's frame, from its grey level at a corner far from the person and the drawings.
	rects := vision.EvidenceStillRects(img.Cols(), img.Rows())
	var got [3]time.Duration
	for i, r := range rects {
		v := int(img.GetUCharAt(r.Min.Y+r.Dy()/4, r.Min.X+10))
		got[i] = time.Duration((v+2)/4) * time.Second / fps
	}
	t.Logf("event at %v; stills at %v", at, got)
	want := [3][2]time.Duration{ // each still's frame may be off by the ring's spacing
		{at - evidenceSpan - evidenceEvery, at - evidenceSpan + evidenceEvery},
		{at - evidenceEvery/2 - time.Second/fps, at + evidenceEvery/2 + time.Second/fps},
		{at + evidenceSpan, at + evidenceSpan + 2*time.Second/fps},
	}
	for i, w := range want {
		if got[i] < w[0] || got[i] > w[1] {
			t.Errorf("still %d shows the frame at %v, want within %v..%v (event at %v)", i, got[i], w[0], w[1], at)
		}
	}
}

// Without evidence there is no ring: the pipeline keeps no downscaled frames.
func TestNoEvidenceNoRing(t *testing.T) {
	src := &frames{n: 3, picture: func(int) gocv.Mat { return solid(50) }}
	p, _ := newPipeline(t, platformScene(), src, &script{dets: func(int) []edge.Detection { return nil }}, Config{})
	if p.ev != nil {
		t.Fatal("an evidence ring without evidence")
	}
}

// Keeping the ring costs no allocation per frame: the snapshots' Mats and track slices are
// reused (the Mats are at the still size from the start).
func TestEvidenceRingAllocatesNothingPerFrame(t *testing.T) {
	p := &Pipeline{ev: newEvidence(fw, fh)}
	defer p.ev.close()
	frame := solid(90)
	defer frame.Close()
	tracks := []edge.Track{{ID: 1, Box: edge.Box{X0: 10, Y0: 10, X1: 50, Y1: 90}, Class: edge.Person}, {ID: 2, Class: edge.Car}}
	dets := []edge.Detection{{Box: edge.Box{X0: 10, Y0: 10, X1: 50, Y1: 90}, Class: edge.Person}}
	pos := time.Duration(0)
	step := func() { // the frames of one ring period: one of them is copied in
		for end := pos + evidenceEvery; pos < end; pos += time.Second / fps {
			p.evidenceFrame(frame, pos, tracks, dets)
		}
	}
	for range 2 * evidenceRing { // every snapshot filled once, slices grown
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per ring period (%v of frames), want 0", n, evidenceEvery)
	}
}

// BenchmarkEvidenceFrame is the per-frame cost of the evidence ring (a 640×480 frame; one in
// four is copied, downscaled, into the ring).
func BenchmarkEvidenceFrame(b *testing.B) {
	p := &Pipeline{ev: newEvidence(fw, fh)}
	defer p.ev.close()
	frame := solid(90)
	defer frame.Close()
	tracks := []edge.Track{{ID: 1, Class: edge.Person}, {ID: 2, Class: edge.Car}}
	b.ReportAllocs()
	for i := range b.N {
		p.evidenceFrame(frame, time.Duration(i)*time.Second/fps, tracks, nil)
	}
}

// An event raised less than a still's span before the stream ends is not lost waiting for its
// "after" still: it goes out at the end with the newest frame of the ring as that still.
func TestEvidenceAtTheEndOfTheStream(t *testing.T) {
	m := modelsOrSkip(t)
	people, err := vision.NewDNN(m, "yolo-fastest-1.1-xl", 0.999)
	if err != nil {
		t.Fatal(err)
	}
	defer people.Close()
	anon := vision.NewAnonymiser(people, nil)
	defer anon.Close()
	const n, enter = 20, 10 // the stream ends 1.27 s in; the person enters at 0.67 s
	pics := make([]gocv.Mat, n)
	for i := range pics {
		pics[i] = solid(float64(10 * i))
		defer pics[i].Close()
	}
	src := &frames{n: n, picture: func(i int) gocv.Mat { return pics[i] }}
	det := &script{dets: func(k int) []edge.Detection {
		if k < enter {
			return nil
		}
		return []edge.Detection{{Box: edge.Box{X0: 300, Y0: 380, X1: 340, Y1: 470}, Class: edge.Person, Score: 0.9}}
	}}
	p, ob := newPipeline(t, platformScene(), src, det, Config{Evidence: anon})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 || len(evs[0].Evidence) == 0 || st.Events[wire.TrackIntrusion] != 1 {
		t.Fatalf("%d events (stats %v), want one track intrusion with evidence", len(evs), st.Events)
	}
	img, err := gocv.IMDecode(evs[0].Evidence, gocv.IMReadGrayScale)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	r := vision.EvidenceStillRects(img.Cols(), img.Rows())[2]
	// The ring's newest snapshot: within one ring period of the last frame.
	last := n - 1
	if v := int(img.GetUCharAt(r.Min.Y+r.Dy()/4, r.Min.X+10)); (v+5)/10 > last || (v+5)/10 < last-int(evidenceEvery*fps/time.Second) {
		t.Errorf("the after still shows frame %d (grey %d), want one of the last %v (frame %d)", (v+5)/10, v, evidenceEvery, last)
	}
}

// The stills of an event come from within two spans of its moment: after a quarantine (frames
// of a view seconds later), or when the stream has just begun, the "at" frame stands in.
func TestEvidencePick(t *testing.T) {
	ev := newEvidence(fw, fh)
	defer ev.close()
	frame := solid(0)
	defer frame.Close()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, at := range []int{0, 250, 500, 750, 1000, 9000, 9250} { // 1.0 s to 9.0 s: quarantined
		ev.push(frame, ms(at), nil, nil)
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
		got := ev.pick(ms(c.event))
		if g := [3]int{pos(got[0]), pos(got[1]), pos(got[2])}; g != c.want {
			t.Errorf("event at %d ms: stills at %v ms, want %v", c.event, g, c.want)
		}
	}
}
