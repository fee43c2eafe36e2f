package eval

import "testing"

func TestCompare(t *testing.T) {
	truth := []Event{{"red_light_running", "nb", 10}, {"red_light_running", "nb", 20}, {"red_light_running", "sb", 30}, {"jaywalking", "x", 5}}
	got := []Event{
		{"red_light_running", "nb", 10.4}, // TP
		{"red_light_running", "nb", 10.6}, // FP: the truth at 10 is taken by the closer one
		{"red_light_running", "sb", 20},   // FP: wrong zone for the truth at 20, which is missed
		{"red_light_running", "sb", 31.5}, // FP: outside the 1 s tolerance
		{"ped_against_signal", "x", 5},    // FP of a type the truth lacks
	}
	r := Compare(truth, got, 1)
	rl := r.Types["red_light_running"]
	if rl.TP != 1 || rl.FP != 3 || rl.FN != 2 || rl.Precision != 0.25 || rl.Recall != 1.0/3 {
		t.Fatalf("red light %+v", rl)
	}
	if j := r.Types["jaywalking"]; j.FN != 1 || j.Recall != 0 || j.Precision != 1 {
		t.Fatalf("jaywalking %+v", j)
	}
	if p := r.Types["ped_against_signal"]; p.FP != 1 || p.Precision != 0 || p.Recall != 1 {
		t.Fatalf("ped %+v", p)
	}
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
