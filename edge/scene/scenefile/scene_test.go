package scenefile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/edge/scene"
)

func TestShippedScenes(t *testing.T) {
	files, _ := filepath.Glob("../../../configs/scenes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenes in configs/scenes")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	s, err := Load("../../../configs/scenes/synth-intersection.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b)
	if err != nil || len(s2.Approaches) != len(s.Approaches) || !slices.Equal(s2.Approaches[0].StopLine, s.Approaches[0].StopLine) {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}

func TestRejects(t *testing.T) {
	good, _ := os.ReadFile("../../../configs/scenes/synth-intersection.yaml")
	cases := []struct{ name, from, to, want string }{
		{"version", "version: 1", "version: 2", "version: must be 1"},
		{"camera", "camera: synth-cam-1", "camera: 'cam 1'", "camera: character ' '"},
		{"outside frame", "[0.5031, 0.65]", "[1.5, 0.65]", "approaches[0].stop_line[0]: point [1.5, 0.65] is outside the frame"},
		{"direction along line", "direction: [0, -1]", "direction: [1, 0]", "approaches[0].direction: runs along the stop line"},
		{"unknown signal", "signal: nb-head", "signal: east", `approaches[0].signal: no signal "east"`},
		{"grace", "grace_s: 0.5", "grace_s: -1", "grace_s: must be within 0..5"},
		{"front", "grace_s: 0.5", "grace_s: 0.5\n      front: 1.5", "approaches[0].front: must be within 0..1"},
		{"confirm line behind the stop line", "grace_s: 0.5", "grace_s: 0.5\n      confirm_line: [[0.5, 0.7], [0.62, 0.7]]", "approaches[0].confirm_line: must lie past the stop line"},
		{"confirm line across the stop line", "grace_s: 0.5", "grace_s: 0.5\n      confirm_line: [[0.5, 0.6], [0.62, 0.7]]", "approaches[0].confirm_line: must lie past the stop line"},
		{"confirm line outside", "grace_s: 0.5", "grace_s: 0.5\n      confirm_line: [[0.5, -0.6], [0.62, 0.6]]", "approaches[0].confirm_line[0]: point [0.5, -0.6] is outside the frame"},
		{"signal kind", "kind: vehicle", "kind: tram", "signals[0].kind: must be vehicle, pedestrian or berth"},
		{"unknown key", "version: 1", "version: 1\nstoplines: []", "field stoplines not found"},
		{"bad point", "[0.5031, 0.65]", "[0.5]", "a point is [x, y]"},
		{"process width", "process_width: 640", "process_width: 10", "detector.process_width"},
		{"signal with no source", "      kind: vehicle\n      region:\n        - [0.6406, 0.2208]\n        - [0.675, 0.3583]\n", "      kind: vehicle\n", "signals[0]: needs a source"},
		{"signal plan", "    - id: nb-head\n", "    - id: nb-head\n      plan: {cycle_s: 20, green_s: 15, amber_s: 5}\n", "signals[0].plan: green_s > 0 and amber_s >= 0 must leave red time"},
		{"signal preference", "    - id: nb-head\n", "    - id: nb-head\n      prefer: [camera, radar]\n", "signals[0].prefer[1]: must be camera, feed or plan"},
		{"roadway polygon", "      polygon:\n        - [0.375, 0.5833]\n        - [0.625, 0.5833]\n", "      polygon:\n", "roadways[0].polygon: needs at least 3 points"},
		{"dnn with a path for a model", "kind: classical", "kind: dnn\n    model: ../weights", "detector.model: a model name"},
		{"stationary", "stationary_s: 30", "stationary_s: 0", "detector.stationary_s"},
		{"stride", "stationary_s: 30", "stationary_s: 30\n    stride: 0", "detector.stride: must be within 1..4"},
		{"count line along its direction", "version: 1", "version: 1\ncount_lines: [{id: mid, site: s1, line: [[0.1, 0.5], [0.3, 0.5]], direction: [1, 0]}]",
			"count_lines[0].direction: runs along the line"},
		{"count line's zone taken", "version: 1", "version: 1\ncount_lines: [{id: nb-stop, site: s1, line: [[0.1, 0.5], [0.3, 0.5]], direction: [0, 1]}]",
			`count_lines[0].id: duplicate zone "nb-stop"`},
		{"count line outside", "version: 1", "version: 1\ncount_lines: [{id: mid, site: s1, line: [[0.1, 0.5], [1.3, 0.5]], direction: [0, 1]}]",
			"count_lines[0].line[1]: point [1.3, 0.5] is outside the frame"},
		{"count line with no site", "version: 1", "version: 1\ncount_lines: [{id: mid, line: [[0.1, 0.5], [0.3, 0.5]], direction: [0, 1]}]",
			"count_lines[0].site"},
		{"count line's leg", "version: 1", "version: 1\ncount_lines: [{id: mid, site: s1, leg: 'north bound', line: [[0.1, 0.5], [0.3, 0.5]], direction: [0, 1]}]",
			"count_lines[0].leg"},
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
		})
	}
	platform, _ := os.ReadFile("../../../configs/scenes/synth-platform.yaml")
	if _, err := Parse([]byte(strings.Replace(string(platform), "dwell_s: 3", "dwell_s: -1", 1))); err == nil || !strings.Contains(err.Error(), "platform_edges[0].dwell_s") {
		t.Errorf("negative dwell: %v", err)
	}
	// A platform edge's berth must name a signal of kind berth.
	for _, c := range []struct{ signals, berth, want string }{
		{"", "doors", `platform_edges[0].berth: no signal "doors" in signals`},
		{"signals:\n  - {id: doors, kind: vehicle, feed: true}\n", "doors", `platform_edges[0].berth: signal "doors" is a vehicle signal`},
		{"signals:\n  - {id: doors, kind: berth, feed: true}\n", "doors", ""},
	} {
		b := strings.Replace(string(platform), "      dwell_s: 3", "      dwell_s: 3\n      berth: "+c.berth, 1)
		b = strings.Replace(b, "platform_edges:", c.signals+"platform_edges:", 1)
		_, err := Parse([]byte(b))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("berth signal: %v", err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("berth %q with %q: got %v, want %q", c.berth, c.signals, err, c.want)
		}
	}
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := os.ReadFile("../../../configs/scenes/synth-intersection.yaml")
	f.Add(good)
	rich, _ := os.ReadFile("../testdata/rich.yaml")
	f.Add(rich)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed scene does not validate: %v", err)
		}
	})
}

// TestDefaultDetector: a scene without a detector section gets the DNN detector and its model,
// with nothing to warn about; one that sets detector fields lists them for check-config.
func TestDefaultDetector(t *testing.T) {
	geometry := "version: 1\ncamera: c1\ncount_lines: [{id: mid, site: s1, line: [[0.1, 0.5], [0.9, 0.5]], direction: [0, 1]}]\n"
	s, err := Parse([]byte(geometry))
	if err != nil {
		t.Fatal(err)
	}
	if s.Detector.Kind != "dnn" || s.Detector.Model != scene.DefaultModel || len(s.Overrides) != 0 {
		t.Errorf("geometry only: detector %+v, overrides %v; want dnn %s and none", s.Detector, s.Overrides, scene.DefaultModel)
	}
	s, err = Parse([]byte(geometry + "detector: {kind: classical, min_area: 0.001}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Detector.Kind != "classical" || s.Detector.Model != "" || s.Detector.MinArea != 0.001 || s.Detector.ModelWidth != 320 {
		t.Errorf("classical: detector %+v", s.Detector)
	}
	if want := []string{"detector.kind", "detector.min_area"}; !slices.Equal(s.Overrides, want) {
		t.Errorf("overrides %v, want %v", s.Overrides, want)
	}
}
