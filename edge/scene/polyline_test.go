package scene

import "testing"

// A point is past a polyline by the side of its nearest segment; beyond the ends, by the end
// segment's side.
func TestPolylinePast(t *testing.T) {
	// A bar bending back toward the traffic: y 0.6 from x 0.2 to 0.5, then up to [0.8, 0.4].
	l := Polyline{{0.2, 0.6}, {0.5, 0.6}, {0.8, 0.4}}
	up := Point{0, -1}
	for _, c := range []struct {
		name string
		p    Point
		past bool
	}{
		{"before the first segment", Point{0.3, 0.65}, false},
		{"past the first segment", Point{0.3, 0.55}, true},
		{"beyond the first end, past", Point{0.05, 0.58}, true},
		{"beyond the first end, before", Point{0.05, 0.62}, false},
		{"past the second segment", Point{0.7, 0.45}, true},
		{"before the second segment, above the first's line", Point{0.7, 0.55}, false},
		{"beyond the last end, past", Point{0.9, 0.3}, true},
		{"beyond the last end, before", Point{0.95, 0.4}, false},
		{"inside the bend", Point{0.52, 0.58}, true},
		{"outside the bend", Point{0.52, 0.62}, false},
	} {
		if got := l.past(c.p, up); got != c.past {
			t.Errorf("%s: %v past = %v, want %v", c.name, c.p, got, c.past)
		}
	}
	if d, along := l.locate(Point{0.65, 0.5}); d > 1e-9 || along < 0.4799 || along > 0.4804 {
		t.Errorf("locate on the second segment: %v off, %v along, want 0 and 0.48", d, along)
	}
}
