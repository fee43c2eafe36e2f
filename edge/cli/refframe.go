package cli

import (
	"bytes"
	"crypto/sha256"
	"image/jpeg"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// Each camera's reference still for the aggregator's scene editor: one when the camera starts
// (after a scene change: reason scene), one after each connection to the broker, and one when
// the aggregator asks (crosswatch/v1/{device}/frame-request/{camera}), at most one request per
// frameRequestEvery per camera. The analysis makes it from its current frame with the evidence
// anonymiser (pipeline.Config.Stills); without evidence no still is sent.

// frameRequestEvery bounds the stills the aggregator may ask of one camera.
const frameRequestEvery = 10 * time.Second

// startReason is why the camera's next start sends a still: FrameScene when it runs another
// scene than it ran before, FrameStart otherwise. It remembers scene as the one it runs.
func (s *camState) startReason(scene []byte) string {
	sum := sha256.Sum256(scene)
	if prev := s.scene.Swap(&sum); prev != nil && *prev != sum {
		return wire.FrameScene
	}
	return wire.FrameStart
}

// frameRequested takes the aggregator's request for a camera's still (mqtt.Options.OnFrameRequest).
func (d *Daemon) frameRequested(r wire.FrameRequestMsg) {
	st, ok := d.met.find(r.Camera)
	if !ok || !st.up.Load() {
		d.Log.Warn("frame request for a camera that is not up here; ignored", "camera", r.Camera)
		return
	}
	now := time.Now().UnixNano()
	last := st.asked.Load()
	if last != 0 && now-last < int64(frameRequestEvery) || !st.asked.CompareAndSwap(last, now) {
		d.Log.Info("frame request ignored: one per camera per "+frameRequestEvery.String(), "camera", r.Camera)
		return
	}
	st.stills.Ask(wire.FrameRequest)
}

// connected asks every camera that is up for a still: one made while the box was offline was lost.
func (d *Daemon) connected() {
	for _, st := range d.met.snapshot() {
		if st.up.Load() {
			st.stills.Ask(wire.FrameStart)
		}
	}
}

// sendFrame publishes a camera's still (on the camera's analysis goroutine: Publish does not
// wait for the broker). A still the broker does not get is not retried: the next connection
// or request brings another.
func (d *Daemon) sendFrame(camera string, b []byte, reason string) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		d.Log.Warn("reference still is not a JPEG; not sent", "camera", camera, "err", err)
		return
	}
	dev := d.Box.Config.Device
	// The box's clock, not the stream's: a file plays faster than real time.
	msg, err := wire.Encode(wire.Frame{V: wire.Version, Device: dev, Camera: camera, Time: time.Now().UTC(), Reason: reason,
		Width: cfg.Width, Height: cfg.Height, JPEG: b})
	if err == nil && len(msg) > wire.MaxFrameBytes {
		d.Log.Warn("reference still too large; not sent", "camera", camera, "bytes", len(msg), "limit", wire.MaxFrameBytes)
		return
	}
	if err == nil {
		err = d.snd.Client.Publish(wire.FrameTopic(dev, camera), msg)
	}
	if err != nil {
		d.Log.Info("reference still not sent; sent again after the next connection", "camera", camera, "err", err)
		return
	}
	d.Log.Info("reference still sent", "camera", camera, "reason", reason, "size", len(b), "width", cfg.Width, "height", cfg.Height)
}

// find returns camera id's state, if it has one.
func (m *boxMetrics) find(id string) (*camState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[id]
	return s, ok
}
