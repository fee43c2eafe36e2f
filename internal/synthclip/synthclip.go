// Package synthclip renders, once per test binary, the short synthetic clip that the edge's
// command tests (edge/cli, edge/lab) run their commands on.
package synthclip

import (
	"os"
	"sync"
	"testing"

	"github.com/crosswatch/crosswatch/edge/synth"
)

var (
	once sync.Once
	dir  string
)

// Dir returns the folder of the clip (synth.ClipName) and its scene, rendering them at the
// first call: seed 3, half the default duration.
func Dir(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		d, err := os.MkdirTemp("", "crosswatch-cli")
		if err != nil {
			t.Fatal(err)
		}
		cfg := synth.DefaultConfig(3)
		cfg.Duration /= 2
		if _, err := synth.Generate(cfg, d); err != nil {
			os.RemoveAll(d)
			t.Fatal(err)
		}
		dir = d
	})
	if dir == "" {
		t.Fatal("no synthetic clip")
	}
	return dir
}

// Main runs the tests and removes the clip after them: a package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
