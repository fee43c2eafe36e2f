package pipeline

import (
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// RecordKind reads back the ids EventID and CountsID make, and tells a camera's ids from those
// of a camera whose name extends it: the sender clears a camera's refusal by them.
func TestRecordKind(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 30, 0, 125e6, time.UTC)
	cases := []struct {
		id, camera, want string
	}{
		{EventID("cam-1", at, wire.RedLightRunning, 0, 7), "cam-1", wire.KindEvents},
		{EventID("cam-1", at, wire.TrackIntrusion, 12, 1234), "cam-1", wire.KindEvents},
		{CountsID("cam-1", 3, at), "cam-1", wire.KindCounts},
		{EventID("cam-1-b", at, wire.Jaywalking, 0, 7), "cam-1", ""}, // another camera's
		{CountsID("cam-1-b", 0, at), "cam-1", ""},
		{EventID("cam-1", at, wire.Jaywalking, 0, 7), "cam-1-b", ""},
		{EventID("a", at, wire.Jaywalking, 0, 7), "a", wire.KindEvents},
		{EventID("a-1", at, wire.Jaywalking, 0, 7), "a", ""},
		{"cam-1", "cam-1", ""},
		{"cam-1-", "cam-1", ""},
		{"cam-1-1795595400125-rl0-t", "cam-1", ""},
		{"cam-1-c-1795595400125", "cam-1", ""},
		{"gap-edge-1-1795595400125", "edge-1", ""},
		{"burst-000001", "burst", ""},
	}
	for _, c := range cases {
		if got := RecordKind(c.id, c.camera); got != c.want {
			t.Errorf("RecordKind(%q, %q) = %q, want %q", c.id, c.camera, got, c.want)
		}
	}
}
