// Package pipeline runs one camera's frames through the edge: downscale, signal reading, motion
// gate, detection, tracking and rules, and writes what the rules find to the outbox.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/rules"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/track"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
	"github.com/crosswatch/crosswatch/hw/signal"
)

// Source yields decoded frames.
type Source interface {
	// ReadAfter decodes into fr, reusing its Mat, the first frame at or after stream time
	// notBefore, skipping (not converting) the frames before it. It returns io.EOF at the end.
	// fr.Seq counts every frame of the stream, skipped or not.
	ReadAfter(fr *camera.Frame, notBefore time.Duration) error
}

// Outbox stores messages durably before they are sent.
type Outbox interface {
	// Append commits messages; when it returns nil they survive a crash.
	Append(ctx context.Context, msgs ...edge.Message) error
}

// Config describes one camera's pipeline.
type Config struct {
	Device      string
	Scene       *scene.Scene
	Width       int       // source frame size
	Height      int       //
	Start       time.Time // wall-clock time of stream position 0
	CountPeriod time.Duration
	// Evidence, if set, makes each event's anonymised evidence image. Owned by the caller.
	Evidence *vision.Anonymiser
	// Models is the installed models directory, for a scene whose detector is "dnn".
	Models *vision.Models
	// Detectors, if set, lends the DNN networks (one pool for a box's cameras, owned by the
	// caller) instead of Models loading one for this camera alone.
	Detectors *vision.DNNPool
	// Feed holds the signal controller's phases, for signals with feed: true; may be nil.
	Feed *signal.Feed
	// Reference is the scene's view reference (a PGM file's bytes, vision.DecodeReference);
	// nil: one is learned from the first steady seconds of video, and the log says so.
	Reference []byte
	// Live says the source is a live camera: when the analysis falls behind, the decoder keeps
	// reading the stream (so that it does not lag the camera) and drops the frames no slot can
	// take, counting them in Meter.Dropped. A file waits for the analysis instead.
	Live bool
	// Meter, if set, receives the per-frame counters; it may outlive the pipeline (a camera
	// restarted keeps its counters).
	Meter *Meter
}

// Meter counts a camera's frames for metrics, read from other goroutines while Run writes.
// Atomics only: nothing here takes a lock or allocates per frame.
type Meter struct {
	Decoded  atomic.Int64 // frames read from the source, analysed or not
	Analysed atomic.Int64 // frames through the analysis (signals, gate, view check, rules)
	Dropped  atomic.Int64 // live frames dropped because the analysis was behind
	// LagNanos is, for the latest analysed frame, the time from its decoding to the end of its
	// analysis and commit.
	LagNanos    atomic.Int64
	ViewChanges atomic.Int64
	// OnDetect, if set, is told how long each detector run took. Called from Run's goroutine;
	// it must not block or allocate (a Prometheus histogram's Observe).
	OnDetect func(seconds float64)
	// OnEvent and OnGap, if set, are told the type of each event and the reason of each gap
	// record the pipeline writes (once each; not per frame).
	OnEvent func(typ string)
	OnGap   func(reason string)
}

// detector finds road users in a frame; the slice is valid until the next call.
type detector interface {
	Detect(frame gocv.Mat) []edge.Detection
	Close()
}

// learner is a detector with a background model that must see every frame while it learns.
type learner interface{ Learning() bool }

// relearner is a detector with a background model to start again when the view changes.
type relearner interface{ Relearn() }

// Stats summarises a run.
type Stats struct {
	Frames   int // decoded
	Analysed int // passed the motion gate and ran the detector
	Events   map[string]int
	Counts   int // count records written
	// ViewChanges counts the frames where the picture changed almost entirely (a cut, a camera
	// knocked or turned): every track was ended there, so no event straddles two views.
	ViewChanges int
	// Quarantines counts the times the view stopped matching the scene's reference (a view
	// change, or a picture unlike the reference for a while); Quarantined is the stream time
	// spent so, when the camera judged and counted nothing. Each quarantine goes out as a gap
	// record (wire.GapViewMismatch), so that the hole in the counts is not silent.
	Quarantines int
	Quarantined time.Duration
	// QuarantineAt is the stream time each quarantine began (the first maxQuarantineAt).
	QuarantineAt []time.Duration
	// ReferenceLearned says the scene had no view reference and one was learned from the video.
	ReferenceLearned bool
	// Tracks is what the tracker did: tracks begun, dormant vehicles found again (each an
	// identity switch avoided), riders found by their speed.
	Tracks  track.Stats
	Stream  time.Duration
	Elapsed time.Duration
	// EventLatency is, per event, the time from its frame's decoding to its outbox commit.
	EventLatency []time.Duration
}

// Pipeline is one camera's analysis. Not safe for concurrent use.
type Pipeline struct {
	cfg       Config
	src       Source
	ob        Outbox
	notify    func()
	log       *slog.Logger
	prep      *vision.Prep
	gate      *vision.Gate
	det       detector
	sig       *vision.SignalReader
	sources   *signal.Sources
	tracker   *track.Tracker
	rules     *rules.Engine
	zoneIdx   map[string]int
	pending   []edge.Message
	newEvents int // events in pending
	// The frame being analysed and its tracks, for evidence images made inside rules.Step.
	curFrame  gocv.Mat
	curTracks []edge.Track
	curPos    time.Duration // curFrame's stream time; -1 once the loop is over
	curDets   []edge.Detection
	ev        *evidence // with Config.Evidence: the ring of stills and the events waiting for theirs
	w, h      int       // the analysed frame's size
	stats     Stats
	err       error
	gaps      chan [2]time.Time // source outages, from the decode goroutine
	// viewWarned is the stream time of the last view-change warning and viewWarnedN the number
	// of view changes by then: a camera swinging in the wind warns once per viewWarnEvery, not
	// once per frame.
	viewWarned  time.Duration
	viewWarnedN int
	// views is Stats.ViewChanges and lastView the time of the latest (Unix ms), for
	// ViewChanges from another goroutine.
	views, lastView atomic.Int64
	// The view check: the edge picture of each analysed frame against the scene's reference
	// (or, until there is one, the learner's).
	edges      *vision.ViewEdges
	ref        *vision.Reference
	watch      []bool
	learner    *vision.ReferenceLearner
	learnStart time.Duration
	view       viewCheck
	// mismatchSince is when the current quarantine began (Unix ms; 0: the view matches), for
	// ViewMismatch from another goroutine.
	mismatchSince atomic.Int64
}

const viewWarnEvery = 10 * time.Second

// SourceGap records that the source was down from one time to another; the gap record goes to
// the outbox with the next frame. Safe to call from the source's goroutine; never blocks.
func (p *Pipeline) SourceGap(from, to time.Time) {
	select {
	case p.gaps <- [2]time.Time{from, to}:
	default:
		p.log.Warn("source gap not recorded: too many at once", "from", from, "to", to)
	}
}

func (p *Pipeline) addGaps() {
	for {
		select {
		case g := <-p.gaps:
			wg := wire.Gap{V: wire.Version, ID: p.cfg.Scene.Camera + "-down-" + strconv.FormatInt(g[0].UnixMilli(), 10), Device: p.cfg.Device,
				Time: g[1].UTC(), Reason: wire.GapSourceDown, Evicted: map[string]int{}, Oldest: g[0].UTC(), Newest: g[1].UTC()}
			p.add(wg.ID, wire.KindGaps, edge.GapSeverity, wg) // never evicted, like the outbox's own gap records
			if f := p.meter().OnGap; f != nil {
				f(wire.GapSourceDown)
			}
		default:
			return
		}
	}
}

// New builds the pipeline's stages. notify is called after each commit to the outbox. It fails
// only when the scene's detector model cannot be loaded.
func New(cfg Config, src Source, ob Outbox, notify func(), log *slog.Logger) (*Pipeline, error) {
	s := cfg.Scene
	w, h := vision.ProcessSize(cfg.Width, cfg.Height, s.Detector.ProcessWidth)
	var exclude []image.Rectangle
	for _, g := range s.Signals {
		if r := vision.SignalRect(g, w, h); !r.Empty() {
			exclude = append(exclude, r) // lamps changing colour are not objects, nor motion
		}
	}
	var det detector
	switch s.Detector.Kind {
	case "dnn":
		minScore := s.Detector.MinScore
		if minScore == 0 {
			minScore = 0.3
		}
		switch {
		case cfg.Detectors != nil:
			d, err := cfg.Detectors.Detector(s.Detector.Model, minScore)
			if err != nil {
				return nil, fmt.Errorf("detector.model: %w", err)
			}
			det = vision.NewMaskedDNN(d, s.Masks, w, h)
		case cfg.Models != nil:
			d, err := vision.NewDNN(cfg.Models, s.Detector.Model, minScore)
			if err != nil {
				return nil, fmt.Errorf("detector.model: %w", err)
			}
			det = vision.NewMaskedDNN(d, s.Masks, w, h)
		default:
			return nil, fmt.Errorf("detector.kind dnn: no models directory (run 'make models')")
		}
	default:
		det = vision.NewClassical(w, h, s.Detector, s.Masks, exclude)
	}
	p := &Pipeline{cfg: cfg, src: src, ob: ob, notify: notify, log: log, w: w, h: h,
		prep:    vision.NewPrep(w, h),
		gate:    vision.NewGate(w, h, s.Masks, exclude),
		det:     det,
		sig:     vision.NewSignalReader(s, w, h),
		sources: signal.NewSources(s.Signals, cfg.Feed),
		tracker: track.New(track.DefaultConfig()),
		rules:   rules.New(s, w, h, cfg.CountPeriod),
		zoneIdx: map[string]int{},
		stats:   Stats{Events: map[string]int{}},
		gaps:    make(chan [2]time.Time, 16),
	}
	if cfg.Evidence != nil {
		p.ev = newEvidence(w, h)
	}
	p.edges = vision.NewViewEdges(w, h)
	rw, rh := p.edges.Size()
	p.watch = vision.WatchCells(rw, rh, s.Masks)
	if cfg.Reference != nil {
		ref, err := vision.DecodeReference(cfg.Reference, rw, rh)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.ref = ref
	} else {
		p.learner = vision.NewReferenceLearner(rw, rh)
	}
	// Zone numbers in event and count ids: approaches, crosswalks, roadways, platform edges,
	// tracks, in scene order (a scene's zone ids are unique).
	n := 0
	for _, id := range zoneIDs(s) {
		p.zoneIdx[id] = n
		n++
	}
	return p, nil
}

func zoneIDs(s *scene.Scene) []string {
	var ids []string
	for _, a := range s.Approaches {
		ids = append(ids, a.ID)
	}
	for _, c := range s.Crosswalks {
		ids = append(ids, c.ID)
	}
	for _, z := range s.Roadways {
		ids = append(ids, z.ID)
	}
	for _, z := range s.PlatformEdges {
		ids = append(ids, z.ID)
	}
	for _, z := range s.Tracks {
		ids = append(ids, z.ID)
	}
	for _, c := range s.CountLines { // last: the zones before keep their indexes
		ids = append(ids, c.ID)
	}
	return ids
}

// slot is one decoded frame at the analysed size, passed from the decoder to the analysis.
type slot struct {
	pos     time.Duration // stream time of the frame
	seq     int
	decoded time.Time // when decoding finished: the start of the frame-to-outbox latency
	frame   gocv.Mat  // owned: the analysed frame
	err     error
}

// slots is how many frames are decoded ahead; enough to keep both cores busy, bounded memory.
const slots = 3

// Run reads the source to its end or until ctx ends, then flushes partial counts. Decoding and
// downscaling run on their own goroutine, one or two frames ahead of the analysis, so that on a
// 2-core box decode and analysis overlap instead of adding up. No frame is dropped. progress, if
// not nil, is called about every half second of wall time.
//
// Only the decoder holds a full-size frame, one, reused: the slots hold frames at the analysed
// size. Everything downstream (signals, gate, detector, evidence) works at that size, and a
// 1080p BGR frame is 6 MB (docs/BENCHMARKS.md, memory).
func (p *Pipeline) Run(ctx context.Context, progress func(Stats)) (Stats, error) {
	rctx, stop := context.WithCancel(ctx)
	free := make(chan *slot, slots)
	full := make(chan *slot, slots)
	pool := make([]*slot, slots)
	for i := range pool {
		pool[i] = &slot{frame: gocv.NewMat()}
		free <- pool[i]
	}
	done := make(chan struct{})
	var period time.Duration
	if fps := p.cfg.Scene.Detector.AnalysisFPS; fps > 0 {
		period = time.Duration(float64(time.Second) / fps)
	}
	go func() {
		defer close(done)
		defer close(full)
		fr := camera.NewFrame()
		defer fr.Close()
		var next time.Duration
		lastSeq := 0
		for {
			var sl *slot
			if p.cfg.Live {
				select {
				case sl = <-free:
				case <-rctx.Done():
					return
				default:
					// The analysis is behind: keep up with the camera and drop this frame.
					if err := p.src.ReadAfter(fr, next); err != nil {
						select {
						case sl = <-free: // report the error with the next slot
						case <-rctx.Done():
							return
						}
						sl.err = err
						full <- sl
						return
					}
					p.meter().Decoded.Add(int64(fr.Seq - lastSeq))
					p.meter().Dropped.Add(1)
					lastSeq = fr.Seq
					next = fr.Pos + period
					continue
				}
			} else {
				select {
				case sl = <-free:
				case <-rctx.Done():
					return
				}
			}
			sl.err = p.src.ReadAfter(fr, next)
			if sl.err == nil {
				p.meter().Decoded.Add(int64(fr.Seq - lastSeq))
				lastSeq = fr.Seq
			}
			sl.decoded = time.Now()
			sl.pos, sl.seq = fr.Pos, fr.Seq
			next = fr.Pos + period
			if sl.err == nil {
				p.prep.Into(fr.Mat, &sl.frame)
			}
			full <- sl // never blocks: at most `slots` slots exist
			if sl.err != nil {
				return
			}
		}
	}()
	defer func() {
		stop()
		<-done
		for _, sl := range pool {
			sl.frame.Close()
		}
	}()

	began := time.Now()
	lastProgress := began
	var lastTrack time.Duration
	var dets []edge.Detection // the latest detections; owned by the detector
	for sl := range full {
		if errors.Is(sl.err, io.EOF) {
			break
		}
		if sl.err != nil {
			return p.finish(ctx, began, sl.err)
		}
		if ctx.Err() != nil {
			break
		}
		p.stats.Frames = sl.seq
		p.stats.Stream = sl.pos
		p.meter().Analysed.Add(1)
		now := p.cfg.Start.Add(sl.pos)
		signals := p.sources.Combine(now, p.sig.Read(sl.frame, now))
		moving := p.gate.Moving(sl.frame)
		quarantined := p.checkView(sl.frame, sl.pos, now, p.gate.ViewChanged())
		if p.gate.ViewChanged() {
			p.stats.ViewChanges++
			p.lastView.Store(now.UnixMilli())
			p.views.Add(1)
			p.meter().ViewChanges.Add(1)
			if p.viewWarnedN == 0 || sl.pos-p.viewWarned >= viewWarnEvery {
				p.log.Warn("camera view changed; tracks restarted (check the scene still fits)", "camera", p.cfg.Scene.Camera,
					"stream_time", sl.pos, "changes_since_last_warning", p.stats.ViewChanges-p.viewWarnedN)
				p.viewWarned, p.viewWarnedN = sl.pos, p.stats.ViewChanges
			}
			p.tracker.Reset()
			p.rules.Restart(now)
			if r, ok := p.det.(relearner); ok {
				r.Relearn()
			}
		}
		if quarantined {
			// The zones do not fit what the camera shows: nothing is judged, nothing tracked.
			dets, p.curTracks = nil, nil
			lastTrack = sl.pos
		} else {
			if l, ok := p.det.(learner); moving || ok && l.Learning() {
				p.stats.Analysed++
				t0 := time.Now()
				dets = p.det.Detect(sl.frame)
				if f := p.meter().OnDetect; f != nil {
					f(time.Since(t0).Seconds())
				}
			}
			// When nothing moved, the last detections still hold: the tracker sees everything
			// where it was (its velocities settle to zero) and dwell rules keep counting a person
			// who stands too still for the gate.
			dt := float32((sl.pos - lastTrack).Seconds())
			lastTrack = sl.pos
			tracks, ended := p.tracker.Update(dt, dets)
			p.curFrame, p.curTracks, p.curPos, p.curDets = sl.frame, tracks, sl.pos, dets
			p.rules.Step(now, signals, tracks, ended, p)
			if p.ev != nil {
				p.evidenceFrame(sl.frame, sl.pos, tracks, dets)
			}
		}
		decoded := sl.decoded
		free <- sl // the decoder may refill it now: nothing below reads the slot
		p.addGaps()
		events := p.newEvents
		if err := p.commit(ctx); err != nil {
			return p.finish(ctx, began, err)
		}
		p.meter().LagNanos.Store(int64(time.Since(decoded)))
		if events > 0 {
			// From the decoded frame that completed the events to their durable commit.
			lat := time.Since(decoded)
			for ; events > 0; events-- {
				p.stats.EventLatency = append(p.stats.EventLatency, lat)
			}
			p.newEvents = 0
		}
		if progress != nil && time.Since(lastProgress) > 500*time.Millisecond {
			lastProgress = time.Now()
			p.stats.Elapsed = time.Since(began)
			progress(p.stats)
		}
	}
	p.curPos = -1 // its slot is back with the decoder: events from Flush take their stills from the ring
	p.rules.Flush(p)
	if p.view.on {
		end := p.cfg.Start.Add(p.stats.Stream)
		p.stats.Quarantined += end.Sub(p.view.since)
		p.viewGap(p.view.since, end) // still quarantined at the end: the hole so far
	}
	return p.finish(ctx, began, nil)
}

// Learning a view reference: over learnFor of stream time, from frames that agree with each
// other (learnSteady: a camera still zooming or panning is not learned).
const (
	learnFor    = 2 * time.Second
	learnSteady = 0.5
)

// maxQuarantineAt bounds Stats.QuarantineAt: a camera swinging in the wind is quarantined
// again and again.
const maxQuarantineAt = 100

// checkView compares the frame's edge picture with the scene's view reference and updates
// the quarantine; it reports whether the camera is quarantined for this frame. Without a
// reference it learns one first (and quarantines nothing meanwhile).
func (p *Pipeline) checkView(frame gocv.Mat, pos time.Duration, now time.Time, cut bool) bool {
	pix := p.edges.Of(frame)
	if p.ref == nil {
		if l := p.learner; l.N() == 0 || cut || l.N() >= 5 && l.Reference().Similarity(pix, p.watch) < learnSteady {
			l.Reset() // the view is not steady yet: start again from this frame
			p.learnStart = pos
		}
		p.learner.Add(pix)
		if pos-p.learnStart >= learnFor {
			p.ref = p.learner.Reference()
			p.stats.ReferenceLearned = true
			p.log.Info("the scene has no view reference: learned one from the video (write one with scene draw --write-reference)",
				"camera", p.cfg.Scene.Camera, "from", p.learnStart, "to", pos)
		}
		return false
	}
	on, changed := p.view.step(now, cut, p.ref.Similarity(pix, p.watch))
	if !changed {
		return on
	}
	if on {
		p.stats.Quarantines++
		if len(p.stats.QuarantineAt) < maxQuarantineAt {
			p.stats.QuarantineAt = append(p.stats.QuarantineAt, p.view.since.Sub(p.cfg.Start))
		}
		p.mismatchSince.Store(p.view.since.UnixMilli())
		p.log.Warn("camera view does not match its scene: nothing judged or counted until it does", "camera", p.cfg.Scene.Camera,
			"stream_time", p.view.since.Sub(p.cfg.Start))
		return true
	}
	p.stats.Quarantined += now.Sub(p.view.since)
	p.viewGap(p.view.since, now)
	p.mismatchSince.Store(0)
	p.log.Warn("camera view matches its scene again: events resume", "camera", p.cfg.Scene.Camera, "stream_time", pos,
		"quarantined_for", now.Sub(p.view.since))
	// A new view: no track or rule state from before the quarantine carries over.
	p.tracker.Reset()
	p.rules.Restart(now)
	if r, ok := p.det.(relearner); ok {
		r.Relearn()
	}
	return false
}

// viewGap records a quarantine from one time to another as a gap record: nothing was judged
// or counted then.
func (p *Pipeline) viewGap(from, to time.Time) {
	g := wire.Gap{V: wire.Version, ID: p.cfg.Scene.Camera + "-view-" + strconv.FormatInt(from.UnixMilli(), 10), Device: p.cfg.Device,
		Time: to.UTC(), Reason: wire.GapViewMismatch, Evicted: map[string]int{}, Oldest: from.UTC(), Newest: to.UTC()}
	p.add(g.ID, wire.KindGaps, edge.GapSeverity, g)
	if f := p.meter().OnGap; f != nil {
		f(wire.GapViewMismatch)
	}
}

// noMeter stands in for a pipeline built without a Meter.
var noMeter Meter

func (p *Pipeline) meter() *Meter {
	if p.cfg.Meter != nil {
		return p.cfg.Meter
	}
	return &noMeter
}

// ViewMismatch reports whether the camera's view does not match its scene now (the camera is
// quarantined), and since when. Safe for concurrent use.
func (p *Pipeline) ViewMismatch() (bool, time.Time) {
	ms := p.mismatchSince.Load()
	if ms == 0 {
		return false, time.Time{}
	}
	return true, time.UnixMilli(ms).UTC()
}

func (p *Pipeline) finish(ctx context.Context, began time.Time, err error) (Stats, error) {
	// What the rules already found is committed even when the source failed or ctx ended.
	p.flushEvidence()
	cerr := p.commit(context.WithoutCancel(ctx))
	p.stats.Elapsed = time.Since(began)
	p.stats.Tracks = p.tracker.Stats()
	return p.stats, errors.Join(err, cerr, p.err)
}

func (p *Pipeline) commit(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	if err := p.ob.Append(ctx, p.pending...); err != nil {
		return fmt.Errorf("write %d messages to the outbox: %w", len(p.pending), err)
	}
	p.pending = p.pending[:0]
	if p.notify != nil {
		p.notify()
	}
	return nil
}

// SignalDisagreements returns how often two signal-state sources disagreed. Safe for
// concurrent use.
func (p *Pipeline) SignalDisagreements() int { return p.sources.Disagreements() }

// Tracks returns a copy of the last analysed frame's tracks, in pixels of the analysed frame,
// whose size it also returns. For drawing, after Run.
func (p *Pipeline) Tracks() (tracks []edge.Track, w, h int) {
	return append([]edge.Track(nil), p.curTracks...), p.w, p.h
}

// ViewChanges returns how often the camera's picture changed almost entirely at once, and the
// stream time of the latest. Safe for concurrent use.
func (p *Pipeline) ViewChanges() (int, time.Time) {
	n := p.views.Load()
	if n == 0 {
		return 0, time.Time{}
	}
	return int(n), time.UnixMilli(p.lastView.Load()).UTC()
}

// Close releases the stages' Mats.
func (p *Pipeline) Close() {
	p.edges.Close()
	p.gate.Close()
	p.det.Close()
	p.sig.Close()
	if p.ev != nil {
		p.ev.close()
	}
}

var typeCodes = map[string]string{wire.RedLightRunning: "rl", wire.PedAgainstSignal: "pa", wire.Jaywalking: "jw",
	wire.PlatformEdgeIntrusion: "pe", wire.TrackIntrusion: "ti"}

// EventID is unique per device and stable across restarts: the same event in the same stream
// always gets the same id, so a re-delivered or re-replayed event is recognisable.
func EventID(camera string, t time.Time, typ string, zone, track int) string {
	return camera + "-" + strconv.FormatInt(t.UnixMilli(), 10) + "-" + typeCodes[typ] + strconv.Itoa(zone) + "-t" + strconv.Itoa(track)
}

// Event implements rules.Sink.
func (p *Pipeline) Event(e edge.Event) {
	we := wire.Event{V: wire.Version, ID: EventID(p.cfg.Scene.Camera, e.Time, e.Type, p.zoneIdx[e.Zone], e.Track),
		Device: p.cfg.Device, Camera: p.cfg.Scene.Camera, Site: e.Site, Zone: e.Zone, Type: e.Type,
		Time: e.Time.UTC(), Class: e.Class.String(), Confidence: e.Confidence}
	if s := e.Signal; s != nil {
		we.Signal = &wire.Signal{Source: s.Source, State: s.Light.String(), TimeIntoRedS: max(0, e.Time.Sub(s.Since).Seconds()), OnsetSeen: s.OnsetSeen}
	}
	p.stats.Events[e.Type]++
	if f := p.meter().OnEvent; f != nil {
		f(e.Type)
	}
	if p.ev != nil {
		p.holdEvent(we, e) // to the outbox with its evidence, once the "after" still has come
		p.log.Debug("event", "id", we.ID, "type", e.Type, "site", e.Site)
		return
	}
	p.add(we.ID, wire.KindEvents, edge.Severity(e.Type), we)
	p.newEvents++
	p.log.Debug("event", "id", we.ID, "type", e.Type, "site", e.Site)
}

// Count implements rules.Sink. While the camera is quarantined nothing is counted, so a
// period that overlapped a quarantine holds the road users of its matching part only, as its
// events do; the quarantine's gap record says which part.
func (p *Pipeline) Count(c edge.Count) {
	wc := countsPayload(p.cfg.Device, p.cfg.Scene.Camera, c)
	wc.ID = p.cfg.Scene.Camera + "-c" + strconv.Itoa(p.zoneIdx[c.Zone]) + "-" + strconv.FormatInt(c.Start.UnixMilli(), 10)
	p.add(wc.ID, wire.KindCounts, edge.Severity("counts"), wc)
	p.stats.Counts++
}

// countsPayload is the wire form of a count (without its id): classes by name, unknown and
// zero counts left out, turning movements only when there are any.
func countsPayload(device, camera string, c edge.Count) wire.Counts {
	wc := wire.Counts{V: wire.Version, Device: device, Camera: camera, Site: c.Site, Zone: c.Zone,
		Start: c.Start.UTC(), PeriodS: int(c.Period.Seconds()), Counts: map[string]int{}}
	for cls, n := range c.N {
		if n > 0 && edge.Class(cls) != edge.ClassUnknown {
			wc.Counts[edge.Class(cls).String()] = n
		}
	}
	for m, byClass := range c.Movements {
		for cls, n := range byClass {
			if n > 0 && edge.Class(cls) != edge.ClassUnknown {
				if wc.Movements == nil {
					wc.Movements = map[string]map[string]int{}
				}
				if wc.Movements[m] == nil {
					wc.Movements[m] = map[string]int{}
				}
				wc.Movements[m][edge.Class(cls).String()] = n
			}
		}
	}
	return wc
}

func (p *Pipeline) add(id, kind string, severity int, v any) {
	b, err := wire.Encode(v)
	if err != nil {
		p.err = errors.Join(p.err, fmt.Errorf("encode %s: %w", id, err))
		return
	}
	p.pending = append(p.pending, edge.Message{ID: id, Topic: wire.Topic(p.cfg.Device, kind), Payload: b, Severity: severity})
}
