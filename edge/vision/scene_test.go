package vision

import (
	"image"
	"image/color"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// A head that goes dark (or shows no lamp the reader knows) is read as unknown after two frames,
// as any change is, so the rules get unknown rather than its last light.
func TestSignalReaderDarkIsUnknown(t *testing.T) {
	s := scene.Defaults()
	s.Signals = []scene.Signal{{ID: "a", Kind: "vehicle", Region: &[2]scene.Point{{X: 0.6, Y: 0.2}, {X: 0.65, Y: 0.35}}}}
	r := NewSignalReader(&s, 640, 480)
	defer r.Close()
	m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	lamp := image.Rect(392, 100, 412, 120) // inside the region (384..416, 96..168)
	for f, c := range []struct {
		lit  bool
		want edge.Light
	}{{true, edge.LightUnknown}, {true, edge.Red}, {true, edge.Red}, {false, edge.Red}, {false, edge.LightUnknown}, {false, edge.LightUnknown}} {
		m.SetTo(gocv.NewScalar(40, 40, 40, 0))
		if c.lit {
			gocv.Rectangle(&m, lamp, color.RGBA{R: 255, G: 20, B: 20, A: 255}, -1)
		}
		if got := r.Read(m, t0.Add(time.Duration(f)*100*time.Millisecond))[0].Light; got != c.want {
			t.Fatalf("frame %d (lit %v): %v, want %v", f, c.lit, got, c.want)
		}
	}
}

// scene draw draws every segment of a polyline, and a lane's stretch.
func TestDrawScenePolyline(t *testing.T) {
	s, err := scenefile.Load("../scene/testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	DrawScene(&m, s)
	// The count line ramp bends at [0.15, 0.85]: (140, 408) is on its second segment, clear of
	// its arrows and labels; (340, 298) is on nb-stop's first segment, outside its lanes.
	for _, p := range []image.Point{{140, 408}, {340, 298}} {
		v := m.GetVecbAt(p.Y, p.X)
		if v[0] == 0 && v[1] == 0 && v[2] == 0 {
			t.Errorf("nothing drawn at %v, on a line", p)
		}
	}
}
