package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "editor.test.mjs"))
	cmd.Dir = testDir
	cmd.Env = append(os.Environ(), "CROSSWATCH_URL="+agg.API, "CROSSWATCH_SCREENSHOTS="+shots, "CHROMIUM="+chromium,
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
