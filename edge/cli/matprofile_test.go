//go:build matprofile

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/synth"
)

// Run with -tags matprofile ('make test' does): every gocv.Mat that eval, evidence and synth
// create is closed again. Eval runs the whole frame path (decode, gate, detector, tracker,
// rules) and, with the models installed, the evidence images; synth renders the clips.
func TestNoMatLeaks(t *testing.T) {
	if n := gocv.MatProfile.Count(); n != 0 {
		t.Fatalf("%d Mats open before the test", n)
	}
	// CROSSWATCH_LEAK_DURATION=10m (make bench) replays ten minutes of each kind.
	dur := os.Getenv("CROSSWATCH_LEAK_DURATION")
	if dur == "" {
		dur = "20s"
	}
	for _, kind := range []string{synth.Intersection, synth.Platform} {
		dir := t.TempDir()
		if code, _, stderr := run("synth", "--kind", kind, "--seed", "4", "--duration", dur, "--out", dir); code != 0 {
			t.Fatal(stderr)
		}
		if code, _, stderr := run("eval", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
			"--truth", filepath.Join(dir, "truth.json")); code != 0 {
			t.Fatal(stderr)
		}
		// scene draw with the view reference it writes (the view check's Mats), and eval using it.
		if code, _, stderr := run("scene", "draw", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
			"--out", filepath.Join(dir, "f.png"), "--at", "3s", "--tracks", "--write-reference"); code != 0 {
			t.Fatal(stderr)
		}
		if code, _, stderr := run("eval", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
			"--truth", filepath.Join(dir, "truth.json")); code != 0 {
			t.Fatal(stderr)
		}
		if models := "../../models/files"; modelsPresent(models) {
			if code, _, stderr := run("evidence", "--clip", filepath.Join(dir, synth.ClipName), "--out", t.TempDir(), "--every", "2s", "--models", models); code != 0 {
				t.Fatal(stderr)
			}
		}
	}
	t.Logf("%s of each kind replayed: %d Mats open", dur, gocv.MatProfile.Count())
	if n := gocv.MatProfile.Count(); n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}
