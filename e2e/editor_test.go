package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// TestSceneEditorInBrowser drives the registry page and the scene editor in chromium
// (aggregator/dashboard/browsertest/editor.test.mjs) against the binary: an admin creates a
// site and a camera, draws a signal head and a stop line with the mouse, flips its direction,
// saves and reads it back from the API; a point dragged outside the frame and a line of one
// point are refused, naming the field, and change nothing; a viewer cannot save.
func TestSceneEditorInBrowser(t *testing.T) {
	node, chromium, testDir := browserTools(t)
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"), "--config", writeConfig(t, ""))
	shots := t.TempDir()
	if *updateScreenshots {
		shots, _ = filepath.Abs("../docs/screenshots")
	}
	// A 4:3 reference frame for the editor's frame path (served to the page by the browser test
	// in place of GET /api/v1/registry/cameras/{id}/frame.jpg).
	frame := filepath.Join(t.TempDir(), "frame.jpg")
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(60 + x/8), uint8(80 + y/8), 90, 255})
		}
	}
	var w bytes.Buffer
	if err := jpeg.Encode(&w, img, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(frame, w.Bytes(), 0o644)
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "editor.test.mjs"))
	cmd.Dir = testDir
	cmd.Env = append(os.Environ(), "CROSSWATCH_URL="+agg.API, "CROSSWATCH_SCREENSHOTS="+shots, "CHROMIUM="+chromium, "CROSSWATCH_FRAME_JPEG="+frame,
		"CROSSWATCH_ADMIN_USER=ada", "CROSSWATCH_ADMIN_PASSWORD="+agg.AddUser(t, "ada", "admin"),
		"CROSSWATCH_VIEWER_USER=vic", "CROSSWATCH_VIEWER_PASSWORD="+agg.AddUser(t, "vic", "viewer"),
		"CROSSWATCH_TOKEN="+agg.Token, "CROSSWATCH_SITE=elm-st-nb", "CROSSWATCH_CAMERA=elm-cam-1", "CROSSWATCH_DEVICE=elm-box")
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	for _, name := range []string{"registry", "editor"} {
		if st, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s.png: %v", name, err)
		}
	}
}

// TestDrawnSceneJudgesTheBox is the path from a new camera to a checked event, in
// chromium (aggregator/dashboard/browsertest/scene-e2e.test.mjs): an admin creates site and
// camera on the registry page and draws the camera's scene; a running `crosswatch-edge run`,
// whose camera is a synthetic clip with exact truth (one red-light runner northbound), applies
// each saved version and replays the clip with it; the red-light event the drawn stop line
// judges arrives; a reviewer dismisses it and the site's points and score return to what they
// were before it. The box's scene file ends as the registry's last version.
func TestDrawnSceneJudgesTheBox(t *testing.T) {
	node, chromium, testDir := browserTools(t)
	cfgPath := writeConfig(t, "")
	cfg, _ := os.ReadFile(cfgPath)
	// The clip's few road users give the site a score (the shipped minimum is 200).
	os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), "min_road_users: 200", "min_road_users: 1", 1)), 0o644)
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"), "--config", cfgPath)

	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--duration", "30s", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	// The truth: seed 7's one red-light runner, northbound, and where the synthetic scene has
	// that approach's stop line and head; the browser draws them there.
	var truth struct {
		Violations []struct{ Type, Zone string }
	}
	b, _ := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	red := 0
	for _, v := range truth.Violations {
		if v.Type == "red_light_running" && v.Zone == "nb-stop" {
			red++
		}
	}
	sc, err := scenefile.Load(filepath.Join(dir, "scene.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if red != 1 || len(sc.Approaches) == 0 || sc.Approaches[0].ID != "nb-stop" || sc.Signals[0].ID != sc.Approaches[0].Signal {
		t.Fatalf("seed 7 changed: %d northbound red-light runners, approaches %+v", red, sc.Approaches)
	}
	nb, head := sc.Approaches[0].StopLine, sc.Signals[0].Region
	want, _ := json.Marshal(map[string]any{"red_light": red,
		"stop_line": [][2]float64{{nb[0].X, nb[0].Y}, {nb[len(nb)-1].X, nb[len(nb)-1].Y}},
		"head":      [][2]float64{{head[0].X, head[0].Y}, {head[1].X, head[1].Y}}})

	// The box: one camera, the clip, a local scene with no zones yet (the registry's replace it).
	local := filepath.Join(dir, "oak-cam-1.yaml")
	os.WriteFile(local, []byte("version: 1\ncamera: oak-cam-1\ndetector: {kind: classical}\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token("oak-box")+"\n"), 0o600)
	config := filepath.Join(dir, "edge.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`device: oak-box
broker: {url: %q, token_file: %s}
outbox: {path: %s, drain_timeout: 2s}
models: ../models/files
evidence: false
metrics: {listen: "127.0.0.1:%d"}
cameras:
  - {id: oak-cam-1, source: %s, scene: %s}
`, agg.Broker, tokenFile, filepath.Join(dir, "state", "outbox.db"), freePort(t), filepath.Join(dir, "clip.avi"), local)), 0o644)
	edge := exec.Command(edgeBin, "run", "--config", config)
	logs := &syncBuffer{}
	edge.Stdout, edge.Stderr = logs, logs
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if edge.ProcessState == nil {
			edge.Process.Kill()
			edge.Wait()
		}
	})
	if !waitCond(20*time.Second, func() bool { return strings.Contains(logs.String(), "connected to broker") }) {
		t.Fatalf("the box did not connect:\n%s", logs.String())
	}

	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "scene-e2e.test.mjs"))
	cmd.Dir = testDir
	cmd.Env = append(os.Environ(), "CROSSWATCH_URL="+agg.API, "CHROMIUM="+chromium, "CROSSWATCH_TOKEN="+agg.Token,
		"CROSSWATCH_ADMIN_USER=ada", "CROSSWATCH_ADMIN_PASSWORD="+agg.AddUser(t, "ada", "admin"),
		"CROSSWATCH_REVIEWER_USER=rita", "CROSSWATCH_REVIEWER_PASSWORD="+agg.AddUser(t, "rita", "reviewer"),
		"CROSSWATCH_SITE=oak-st-nb", "CROSSWATCH_CAMERA=oak-cam-1", "CROSSWATCH_DEVICE=oak-box", "CROSSWATCH_TRUTH="+string(want))
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v\nbox:\n%s", err, logs.String())
	}
	var cam struct {
		Scene        string `json:"scene"`
		SceneVersion int64  `json:"scene_version"`
	}
	getJSON(t, agg.API+"/api/v1/registry/cameras/oak-cam-1", &cam)
	if got, _ := os.ReadFile(local); string(got) != cam.Scene || cam.SceneVersion != 4 {
		t.Fatalf("the box's scene file is not the registry's version %d:\n%s\nregistry:\n%s", cam.SceneVersion, got, cam.Scene)
	}
	edge.Process.Signal(syscall.SIGTERM)
	if err := edge.Wait(); err != nil {
		t.Fatalf("edge run: %v\n%s", err, logs.String())
	}
}
