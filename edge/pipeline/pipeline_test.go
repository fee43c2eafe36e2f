package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// These tests replay recorded observation sequences (what vision.Analyser yields per frame)
// through the pipeline: no pixels, no OpenCV. The analyser and the pipeline together are
// tested in edge/vision (analyser_test.go) and through the daemon in edge/cli and e2e.

const (
	fw, fh = 640, 480 // the analysed frame's size
	fps    = 15
)

var start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// at returns the stream time of frame i.
func at(i int) time.Duration { return time.Duration(i) * time.Second / fps }

// replay yields a recorded sequence of observations, one per frame, as the analyser does: the
// observation returned is reused, valid until the next call.
type replay struct {
	obs []edge.Observation
	i   int
	cur edge.Observation
	err error // returned at the end instead of io.EOF, if set
}

func (r *replay) Next(ctx context.Context) (*edge.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.i >= len(r.obs) {
		if r.err != nil {
			return nil, r.err
		}
		return nil, io.EOF
	}
	r.cur = r.obs[r.i]
	r.i++
	return &r.cur, nil
}

// record builds n observations at 15 frames/s: frame i sees dets(i) (the detector ran on every
// frame), and edit, if set, changes anything else.
func record(n int, dets func(i int) []edge.Detection, edit func(i int, o *edge.Observation)) []edge.Observation {
	out := make([]edge.Observation, n)
	for i := range out {
		o := &out[i]
		o.Seq, o.Pos, o.Time, o.Decoded = i+1, at(i), start.Add(at(i)), time.Now()
		o.Detections, o.Detected, o.Moved = dets(i), true, true
		if edit != nil {
			edit(i, o)
		}
	}
	return out
}

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

func (o *memOutbox) gaps(t *testing.T) []wire.Gap {
	t.Helper()
	var out []wire.Gap
	for _, m := range o.msgs {
		if strings.HasSuffix(m.Topic, "/"+wire.KindGaps) {
			g, err := wire.DecodeGap(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if m.Severity != edge.GapSeverity {
				t.Errorf("gap %s has severity %d: it could be evicted", g.ID, m.Severity)
			}
			out = append(out, g)
		}
	}
	return out
}

// counted returns the road users of class counted per zone.
func (o *memOutbox) counted(t *testing.T, class string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, m := range o.msgs {
		if strings.HasSuffix(m.Topic, "/"+wire.KindCounts) {
			c, err := wire.DecodeCounts(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			n[c.Zone] += c.Counts[class]
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
	s.Version, s.Camera = 1, "cam-t"
	s.PlatformEdges = []scene.PlatformEdge{{Zone: scene.Zone{ID: "edge-z", Site: "plat", Polygon: rect(0, 0.5, 1, 0.7)}, DwellS: 3}}
	s.Tracks = []scene.Zone{{ID: "track-z", Site: "plat", Polygon: rect(0, 0.75, 1, 1)}}
	return &s
}

// junctionScene: a northbound stop line at y 0.5 (x 0.5–0.7) governed by a head the camera
// reads, and a crosswalk first in no zone order (the approach is zone 0).
func junctionScene() *scene.Scene {
	s := scene.Defaults()
	s.Version, s.Camera = 1, "cam-j"
	s.Signals = []scene.Signal{{ID: "nb", Kind: "vehicle", Region: &[2]scene.Point{{X: 0.9, Y: 0.1}, {X: 0.95, Y: 0.3}}}}
	s.Approaches = []scene.Approach{{ID: "nb-stop", Site: "main-nb", StopLine: scene.Polyline{{X: 0.5, Y: 0.5}, {X: 0.7, Y: 0.5}},
		Direction: scene.Point{X: 0, Y: -1}, Signal: "nb", GraceS: 0.5}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return &s
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// newPipeline builds a pipeline over obs as the wiring does, with cfg's Evidence and Meter.
func newPipeline(s *scene.Scene, obs []edge.Observation, cfg Config) (*Pipeline, *memOutbox) {
	ob := &memOutbox{}
	cfg.Device, cfg.Scene, cfg.Width, cfg.Height, cfg.Start, cfg.CountPeriod = "dev-t", s, fw, fh, start, time.Minute
	return New(cfg, &replay{obs: obs}, ob, nil, discard), ob
}

// redRun is a car driving north through the stop line, 4 px a frame, under a red light the
// camera saw turn red at the start: it crosses the line (y 240) at about 1.2 s, 0.7 s past the
// grace time.
func redRun() []edge.Observation {
	red := []edge.SignalState{{Light: edge.Red, Since: start, OnsetSeen: true}}
	return record(60, func(i int) []edge.Detection {
		y := float32(330 - 4*i) // the box's front (top) edge
		return []edge.Detection{{Box: edge.Box{X0: 370, Y0: y, X1: 420, Y1: y + 40}, Class: edge.Car, Score: 0.8}}
	}, func(_ int, o *edge.Observation) { o.Signals = red })
}

// A car crossing the stop line on red is one red-light event with the fields the aggregator
// prices it by, and one car counted on the approach.
func TestRedLightCrossingIsOneEvent(t *testing.T) {
	p, ob := newPipeline(junctionScene(), redRun(), Config{})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want one: %+v", len(evs), evs)
	}
	e := evs[0]
	// The front edge (y = 330 − 4i) passes the line at y 240 from frame 23 (1.53 s); the
	// rules date the crossing once the box is clear of the line's margin, two frames on.
	cross := e.Time.Sub(start)
	if cross < at(23) || cross > at(26) {
		t.Errorf("event at %v, want the crossing at about %v", cross, at(25))
	}
	if e.Type != wire.RedLightRunning || e.Device != "dev-t" || e.Camera != "cam-j" || e.Site != "main-nb" || e.Zone != "nb-stop" ||
		e.Class != "car" || e.Confidence <= 0 || e.Confidence > 1 {
		t.Errorf("event %+v", e)
	}
	if e.ID != EventID("cam-j", e.Time, wire.RedLightRunning, 0, 1) {
		t.Errorf("id %q, want %q (zone 0, track 1)", e.ID, EventID("cam-j", e.Time, wire.RedLightRunning, 0, 1))
	}
	if s := e.Signal; s == nil || s.State != "red" || s.Source != wire.SignalCamera || !s.OnsetSeen ||
		s.TimeIntoRedS < cross.Seconds()-0.01 || s.TimeIntoRedS > cross.Seconds()+0.01 {
		t.Errorf("signal %+v, want red from the camera, %.2f s into red", e.Signal, cross.Seconds())
	}
	if len(e.Evidence) != 0 {
		t.Errorf("evidence without an evidence hook")
	}
	if n := ob.counted(t, "car")["nb-stop"]; n != 1 {
		t.Errorf("%d cars counted, want 1", n)
	}
	if st.Events[wire.RedLightRunning] != 1 || st.Frames != 60 || st.Analysed != 60 || st.Stream != at(59) {
		t.Errorf("stats %+v", st)
	}
	// One latency per event committed; Counts is the count records written.
	if len(st.EventLatency) != 1 || st.EventLatency[0] <= 0 {
		t.Errorf("event latencies %v, want one for the one event", st.EventLatency)
	}
	if n := countRecords(ob); st.Counts != n || n == 0 {
		t.Errorf("stats say %d count records, the outbox has %d", st.Counts, n)
	}
}

// countRecords returns how many count records the outbox holds.
func countRecords(o *memOutbox) int {
	n := 0
	for _, m := range o.msgs {
		if strings.HasSuffix(m.Topic, "/"+wire.KindCounts) {
			n++
		}
	}
	return n
}

// With detector.stride 2 the frames between two detections (Skipped, carrying the last
// detections) are passed over: the car is judged as on every frame, and the tracker predicts
// across each gap instead of matching the stale boxes.
func TestSkippedFramesArePassedOver(t *testing.T) {
	obs := redRun()
	for i := 1; i < len(obs); i += 2 {
		obs[i].Detected, obs[i].Skipped = false, true
		obs[i].Detections = obs[i-1].Detections // the analyser's: the last ones found
	}
	p, ob := newPipeline(junctionScene(), obs, Config{})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 || evs[0].Type != wire.RedLightRunning {
		t.Fatalf("events %+v, want one red-light event", evs)
	}
	if cross := evs[0].Time.Sub(start); cross < at(23) || cross > at(27) {
		t.Errorf("event at %v, want the crossing at about %v", cross, at(25))
	}
	if st.Analysed != 30 {
		t.Errorf("%d frames detected, want 30", st.Analysed)
	}
	// The tracker matched the 30 detections, not the stale ones between, and predicted across
	// each gap: the car moves 4 px a frame up the picture, -60 px/s.
	if tracks, _, _ := p.Tracks(); len(tracks) != 1 || tracks[0].Hits != 30 || tracks[0].VY > -57 || tracks[0].VY < -63 {
		t.Errorf("tracks %+v, want the car matched 30 times, at about -60 px/s", tracks)
	}
}

// The same crossing on green is no event (the pipeline hands the rules the camera's reading).
func TestGreenCrossingIsNoEvent(t *testing.T) {
	obs := redRun()
	green := []edge.SignalState{{Light: edge.Green, Since: start, OnsetSeen: true}}
	for i := range obs {
		obs[i].Signals = green
	}
	p, ob := newPipeline(junctionScene(), obs, Config{})
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if evs := ob.events(t); len(evs) != 0 {
		t.Fatalf("events on green: %+v", evs)
	}
	if n := ob.counted(t, "car")["nb-stop"]; n != 1 {
		t.Errorf("%d cars counted, want 1", n)
	}
}

// A view change (the camera knocked or switched) ends every track and starts the rules on a new
// view. Person A stands on the danger strip until the cut; person B stands in the same place
// after it. B is another road user: it must get a new track (not A's, continued: the tracker
// reset), be counted although it begins in mid-zone where A was just lost (the rules' new
// view), and dwell and be reported on its own (issue #19).
func TestViewChangeResetsTrackerAndRules(t *testing.T) {
	const cut = 90                                                                                                  // frame 90, 6 s
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}} // feet at y 300: on the strip
	obs := record(150, func(i int) []edge.Detection {
		if i >= 8 { // from 0.5 s on
			return person
		}
		return nil
	}, func(i int, o *edge.Observation) { o.ViewChanged = i == cut })
	var m edge.Meter
	p, ob := newPipeline(platformScene(), obs, Config{Meter: &m})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ViewChanges != 1 || m.ViewChanges.Load() != 1 {
		t.Fatalf("%d view changes (meter %d), want 1 (the cut at frame %d)", st.ViewChanges, m.ViewChanges.Load(), cut)
	}
	if n, when := p.ViewChanges(); n != 1 || !when.Equal(start.Add(at(cut))) {
		t.Errorf("ViewChanges() = %d, %v; want 1 at %v", n, when, start.Add(at(cut)))
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
	if n := ob.counted(t, "person")["edge-z"]; n != 2 {
		t.Errorf("%d people counted on the strip, want 2: B, first seen in mid-zone just after the cut, is counted because the view is new", n)
	}
	if tk, w, h := p.Tracks(); len(tk) != 1 || tk[0].ID == 1 || w != fw || h != fh {
		t.Errorf("last tracks %+v (%d×%d): want B alone, on a track that is not A's (1)", tk, w, h)
	}
}

// While the analyser says the view does not match the scene, nothing is tracked, judged or
// counted; the quarantine goes out as a view_mismatch gap record from when it began to when
// it ended, and no track carries over it. One still on at the end goes out up to the end.
func TestQuarantineIsAGapAndATrackBreak(t *testing.T) {
	const on, off = 30, 75 // frames: the quarantine, begun 1 s before frame 30, ends at 75
	since := start.Add(at(on) - time.Second)
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}}
	obs := record(120, func(i int) []edge.Detection { return person }, func(i int, o *edge.Observation) {
		if i >= on && i < off {
			// The analyser runs no detector then; the pipeline must not judge even were it to.
			o.Quarantined, o.Detected = true, false
		}
		o.QuarantineChanged = i == on || i == off
		if i >= on {
			o.QuarantineSince = since
		}
	})
	p, ob := newPipeline(platformScene(), obs, Config{})
	var midway bool
	p.obs = &hook{Observations: p.obs, after: func(i int) {
		if i == on+5 {
			q, from := p.ViewMismatch()
			tk, _, _ := p.Tracks()
			midway = q && from.Equal(since) && len(tk) == 0
		}
	}}
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !midway {
		t.Error("during the quarantine, ViewMismatch() did not say quarantined since its start, or tracks were kept")
	}
	if q, _ := p.ViewMismatch(); q {
		t.Error("ViewMismatch() still says quarantined after it ended")
	}
	gaps := ob.gaps(t)
	if len(gaps) != 1 || gaps[0].Reason != wire.GapViewMismatch || !gaps[0].Oldest.Equal(since) || !gaps[0].Newest.Equal(start.Add(at(off))) {
		t.Fatalf("gaps %+v, want one view_mismatch from %v to %v", gaps, since, start.Add(at(off)))
	}
	if st.Quarantines != 1 || st.Quarantined != start.Add(at(off)).Sub(since) || len(st.QuarantineAt) != 1 || st.QuarantineAt[0] != since.Sub(start) {
		t.Errorf("stats: %d quarantines, %v, at %v", st.Quarantines, st.Quarantined, st.QuarantineAt)
	}
	if st.Analysed != 120-(off-on) {
		t.Errorf("%d detector runs counted, want %d (none while quarantined)", st.Analysed, 120-(off-on))
	}
	for _, e := range ob.events(t) {
		if !e.Time.Before(since) && e.Time.Before(start.Add(at(off))) {
			t.Errorf("event %s judged during the quarantine", e.ID)
		}
	}
	// The person stood on the strip before and after: two tracks, two people counted.
	if n := ob.counted(t, "person")["edge-z"]; n != 2 {
		t.Errorf("%d people counted on the strip, want 2 (no track carries over the quarantine)", n)
	}

	// Quarantined to the end: the gap runs to the last frame.
	obs = record(60, func(int) []edge.Detection { return nil }, func(i int, o *edge.Observation) {
		o.Quarantined, o.QuarantineChanged, o.QuarantineSince = i >= 20, i == 20, start.Add(at(20))
	})
	p, ob = newPipeline(platformScene(), obs, Config{})
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if g := ob.gaps(t); len(g) != 1 || !g[0].Oldest.Equal(start.Add(at(20))) || !g[0].Newest.Equal(start.Add(at(59))) {
		t.Fatalf("gaps %+v, want one from frame 20 to the last", g)
	}
}

// hook calls after(i) once frame i's observation has been taken through the pipeline (on the
// next call).
type hook struct {
	Observations
	n     int
	after func(i int)
}

func (h *hook) Next(ctx context.Context) (*edge.Observation, error) {
	if h.n > 0 {
		h.after(h.n - 1)
	}
	h.n++
	return h.Observations.Next(ctx)
}

// stills is an evidence hook that records what the pipeline asks of it.
type stills struct {
	now    func() time.Duration // the latest observation's stream time
	kept   []time.Duration      // the stream times of the frames kept
	tracks map[time.Duration][]edge.Track
	asked  []asked
}

type asked struct {
	event      edge.Event
	pos, newer time.Duration // the moment judged; the newest frame kept when asked
}

func (s *stills) KeepStill(tracks []edge.Track, _ []edge.Detection) {
	pos := s.now()
	if len(s.kept) > 0 && s.kept[len(s.kept)-1] == pos {
		return
	}
	s.kept = append(s.kept, pos)
	s.tracks[pos] = append([]edge.Track(nil), tracks...)
}

func (s *stills) NewestStill() (time.Duration, bool) {
	if len(s.kept) == 0 {
		return 0, false
	}
	return s.kept[len(s.kept)-1], true
}

func (s *stills) Evidence(e edge.Event, pos time.Duration) ([]byte, error) {
	newest, _ := s.NewestStill()
	s.asked = append(s.asked, asked{e, pos, newest})
	return tinyJPEG(e.Type), nil
}

// tinyJPEG returns a small JPEG whose comment-free pixels encode nothing but a grey level
// derived from typ, so that a test can tell the hook's image went out.
func tinyJPEG(typ string) []byte {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(len(typ) * 7)
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	return b.Bytes()
}

// With an evidence hook, the pipeline has a frame kept every edge.EvidenceEvery and the frame
// of each event with its road user's track, and asks for the event's evidence once the frame
// edge.EvidenceSpan after it has been kept; the event goes out with that image.
func TestEvidenceHookForAnEvent(t *testing.T) {
	obs := redRun()
	r := &replay{obs: obs}
	ev := &stills{now: func() time.Duration { return r.cur.Pos }, tracks: map[time.Duration][]edge.Track{}}
	ob := &memOutbox{}
	p := New(Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute, Evidence: ev},
		r, ob, nil, discard)
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := ob.events(t)
	if len(evs) != 1 || !bytes.Equal(evs[0].Evidence, tinyJPEG(wire.RedLightRunning)) {
		t.Fatalf("events %+v, want one with the hook's image", evs)
	}
	if len(st.EventLatency) != 1 {
		t.Errorf("event latencies %v, want one for the one event sent after its \"after\" still", st.EventLatency)
	}
	if len(ev.asked) != 1 {
		t.Fatalf("asked for evidence %d times, want once", len(ev.asked))
	}
	a := ev.asked[0]
	if a.pos != evs[0].Time.Sub(start) || a.event.Track != 1 || a.event.Type != wire.RedLightRunning {
		t.Errorf("asked for %+v at %v, want the event's track 1 at %v", a.event, a.pos, evs[0].Time.Sub(start))
	}
	if a.newer < a.pos+edge.EvidenceSpan || a.newer > a.pos+edge.EvidenceSpan+at(1) {
		t.Errorf("asked when the newest frame kept was at %v, want the first frame from %v (the \"after\" still)", a.newer, a.pos+edge.EvidenceSpan)
	}
	// The frame the event was raised on (the rules date it from the crossing and raise it a
	// few frames on) is kept out of the EvidenceEvery cadence, with the car's track in it.
	raised := false
	for i := 1; i < len(ev.kept); i++ {
		pos, tk := ev.kept[i], ev.tracks[ev.kept[i]]
		if pos > a.pos && pos < a.pos+edge.EvidenceSpan && pos-ev.kept[i-1] < edge.EvidenceEvery && len(tk) == 1 && tk[0].ID == 1 {
			raised = true
		}
	}
	if !raised {
		t.Errorf("the frame the event (at %v) was raised on was not kept with its track: kept %v", a.pos, ev.kept)
	}
	// One frame every EvidenceEvery besides: no gap between kept frames much wider.
	for i := 1; i < len(ev.kept); i++ {
		if d := ev.kept[i] - ev.kept[i-1]; d > edge.EvidenceEvery+at(1) {
			t.Errorf("no frame kept from %v to %v", ev.kept[i-1], ev.kept[i])
		}
	}
}

// An event raised less than a span before the stream ends is not lost waiting for its "after"
// still: it goes out at the end, its evidence made of the frames there are.
func TestEvidenceHookAtTheEndOfTheStream(t *testing.T) {
	obs := redRun()[:36] // the event dated 1.67 s, raised at 2.2 s; the stream ends at 2.33 s
	r := &replay{obs: obs}
	ev := &stills{now: func() time.Duration { return r.cur.Pos }, tracks: map[time.Duration][]edge.Track{}}
	ob := &memOutbox{}
	p := New(Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute, Evidence: ev},
		r, ob, nil, discard)
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if evs := ob.events(t); len(evs) != 1 || len(evs[0].Evidence) == 0 || len(ev.asked) != 1 {
		t.Fatalf("events %+v, asked %d times: want the event out with its evidence", evs, len(ev.asked))
	}
}

// The Meter counts every frame analysed, each detector run and each event, as Run sees them.
func TestMeterCounts(t *testing.T) {
	obs := redRun()
	for i := range obs {
		obs[i].Detected, obs[i].DetectTime = i%2 == 0, time.Millisecond // the gate let every other frame through
	}
	var m edge.Meter
	detects, events := 0, 0
	m.OnDetect = func(s float64) {
		if s != 0.001 {
			t.Errorf("detector time %v, want the observation's", s)
		}
		detects++
	}
	m.OnEvent = func(string) { events++ }
	p, ob := newPipeline(junctionScene(), obs, Config{Meter: &m})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Analysed.Load(); got != 60 || st.Frames != 60 {
		t.Errorf("analysed %d, want every one of %d frames", got, st.Frames)
	}
	if detects != 30 || st.Analysed != 30 {
		t.Errorf("%d detector times, %d detector runs, want 30", detects, st.Analysed)
	}
	if n := len(ob.events(t)); events != n || n != 1 {
		t.Errorf("OnEvent told %d events, the outbox has %d", events, n)
	}
}

// A source that fails ends the run with its error, after what the rules found is committed.
func TestSourceErrorEndsTheRun(t *testing.T) {
	broken := errors.New("camera unplugged")
	ob := &memOutbox{}
	p := New(Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute},
		&replay{obs: redRun(), err: broken}, ob, nil, discard)
	if _, err := p.Run(context.Background(), nil); !errors.Is(err, broken) {
		t.Fatalf("Run = %v, want the source's error", err)
	}
	if len(ob.events(t)) != 1 {
		t.Fatal("the event found before the failure was not committed")
	}
}

// traffic yields n observations made on the fly, reusing one detections slice as the
// analyser does: a car driving north every 8 s, a person waiting, a cyclist riding.
type traffic struct {
	n, i int
	cur  edge.Observation
	dets [3]edge.Detection
	sig  [1]edge.SignalState
}

func (f *traffic) Next(context.Context) (*edge.Observation, error) {
	if f.i >= f.n {
		return nil, io.EOF
	}
	i := f.i
	f.i++
	y := float32(400 - (i%120)*2)
	f.dets = [3]edge.Detection{
		{Box: edge.Box{X0: 370, Y0: y, X1: 420, Y1: y + 40}, Class: edge.Car, Score: 0.8},
		{Box: edge.Box{X0: 100, Y0: 300, X1: 130, Y1: 380}, Class: edge.Person, Score: 0.7},
		{Box: edge.Box{X0: 500, Y0: 100 + y/4, X1: 540, Y1: 150 + y/4}, Class: edge.Bicycle, Score: 0.6},
	}
	f.sig[0] = edge.SignalState{Light: edge.Green, Since: start, OnsetSeen: true}
	o := &f.cur
	o.Seq, o.Pos, o.Time = i+1, at(i), start.Add(at(i))
	o.Signals, o.Detections, o.Detected, o.Moved = f.sig[:], f.dets[:], true, true
	return o, nil
}

// BenchmarkFrame is the pipeline's per-frame cost (signals, tracking, rules, commit) with three
// road users in view: no pixels.
func BenchmarkFrame(b *testing.B) {
	ob := &memOutbox{}
	p := New(Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute},
		&traffic{n: b.N}, ob, nil, discard)
	b.ReportAllocs()
	if _, err := p.Run(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
}
