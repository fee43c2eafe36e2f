package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// A scene is written only when valid and the camera's own, atomically, and only when it differs.
func TestWriteScene(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "configs", "scenes", "synth-platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	path := filepath.Join(t.TempDir(), "synth-cam-2.yaml")
	os.WriteFile(path, []byte("old"), 0o644)
	if changed, err := writeScene(path, wire.NewScene("synth-cam-2", 1, good)); err != nil || !changed {
		t.Fatalf("a new scene: changed %v, %v", changed, err)
	}
	if b, _ := os.ReadFile(path); string(b) != good {
		t.Fatal("the file is not the scene")
	}
	if changed, err := writeScene(path, wire.NewScene("synth-cam-2", 2, good)); err != nil || changed {
		t.Fatalf("the same scene again: changed %v, %v", changed, err)
	}
	for name, m := range map[string]wire.Scene{
		"drawn outside the frame": wire.NewScene("synth-cam-2", 3, strings.Replace(good, "[0, 0.6458]", "[1.5, 0.6458]", 1)),
		"another camera's":        wire.NewScene("other", 3, good),
	} {
		if _, err := writeScene(path, m); err == nil {
			t.Errorf("%s: written", name)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != good {
		t.Fatal("a refused scene changed the file")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// A scene from the aggregator for one of the box's cameras is written over its scene file and
// restarts that camera alone, as a reload does; an invalid one, an older version or one for a
// camera the box does not run changes nothing.
func TestDaemonAppliesAggregatorScene(t *testing.T) {
	d, p, _, stop := startDaemon(t, "  - {id: synth-cam-1, source: \"http://127.0.0.1:1/a\", scene: synth-cam-1.yaml}\n  - {id: cam-b, source: \"http://127.0.0.1:1/b\", scene: cam-b.yaml}\n")
	waitTrue(t, 5*time.Second, "both cameras", func() bool { return d.state("synth-cam-1") != nil && d.state("cam-b") != nil })
	runner := func(id string) *camRunner { d.mu.Lock(); defer d.mu.Unlock(); return d.cams[id] }
	first, b0 := runner("synth-cam-1"), runner("cam-b")
	file := filepath.Join(filepath.Dir(p), "cam-b.yaml")
	orig, _ := os.ReadFile(file)
	moved := string(orig) + "# from the registry, version 4\n"
	d.scenes.receive(wire.NewScene("cam-b", 4, moved))
	waitTrue(t, 5*time.Second, "cam-b restarted with the new scene", func() bool { return runner("cam-b") != b0 && runner("cam-b") != nil })
	if b, _ := os.ReadFile(file); string(b) != moved {
		t.Fatal("the scene file was not replaced")
	}
	if runner("synth-cam-1") != first {
		t.Fatal("a camera whose scene did not change was restarted")
	}
	b1 := runner("cam-b")
	d.scenes.receive(wire.NewScene("cam-b", 5, strings.Replace(moved, "camera: cam-b", "camera: cam-b\nbogus: 1", 1)))
	d.scenes.receive(wire.NewScene("cam-b", 3, string(orig)))
	d.scenes.receive(wire.NewScene("cam-z", 9, string(orig)))
	time.Sleep(300 * time.Millisecond)
	if b, _ := os.ReadFile(file); string(b) != moved || runner("cam-b") != b1 {
		t.Fatal("an invalid, older or foreign scene changed the camera")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
