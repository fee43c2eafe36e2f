package scenefile

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// shippedScenes is every scene file in the repository: the synthetic ones, the real clips'
// (dnn and classical) and the rich test scene.
func shippedScenes(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, g := range []string{"../../../configs/scenes/*.yaml", "../../../configs/scenes/real/*.yaml", "../testdata/*.yaml"} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	if len(paths) < 20 {
		t.Fatalf("found only %d scene files", len(paths))
	}
	return paths
}

// Every shipped scene goes to JSON and back to the same scene: the same values once loaded,
// the same keys in the same order, no default added (a scene that leaves detector out
// still does), and the JSON of the round trip equal byte for byte.
func TestJSONRoundTripEveryShippedScene(t *testing.T) {
	for _, path := range shippedScenes(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			j, err := ToJSON(text)
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromJSON(j)
			if err != nil {
				t.Fatalf("FromJSON: %v\n%s", err, j)
			}
			got, err := Parse(back)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the round trip changed the scene:\n got %+v\nwant %+v\n%s", got, want, back)
			}
			if strings.Contains(string(text), "detector:") != strings.Contains(string(back), "detector:") {
				t.Fatalf("detector: present in the file %v, after the round trip %v", strings.Contains(string(text), "detector:"), !strings.Contains(string(text), "detector:"))
			}
			j2, err := ToJSON(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(j, j2) {
				t.Fatalf("JSON after the round trip differs:\n%s\n%s", j, j2)
			}
		})
	}
}

// By hand: the keys' order, numbers as written, a string that reads as another type in YAML
// kept a string, points on one line.
func TestJSONByHand(t *testing.T) {
	text := "version: 1\ncamera: \"true\"\nsignals:\n  - {id: \"1\", kind: vehicle, region: [[0.1, 0.1], [0.2, 0.25]], feed: true}\n" +
		"approaches:\n  - id: nb\n    site: s\n    stop_line: [[0.1, 0.6], [0.9, 0.6]]\n    direction: [0, -1]\n    signal: \"1\"\n    grace_s: 0.5\n"
	j, err := ToJSON([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"camera":"true","signals":[{"id":"1","kind":"vehicle","region":[[0.1,0.1],[0.2,0.25]],"feed":true}],` +
		`"approaches":[{"id":"nb","site":"s","stop_line":[[0.1,0.6],[0.9,0.6]],"direction":[0,-1],"signal":"1","grace_s":0.5}]}`
	if string(j) != want {
		t.Fatalf("ToJSON:\n got %s\nwant %s", j, want)
	}
	y, err := FromJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`camera: "true"`, `stop_line: [[0.1, 0.6], [0.9, 0.6]]`, "direction: [0, -1]", `signal: "1"`, "grace_s: 0.5"} {
		if !strings.Contains(string(y), line) {
			t.Errorf("FromJSON's YAML lacks %q:\n%s", line, y)
		}
	}
}

// A scene drawn outside the frame, or not a scene at all, is an error naming the field.
func TestFromJSONErrors(t *testing.T) {
	good := `{"version":1,"camera":"c","signals":[{"id":"g","kind":"vehicle","feed":true}],` +
		`"approaches":[{"id":"nb","site":"s","stop_line":[[0.1,0.6],[0.9,0.6]],"direction":[0,-1],"signal":"g","grace_s":0.5}]}`
	if _, err := FromJSON([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, json, want string }{
		{"outside the frame", strings.Replace(good, "[0.9,0.6]", "[1.2,0.6]", 1), "approaches[0].stop_line[1]: point [1.2, 0.6] is outside the frame"},
		{"unknown field", strings.Replace(good, `"grace_s"`, `"grace"`, 1), "field grace not found"},
		{"a point of one number", strings.Replace(good, "[0.9,0.6]", "[0.9]", 1), "a point is [x, y], not [0.9]"},
		{"not an object", `[1, 2]`, "scene JSON: an object"},
		{"two values", good + " {}", "one object, nothing after it"},
		{"bad JSON", `{"version": 1,`, "scene JSON:"},
	} {
		if _, err := FromJSON([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
