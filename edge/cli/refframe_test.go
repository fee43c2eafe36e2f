package cli

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// The aggregator's requests for a camera's still: one per camera per frameRequestEvery, none
// for a camera that is not up or not here; a camera's start says scene when it runs another
// scene than it ran before.
func TestFrameRequestsRateLimited(t *testing.T) {
	d := &Daemon{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d.met = newBoxMetrics(d)
	s, other := d.met.camera("cam-1"), d.met.camera("cam-2")
	s.onChange, other.onChange = nil, nil
	req := func(cam string) {
		d.frameRequested(wire.FrameRequestMsg{V: wire.Version, Camera: cam, Time: time.Now()})
	}
	req("cam-1")
	if _, ok := s.stills.Take(); ok {
		t.Fatal("a camera that is not up was asked for a still")
	}
	s.setUp()
	other.setUp()
	req("cam-1")
	req("cam-1")
	req("cam-9")
	if r, ok := s.stills.Take(); !ok || r != wire.FrameRequest {
		t.Fatalf("first request: %q %v", r, ok)
	}
	req("cam-1")
	if _, ok := s.stills.Take(); ok {
		t.Fatal("a second request within 10 s was taken")
	}
	req("cam-2")
	if r, ok := other.stills.Take(); !ok || r != wire.FrameRequest {
		t.Fatalf("another camera's request: %q %v", r, ok)
	}
	s.asked.Store(time.Now().Add(-frameRequestEvery - time.Millisecond).UnixNano())
	req("cam-1")
	if _, ok := s.stills.Take(); !ok {
		t.Fatal("a request 10 s after the last was not taken")
	}
	if r := s.startReason([]byte("version: 1\n")); r != wire.FrameStart {
		t.Fatalf("first start: %s", r)
	}
	if r := s.startReason([]byte("version: 1\n")); r != wire.FrameStart {
		t.Fatalf("restart on the same scene: %s", r)
	}
	if r := s.startReason([]byte("version: 1\n# moved\n")); r != wire.FrameScene {
		t.Fatalf("start on another scene: %s", r)
	}
}
