// Package archtest keeps the import graph the architecture: pixels (gocv) only where pixels are
// handled, and an aggregator that builds on a machine without OpenCV.
package archtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/crosswatch/crosswatch/"

func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	return strings.Fields(string(out))
}

// Packages that must never import gocv, directly or not.
var noPixels = []string{
	"aggregator/...", "edge", "edge/wire", "edge/scene", "edge/track", "edge/rules", "edge/outbox", "edge/relay", "edge/mqtt",
}

func TestNoGocvOutsidePixelPackages(t *testing.T) {
	var pkgs []string
	for _, p := range noPixels {
		pkgs = append(pkgs, mod+p)
	}
	for _, d := range deps(t, pkgs...) {
		if strings.HasPrefix(d, "gocv.io/") {
			t.Fatalf("%s is in the dependency graph of %v", d, noPixels)
		}
	}
}

// The wire contract is stdlib-only, so any client can vendor it.
func TestWireIsStdlibOnly(t *testing.T) {
	for _, d := range deps(t, mod+"edge/wire") {
		if strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && d != mod+"edge/wire" {
			t.Fatalf("edge/wire depends on %s", d)
		}
	}
}

// With cgo on but no OpenCV for pkg-config to find, the aggregator still builds from scratch
// (a fresh build cache, so no cached gocv object can hide a dependency).
func TestAggregatorBuildsWithoutOpenCV(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the aggregator from scratch")
	}
	env := append(os.Environ(), "CGO_ENABLED=1", "PKG_CONFIG_PATH=", "PKG_CONFIG_LIBDIR="+t.TempDir(), "GOCACHE="+t.TempDir())
	cmd := exec.Command("go", "build", "-o", os.DevNull, mod+"aggregator/cmd/crosswatch-aggregator")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aggregator does not build without OpenCV: %v\n%s", err, out)
	}
	// The check can fail: in the same environment gocv does not build.
	cmd = exec.Command("go", "build", "-o", os.DevNull, "gocv.io/x/gocv")
	cmd.Env = env
	if err := cmd.Run(); err == nil {
		t.Fatal("gocv built without OpenCV: the environment does not hide OpenCV")
	}
}
