//go:build matprofile

package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

func dirExists(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }

// modelsPresent reports whether dir is an installed models directory.
func modelsPresent(dir string) bool {
	_, err := vision.OpenModels(dir)
	return err == nil
}

// Run with -tags matprofile ('make test' does): every gocv.Mat that eval, evidence and synth
// create is closed again. Eval runs the whole frame path (decode, gate, detector, tracker,
// rules); synth renders the clips. The synthetic clips' people are blocks no person detector
// calls a person, and eval makes no evidence, so a real clip with people then runs through the
// pipeline with the anonymiser: its events' evidence pixelates the tracked and detected people
// (the Mats of pixelate and of the DNN detector are counted too).
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
	models, videos := "../../models/files", "../../../shared/videos"
	if !modelsPresent(models) || !dirExists(videos) {
		if os.Getenv("CI") != "" {
			t.Fatalf("the leak check of the evidence path needs the models (%v) and ../shared/videos (%v)", modelsPresent(models), dirExists(videos))
		}
		t.Logf("models installed %v, ../shared/videos there %v: the evidence path (pixelation) is not checked for leaks", modelsPresent(models), dirExists(videos))
	} else {
		a, closeA, err := vision.OpenEvidenceAnonymiser(models)
		if err != nil {
			t.Fatal(err)
		}
		ev, stills := evidenceAndStills(t, filepath.Join(videos, "general_metroeyes_subway_corridor.mp4"), models, a, func(f *camera.File) vision.Source {
			return &pastedFaces{src: f, until: 3 * time.Second}
		}, time.Second)
		if len(stills) == 0 {
			t.Fatal("no reference still made: the still path is not checked for leaks")
		}
		closeA()
		if len(ev) == 0 {
			t.Fatal("no event with evidence on the corridor clip: nobody was pixelated")
		}
		t.Logf("%d events with evidence (people pixelated) on a real clip", len(ev))
	}
	t.Logf("%s of each kind replayed: %d Mats open", dur, gocv.MatProfile.Count())
	if n := gocv.MatProfile.Count(); n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}
