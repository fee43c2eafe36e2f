package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/internal/synthclip"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// Three DNN cameras in one daemon share the box's pool: one network per core is loaded, not one
// per camera (docs/BENCHMARKS.md: about 18 MB each).
func TestDaemonCamerasShareNetworks(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "..", "models", "files"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = vision.OpenModels(models)
	testenv.Need(t, err, "the models (make models)")
	clip := filepath.Join(synthclip.Dir(t), synth.ClipName)
	dir := t.TempDir()
	sc, err := os.ReadFile(filepath.Join("..", "..", "configs", "scenes", "synth-intersection.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cams := ""
	for _, id := range []string{"cam-a", "cam-b", "cam-c"} {
		s := strings.Replace(strings.Replace(string(sc), "camera: synth-cam-1", "camera: "+id, 1), "kind: classical", "kind: dnn", 1)
		os.WriteFile(filepath.Join(dir, id+".yaml"), []byte(s), 0o644)
		cams += fmt.Sprintf("  - {id: %s, source: %s, scene: %s.yaml}\n", id, clip, id)
	}
	config := fmt.Sprintf(`device: box-t
broker: {url: "tcp://127.0.0.1:1", insecure: true}
outbox: {path: state/outbox.db, drain_timeout: 500ms}
models: %s
evidence: false
cameras:
%s`, models, cams)
	p := filepath.Join(dir, "edge.yaml")
	os.WriteFile(p, []byte(config), 0o644)
	box, err := loadBox(p)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDaemon(box, slog.New(slog.DiscardHandler), nil)
	if err := d.Open(t.Context()); err != nil {
		d.Close()
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitTrue(t, 60*time.Second, "three cameras detecting", func() bool {
		for _, id := range []string{"cam-a", "cam-b", "cam-c"} {
			if s := d.state(id); s == nil || s.meter.Analysed.Load() < 5 {
				return false
			}
		}
		return true
	})
	if n := d.nets.Loaded(); n != runtime.NumCPU() {
		t.Errorf("%d networks loaded for three cameras, want %d (one per core)", n, runtime.NumCPU())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
