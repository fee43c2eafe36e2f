package vision_test

import (
	"context"
	"image"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// These tests drive the Analyser and a pipeline over its observations, as the daemon wires
// them, with recorded inputs: a source of rendered frames and a detector that replays a script
// of detections (the pixels do not have to contain the road users: the detectors have their
// own tests), so what is checked is the wiring of pixels to logic. edge/pipeline's own tests
// replay observations, without OpenCV.

const (
	fw, fh = 640, 480
	fps    = 15
)

var start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// frames is a Source of n frames at 15/s; frame i shows picture(i).
type frames struct {
	n       int
	picture func(i int) gocv.Mat // owned by the test
	i       int
}

func (f *frames) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	for ; f.i < f.n; f.i++ {
		pos := time.Duration(f.i) * time.Second / fps
		if pos < notBefore {
			continue
		}
		m := f.picture(f.i)
		m.CopyTo(&fr.Mat)
		fr.Pos, fr.Seq = pos, f.i+1
		f.i++
		return nil
	}
	return io.EOF
}

// script is a detector that returns, for the n-th frame it sees, script(n); it records its
// Relearn calls. It says it is always learning, so the gate never withholds a frame from it.
type script struct {
	n        int
	dets     func(n int) []edge.Detection
	relearns []int // frame numbers
}

func (s *script) Detect(gocv.Mat) []edge.Detection { s.n++; return s.dets(s.n - 1) }
func (s *script) Close()                           {}
func (s *script) Learning() bool                   { return true }
func (s *script) Relearn()                         { s.relearns = append(s.relearns, s.n) }

// memOutbox keeps what the pipeline commits.
type memOutbox struct{ msgs []edge.Message }

func (o *memOutbox) Append(_ context.Context, msgs ...edge.Message) error {
	o.msgs = append(o.msgs, msgs...)
	return nil
}

func (o *memOutbox) events(t *testing.T) []wire.Event {
	t.Helper()
	var out []wire.Event
	for _, m := range o.msgs {
		if strings.HasSuffix(m.Topic, "/"+wire.KindEvents) {
			e, err := wire.DecodeEvent(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

// people returns the persons counted per zone.
func (o *memOutbox) people(t *testing.T) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, m := range o.msgs {
		if strings.HasSuffix(m.Topic, "/"+wire.KindCounts) {
			c, err := wire.DecodeCounts(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			n[c.Zone] += c.Counts["person"]
		}
	}
	return n
}

func rect(x0, y0, x1, y1 float64) []scene.Point {
	return []scene.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
}

// platformScene: a danger strip across the middle (y 0.5–0.7) and the track below (y ≥ 0.75).
func platformScene() *scene.Scene {
	s := scene.Defaults()
	s.Detector = scene.Classical() // the test sets its own detector; New must not ask for models
	s.Version, s.Camera = 1, "cam-t"
	s.PlatformEdges = []scene.PlatformEdge{{Zone: scene.Zone{ID: "edge-z", Site: "plat", Polygon: rect(0, 0.5, 1, 0.7)}, DwellS: 3}}
	s.Tracks = []scene.Zone{{ID: "track-z", Site: "plat", Polygon: rect(0, 0.75, 1, 1)}}
	return &s
}

// camConfig is what a test sets of a camera: the analyser's evidence, meter and liveness.
type camConfig struct {
	Evidence *vision.Anonymiser
	Meter    *edge.Meter
	Live     bool
	// Stills and OnStill: reference stills on request, made by the analyser (with Evidence).
	Stills  *edge.StillRequest
	OnStill func(jpeg []byte, at time.Time, reason string)
}

// newPipeline builds an analyser over src with det as the scene's detector and a pipeline over
// its observations, as edge/cli does.
func newPipeline(t *testing.T, s *scene.Scene, src vision.Source, det vision.Detector, cfg camConfig) (*pipeline.Pipeline, *memOutbox) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := vision.NewAnalyser(vision.AnalyserConfig{Scene: s, Width: fw, Height: fh, Start: start, Detector: det,
		Evidence: cfg.Evidence, Live: cfg.Live, Meter: cfg.Meter}, src, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	pc := pipeline.Config{Device: "dev-t", Scene: s, Start: start, CountPeriod: time.Minute, Meter: cfg.Meter}
	pc.Width, pc.Height = a.Size()
	if cfg.Evidence != nil {
		pc.Evidence, pc.Still = a, a
	}
	pc.Stills, pc.OnStill = cfg.Stills, cfg.OnStill
	ob := &memOutbox{}
	return pipeline.New(pc, a, ob, nil, log), ob
}

func solid(v float64) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), fh, fw, gocv.MatTypeCV8UC3)
}

// A cut in the picture (the camera knocked or switched) makes the pipeline end every track,
// start the rules on a new view and relearn the background, all three. Person A stands on the
// danger strip until the cut; person B stands in the same place after it. B is another road
// user: it must get a new track (not A's, continued: the tracker reset), be counted although it
// begins in mid-zone where A was just lost (the rules' new view), and dwell and be reported on
// its own; and the detector relearns its background once, at the cut.
func TestViewChangeResetsTrackerRulesAndBackground(t *testing.T) {
	before, after := solid(60), solid(190)
	defer before.Close()
	defer after.Close()
	const cut = 90 // frame 90, 6 s
	src := &frames{n: 150, picture: func(i int) gocv.Mat {
		if i < cut {
			return before
		}
		return after
	}}
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}} // feet at y 300: on the strip
	det := &script{dets: func(n int) []edge.Detection {
		if n >= 8 { // from 0.5 s on
			return person
		}
		return nil
	}}
	p, ob := newPipeline(t, platformScene(), src, det, camConfig{})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ViewChanges != 1 {
		t.Fatalf("%d view changes, want 1 (the cut at frame %d)", st.ViewChanges, cut)
	}
	if len(det.relearns) != 1 || det.relearns[0] != cut {
		t.Errorf("the detector relearned its background at frames %v, want once, at the cut (%d)", det.relearns, cut)
	}
	tracks := map[string]bool{}
	for _, e := range ob.events(t) {
		if e.Type != wire.PlatformEdgeIntrusion {
			t.Errorf("unexpected event %+v", e)
		}
		tracks[e.ID[strings.LastIndex(e.ID, "-t"):]] = true
	}
	if len(tracks) != 2 {
		t.Errorf("platform-edge events from tracks %v, want two: A before the cut, B after it on a new track (the tracker was reset)", tracks)
	}
	if n := ob.people(t)["edge-z"]; n != 2 {
		t.Errorf("%d people counted on the strip, want 2: B, first seen in mid-zone just after the cut, is counted because the view is new", n)
	}
	if tk, _, _ := p.Tracks(); len(tk) != 1 || tk[0].ID == 1 {
		t.Errorf("last tracks %+v: want B alone, on a track that is not A's (1)", tk)
	}
}

// modelsOrSkip opens the installed models, or skips saying why (fails in CI, where 'make test'
// installs them).
func modelsOrSkip(t *testing.T) *vision.Models {
	t.Helper()
	m, err := vision.OpenModels("../../models/files")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("models: %v ('make test' installs them from ../shared/models)", err)
		}
		t.Skipf("models not installed (%v): run 'make models'; the anonymiser needs the person and face detectors", err)
	}
	return m
}

// The pipeline hands the anonymiser its tracked people: a person the tracker follows is
// pixelated in the event's evidence even where the anonymiser's own person detector sees
// nobody. The "person" here is a patch of fine noise (no detector calls it a person), so only
// the tracked box can hide it: pixelated, neighbouring pixels inside it are equal in blocks of
// at least 6 px; left alone, they differ by ~80 grey levels on average.
func TestEvidencePixelatesTrackedPeople(t *testing.T) {
	m := modelsOrSkip(t)
	people, err := vision.NewDNN(m, "yolo-fastest-1.1-xl", 0.15)
	if err != nil {
		t.Fatal(err)
	}
	defer people.Close()
	anon := vision.NewAnonymiser(people, nil)
	defer anon.Close()

	box := image.Rect(300, 380, 340, 470) // feet at 470: on the track
	pic := solid(120)
	defer pic.Close()
	noise := pic.Region(box)
	gocv.RandU(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	noise.Close()
	src := &frames{n: 30, picture: func(int) gocv.Mat { return pic }}
	det := &script{dets: func(n int) []edge.Detection {
		return []edge.Detection{{Box: edge.Box{X0: float32(box.Min.X), Y0: float32(box.Min.Y), X1: float32(box.Max.X), Y1: float32(box.Max.Y)}, Class: edge.Person, Score: 0.9}}
	}}
	p, ob := newPipeline(t, platformScene(), src, det, camConfig{Evidence: anon})
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 || evs[0].Type != wire.TrackIntrusion || len(evs[0].Evidence) == 0 {
		t.Fatalf("events %d, want one track intrusion with evidence: %+v", len(evs), evs)
	}
	img, err := gocv.IMDecode(evs[0].Evidence, gocv.IMReadGrayScale)
	if err != nil {
		t.Fatalf("evidence: %v", err)
	}
	defer img.Close()
	// In each of the three stills (before, at, after), inside the person's box away from its
	// border: the person stands there throughout.
	rects := vision.EvidenceStillRects(img.Cols(), img.Rows())
	for i, r := range rects {
		sc := float64(r.Dx()) / fw
		in := image.Rect(r.Min.X+int(float64(box.Min.X)*sc), r.Min.Y+int(float64(box.Min.Y)*sc),
			r.Min.X+int(float64(box.Max.X)*sc), r.Min.Y+int(float64(box.Max.Y)*sc)).Inset(4)
		diff, pairs := 0, 0
		for y := in.Min.Y; y < in.Max.Y; y++ {
			for x := in.Min.X; x+1 < in.Max.X; x++ {
				d := int(img.GetUCharAt(y, x)) - int(img.GetUCharAt(y, x+1))
				diff += max(d, -d)
				pairs++
			}
		}
		mean := float64(diff) / float64(pairs)
		t.Logf("still %d: mean difference of neighbouring pixels inside the tracked person: %.1f grey levels", i, mean)
		if mean > 15 {
			t.Fatalf("still %d: the tracked person is not pixelated in the evidence (neighbouring pixels differ by %.1f on average): the pipeline did not hand its tracks to the anonymiser", i, mean)
		}
	}
}

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
	p, ob := newPipeline(t, platformScene(), src, det, camConfig{Evidence: anon})
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
		{at - edge.EvidenceSpan - edge.EvidenceEvery, at - edge.EvidenceSpan + edge.EvidenceEvery},
		{at - edge.EvidenceEvery/2 - time.Second/fps, at + edge.EvidenceEvery/2 + time.Second/fps},
		{at + edge.EvidenceSpan, at + edge.EvidenceSpan + 2*time.Second/fps},
	}
	for i, w := range want {
		if got[i] < w[0] || got[i] > w[1] {
			t.Errorf("still %d shows the frame at %v, want within %v..%v (event at %v)", i, got[i], w[0], w[1], at)
		}
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
	p, ob := newPipeline(t, platformScene(), src, det, camConfig{Evidence: anon})
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
	if v := int(img.GetUCharAt(r.Min.Y+r.Dy()/4, r.Min.X+10)); (v+5)/10 > last || (v+5)/10 < last-int(edge.EvidenceEvery*fps/time.Second) {
		t.Errorf("the after still shows frame %d (grey %d), want one of the last %v (frame %d)", (v+5)/10, v, edge.EvidenceEvery, last)
	}
}

// The Meter counts every frame decoded and analysed, each detector run, view change and
// event, as Run sees them.
func TestMeterCounts(t *testing.T) {
	pic := solid(90)
	defer pic.Close()
	src := &frames{n: 120, picture: func(int) gocv.Mat { return pic }}
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}}
	det := &script{dets: func(int) []edge.Detection { return person }}
	var m edge.Meter
	detects, events := 0, 0
	m.OnDetect = func(s float64) {
		if s < 0 {
			t.Errorf("detector time %v", s)
		}
		detects++
	}
	m.OnEvent = func(string) { events++ }
	p, ob := newPipeline(t, platformScene(), src, det, camConfig{Meter: &m})
	began := time.Now()
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLastFrame(t, &m, began, time.Now())
	if got := m.Decoded.Load(); got != 120 {
		t.Errorf("decoded %d, want 120", got)
	}
	if got := m.Analysed.Load(); got != int64(st.Frames) || got != 120 {
		t.Errorf("analysed %d, want every one of %d frames", got, st.Frames)
	}
	if detects != st.Analysed || detects == 0 {
		t.Errorf("%d detector times, %d detector runs", detects, st.Analysed)
	}
	if n := len(ob.events(t)); events != n || n == 0 {
		t.Errorf("OnEvent told %d events, the outbox has %d", events, n)
	}
	if m.Dropped.Load() != 0 {
		t.Errorf("a file dropped %d frames: it must wait for the analysis", m.Dropped.Load())
	}
}

// With detector.stride 2 the detector runs on every second moving frame, the others are marked
// Skipped (the pipeline passes over them), and a new view is detected at once: 60 frames with a
// cut at frame 31 (which the stride would have passed over) are 16 passes before it, 15 from it.
func TestStrideDetectsEveryOtherFrame(t *testing.T) {
	before, after := solid(60), solid(190)
	defer before.Close()
	defer after.Close()
	const cut = 31
	src := &frames{n: 60, picture: func(i int) gocv.Mat {
		if i < cut {
			return before
		}
		return after
	}}
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}}
	det := &script{dets: func(int) []edge.Detection { return person }}
	sc := platformScene()
	sc.Detector.Stride = 2
	p, _ := newPipeline(t, sc, src, det, camConfig{})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ViewChanges != 1 {
		t.Fatalf("%d view changes, want 1 (the cut at frame %d)", st.ViewChanges, cut)
	}
	if det.n != 31 || st.Analysed != 31 {
		t.Errorf("%d detector passes (%d counted) over 60 frames, want 31: every second frame, and the cut's", det.n, st.Analysed)
	}
	if tk, _, _ := p.Tracks(); len(tk) != 1 || tk[0].Hits != 15 {
		t.Errorf("last tracks %+v: want the person after the cut, matched in the 15 frames detected", tk)
	}
}

// slowDetector takes its time, as a DNN on a busy box does.
type slowDetector struct{ script }

func (s *slowDetector) Detect(f gocv.Mat) []edge.Detection {
	time.Sleep(5 * time.Millisecond)
	return s.script.Detect(f)
}

// A live source whose analysis falls behind drops the frames no slot can take, and counts
// them: decoded = analysed + dropped.
func TestMeterLiveDrops(t *testing.T) {
	pic := solid(90)
	defer pic.Close()
	src := &frames{n: 300, picture: func(int) gocv.Mat { return pic }}
	det := &slowDetector{script{dets: func(int) []edge.Detection { return nil }}}
	var m edge.Meter
	p, _ := newPipeline(t, platformScene(), src, det, camConfig{Meter: &m, Live: true})
	began := time.Now()
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkLastFrame(t, &m, began, time.Now())
	dec, an, dr := m.Decoded.Load(), m.Analysed.Load(), m.Dropped.Load()
	if dr == 0 || dec != 300 || an+dr != dec {
		t.Fatalf("decoded %d, analysed %d, dropped %d: want drops, and decoded = analysed + dropped = 300", dec, an, dr)
	}
}

// checkLastFrame checks that the meter's last frame was read during the run, near its end.
func checkLastFrame(t *testing.T, m *edge.Meter, from, to time.Time) {
	t.Helper()
	last := time.Unix(0, m.LastFrameNanos.Load())
	if last.Before(from) || last.After(to) || to.Sub(last) > to.Sub(from)/2+50*time.Millisecond {
		t.Errorf("last frame at %v, want near the end of the run %v – %v", last, from, to)
	}
}

// BenchmarkAnalyserNext is the analyser's per-frame cost on a 640×480 source (decode is a
// copy here): signals, gate, view check and the classical detector, one observation reused.
func BenchmarkAnalyserNext(b *testing.B) {
	pic := solid(90)
	defer pic.Close()
	s := platformScene()
	s.Detector = scene.Classical()
	a, err := vision.NewAnalyser(vision.AnalyserConfig{Scene: s, Width: fw, Height: fh, Start: start,
		Detector: vision.NewClassical(fw, fh, s.Detector, nil, nil)}, &frames{n: b.N + 1, picture: func(int) gocv.Mat { return pic }},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if _, err := a.Next(ctx); err != nil { // the decoder started, the slots made
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
