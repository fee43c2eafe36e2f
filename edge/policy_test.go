package edge

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// The on-full policy evicts the lowest severity first: count records, then event types from
// least to most dangerous. The ranks are written out here, not derived from the table.
func TestSeverityPerKind(t *testing.T) {
	want := map[string]int{
		"counts":                   1,
		wire.Jaywalking:            2,
		wire.PedAgainstSignal:      3,
		wire.RedLightRunning:       4,
		wire.PlatformEdgeIntrusion: 5,
		wire.TrackIntrusion:        6,
		"no_such_type":             0,
	}
	for kind, sev := range want {
		if got := Severity(kind); got != sev {
			t.Errorf("Severity(%q) = %d, want %d", kind, got, sev)
		}
	}
	if GapSeverity := GapSeverity; Severity(wire.TrackIntrusion) >= GapSeverity {
		t.Errorf("the most severe event (%d) must rank below gap records (%d), which are never evicted", Severity(wire.TrackIntrusion), GapSeverity)
	}
}

// A gap record names what it lost by kind: the severity maps back to the kind it came from.
func TestGapBuilderNamesEvictedKinds(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lost := []Lost{{ID: "a", Severity: 1}, {ID: "b", Severity: 1}, {ID: "c", Severity: 4}, {ID: "d", Severity: 6}, {ID: "e", Severity: 0}}
	m := GapBuilder("dev1")(GapInfo{Now: now, Reason: "outbox_full", Lost: lost, Oldest: now.Add(-time.Hour), Newest: now})
	if m.Topic != wire.Topic("dev1", wire.KindGaps) {
		t.Fatalf("topic %q", m.Topic)
	}
	var g map[string]any
	if err := json.Unmarshal(m.Payload, &g); err != nil {
		t.Fatal(err)
	}
	ev, _ := g["evicted"].(map[string]any)
	want := map[string]float64{"counts": 2, "red_light_running": 1, "track_intrusion": 1}
	if len(ev) != len(want) {
		t.Fatalf("evicted %v, want %v", ev, want)
	}
	for k, n := range want {
		if ev[k] != n {
			t.Errorf("evicted[%s] = %v, want %v (all: %v)", k, ev[k], n, ev)
		}
	}
	if g["device"] != "dev1" || g["reason"] != "outbox_full" {
		t.Errorf("gap %v", g)
	}
}
