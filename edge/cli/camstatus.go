package cli

import (
	"slices"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Each camera's state in the box's status to the aggregator (issue #15): the dashboard's
// Devices page and GET /api/v1/devices show it per camera. The daemon's hooks are
// mqtt.Options.Cameras (cameraStatuses), camState.setReconnecting (the live source's
// OnDrop), and camState.changed, which asks for a status at once when a camera goes down
// or comes back.

// minRateWindow is the shortest time a camera's frame rates are measured over.
const minRateWindow = time.Second

// cameraStatuses is each camera's state now, sorted by id (mqtt.Options.Cameras). The config
// allows at most wire.MaxStatusCameras cameras.
func (d *Daemon) cameraStatuses() []wire.CameraStatus {
	now := time.Now()
	states := d.met.snapshot()
	out := make([]wire.CameraStatus, 0, min(len(states), wire.MaxStatusCameras))
	var refused []sender.Refusal
	if r := d.refusals.Load(); r != nil {
		refused = r.Blocking()
	}
	for _, s := range states[:min(len(states), wire.MaxStatusCameras)] {
		c := s.status(now)
		if i := slices.IndexFunc(refused, func(f sender.Refusal) bool { return f.Camera == s.id }); i >= 0 && c.Error == "" {
			// Up, but its records do not land: the Devices page says why.
			c.Error = wire.CameraErrorText(refused[i].String())
		}
		out = append(out, c)
	}
	return out
}

// kickStatus asks the MQTT client for a status now (a camera went down or came back).
func (d *Daemon) kickStatus() {
	if d.snd != nil && d.snd.Client != nil {
		d.snd.Client.Kick()
	}
}

// status is the camera's state for the box's status at now.
func (s *camState) status(now time.Time) wire.CameraStatus {
	c := wire.CameraStatus{ID: s.id, State: wire.CameraDown,
		Reconnects:  int(min(s.reconnects.Load(), wire.MaxBacklog)),
		ViewChanges: int(min(s.meter.ViewChanges.Load(), wire.MaxBacklog))}
	decoded, analysed := s.rate.sample(now, s.meter.Decoded.Load(), s.meter.Analysed.Load())
	switch {
	case s.up.Load():
		c.State = wire.CameraUp
		c.DecodedFPS, c.AnalysedFPS = min(decoded, wire.MaxFPS), min(analysed, wire.MaxFPS)
	case s.reconnecting.Load():
		c.State = wire.CameraReconnecting
	}
	if c.State != wire.CameraUp {
		c.Error = wire.CameraErrorText(s.downReason())
	}
	if ns := s.meter.LastFrameNanos.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		c.LastFrame = &t
	}
	if p := s.pipe.Load(); p != nil {
		c.ViewMismatch, _ = p.ViewMismatch()
		if c.State == wire.CameraUp {
			c.Signals = p.Signals()
		}
	}
	return c
}

// setReconnecting marks the camera down while its live source reconnects by itself.
func (s *camState) setReconnecting(why string) {
	s.reason.Store(&why)
	s.reconnecting.Store(true)
	if s.up.Swap(false) {
		s.changed()
	}
}

// changed tells the box that the camera went down or came back.
func (s *camState) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}

// camRate measures a camera's frame rates between statuses. Safe for concurrent use (the
// MQTT client builds a status on connect and on its timer).
type camRate struct {
	mu                sync.Mutex
	at                time.Time // the previous sample; zero: none
	decoded, analysed int64
	decFPS, anaFPS    float64
}

// sample returns the rates since the previous sample, or the last rates when that was less
// than minRateWindow ago (a status asked for right after another).
func (r *camRate) sample(now time.Time, decoded, analysed int64) (decFPS, anaFPS float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el := now.Sub(r.at); !r.at.IsZero() && el >= minRateWindow {
		r.decFPS = max(0, float64(decoded-r.decoded)/el.Seconds())
		r.anaFPS = max(0, float64(analysed-r.analysed)/el.Seconds())
	} else if !r.at.IsZero() {
		return r.decFPS, r.anaFPS
	}
	r.at, r.decoded, r.analysed = now, decoded, analysed
	return r.decFPS, r.anaFPS
}
