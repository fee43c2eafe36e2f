package lab

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/internal/testenv"
)

// bench --streams runs the scenes real cameras use, with the DNN detector: it hands every
// stream's pipeline the models directory, and without one it says which flag is wrong.
func TestBenchStreamsDNN(t *testing.T) {
	clip := testenv.SharedClip(t, "../../../shared/videos/rlv_ahmadyahya_youtube.mp4")
	models := modelsDir(t)
	sc := "../../configs/scenes/real/rlv_ahmadyahya_youtube.yaml"
	code, stdout, stderr := run("bench", "--clip", clip, "--scene", sc, "--streams", "2", "--duration", "2s", "--models", models, "--json")
	var r LiveResult
	if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil {
		t.Fatalf("exit %d %q %q", code, stdout, stderr)
	}
	if r.Streams != 2 || r.MinAnalysedFPS <= 0 || r.Width != 352 || r.CPUPerStreamS <= 0 || r.CPUPerStreamS > 4 || r.Nets < 1 {
		t.Fatalf("result %+v", r)
	}
	code, _, stderr = run("bench", "--clip", clip, "--scene", sc, "--streams", "1", "--duration", "1s", "--models", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "--models") || !strings.Contains(stderr, "MANIFEST") {
		t.Fatalf("no models: exit %d, stderr %q", code, stderr)
	}
}
