package vision

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// Source yields decoded frames.
type Source interface {
	// ReadAfter decodes into fr, reusing its Mat, the first frame at or after stream time
	// notBefore, skipping (not converting) the frames before it. It returns io.EOF at the end.
	// fr.Seq counts every frame of the stream, skipped or not.
	ReadAfter(fr *camera.Frame, notBefore time.Duration) error
}

// Detector finds road users in a frame at the analysed size.
type Detector interface {
	// Detect returns the road users in frame; the slice is valid until the next call.
	Detect(frame gocv.Mat) []edge.Detection
	Close()
}

// learner is a detector with a background model that must see every frame while it learns.
type learner interface{ Learning() bool }

// relearner is a detector with a background model to start again when the view changes.
type relearner interface{ Relearn() }

var (
	_ Detector  = (*Classical)(nil)
	_ learner   = (*Classical)(nil)
	_ relearner = (*Classical)(nil)
	_ Detector  = (*MaskedDNN)(nil)
)

// AnalyserConfig describes one camera's analysis.
type AnalyserConfig struct {
	Scene  *scene.Scene
	Width  int       // source frame size
	Height int       //
	Start  time.Time // wall-clock time of stream position 0
	// Detector finds the road users, in frames of the analysed size (Size); chosen by the
	// caller for the scene (NewClassical, NewMaskedDNN) and owned by the Analyser from NewAnalyser
	// on, even when it fails.
	Detector Detector
	// Evidence, if set, makes each event's anonymised evidence image (Evidence). Owned by the
	// caller.
	Evidence *Anonymiser
	// Reference is the scene's view reference (a PGM file's bytes, DecodeReference); nil: one
	// is learned from the first steady seconds of video, and the log says so.
	Reference []byte
	// Live says the source is a live camera: when the analysis falls behind, the decoder keeps
	// reading the stream (so that it does not lag the camera) and drops the frames no slot can
	// take, counting them in Meter.Dropped. A file waits for the analysis instead.
	Live bool
	// Meter, if set, counts the frames decoded and dropped; it may outlive the analyser.
	Meter *edge.Meter
}

// Analyser is the pixel side of one camera: it decodes the source, downscales each frame
// once, reads the signal heads, runs the motion gate, checks the view against the scene's
// reference, runs the detector, and yields one edge.Observation per analysed frame. It keeps
// the recent frames for evidence images (Evidence). Every Mat is owned here. Not safe for
// concurrent use (Meter and the Source's goroutine aside).
type Analyser struct {
	cfg  AnalyserConfig
	src  Source
	log  *slog.Logger
	w, h int // the analysed frame's size

	prep *Prep
	gate *Gate
	det  Detector
	sig  *SignalReader
	ring *stillRing // with Config.Evidence

	// The view check: the edge picture of each analysed frame against the scene's reference
	// (or, until there is one, the learner's).
	edges      *ViewEdges
	ref        *Reference
	watch      []bool
	learner    *ReferenceLearner
	learnStart time.Duration
	view       viewCheck

	// The decoder: its goroutine fills slots from free and hands them over on full.
	started    bool
	stop       context.CancelFunc
	done       chan struct{}
	free, full chan *slot
	pool       [slots]*slot
	cur        *slot // the slot of the latest observation, until the next Next
	ended      bool

	obs  edge.Observation
	dets []edge.Detection // the latest detections; owned by the detector
	skip int              // moving frames still to pass over before the next detection (detector.stride)
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

// NewAnalyser builds the analysis stages for cfg.Scene. It fails only on a bad view reference.
func NewAnalyser(cfg AnalyserConfig, src Source, log *slog.Logger) (*Analyser, error) {
	s := cfg.Scene
	w, h := ProcessSize(cfg.Width, cfg.Height, s.Detector.ProcessWidth)
	a := &Analyser{cfg: cfg, src: src, log: log, w: w, h: h,
		prep: NewPrep(w, h),
		gate: NewGate(w, h, s.Masks, SignalRects(s, w, h)),
		det:  cfg.Detector,
		sig:  NewSignalReader(s, w, h),
	}
	if cfg.Evidence != nil {
		a.ring = newStillRing(w, h)
	}
	a.edges = NewViewEdges(w, h)
	rw, rh := a.edges.Size()
	a.watch = WatchCells(rw, rh, s.Masks)
	if cfg.Reference != nil {
		ref, err := DecodeReference(cfg.Reference, rw, rh)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.ref = ref
	} else {
		a.learner = NewReferenceLearner(rw, rh)
	}
	return a, nil
}

// SignalRects returns the rectangles of the scene's signal heads the camera sees, in pixels of
// a w × h frame: lamps changing colour are neither objects nor motion.
func SignalRects(s *scene.Scene, w, h int) []image.Rectangle {
	var out []image.Rectangle
	for _, g := range s.Signals {
		if r := SignalRect(g, w, h); !r.Empty() {
			out = append(out, r)
		}
	}
	return out
}

// Size returns the analysed frame's size: the pixels of every box in the observations.
func (a *Analyser) Size() (w, h int) { return a.w, a.h }

var noMeter edge.Meter

func (a *Analyser) meter() *edge.Meter {
	if a.cfg.Meter != nil {
		return a.cfg.Meter
	}
	return &noMeter
}

// decode starts the decoder: on its own goroutine, one or two frames ahead of the analysis,
// so that on a 2-core box decode and analysis overlap instead of adding up. Only the decoder
// holds a full-size frame, one, reused: the slots hold frames at the analysed size. Everything
// downstream (signals, gate, detector, evidence) works at that size, and a 1080p BGR frame is
// 6 MB (docs/BENCHMARKS.md, memory).
func (a *Analyser) decode(ctx context.Context) {
	rctx, stop := context.WithCancel(ctx)
	a.stop, a.done = stop, make(chan struct{})
	a.free, a.full = make(chan *slot, slots), make(chan *slot, slots)
	for i := range a.pool {
		a.pool[i] = &slot{frame: gocv.NewMat()}
		a.free <- a.pool[i]
	}
	var period time.Duration
	if fps := a.cfg.Scene.Detector.AnalysisFPS; fps > 0 {
		period = time.Duration(float64(time.Second) / fps)
	}
	go func() {
		defer close(a.done)
		defer close(a.full)
		fr := camera.NewFrame()
		defer fr.Close()
		var next time.Duration
		lastSeq := 0
		for {
			var sl *slot
			if a.cfg.Live {
				select {
				case sl = <-a.free:
				case <-rctx.Done():
					return
				default:
					// The analysis is behind: keep up with the camera and drop this frame.
					if err := a.src.ReadAfter(fr, next); err != nil {
						select {
						case sl = <-a.free: // report the error with the next slot
						case <-rctx.Done():
							return
						}
						sl.err = err
						a.full <- sl
						return
					}
					a.meter().Decoded.Add(int64(fr.Seq - lastSeq))
					a.meter().LastFrameNanos.Store(time.Now().UnixNano())
					a.meter().Dropped.Add(1)
					lastSeq = fr.Seq
					next = fr.Pos + period
					continue
				}
			} else {
				select {
				case sl = <-a.free:
				case <-rctx.Done():
					return
				}
			}
			sl.err = a.src.ReadAfter(fr, next)
			sl.decoded = time.Now()
			if sl.err == nil {
				a.meter().Decoded.Add(int64(fr.Seq - lastSeq))
				a.meter().LastFrameNanos.Store(sl.decoded.UnixNano())
				lastSeq = fr.Seq
			}
			sl.pos, sl.seq = fr.Pos, fr.Seq
			next = fr.Pos + period
			if sl.err == nil {
				a.prep.Into(fr.Mat, &sl.frame)
			}
			a.full <- sl // never blocks: at most `slots` slots exist
			if sl.err != nil {
				return
			}
		}
	}()
}

// Next analyses the next frame and returns its observation, valid until the next call. No
// frame of a file is dropped. It returns io.EOF at the end of the source, ctx's error once ctx
// ends, and the source's error if it fails. The decoder starts with the first call and stops
// at the end, on an error or at Close.
func (a *Analyser) Next(ctx context.Context) (*edge.Observation, error) {
	if a.ended {
		return nil, io.EOF
	}
	if !a.started {
		a.started = true
		a.decode(ctx)
	}
	a.release()
	var sl *slot
	select {
	case s, ok := <-a.full:
		if !ok {
			a.ended = true
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, io.EOF
		}
		sl = s
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if ctx.Err() != nil {
		a.free <- sl
		return nil, ctx.Err()
	}
	if sl.err != nil {
		a.ended = true
		a.free <- sl
		if errors.Is(sl.err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame: %w", sl.err)
	}
	a.cur = sl
	a.analyse(sl)
	return &a.obs, nil
}

// release hands the latest observation's slot back to the decoder.
func (a *Analyser) release() {
	if a.cur != nil {
		a.free <- a.cur
		a.cur = nil
	}
}

// analyse fills a.obs from the frame in sl.
func (a *Analyser) analyse(sl *slot) {
	o := &a.obs
	now := a.cfg.Start.Add(sl.pos)
	o.Seq, o.Pos, o.Time, o.Decoded = sl.seq, sl.pos, now, sl.decoded
	o.Signals = a.sig.Read(sl.frame, now)
	o.Moved = a.gate.Moving(sl.frame)
	o.ViewChanged = a.gate.ViewChanged()
	o.ReferenceLearned = false
	o.Quarantined, o.QuarantineChanged = a.checkView(sl.frame, sl.pos, now, o.ViewChanged)
	o.QuarantineSince = a.view.since
	if o.QuarantineChanged && !o.Quarantined || o.ViewChanged {
		// A new view: the background from before it is no background of this one.
		if r, ok := a.det.(relearner); ok {
			r.Relearn()
		}
	}
	o.Detected, o.DetectTime, o.Skipped = false, 0, false
	if o.ViewChanged || o.QuarantineChanged {
		a.skip = 0 // a new view is detected at once
	}
	if o.Quarantined {
		// The zones do not fit what the camera shows: nothing is detected.
		a.dets = nil
	} else if l, ok := a.det.(learner); o.Moved || ok && l.Learning() {
		if a.skip > 0 {
			a.skip--
			o.Skipped = true
		} else {
			t0 := time.Now()
			a.dets = a.det.Detect(sl.frame)
			o.Detected, o.DetectTime = true, time.Since(t0)
			a.skip = a.cfg.Scene.Detector.Stride - 1
		}
	}
	o.Detections = a.dets
}

// Learning a view reference: over learnFor of stream time, from frames that agree with each
// other (learnSteady: a camera still zooming or panning is not learned).
const (
	learnFor    = 2 * time.Second
	learnSteady = 0.5
)

// checkView compares the frame's edge picture with the scene's view reference and updates
// the quarantine; it reports whether the camera is quarantined for this frame and whether
// that changed with it. Without a reference it learns one first (and quarantines nothing
// meanwhile).
func (a *Analyser) checkView(frame gocv.Mat, pos time.Duration, now time.Time, cut bool) (on, changed bool) {
	pix := a.edges.Of(frame)
	if a.ref == nil {
		if l := a.learner; l.N() == 0 || cut || l.N() >= 5 && l.Reference().Similarity(pix, a.watch) < learnSteady {
			l.Reset() // the view is not steady yet: start again from this frame
			a.learnStart = pos
		}
		a.learner.Add(pix)
		if pos-a.learnStart >= learnFor {
			a.ref = a.learner.Reference()
			a.obs.ReferenceLearned = true
			a.log.Info("the scene has no view reference: learned one from the video (write one with scene draw --write-reference)",
				"camera", a.cfg.Scene.Camera, "from", a.learnStart, "to", pos)
		}
		return false, false
	}
	return a.view.step(now, cut, a.ref.Similarity(pix, a.watch))
}

// KeepStill keeps the latest observation's frame for evidence, with its tracks and
// detections (pixels of the analysed frame), unless it has it already. Without evidence, or
// once the source has ended, it does nothing.
func (a *Analyser) KeepStill(tracks []edge.Track, dets []edge.Detection) {
	if a.ring != nil && a.cur != nil {
		a.ring.push(a.cur.frame, a.cur.pos, tracks, dets)
	}
}

// NewestStill returns the stream time of the newest frame kept for evidence; false: none.
func (a *Analyser) NewestStill() (time.Duration, bool) {
	if a.ring == nil {
		return 0, false
	}
	return a.ring.newestPos()
}

// Evidence returns the anonymised evidence image of event e judged at stream time pos: the
// kept frames nearest before, at and after it (edge.EvidenceSpan apart), every person and
// plate in them pixelated, the road user, the line or zone and the signal drawn in. It returns
// nil and no error without evidence or when no frame was kept.
func (a *Analyser) Evidence(e edge.Event, pos time.Duration) ([]byte, error) {
	if a.ring == nil {
		return nil, nil
	}
	r := a.ring
	stills := r.pick(pos)
	if stills[1] == nil {
		return nil, nil
	}
	for i, s := range stills {
		r.stills[i] = r.stillOf(i, s, e, pos)
	}
	return a.cfg.Evidence.Montage(r.stills[:], judgedOf(a.cfg.Scene, e), wire.MaxEvidenceBytes)
}

// Close stops the decoder and releases every Mat, the detector's too.
func (a *Analyser) Close() {
	if a.started {
		a.stop()
		<-a.done
		for _, sl := range a.pool {
			sl.frame.Close()
		}
		a.started = false
	}
	a.edges.Close()
	a.gate.Close()
	if a.det != nil {
		a.det.Close()
	}
	a.sig.Close()
	if a.ring != nil {
		a.ring.close()
	}
}

// Still returns the anonymised reference still of the latest observation's frame (the
// analysed frame, at most EvidenceWidth wide), as evidence is: the tracked and detected
// people and riders pixelated, with every person the anonymiser's own detector finds, the
// plate region of every vehicle, faces blurred. tracks and dets are the frame's (analysed
// pixels). It returns nil and no error without evidence (no anonymiser: a raw frame never
// leaves the box) or once the source has ended. It copies nothing until asked: the pipeline
// calls it only when a still was requested.
func (a *Analyser) Still(tracks []edge.Track, dets []edge.Detection) ([]byte, error) {
	an := a.cfg.Evidence
	if an == nil || a.cur == nil {
		return nil, nil
	}
	frame := a.cur.frame
	scale := min(1, float32(EvidenceWidth)/float32(frame.Cols()))
	var people, vehicles []edge.Box
	for _, t := range tracks {
		for _, b := range [2]edge.Box{t.Box, t.Meas} {
			if b.Area() <= 0 {
				continue
			}
			switch {
			case t.Class == edge.Person || t.Class == edge.Bicycle || t.Class == edge.Motorbike || t.Class == edge.ClassUnknown:
				people = append(people, b)
			case t.Class.Motor():
				vehicles = append(vehicles, b)
			}
		}
	}
	for _, d := range dets {
		switch {
		case d.Class == edge.Person || d.Class == edge.Bicycle || d.Class == edge.Motorbike || d.Class == edge.ClassUnknown:
			people = append(people, d.Box)
		case d.Class.Motor():
			vehicles = append(vehicles, d.Box)
		}
	}
	an.anonymise(frame, image.Pt(int(float32(frame.Cols())*scale), int(float32(frame.Rows())*scale)), people, vehicles)
	return encodeJPEG(an.img, 80)
}
