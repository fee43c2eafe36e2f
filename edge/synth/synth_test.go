package synth

import (
	"bytes"
	"testing"

	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// The shipped example scenes are the synthetic clips' scenes, so 'scene draw' and 'eval' on a
// rendered clip agree with configs/.
func TestShippedScenesMatch(t *testing.T) {
	for file, want := range map[string]*scene.Scene{
		"../../configs/scenes/synth-intersection.yaml": Scene(),
		"../../configs/scenes/synth-platform.yaml":     PlatformScene(),
	} {
		got, err := scenefile.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := scenefile.Marshal(got)
		b, _ := scenefile.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the synthetic scene; regenerate it from 'crosswatch-edge synth'\n got:\n%s\nwant:\n%s", file, a, b)
		}
	}
}

// The same seed renders the same truth; another seed another.
func TestDeterministicTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("renders clips")
	}
	render := func(seed uint64, kind string) *Truth {
		cfg := DefaultConfig(seed)
		cfg.Kind, cfg.Duration = kind, 20e9
		tr, err := Generate(cfg, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tr.Start = tr.Start.Truncate(0)
		return tr
	}
	for _, kind := range []string{Intersection, Platform} {
		a, b, c := render(2, kind), render(2, kind), render(3, kind)
		if len(a.Violations) != len(b.Violations) || len(a.Violations) > 0 && a.Violations[0] != b.Violations[0] {
			t.Errorf("%s: seed 2 twice: %v vs %v", kind, a.Violations, b.Violations)
		}
		if len(a.Violations) == len(c.Violations) && (len(a.Violations) == 0 || a.Violations[0] == c.Violations[0]) {
			t.Errorf("%s: seeds 2 and 3 render the same truth %v", kind, a.Violations)
		}
	}
	if _, err := Generate(Config{Kind: "tram", Seed: 1, Duration: 10e9, FPS: 15}, t.TempDir()); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Generate(Config{Variant: "fog", Seed: 1, Duration: 10e9, FPS: 15}, t.TempDir()); err == nil {
		t.Error("unknown variant accepted")
	}
}

// The Night variant's scene is valid and uses a polyline stop line and combined heads.
func TestVariantScene(t *testing.T) {
	s := VariantScene(Night)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if a := s.Approaches[0]; len(a.StopLine) != 3 || len(a.Heads()) != 2 {
		t.Fatalf("night approach %+v", a)
	}
	if d := VariantScene(Day); len(d.Approaches[0].StopLine) != 2 {
		t.Fatal("the day scene changed")
	}
}
