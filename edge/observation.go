package edge

import (
	"sync/atomic"
	"time"
)

// Observation is what the analysis of one frame tells the logic: the pixels stay with the
// analyser (edge/vision), the tracker and the rules (edge/pipeline) see only this. One
// Observation is reused frame after frame: its fields, and the slices in it, are valid until
// the next one.
type Observation struct {
	Seq     int           // frames of the stream up to this one, analysed or not
	Pos     time.Duration // stream time of the frame
	Time    time.Time     // wall-clock time of the frame
	Decoded time.Time     // when the frame was decoded: the start of its frame-to-outbox latency
	// Signals are the signal heads as the camera reads them, one per scene signal in scene
	// order (LightUnknown for a head the camera does not see).
	Signals []SignalState
	// Detections are the latest road users found: this frame's if Detected, else the last
	// frame's the detector ran on (when nothing moved they still hold); none while Quarantined.
	Detections []Detection
	Detected   bool // the detector ran on this frame
	// Skipped says the detector was due (the picture moved) but this frame falls between two
	// of detector.stride: the tracker and the rules pass over it, and Detections are stale.
	// (Left out of a recorded observation when false: the recordings predate it.)
	Skipped    bool          `json:",omitempty"`
	DetectTime time.Duration // how long it took
	Moved      bool          // the motion gate saw something move
	// ViewChanged says the picture changed almost entirely at once (a cut, a camera knocked or
	// turned): no track may go on across it.
	ViewChanged bool
	// Quarantined says the view does not match the scene's reference: nothing is detected,
	// nothing may be judged or counted. QuarantineChanged says it changed with this frame, and
	// QuarantineSince is when the quarantine began (the one that ends here, when it ends).
	Quarantined       bool
	QuarantineChanged bool
	QuarantineSince   time.Time
	// ReferenceLearned says the scene had no view reference and one was learned from the
	// video with this frame.
	ReferenceLearned bool
}

// The evidence of an event shows it before, at and after the moment judged, EvidenceSpan
// apart; the stills come from frames kept every EvidenceEvery of stream time, plus the frame
// of each event and the first frame after each event's "after" time.
const (
	EvidenceEvery = 250 * time.Millisecond
	EvidenceSpan  = 800 * time.Millisecond
)

// Meter counts a camera's frames for metrics, read from other goroutines while the analyser
// and the pipeline write. Atomics only: nothing here takes a lock or allocates per frame.
type Meter struct {
	Decoded  atomic.Int64 // frames read from the source, analysed or not
	Analysed atomic.Int64 // frames through the analysis (signals, gate, view check, rules)
	Dropped  atomic.Int64 // live frames dropped because the analysis was behind
	// LagNanos is, for the latest analysed frame, the time from its decoding to the end of its
	// analysis and commit.
	LagNanos    atomic.Int64
	ViewChanges atomic.Int64
	// LastFrameNanos is when the latest frame was read from the source (Unix nanoseconds of
	// the box's clock; 0: none yet), for the camera's status.
	LastFrameNanos atomic.Int64
	// OnDetect, if set, is told how long each detector run took. It must not block or allocate
	// (a Prometheus histogram's Observe).
	OnDetect func(seconds float64)
	// OnEvent and OnGap, if set, are told the type of each event and the reason of each gap
	// record the pipeline writes (once each; not per frame).
	OnEvent func(typ string)
	OnGap   func(reason string)
}

// StillRequest asks a camera's analysis for one reference still (the picture the scene
// editor draws the scene over): whoever wants one calls Ask, and the analysis takes the
// request at its next frame. Asking again before it is taken keeps one request, with the
// latest reason. The analysis pays one atomic load per frame while nobody asks. Safe for
// concurrent use.
type StillRequest struct {
	reason atomic.Pointer[string]
}

// Ask requests a still for reason (wire.FrameStart, wire.FrameScene or wire.FrameRequest).
func (r *StillRequest) Ask(reason string) { r.reason.Store(&reason) }

// Take returns the reason of the request made since the last Take, and false if there is none.
func (r *StillRequest) Take() (string, bool) {
	if r.reason.Load() == nil {
		return "", false
	}
	p := r.reason.Swap(nil)
	if p == nil {
		return "", false
	}
	return *p, true
}
