package rules

import (
	"math"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// FrontPoint on a slanted stop line, with values worked out by hand rather than from the
// code's own helpers. Line (20,60)→(100,0) in a 100×100 frame: length 100, unit normal
// towards travel (-0.6, -0.8). Box (40,20)-(70,80): its leading corner (40,20) is
// 20 px past the line, its back corner (70,80) -46 px, its centre (55,50) -13 px.
func TestFrontPointByHand(t *testing.T) {
	a := scene.Approach{StopLine: scene.Polyline{{X: 0.2, Y: 0.6}, {X: 1.0, Y: 0.0}}, Direction: scene.Point{X: 0, Y: -1}}
	b := edge.Box{X0: 40, Y0: 20, X1: 70, Y1: 80}
	for _, c := range []struct {
		front float64
		x, y  float32
	}{
		// front 0.25: -46 + 0.25·66 = -29.5 past, 16.5 behind the centre: (55+9.9, 50+13.2).
		{0.25, 64.9, 63.2},
		// front unset = 1, the leading corner: 20 past, 33 ahead of the centre: (55-19.8, 50-26.4).
		{0, 35.2, 23.6},
		// front 0.5: halfway, -13 past = the centre itself.
		{0.5, 55, 50},
	} {
		a.Front = c.front
		x, y := FrontPoint(a, b, 100, 100)
		if math.Abs(float64(x-c.x)) > 1e-3 || math.Abs(float64(y-c.y)) > 1e-3 {
			t.Errorf("front %v: (%.3f, %.3f), want (%.1f, %.1f)", c.front, x, y, c.x, c.y)
		}
	}
	// Travel the other way along the same line: the normal flips, and so does the front.
	a.Direction, a.Front = scene.Point{X: 0, Y: 1}, 0
	if x, y := FrontPoint(a, b, 100, 100); math.Abs(float64(x-74.8)) > 1e-3 || math.Abs(float64(y-76.4)) > 1e-3 {
		// normal (0.6, 0.8): leading corner (70,80) 46 past, centre 13: k = 33 → (55+19.8, 50+26.4)
		t.Errorf("reversed: (%.3f, %.3f), want (74.8, 76.4)", x, y)
	}
}
