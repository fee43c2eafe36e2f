package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The golden payloads read by an independent decoder (encoding/json into plain maps) and
// compared with values written here by hand, field by field: '-update' rewrites the golden files
// from the encoder, so TestGolden alone would accept any change the encoder makes. A field
// renamed, dropped, added, retyped or re-encoded (a time zone, a float format) fails here.
func TestGoldenByHand(t *testing.T) {
	want := map[string]map[string]any{
		"event": {
			"v": 1.0, "id": "cam-1-1795595400125-rl-nb-t7", "device": "edge-1", "camera": "cam-1",
			"site": "main-st-nb", "zone": "nb-stop", "type": "red_light_running",
			"time": "2026-11-25T08:30:00.125Z", "class": "car", "confidence": 0.9,
			"signal": map[string]any{"source": "camera", "state": "red", "time_into_red_s": 2.5, "onset_seen": true},
		},
		"counts": {
			"v": 1.0, "id": "cam-1-cnt-nb-stop-1795595400000", "device": "edge-1", "camera": "cam-1",
			"site": "main-st-nb", "zone": "nb-stop", "start": "2026-11-25T08:30:00Z", "period_s": 60.0,
			"counts": map[string]any{"car": 12.0, "bus": 1.0},
		},
		"counts-movements": {
			"v": 1.0, "id": "cam-1-c0-1795595400000", "device": "edge-1", "camera": "cam-1",
			"site": "main-st-nb", "zone": "nb-stop", "start": "2026-11-25T08:30:00Z", "period_s": 60.0,
			"counts":    map[string]any{"car": 12.0, "bus": 1.0},
			"movements": map[string]any{"south>north": map[string]any{"car": 7.0, "bus": 1.0}, "south>east": map[string]any{"car": 3.0}},
		},
		"status": {
			"v": 1.0, "device": "edge-1", "online": true, "time": "2026-11-25T08:30:00.125Z",
			"backlog": 3.0, "oldest_pending_s": 1.5, "software": "crosswatch-edge dev",
		},
		"status-view-mismatch": {
			"v": 1.0, "device": "edge-1", "online": true, "time": "2026-11-25T08:30:00.125Z",
			"backlog": 0.0, "oldest_pending_s": 0.0, "software": "crosswatch-edge dev", "view_changes": 1.0,
			"last_view_change": "2026-11-25T08:29:20.125Z", "view_mismatch_since": "2026-11-25T08:29:20.125Z",
		},
		"status-cameras": {
			"v": 1.0, "device": "edge-1", "online": true, "time": "2026-11-25T08:30:00.125Z",
			"backlog": 0.0, "oldest_pending_s": 0.0, "software": "crosswatch-edge dev",
			"cameras": []any{
				map[string]any{"id": "cam-1", "state": "up", "decoded_fps": 29.97, "analysed_fps": 15.0,
					"last_frame": "2026-11-25T08:30:00.095Z", "reconnects": 1.0, "signals": []any{
						map[string]any{"id": "nb-main", "state": "red", "source": "camera"},
						map[string]any{"id": "ped-east", "state": "unknown", "source": "fixed"}}},
				map[string]any{"id": "cam-2", "state": "reconnecting", "decoded_fps": 0.0, "analysed_fps": 0.0,
					"last_frame": "2026-11-25T08:29:56.125Z", "reconnects": 2.0, "view_changes": 1.0, "view_mismatch": true,
					"error": "source dropped; reconnecting"},
			},
		},
		"gap": {
			"v": 1.0, "id": "gap-edge-1-1795595400125", "device": "edge-1", "time": "2026-11-25T08:30:00.125Z",
			"reason": "outbox_full", "evicted": map[string]any{"counts": 40.0, "jaywalking": 2.0},
			"oldest": "2026-11-25T07:30:00.125Z", "newest": "2026-11-25T07:40:00.125Z",
		},
		"frame-request": {"v": 1.0, "camera": "cam-1", "time": "2026-11-25T08:30:00.125Z"},
		"ack": {
			"v":         1.0,
			"committed": []any{"a", "b"},
			"rejected":  []any{map[string]any{"id": "c", "reason": `unknown site "x"`}},
		},
		"ack-codes": {
			"v":         1.0,
			"committed": []any{"a"},
			"rejected": []any{
				map[string]any{"id": "c", "reason": `unknown site "x"`, "code": "unknown_site", "site": "x", "camera": "cam-1"},
				map[string]any{"id": "d", "reason": `camera "cam-9" is not one of site "main-st-nb"'s cameras`, "code": "unknown_camera",
					"site": "main-st-nb", "camera": "cam-9"},
			},
		},
	}
	for name, fields := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("the golden file is not JSON: %v", err)
			}
			for k, v := range fields {
				g, ok := got[k]
				if !ok {
					t.Errorf("field %q missing", k)
				} else if !reflect.DeepEqual(g, v) {
					t.Errorf("field %q = %v (%T), want %v (%T)", k, g, g, v, v)
				}
			}
			for k := range got {
				if _, ok := fields[k]; !ok {
					t.Errorf("unexpected field %q = %v", k, got[k])
				}
			}
		})
	}
	if len(want) != len(goldenPayloads()) {
		t.Errorf("%d golden payloads, %d written out here", len(goldenPayloads()), len(want))
	}
}
