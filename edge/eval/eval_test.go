package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ev(typ, zone string, t float64) Event { return Event{Type: typ, Zone: zone, T: t} }

func win(typ, zone string, from, to float64) Event {
	return Event{Type: typ, Zone: zone, T: from, Start: &from, End: &to}
}

func is(p *float64, want float64) bool { return p != nil && *p == want }

func TestCompare(t *testing.T) {
	truth := []Event{ev("red_light_running", "nb", 10), ev("red_light_running", "nb", 20), ev("red_light_running", "sb", 30), ev("jaywalking", "x", 5)}
	got := []Event{
		ev("red_light_running", "nb", 10.4), // TP
		ev("red_light_running", "nb", 10.6), // FP: the truth at 10 is taken by the closer one
		ev("red_light_running", "sb", 20),   // FP: wrong zone for the truth at 20, which is missed
		ev("red_light_running", "sb", 31.5), // FP: outside the 1 s tolerance
		ev("ped_against_signal", "x", 5),    // FP of a type the truth lacks
	}
	r := Compare(truth, got, 1)
	rl := r.Types["red_light_running"]
	if rl.TP != 1 || rl.FP != 3 || rl.FN != 2 || !is(rl.Precision, 0.25) || !is(rl.Recall, 1.0/3) {
		t.Fatalf("red light %+v", rl)
	}
	// Nothing detected: no precision to give (null), not a perfect one.
	if j := r.Types["jaywalking"]; j.FN != 1 || !is(j.Recall, 0) || j.Precision != nil {
		t.Fatalf("jaywalking %+v", j)
	}
	// Nothing to find: no recall.
	if p := r.Types["ped_against_signal"]; p.FP != 1 || !is(p.Precision, 0) || p.Recall != nil {
		t.Fatalf("ped %+v", p)
	}
	b, _ := json.Marshal(r.Types["jaywalking"])
	if !strings.Contains(string(b), `"precision":null`) {
		t.Fatalf("JSON %s: want precision null", b)
	}
}

// A truth event with a window matches a detection anywhere in it, or within the tolerance of
// its ends; the one nearest its nominal time wins.
func TestCompareWindow(t *testing.T) {
	w := win("jaywalking", "road", 4, 6)
	w.T = 5
	for _, tc := range []struct {
		got    []Event
		tp, fp int
	}{
		{[]Event{ev("jaywalking", "road", 5.9)}, 1, 0},                                // inside
		{[]Event{ev("jaywalking", "road", 6.9)}, 1, 0},                                // after the end, within 1 s
		{[]Event{ev("jaywalking", "road", 2.9)}, 0, 1},                                // 1.1 s before the start
		{[]Event{ev("jaywalking", "road", 7.2)}, 0, 1},                                // 1.2 s after the end
		{[]Event{ev("jaywalking", "road", 4.1), ev("jaywalking", "road", 5.1)}, 1, 1}, // one match only
		{[]Event{ev("jaywalking", "kerb", 5)}, 0, 1},                                  // another zone
	} {
		r := Compare([]Event{w}, tc.got, 1)
		if s := r.Types["jaywalking"]; s.TP != tc.tp || s.FP != tc.fp {
			t.Errorf("%v: %+v, want tp %d fp %d", tc.got, s, tc.tp, tc.fp)
		}
	}
	lines := List(Truth{Violations: []Event{w}}, []Event{ev("jaywalking", "road", 4.1), ev("jaywalking", "road", 5.1)}, 1)
	for _, l := range lines {
		if l.Who == "found" && l.Matched != (l.T == 5.1) {
			t.Errorf("%+v: the detection nearest the nominal 5 s should be the match", l)
		}
	}
}

// List puts truth, non-events and detections in time order, and marks each detection that
// falls on a non-event, which is never scored.
func TestList(t *testing.T) {
	from, to := 8.0, 20.0
	truth := Truth{
		Violations: []Event{ev("jaywalking", "road", 3)},
		NonEvents: []NonEvent{
			{Event: Event{Zone: "road", T: from, Start: &from, End: &to}, What: "people helping after the crash"},
			{Event: Event{Type: "red_light_running", T: 2}, What: "a fire engine on blue lights"},
		},
	}
	got := []Event{ev("jaywalking", "road", 3.2), ev("jaywalking", "road", 12), ev("jaywalking", "kerb", 12), ev("red_light_running", "nb", 2.5), ev("jaywalking", "road", 2.5)}
	lines := List(truth, got, 1)
	var on, found int
	for i, l := range lines {
		if i > 0 && l.T < lines[i-1].T {
			t.Fatalf("not in time order: %+v", lines)
		}
		if l.Who == "found" {
			found++
			if len(l.On) > 0 {
				on++
			}
		}
	}
	if found != len(got) || len(lines) != len(got)+3 {
		t.Fatalf("lines %+v", lines)
	}
	want := map[float64]string{12: "people helping after the crash", 2.5: "a fire engine on blue lights"}
	for _, l := range lines {
		if l.Who != "found" {
			continue
		}
		w, ok := want[l.T]
		switch {
		case l.Zone == "kerb" || l.Type == "jaywalking" && l.T == 2.5 || l.T == 3.2:
			if len(l.On) != 0 {
				t.Errorf("%+v: on no non-event (another zone, another type, none near)", l)
			}
		case ok && (len(l.On) != 1 || l.On[0] != w):
			t.Errorf("%+v: want on %q", l, w)
		}
		if l.T == 3.2 && !l.Matched {
			t.Errorf("%+v: matched the truth at 3 s", l)
		}
	}
	if on != 2 {
		t.Errorf("%d detections on a non-event, want 2: %+v", on, lines)
	}
	// Non-events are not scored.
	if r := Compare(truth.Violations, got, 1); r.Types["jaywalking"].FP != 3 {
		t.Errorf("%+v", r.Types["jaywalking"])
	}
}

func TestParseTruth(t *testing.T) {
	tr, err := ParseTruth([]byte(`{"clip": "c.mp4", "method": "every frame", "labelled_by": "me",
		"violations": [{"type": "jaywalking", "zone": "road", "t": 4.4}, {"type": "jaywalking", "zone": "road", "start": 6.8, "end": 7.0, "who": "the grey coat"}],
		"non_events": [{"t": 9, "zone": "road", "what": "a cyclist"}, {"start": 10, "end": 12, "what": "a crash"}],
		"crossings": [{"zone": "zebra", "n": 5, "who": "five"}, {"zone": "zebra", "n": 1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Violations) != 2 || tr.Violations[1].T != 6.8 || *tr.Violations[1].End != 7 || tr.Method != "every frame" ||
		len(tr.NonEvents) != 2 || tr.NonEvents[1].What != "a crash" || tr.Crossings["zebra"] != 6 {
		t.Fatalf("%+v", tr)
	}
	for _, tc := range []struct{ in, want string }{
		{`[]`, "not a JSON object"},
		{`{"violations": [`, "not valid JSON"},
		{`{"violation": []}`, "violation: unknown field"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "tt": 3}]}`, "violations[0].tt: unknown field"},
		{`{"violations": [{"zone": "road", "t": 3}]}`, "violations[0].type: missing"},
		{`{"violations": [{"type": "jaywalking", "t": 3}]}`, "violations[0].zone: missing"},
		{`{"violations": [{"type": "jaywalking", "zone": "road"}]}`, "violations[0].t: missing"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "t": "3"}]}`, "violations[0].t: want seconds"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "t": -1}]}`, "violations[0].t: -1 is negative"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "start": 3}]}`, "violations[0].end: missing"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "start": 3, "end": 2}]}`, "violations[0].end: 2 is before start 3"},
		{`{"violations": [{"type": "jaywalking", "zone": "road", "t": 5, "start": 3, "end": 4}]}`, "violations[0].t: 5 is outside its window"},
		{`{"violations": [{"type": 1, "zone": "road", "t": 5}]}`, "violations[0].type: want a string"},
		{`{"non_events": [{"t": 5}]}`, "non_events[0].what: missing"},
		{`{"non_events": [{"t": 5, "what": "x", "why": "y"}]}`, "non_events[0].why: unknown field"},
		{`{"crossings": [{"zone": "z", "n": 1.5}]}`, "crossings[0].n: want a whole number"},
		{`{"crossings": [{"n": 1}]}`, "crossings[0].zone: missing"},
		{`{"crossings": [{"zone": "z", "n": -1}]}`, "crossings[0].n: -1 is negative"},
		{`{"start": "yesterday"}`, "start: want an RFC 3339 time"},
		{`{"method": 3}`, "method: want a string"},
	} {
		if _, err := ParseTruth([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

// Every truth file the project ships still parses.
func TestShippedTruthFiles(t *testing.T) {
	files, _ := filepath.Glob("../../configs/scenes/real/*.truth.json")
	if len(files) == 0 {
		t.Fatal("no truth files in configs/scenes/real")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseTruth(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzParseTruth(f *testing.F) {
	f.Add([]byte(`{"violations": [{"type": "jaywalking", "zone": "road", "start": 1, "end": 2}], "crossings": [{"zone": "z", "n": 1}]}`))
	f.Add([]byte(`{"non_events": [{"t": 5, "what": "x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTruth(b)
		if err != nil {
			return
		}
		for _, e := range tr.Violations {
			if e.Type == "" || e.Zone == "" || e.T < 0 || (e.Start == nil) != (e.End == nil) || e.Start != nil && *e.End < *e.Start {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

func TestCompareCounts(t *testing.T) {
	var r Report
	r.CompareCounts(nil, map[string]int{"a": 3})
	if r.Counts != nil {
		t.Fatalf("no truth counts: %+v", r.Counts)
	}
	r.CompareCounts(map[string]int{"a": 10, "b": 0, "c": 4}, map[string]int{"a": 9, "b": 2})
	if c := r.Counts["a"]; c.Counted != 9 || c.Error == nil || *c.Error != -0.1 {
		t.Fatalf("a: %+v", c)
	}
	if c := r.Counts["b"]; c.Counted != 2 || c.Error != nil {
		t.Fatalf("b (truth 0): %+v", c)
	}
	if c := r.Counts["c"]; c.Counted != 0 || *c.Error != -1 {
		t.Fatalf("c (none counted): %+v", c)
	}
}
