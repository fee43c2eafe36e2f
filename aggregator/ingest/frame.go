package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// FrameStore is where reference frames go.
type FrameStore interface {
	// FindCamera returns a registry camera; ErrNotFound if no camera or site knows it.
	FindCamera(ctx context.Context, id string) (aggregator.Camera, error)
	// PutFrame stores a camera's frame unless a newer one is stored; it reports whether it did.
	PutFrame(ctx context.Context, f aggregator.Frame) (bool, error)
	// Commit stores a batch (here: dead letters) in one transaction.
	Commit(ctx context.Context, b *aggregator.Batch) (int, error)
}

// frameQueue bounds the frames waiting to be stored: a few per camera at most arrive a
// minute, each up to wire.MaxFrameBytes.
const frameQueue = 16

// Frames stores the reference frames boxes send (crosswatch/v1/{device}/frame/{camera}), one a
// time, off the ingest batches: a frame is rare and large and needs the registry's word on
// who owns its camera. A frame that does not validate, or whose camera is unknown or not its
// device's, is a dead letter with its reason (its first DeadLetterBytes: a frame is not
// reprocessed, the camera is asked for a new one). TrySubmit is safe for concurrent use; Run
// is called once.
type Frames struct {
	store    FrameStore
	log      *slog.Logger
	now      func() time.Time
	cfg      Config
	in       chan Message
	onStored func(camera string) // nil: none
	metrics  *Metrics            // nil: none
}

// SetMetrics counts the refused frames in m's dead letters by reason. Call before Run.
func (f *Frames) SetMetrics(m *Metrics) { f.metrics = m }

// NewFrames returns a frame ingester over store; cfg gives the clock window (MaxAhead) and the
// dead letters' kept bytes (zero fields: DefaultConfig's).
func NewFrames(store FrameStore, cfg Config, log *slog.Logger, now func() time.Time) *Frames {
	if now == nil {
		now = time.Now
	}
	def := DefaultConfig()
	if cfg.MaxAhead <= 0 {
		cfg.MaxAhead = def.MaxAhead
	}
	if cfg.DeadLetterBytes <= 0 {
		cfg.DeadLetterBytes = def.DeadLetterBytes
	}
	return &Frames{store: store, log: log, now: now, cfg: cfg, in: make(chan Message, frameQueue)}
}

// SetOnStored makes the ingester call f with each camera whose frame it stored; f must not
// block. Call before Run.
func (f *Frames) SetOnStored(fn func(camera string)) { f.onStored = fn }

// TrySubmit queues a frame without blocking; false when the queue is full (the frame is lost:
// the next request or scene change brings another).
func (f *Frames) TrySubmit(m Message) bool {
	select {
	case f.in <- m:
		return true
	default:
		return false
	}
}

// Run stores the queued frames until ctx ends.
func (f *Frames) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-f.in:
			if err := f.Handle(ctx, m); err != nil {
				f.log.Warn("reference frame", "topic", m.Topic, "err", err)
			}
		}
	}
}

// errFrame marks a frame refused (and kept as a dead letter), as opposed to a store failure.
var errFrame = errors.New("frame refused")

// Handle validates and stores one frame message. A refused frame becomes a dead letter and
// Handle returns an error wrapping its reason.
func (f *Frames) Handle(ctx context.Context, m Message) error {
	device, kind, camera, err := wire.ParseCameraTopic(m.Topic)
	if err != nil || kind != wire.KindFrame {
		return f.refuse(ctx, m, "", ReasonTopic, fmt.Sprintf("%q is not a frame topic", m.Topic))
	}
	fr, err := wire.DecodeFrame(m.Topic, m.Payload)
	switch {
	case errors.Is(err, wire.ErrInvalid) && (fr.Device != "" && fr.Device != device):
		return f.refuse(ctx, m, device, ReasonDevice, err.Error())
	case err != nil:
		return f.refuse(ctx, m, device, ReasonPayload, err.Error())
	}
	if now := f.now(); fr.Time.After(now.Add(f.cfg.MaxAhead)) {
		return f.refuse(ctx, m, device, ReasonClock, fmt.Sprintf("time: %s is more than %v after the aggregator's clock (%s)",
			fr.Time.UTC().Format(time.RFC3339), f.cfg.MaxAhead, now.UTC().Format(time.RFC3339)))
	}
	c, err := f.store.FindCamera(ctx, camera)
	switch {
	case errors.Is(err, aggregator.ErrNotFound) || err == nil && c.Device == "":
		return f.refuse(ctx, m, device, ReasonCamera, fmt.Sprintf("camera %q is not in the registry with a device", camera))
	case err != nil:
		return fmt.Errorf("frame of %s/%s: %w", device, camera, err)
	case c.Device != device:
		return f.refuse(ctx, m, device, ReasonDevice, fmt.Sprintf("camera %q is device %q's in the registry, not %q's", camera, c.Device, device))
	}
	stored, err := f.store.PutFrame(ctx, aggregator.Frame{Camera: camera, Device: device, Time: fr.Time.UTC(), Received: m.Received.UTC(),
		Reason: fr.Reason, Width: fr.Width, Height: fr.Height, JPEG: fr.JPEG})
	if err != nil {
		return fmt.Errorf("frame of %s/%s: %w", device, camera, err)
	}
	if stored && f.onStored != nil {
		f.onStored(camera)
	}
	return nil
}

// refuse keeps m as a dead letter; why is one of DeadLetterReasons.
func (f *Frames) refuse(ctx context.Context, m Message, device, why, reason string) error {
	p := m.Payload
	if len(p) > f.cfg.DeadLetterBytes {
		p = bytes.Clone(p[:f.cfg.DeadLetterBytes])
	}
	d := aggregator.DeadLetter{Received: m.Received, Topic: m.Topic, Device: device, Reason: reason, Payload: p, Size: len(m.Payload)}
	if _, err := f.store.Commit(ctx, &aggregator.Batch{DeadLetters: []aggregator.DeadLetter{d}}); err != nil {
		return fmt.Errorf("dead letter for %s (%s): %w", m.Topic, reason, err)
	}
	if f.metrics != nil {
		f.metrics.messages.WithLabelValues("dead_letter").Inc()
		f.metrics.deadLetters.WithLabelValues(why).Inc()
	}
	return fmt.Errorf("%w: %s: %s", errFrame, why, reason)
}
