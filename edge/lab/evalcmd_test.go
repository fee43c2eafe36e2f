package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/edge/eval"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/internal/synthclip"
)

// eval --json --list gives the scores and the list in one run; a type with nothing detected has
// precision null (– in text); a truth window matches a detection inside it; a detection on a
// non-event is listed with it and still scored as false.
func TestEvalJSONAndList(t *testing.T) {
	dir := synthclip.Dir(t)
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth map[string]any
	json.Unmarshal(b, &truth)
	vs := truth["violations"].([]any)
	if len(vs) < 2 {
		t.Fatalf("synthetic truth with %d violations", len(vs))
	}
	// The first violation as a window that starts 1.5 s before it: matched only through the
	// window (1.5 s is outside the 1 s tolerance of its start).
	first := vs[0].(map[string]any)
	at := first["t"].(float64)
	delete(first, "t")
	first["start"], first["end"] = at-1.5, at+0.2
	// The second one is no longer truth but a non-event: its detection is a false positive on it.
	second := vs[1].(map[string]any)
	truth["violations"] = append([]any{first, map[string]any{"type": "track_intrusion", "zone": "nowhere", "t": 1.0}}, vs[2:]...)
	truth["non_events"] = []any{map[string]any{"t": second["t"], "zone": second["zone"], "what": "a test non-event"}}
	truth["method"] = "rendered"
	tf := filepath.Join(t.TempDir(), "truth.json")
	b, _ = json.Marshal(truth)
	os.WriteFile(tf, b, 0o644)

	args := []string{"eval", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--truth", tf, "--list"}
	code, stdout, stderr := run(append(args, "--json")...)
	if code != 0 {
		t.Fatal(stderr)
	}
	var r struct {
		eval.Report
		List []eval.Line `json:"list"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if ti := r.Types["track_intrusion"]; ti.FN != 1 || ti.Precision != nil || ti.Recall == nil || *ti.Recall != 0 {
		t.Errorf("track_intrusion %+v: want fn 1, precision null, recall 0", ti)
	}
	if !strings.Contains(stdout, `"precision":null`) {
		t.Errorf("no precision null in %s", stdout)
	}
	var windowMatched, onNonEvent bool
	for _, l := range r.List {
		if l.Who == "truth" && l.Start != nil && l.Matched {
			windowMatched = true
		}
		if l.Who == "found" && len(l.On) == 1 && l.On[0] == "a test non-event" && !l.Matched {
			onNonEvent = true
		}
	}
	if !windowMatched || !onNonEvent || len(r.List) < len(vs) {
		t.Errorf("list: window matched %v, detection on the non-event %v: %+v", windowMatched, onNonEvent, r.List)
	}
	typ := second["type"].(string)
	if s := r.Types[typ]; s.FP < 1 {
		t.Errorf("%s %+v: the detection on the non-event is still a false positive", typ, s)
	}

	code, text, stderr := run(args...)
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(text, "precision     –") || !strings.Contains(text, "on a non-event: a test non-event") || !strings.Contains(text, "non_event") {
		t.Errorf("text report:\n%s", text)
	}
}

// A truth file with a mistake is refused with one line naming the field.
func TestEvalBadTruth(t *testing.T) {
	dir := synthclip.Dir(t)
	for _, tc := range []struct{ truth, want string }{
		{`{"violations": [{"type": "jaywalking", "zone": "road", "tt": 3}]}`, "violations[0].tt: unknown field"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "start": 3, "end": 1}]}`, "violations[0].end: 1 is before start 3"},
		{`{"non_events": [{"t": 3}]}`, "non_events[0].what: missing"},
	} {
		tf := filepath.Join(t.TempDir(), "truth.json")
		os.WriteFile(tf, []byte(tc.truth), 0o644)
		code, _, stderr := run("eval", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--truth", tf)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want one line with %q", tc.truth, code, stderr, tc.want)
		}
	}
}
