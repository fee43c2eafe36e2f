package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// A camera's status says up, reconnecting or down with why (credentials masked), and each
// change between up and not up is told once, so the box sends a status at once.
func TestCameraStatusStates(t *testing.T) {
	d := &Daemon{}
	d.met = newBoxMetrics(d)
	s := d.met.camera("cam-1")
	changes := 0
	s.onChange = func() { changes++ }
	now := time.Now()
	st := s.status(now)
	if st.ID != "cam-1" || st.State != wire.CameraDown || st.Error != "not started" || st.LastFrame != nil {
		t.Fatalf("before it starts: %+v", st)
	}
	s.setDown("connecting to rtsp://admin:hunter2@10.0.0.9/live")
	if st := s.status(now); st.State != wire.CameraDown || st.Error != "connecting to rtsp://***@10.0.0.9/live" || changes != 0 {
		t.Fatalf("connecting: %+v, %d changes", st, changes)
	}
	s.setUp()
	frame := now.Add(-40 * time.Millisecond)
	s.meter.LastFrameNanos.Store(frame.UnixNano())
	s.meter.ViewChanges.Add(2)
	s.reconnects.Add(3)
	st = s.status(now)
	if st.State != wire.CameraUp || st.Error != "" || changes != 1 || st.LastFrame == nil || !st.LastFrame.Equal(frame) ||
		st.LastFrame.Location() != time.UTC || st.Reconnects != 3 || st.ViewChanges != 2 {
		t.Fatalf("up: %+v, %d changes", st, changes)
	}
	s.setUp() // a reconnect's OnGap while up: no change
	s.setReconnecting("source dropped; reconnecting")
	if st := s.status(now); st.State != wire.CameraReconnecting || st.Error != "source dropped; reconnecting" || changes != 2 {
		t.Fatalf("reconnecting: %+v, %d changes", st, changes)
	}
	s.setReconnecting("source dropped; reconnecting") // down already: no change
	s.setDown("stopped")
	if st := s.status(now); st.State != wire.CameraDown || st.Error != "stopped" || changes != 2 {
		t.Fatalf("stopped: %+v, %d changes", st, changes)
	}
	s.setUp()
	s.setDown(strings.Repeat("a very long failure\n", 40))
	st = s.status(now)
	if changes != 4 || len(st.Error) > wire.MaxCameraErrorLen || strings.Contains(st.Error, "\n") {
		t.Fatalf("a long error: %q, %d changes", st.Error, changes)
	}
	b, _ := wire.Encode(wire.Status{V: wire.Version, Device: "box", Online: true, Time: now, Cameras: []wire.CameraStatus{st}})
	if _, err := wire.DecodeStatus(b); err != nil {
		t.Fatalf("the status does not decode: %v", err)
	}
}

// The rates are frames per second since the previous status, measured over at least a second;
// only an up camera reports them.
func TestCameraStatusRates(t *testing.T) {
	var r camRate
	t0 := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at                time.Duration
		decoded, analysed int64
		dec, ana          float64
	}{
		{0, 0, 0, 0, 0},
		{500 * time.Millisecond, 15, 7, 0, 0}, // too soon to measure: the last rates (none yet)
		{2 * time.Second, 60, 30, 30, 15},     // 60 frames in 2 s since the first sample
		{2500 * time.Millisecond, 90, 40, 30, 15},
		{4 * time.Second, 60 + 50, 30 + 20, 25, 10}, // since the sample at 2 s
		{9 * time.Second, 110, 50, 0, 0},            // nothing for 5 s
	} {
		dec, ana := r.sample(t0.Add(c.at), c.decoded, c.analysed)
		if dec != c.dec || ana != c.ana {
			t.Errorf("at %v: %v and %v fps, want %v and %v", c.at, dec, ana, c.dec, c.ana)
		}
	}
	d := &Daemon{}
	d.met = newBoxMetrics(d)
	s := d.met.camera("cam-1")
	s.setUp()
	later := time.Now().Add(2 * time.Second)
	s.meter.Decoded.Store(50)
	s.meter.Analysed.Store(30)
	if st := s.status(later); st.DecodedFPS < 20 || st.DecodedFPS > 25 || st.AnalysedFPS < 12 || st.AnalysedFPS > 15 {
		t.Fatalf("an up camera's first rates, since it started: %+v", st)
	}
	s.meter.Decoded.Store(5000)
	s.meter.Analysed.Store(4000)
	if st := s.status(later.Add(time.Second)); st.DecodedFPS != wire.MaxFPS || st.AnalysedFPS != wire.MaxFPS {
		t.Fatalf("rates beyond the contract's bound: %+v", st)
	}
	s.setReconnecting("source dropped; reconnecting")
	if st := s.status(later.Add(3 * time.Second)); st.DecodedFPS != 0 || st.AnalysedFPS != 0 {
		t.Fatalf("a camera not up reports rates: %+v", st)
	}
}

// The box reports its cameras sorted by id, at most as many as the contract allows.
func TestCameraStatuses(t *testing.T) {
	d := &Daemon{}
	d.met = newBoxMetrics(d)
	for _, id := range []string{"cam-b", "cam-a"} {
		d.met.camera(id)
	}
	got := d.cameraStatuses()
	if len(got) != 2 || got[0].ID != "cam-a" || got[1].ID != "cam-b" {
		t.Fatalf("statuses %+v", got)
	}
	for i := range wire.MaxStatusCameras + 5 {
		d.met.camera(fmt.Sprintf("cam-%02d", i))
	}
	if got := d.cameraStatuses(); len(got) != wire.MaxStatusCameras {
		t.Fatalf("%d statuses, want %d", len(got), wire.MaxStatusCameras)
	}
	d.kickStatus() // no MQTT client yet: nothing to kick, and no panic
}
