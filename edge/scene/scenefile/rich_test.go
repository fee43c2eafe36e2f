package scenefile

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// testdata/rich.yaml uses every richer field: polylines, combined heads, lanes, arrows, an
// unknown head and a head per direction of crossing.
func TestRichLoads(t *testing.T) {
	s, err := Load("../testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := s.Approaches[0]
	if len(a.StopLine) != 3 || len(a.ConfirmLine) != 3 || len(a.Lanes) != 2 || len(a.Heads()) != 2 || len(a.Lanes[1].Heads()) != 2 {
		t.Fatalf("approach %+v", a)
	}
	if got := s.Approaches[1].Heads(); len(got) != 1 || got[0] != "sb-back" {
		t.Fatalf("heads of a signal: %v", got)
	}
	if s.Signals[2].Arrow != "left" || s.Signals[4].State != "unknown" || len(s.Crosswalks[0].Signals) != 2 {
		t.Fatalf("signals %+v, crosswalk %+v", s.Signals, s.Crosswalks[0])
	}
	b, _ := Marshal(s)
	if _, err := Parse(b); err != nil {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}

// Every bad input in a richer scene is one problem naming its field.
func TestRichRejects(t *testing.T) {
	good, err := os.ReadFile("../testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, from, to, want string }{
		{"unknown signal in signals", "signals: [nb-near, nb-far]", "signals: [nb-near, x]", `approaches[0].signals[1]: no signal "x" in signals`},
		{"unknown lane signal", "signal: nb-left}", "signal: west}", `approaches[0].lanes[0].signal: no signal "west" in signals`},
		{"unknown signal in a lane's signals", "signals: [nb-near, nb-right]", "signals: [nb-near, nb-rihgt]", `approaches[0].lanes[1].signals[1]: no signal "nb-rihgt" in signals`},
		{"pedestrian head for an approach", "signals: [nb-near, nb-far]", "signals: [nb-near, walk-east]", `approaches[0].signals[1]: signal "walk-east" is a pedestrian signal`},
		{"signal and signals", "signals: [nb-near, nb-far]", "signal: nb-near\n    signals: [nb-far]", "approaches[0].signals: give signal or signals, not both"},
		{"no head at all", "    signal: sb-back\n", "", "approaches[1].signal: an approach needs a signal, signals or lanes"},
		{"stop line of one point", "stop_line: [[0.40, 0.30], [0.60, 0.30]]", "stop_line: [[0.40, 0.30]]", "approaches[1].stop_line: needs at least 2 points, got 1"},
		{"stop line missing", "    stop_line: [[0.40, 0.30], [0.60, 0.30]]\n", "", "approaches[1].stop_line: needs at least 2 points, got 0"},
		{"degenerate segment", "[0.60, 0.30]]", "[0.60, 0.30], [0.605, 0.30]]", "approaches[1].stop_line[2]: is within 0.01 of the point before it"},
		{"direction along one segment", "[0.60, 0.30]]", "[0.60, 0.30], [0.62, 0.20]]", "approaches[1].direction: runs along the stop line's segment 2"},
		{"stop line turning back", "[0.60, 0.30]]", "[0.60, 0.30], [0.50, 0.32]]", "approaches[1].stop_line[2]: turns back: a line may bend by less than 90°"},
		// A loop bending 60° at each point, every segment crossed by the direction.
		{"stop line crossing itself", "stop_line: [[0.40, 0.30], [0.60, 0.30]]", "stop_line: [[0.25, 0.5], [0.5, 0.5], [0.6, 0.33], [0.5, 0.16], [0.3, 0.16], [0.2, 0.33], [0.35, 0.6]]",
			"approaches[1].stop_line: crosses itself (segments 1 and 6)"},
		{"a head twice", "signals: [nb-near, nb-far]", "signals: [nb-near, nb-near]", `approaches[0].signals[1]: names "nb-near" twice`},
		{"bent point outside", "[0.60, 0.30]]", "[0.60, 0.30], [1.70, 0.36]]", "approaches[1].stop_line[2]: point [1.7, 0.36] is outside the frame"},
		{"confirm line across a bend", "confirm_line: [[0.40, 0.40], [0.60, 0.40], [0.70, 0.44]]", "confirm_line: [[0.40, 0.40], [0.60, 0.40], [0.70, 0.70]]", "approaches[0].confirm_line: must lie past the stop line"},
		// Both ends past a stop line bent into a V toward the traffic, the segment through the V.
		{"confirm line through the stop line", "stop_line: [[0.40, 0.30], [0.60, 0.30]]", "stop_line: [[0.40, 0.30], [0.50, 0.35], [0.60, 0.30]]\n    confirm_line: [[0.40, 0.34], [0.60, 0.34]]", "approaches[1].confirm_line: must lie past the stop line"},
		{"confirm line of one point", "confirm_line: [[0.40, 0.40], [0.60, 0.40], [0.70, 0.44]]", "confirm_line: [[0.40, 0.40]]", "approaches[0].confirm_line: needs at least 2 points, got 1"},
		{"lane outside its stop line", "stretch: [[0.40, 0.62], [0.48, 0.62]]", "stretch: [[0.40, 0.62], [0.48, 0.70]]", "approaches[0].lanes[0].stretch[1]: point [0.48, 0.7] is 0.08 off the stop line"},
		{"lane beyond the line's end", "stretch: [[0.40, 0.62], [0.48, 0.62]]", "stretch: [[0.30, 0.62], [0.48, 0.62]]", "approaches[0].lanes[0].stretch[0]: point [0.3, 0.62] is 0.1 off the stop line"},
		{"lane of no length", "stretch: [[0.40, 0.62], [0.48, 0.62]]", "stretch: [[0.40, 0.62], [0.405, 0.62]]", "approaches[0].lanes[0].stretch: needs 2 distinct points along the stop line"},
		{"lanes overlap", "stretch: [[0.60, 0.62], [0.70, 0.66]]", "stretch: [[0.45, 0.62], [0.70, 0.66]]", "approaches[0].lanes[1].stretch: overlaps lanes[0]"},
		{"lane with no head", ", signal: nb-left}", "}", "approaches[0].lanes[0].signal: a lane needs a signal or signals of its own"},
		{"unknown kind", "{id: nb-far, kind: vehicle", "{id: nb-far, kind: tram", `signals[1].kind: must be vehicle, pedestrian or berth, got "tram"`},
		{"unknown arrow", "arrow: left,", "arrow: up,", `signals[2].arrow: must be left, right, straight or u_turn, or several joined by + (straight+right), got "up"`},
		{"unknown arrow in a combination", "arrow: straight+right", "arrow: straight+rigth", `signals[3].arrow: must be left, right, straight or u_turn`},
		{"arrow twice", "arrow: straight+right", "arrow: right+right", `signals[3].arrow: names right twice`},
		{"arrow on a pedestrian head", "{id: walk-west, kind: pedestrian,", "{id: walk-west, kind: pedestrian, arrow: left,", `signals[6].arrow: only a vehicle head has arrows`},
		{"unknown state", "state: unknown}", "state: dark}", `signals[4].state: must be unknown or absent, got "dark"`},
		{"no state and no source", ", state: unknown}", "}", "signals[4]: needs a source"},
		{"crossing head unknown", "signal: walk-west}", "signal: walk-north}", `crosswalks[0].signals[1].signal: no signal "walk-north" in signals`},
		{"crossing head with no direction", "{direction: [-1, 0], signal: walk-west}", "{signal: walk-west}", "crosswalks[0].signals[1].direction: needs a non-zero [dx, dy]"},
		{"crossing heads of one direction", "{direction: [-1, 0], signal: walk-west}", "{direction: [1, 0.1], signal: walk-west}", "crosswalks[0].signals[1].direction: is the direction of signals[0]"},
		{"crosswalk signal and signals", "    signals:\n      - {direction: [1, 0]", "    signal: walk-east\n    signals:\n      - {direction: [1, 0]", "crosswalks[0].signals: give signal or signals, not both"},
		{"count line of one point", "line: [[0.05, 0.90], [0.15, 0.85], [0.25, 0.85]]", "line: [[0.05, 0.90]]", "count_lines[0].line: needs at least 2 points, got 1"},
		{"count line along a segment", "[0.15, 0.85], [0.25, 0.85]]", "[0.15, 0.85], [0.15, 0.75]]", "count_lines[0].direction: runs along the line's segment 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := strings.Replace(string(good), c.from, c.to, 1)
			if b == string(good) {
				t.Fatalf("%q not in the scene", c.from)
			}
			_, err := Parse([]byte(b))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if n := len(problem.FindAllString(err.Error(), -1)); n != 1 {
				t.Fatalf("%d problems, want one: %v", n, err)
			}
		})
	}
}

// problem matches the start of each problem: its field path.
var problem = regexp.MustCompile(`(^|; )[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: `)
