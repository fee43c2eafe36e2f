package rules

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// Cases placed exactly on the rules' boundaries and hand-worked geometry (issue #19: the
// scenario tests never sit on them).

// A stop line's normal points the way traffic travels in pixels, not in the scene's fractions:
// on a frame that is not square the two can disagree.
func TestStopLineNormalPointsTheWayOfTravelInPixels(t *testing.T) {
	const r = 0.70710677 // 1/√2
	for _, c := range []struct {
		name   string
		p      scene.Polyline
		dir    scene.Point
		w, h   float32
		nx, ny float32
	}{
		// (80,20)→(160,60): tangent (2,1)/√5, normals ±(-1,2)/√5. Travel (1, 0.3) is (400, 30)
		// in pixels: (1,-2)/√5 (dot 340), not (-1,2) (dot -340).
		{"wide frame", scene.Polyline{{X: 0.2, Y: 0.2}, {X: 0.4, Y: 0.6}}, scene.Point{X: 1, Y: 0.3}, 400, 100, 0.4472136, -0.8944272},
		// (20,80)→(60,120): tangent (1,1)/√2. Travel (0.5, 1) is (50, 400): (-1,1)/√2 (dot 247).
		{"tall frame", scene.Polyline{{X: 0.2, Y: 0.2}, {X: 0.6, Y: 0.3}}, scene.Point{X: 0.5, Y: 1}, 100, 400, -r, r},
		// The same line crossed the other way.
		{"tall frame, back", scene.Polyline{{X: 0.2, Y: 0.2}, {X: 0.6, Y: 0.3}}, scene.Point{X: -0.5, Y: -1}, 100, 400, r, -r},
	} {
		l := newLine(c.p, c.dir, c.w, c.h)
		sg := l.segs[0]
		if math.Abs(float64(sg.nx-c.nx)) > 1e-4 || math.Abs(float64(sg.ny-c.ny)) > 1e-4 {
			t.Errorf("%s: normal (%.4f, %.4f), want (%.4f, %.4f)", c.name, sg.nx, sg.ny, c.nx, c.ny)
		}
	}
}

// A box is judged by the segment of a bent line nearest to it: the point's distance to each
// segment decides, in both coordinates.
func TestNearestSegmentOfABentLine(t *testing.T) {
	// (10,50)→(50,50)→(90,10) in a 100×100 frame, crossed northward.
	l := newLine(scene.Polyline{{X: 0.1, Y: 0.5}, {X: 0.5, Y: 0.5}, {X: 0.9, Y: 0.1}}, scene.Point{Y: -1}, 100, 100)
	for _, c := range []struct {
		x, y  float32
		seg   int
		along float32
	}{
		{30, 40, 0, 20},             // 10 from the first segment, 22.4 from the bent one
		{70, 45, 1, 40 + 17.677670}, // 20.6 from the first, 10.6 from the bent one
		{45, 47, 0, 35},             // 3.0 and 5.8
		{54, 30, 1, 40 + 16.970563}, // 20.4 and 11.3
		{30, 80, 0, 20},             // 30.0 and 36.1
		{85, 60, 1, 40 + 17.677670}, // 36.4 and 31.8
		{40, 5, 1, 40 + 24.748737},  // 45.0 and 38.9
		{90, 50, 1, 40 + 28.284271}, // 40.0 and 28.3
		{20, 20, 0, 10},             // 30.0 and 42.4
		{40, 35, 0, 30},             // 15.0 and 17.7: past the line, where the bent segment lies higher
	} {
		i, _ := l.nearest(c.x, c.y)
		if i != c.seg {
			t.Errorf("(%v, %v): nearest segment %d, want %d", c.x, c.y, i, c.seg)
		}
		if got := l.along(c.x, c.y); math.Abs(float64(got-c.along)) > 1e-3 {
			t.Errorf("(%v, %v): %.3f along, want %.3f", c.x, c.y, got, c.along)
		}
	}
}

// A crosswalk head's direction of crossing is a unit vector in pixels; a head for every
// direction (signal:, no direction) has none.
func TestCrosswalkHeadDirectionInPixels(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
signals:
  - {id: all, kind: pedestrian, feed: true}
  - {id: diag, kind: pedestrian, feed: true}
crosswalks:
  - {id: one, site: main, polygon: [[0.4, 0.2], [0.8, 0.2], [0.8, 0.3], [0.4, 0.3]], signal: all}
  - id: two
    site: main
    polygon: [[0.4, 0.6], [0.8, 0.6], [0.8, 0.7], [0.4, 0.7]]
    signals:
      - {direction: [1, 1], signal: diag}
      - {direction: [0, -0.5], signal: all}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 200, 100, time.Minute)
	one, two := e.areas[e.crosswalks[0]], e.areas[e.crosswalks[1]]
	if len(one.heads) != 1 || one.heads[0].dx != 0 || one.heads[0].dy != 0 {
		t.Errorf("signal: heads %+v, want one with no direction", one.heads)
	}
	// (1, 1) on 200×100 is (200, 100) px: (2, 1)/√5.
	if len(two.heads) != 2 || math.Abs(float64(two.heads[0].dx-0.8944272)) > 1e-5 || math.Abs(float64(two.heads[0].dy-0.4472136)) > 1e-5 ||
		two.heads[1].dx != 0 || two.heads[1].dy != -1 {
		t.Errorf("signals: heads %+v, want (0.894, 0.447) and (0, -1)", two.heads)
	}
}

// A velocity's component across a line counts both of its components.
func TestAcrossTheLine(t *testing.T) {
	// (0,100)→(80,40): tangent (0.8,-0.6), northward normal (-0.6,-0.8)... travel north-east:
	// direction (1,-1) gives (0.6, 0.8)·(1,-1) < 0, so the normal is (-0.6, -0.8)? No: the
	// normal is (-t.y, t.x) = (0.6, 0.8), flipped to (-0.6, -0.8) for (1,-1)·(0.6,0.8) = -0.2.
	l := newLine(scene.Polyline{{X: 0, Y: 1}, {X: 0.8, Y: 0.4}}, scene.Point{X: 1, Y: -1}, 100, 100)
	b := edge.Box{X0: 30, Y0: 60, X1: 40, Y1: 80}
	if got := l.across(b, -3, -4); math.Abs(float64(got-5)) > 1e-4 {
		t.Errorf("across (-3,-4) = %v, want 5", got)
	}
	if got := l.across(b, 4, -3); math.Abs(float64(got)) > 1e-4 {
		t.Errorf("across (4,-3), along the line, = %v, want 0", got)
	}
}

// A repeat of an event is another track's, at under radius from where it fired, less than
// repeatWindow after that track was last seen, and that track no longer measured.
func TestRepeatWindowAndRadius(t *testing.T) {
	const radius = 5
	gone := []edge.Track{{ID: 9}}
	coasting := []edge.Track{{ID: 1, Misses: 2}}
	measured := []edge.Track{{ID: 1}}
	for _, c := range []struct {
		name   string
		track  int
		x, y   float32
		after  time.Duration
		tracks []edge.Track
		want   bool
	}{
		{"same place, another track", 2, 10, 20, time.Second, gone, true},
		{"just inside the radius", 2, 13, 23.9, time.Second, gone, true},
		{"just inside the radius, the other way", 2, 7, 16.1, time.Second, gone, true},
		{"exactly the radius away", 2, 13, 24, time.Second, gone, false},
		{"exactly the radius away, the other way", 2, 7, 16, time.Second, gone, false},
		{"just inside the window", 2, 10, 20, repeatWindow - time.Millisecond, gone, true},
		{"exactly the window later", 2, 10, 20, repeatWindow, gone, false},
		{"the same track again", 1, 10, 20, time.Second, gone, false},
		{"the first still measured", 2, 10, 20, time.Second, measured, false},
		{"the first coasting", 2, 10, 20, time.Second, coasting, true},
	} {
		a := &area{}
		if a.repeated(1, 10, 20, base, radius, nil) {
			t.Fatalf("%s: the first event is a repeat", c.name)
		}
		if got := a.repeated(c.track, c.x, c.y, base.Add(c.after), radius, c.tracks); got != c.want {
			t.Errorf("repeated: %s: %v, want %v", c.name, got, c.want)
		}
		// The same geometry decides whether a track beginning there is a lost counted one.
		a = &area{}
		a.touchCounted(1, 10, 20, base)
		if got := a.lostNear(c.track, c.x, c.y, base.Add(c.after), radius, c.tracks) >= 0; got != c.want {
			t.Errorf("lostNear: %s: %v, want %v", c.name, got, c.want)
		}
	}
	// An area remembers its four latest events: a fifth place pushes out the oldest.
	a := &area{}
	for i := range 5 {
		a.repeated(i+1, float32(20*i), 0, base.Add(time.Duration(i)*time.Millisecond), radius, nil)
	}
	if !a.repeated(11, 20, 0, base.Add(10*time.Millisecond), radius, nil) {
		t.Error("the second of five events is forgotten")
	}
	if a.repeated(10, 0, 0, base.Add(10*time.Millisecond), radius, nil) {
		t.Error("the oldest of five events is still remembered")
	}
}

// A track counts as arriving when it begins within arrivalWindow of the view's start or with
// its box within borderMargin (2 %) of the frame's border: 4 px of 200 wide, 2 px of 100 high.
func TestArrivalAtTheBorder(t *testing.T) {
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 200, 100, time.Minute)
	e.view = base
	later := base.Add(arrivalWindow + time.Millisecond)
	mid := edge.Box{X0: 50, Y0: 40, X1: 60, Y1: 60}
	for _, c := range []struct {
		name string
		now  time.Time
		b    edge.Box
		want bool
	}{
		{"mid-picture, as the view begins", base, mid, true},
		{"mid-picture, exactly the window into the view", base.Add(arrivalWindow), mid, true},
		{"mid-picture, later", later, mid, false},
		{"left border", later, edge.Box{X0: 4, Y0: 40, X1: 14, Y1: 60}, true},
		{"just off the left border", later, edge.Box{X0: 4.01, Y0: 40, X1: 14, Y1: 60}, false},
		{"top border", later, edge.Box{X0: 50, Y0: 2, X1: 60, Y1: 20}, true},
		{"just off the top border", later, edge.Box{X0: 50, Y0: 2.01, X1: 60, Y1: 20}, false},
		{"right border", later, edge.Box{X0: 150, Y0: 40, X1: 196, Y1: 60}, true},
		{"just off the right border", later, edge.Box{X0: 150, Y0: 40, X1: 195.99, Y1: 60}, false},
		{"bottom border", later, edge.Box{X0: 50, Y0: 40, X1: 60, Y1: 98}, true},
		{"just off the bottom border", later, edge.Box{X0: 50, Y0: 40, X1: 60, Y1: 97.99}, false},
	} {
		if got := e.arrival(c.now, c.b); got != c.want {
			t.Errorf("%s: arrival %v, want %v", c.name, got, c.want)
		}
	}
}

// A visit begins at the first frame inside and ends after leave (500 ms) outside: 499 ms out
// is the same visit, 500 ms ends it.
func TestVisitEndsAfterLeave(t *testing.T) {
	for _, c := range []struct {
		out  time.Duration
		ends bool
	}{{leave - time.Millisecond, false}, {leave, true}} {
		var as areaState
		visit(&as, false, base)
		visit(&as, true, base.Add(time.Second))
		visit(&as, true, base.Add(2*time.Second))
		if !as.inside || !as.entered.Equal(base.Add(time.Second)) || !as.lastIn.Equal(base.Add(2*time.Second)) {
			t.Fatalf("visit %+v, want inside since 1 s, last in at 2 s", as)
		}
		visit(&as, false, base.Add(2*time.Second+c.out))
		if as.inside == c.ends {
			t.Errorf("%v outside: inside %v, want the visit ended %v", c.out, as.inside, c.ends)
		}
	}
}

// A platform edge with no berth signal ignores the scene's other signals: a pedestrian head
// on green is no train at the platform.
func TestPlatformEdgeWithoutBerthIgnoresOtherSignals(t *testing.T) {
	out := walk(t, edge.Person, lights(edge.Green, edge.Green), straight(pos{15, 30}, pos{15, 45}, 5, 30))
	if len(out.events) != 1 || out.events[0].Zone != "edge-1" {
		t.Fatalf("events %+v, want one platform edge intrusion", out.events)
	}
}

// A person moving like a rider down the lanes for riderFor is a rider, whatever the analysed
// rate: at 15 fps from the third measured frame in a row (0.133 s after the first), at 7.5 fps
// (the detector on every second frame) from the second (0.133 s), the same motion judged at
// the same moment; at 10 fps (0.1 s a frame) still from the third.
func TestRiderAfterRiderFor(t *testing.T) {
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fps   float64
		first int // the first frame judged a rider
	}{{15, 2}, {7.5, 1}, {10, 2}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		period := time.Duration(float64(time.Second) / c.fps)
		for f := 0; f <= c.first+1; f++ {
			y := float32(70 - 15*float64(f)/c.fps) // 15 px/s up the lane at any rate
			tk := edge.Track{ID: 1, Box: edge.Box{X0: 58, Y0: y - 10, X1: 62, Y1: y}, Class: edge.Person, Score: 1, Hits: f + 2, VY: -15}
			e.Step(base.Add(time.Duration(f)*period), nil, []edge.Track{tk}, nil, out)
			if got, want := e.tracks[1].rider, f >= c.first; got != want {
				t.Fatalf("%v fps, frame %d: rider %v, want %v", c.fps, f, got, want)
			}
		}
	}
	// A measured frame not riding starts the count again (10 fps).
	e := New(s, 100, 100, time.Minute)
	for f := range 6 {
		vy := float32(-15)
		if f == 2 {
			vy = 0
		}
		tk := edge.Track{ID: 1, Box: edge.Box{X0: 58, Y0: 60, X1: 62, Y1: 70}, Class: edge.Person, Score: 1, Hits: f + 2, VY: vy}
		e.Step(frameAt(f), nil, []edge.Track{tk}, nil, &sink{})
		if got, want := e.tracks[1].rider, f == 5; got != want {
			t.Fatalf("riding twice, standing, riding thrice: frame %d rider %v, want %v", f, got, want)
		}
	}
}

// Crosswalks count people and cycles, not cars driving over them.
func TestCrosswalkCountsNoCars(t *testing.T) {
	out := walk(t, edge.Car, lights(edge.Green, edge.Green), straight(pos{60, 5}, pos{60, 95}, 40, 0))
	for _, c := range out.counts {
		if c.Zone == "cw-veh" || c.Zone == "cw-ped" {
			for class, n := range c.N {
				if n > 0 {
					t.Errorf("crosswalk %s counted %d of class %d", c.Zone, n, class)
				}
			}
		}
	}
}

// With a confirm line, a front that reaches it exactly and stops there has not passed it.
func TestConfirmLineReachedNotPassed(t *testing.T) {
	s, err := scenefile.Parse([]byte(strings.Replace(sceneYAML, "grace_s: 0.5}", "grace_s: 0.5, confirm_line: [[0.5, 0.4], [0.7, 0.4]]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stopAt float32
		events int
	}{{40, 0}, {39.5, 1}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		sig := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true}}
		for f, y := 0, float32(70); f < 60; f++ {
			e.Step(frameAt(f), sig, []edge.Track{{ID: 6, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2}}, nil, out)
			y = max(c.stopAt, y-1)
		}
		if len(out.events) != c.events {
			t.Errorf("front stops at y %v (confirm line at 40): events %+v, want %d", c.stopAt, out.events, c.events)
		}
	}
}

// A crossing needs the front clearly past the line: more than the margin (1 % of the frame's
// diagonal, 5 px on 300×400), not exactly it. (Stopped there, it is counted, not judged: a red
// needs the vehicle to proceed, TestRedLightNeedsTheVehicleToProceed.)
func TestCrossingNeedsMoreThanTheMargin(t *testing.T) {
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stopAt  float32 // box top; the line is at y 200
		counted int
	}{{195, 0}, {194.9, 1}} {
		e := New(s, 300, 400, time.Minute)
		if e.approaches[0].margin != 5 {
			t.Fatalf("fixture: margin %v, want 5", e.approaches[0].margin)
		}
		out := &sink{}
		sig := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true}}
		for f, y := 0, float32(215); f < 40; f++ {
			e.Step(frameAt(f), sig, []edge.Track{{ID: 6, Box: edge.Box{X0: 171, Y0: y, X1: 189, Y1: y + 30}, Class: edge.Car, Score: 1, Hits: f + 2}}, nil, out)
			y = max(c.stopAt, y-1)
		}
		e.Flush(out)
		if out.counted(edge.Car) != c.counted || len(out.events) != 0 {
			t.Errorf("front stops at y %v: counted %d, events %+v; want %d counted, no event", c.stopAt, out.counted(edge.Car), out.events, c.counted)
		}
	}
}

// Geometry by hand on the triangle (0,0), (40,0), (0,30): its hypotenuse 3x + 4y = 120 is 50
// long, its centroid (40/3, 10).
func TestPolygonGeometryByHand(t *testing.T) {
	tri := []float32{0, 0, 40, 0, 0, 30}
	for _, c := range []struct {
		x, y float32
		in   bool
		d    float32
	}{
		{40, 30, false, 24},        // over the hypotenuse: |120+120-120|/5
		{25, 10, true, 1},          // under it (x at y 10 is 26.67): |75+40-120|/5
		{28, 10, false, 0.8},       // |84+40-120|/5
		{5, 10, true, 5},           // the left side is nearest
		{20, -2, false, 2},         // under the bottom side
		{-3, -4, false, 5},         // nearest the corner (0,0)
		{45, -3, false, 5.8309518}, // nearest the corner (40,0): √(25+9)
	} {
		if got := inside(tri, c.x, c.y); got != c.in {
			t.Errorf("inside (%v, %v) = %v, want %v", c.x, c.y, got, c.in)
		}
		if got := distance(tri, c.x, c.y); math.Abs(float64(got-c.d)) > 1e-4 {
			t.Errorf("distance (%v, %v) = %v, want %v", c.x, c.y, got, c.d)
		}
	}
	// The convex quadrilateral (10,10), (50,20), (40,50), (20,40), checked against the sign of
	// each side's cross product.
	quad := []float32{10, 10, 50, 20, 40, 50, 20, 40}
	for _, c := range []struct {
		x, y float32
		in   bool
	}{{30, 30, true}, {45, 20, true}, {45, 25, true}, {15, 12, true}, {12, 15, true}, {48, 30, false}, {44, 40, false}, {25, 44, false}, {22, 40, true}, {14, 25, false}, {16, 25, true}} {
		if got := inside(quad, c.x, c.y); got != c.in {
			t.Errorf("inside the quadrilateral (%v, %v) = %v, want %v", c.x, c.y, got, c.in)
		}
	}
	// A polygon with a repeated corner (a zero-length side) measures the same.
	if got := distance([]float32{0, 0, 40, 0, 40, 0, 0, 30}, 20, -2); got != 2 {
		t.Errorf("distance with a repeated corner = %v, want 2", got)
	}
	if x, y := centroid(tri); math.Abs(float64(x)-40.0/3) > 1e-4 || math.Abs(float64(y)-10) > 1e-4 {
		t.Errorf("centroid (%v, %v), want (13.333, 10)", x, y)
	}
	// An L of area 300: a 20×10 bar (centroid (10,5)) and a 10×10 foot (centroid (5,15)):
	// (200·(10,5) + 100·(5,15)) / 300 = (8.333, 8.333).
	if x, y := centroid([]float32{0, 0, 20, 0, 20, 10, 10, 10, 10, 20, 0, 20}); math.Abs(float64(x)-25.0/3) > 1e-4 || math.Abs(float64(y)-25.0/3) > 1e-4 {
		t.Errorf("centroid of the L (%v, %v), want (8.333, 8.333)", x, y)
	}
	// A quadrilateral off the origin, as two triangles from (10,10): (50,20),(40,50) of area 550
	// centred (33.33, 26.67), and (40,50),(20,40) of area 350 centred (23.33, 33.33): together
	// (30.556, 28.519).
	if x, y := centroid([]float32{10, 10, 50, 20, 40, 50, 20, 40}); math.Abs(float64(x)-30.555556) > 1e-3 || math.Abs(float64(y)-28.518518) > 1e-3 {
		t.Errorf("centroid of the quadrilateral (%v, %v), want (30.556, 28.519)", x, y)
	}
	// No area: the mean of the points.
	if x, y := centroid([]float32{0, 0, 10, 5, 20, 10}); x != 10 || y != 5 {
		t.Errorf("centroid of a line (%v, %v), want (10, 5)", x, y)
	}
}

// An event's confidence: 0.6 and 0.05 a hit, times the detector's score when there is one, at
// most 0.99.
func TestConfidenceByHand(t *testing.T) {
	for _, c := range []struct {
		hits  int
		score float32
		want  float64
	}{{2, 0, 0.7}, {2, 0.5, 0.35}, {4, 0.5, 0.4}, {10, 1, 0.99}, {0, 0, 0.6}} {
		if got := confidence(edge.Track{Hits: c.hits, Score: c.score}); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("hits %d score %v: confidence %v, want %v", c.hits, c.score, got, c.want)
		}
	}
}

// riding at its thresholds, on the line y 50 from x 50 to 70 crossed northward (normal (0,-1)):
// faster along the lanes than riderSpeed box heights a second, at least twice as fast along
// as across, and at most riderReach heights from the line.
func TestRidingThresholds(t *testing.T) {
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	const h = 10
	box := func(cy float32) edge.Box { return edge.Box{X0: 58, Y0: cy - h/2, X1: 62, Y1: cy + h/2} }
	speed := float32(riderSpeed) * h
	for _, c := range []struct {
		name   string
		cy     float32 // box centre's y
		vx, vy float32
		want   bool
	}{
		{"riding north", 60, 0, -5, true},
		{"exactly the least speed", 60, 0, -speed, false},
		{"riding south", 60, 0, 5, false},
		{"twice as fast along as across", 60, 2.5, -5, true},
		{"twice as fast along as across, the other side", 60, -2.5, -5, true},
		{"not quite twice", 60, 2.6, -5, false},
		{"not quite twice, the other side", 60, -2.6, -5, false},
		{"riderReach heights before the line", 50 + riderReach*h, 0, -5, true},
		{"further", 50.5 + riderReach*h, 0, -5, false},
		{"riderReach heights past the line", 50 - riderReach*h, 0, -5, true},
		{"further past", 49.5 - riderReach*h, 0, -5, false},
	} {
		if got := e.riding(edge.Track{Box: box(c.cy), VX: c.vx, VY: c.vy}); got != c.want {
			t.Errorf("%s: riding %v, want %v", c.name, got, c.want)
		}
	}
}

// A person first seen with half of their box or more over a motor vehicle's is getting out of
// it; less, or over a cyclist, is not.
func TestAlightingHalfTheBox(t *testing.T) {
	person := edge.Track{ID: 1, Box: edge.Box{X0: 10, Y0: 10, X1: 20, Y1: 30}, Class: edge.Person} // area 200
	for _, c := range []struct {
		name string
		v    edge.Track
		want bool
	}{
		{"half over a car", edge.Track{ID: 2, Box: edge.Box{X0: 15, Y0: 0, X1: 40, Y1: 40}, Class: edge.Car}, true},
		{"just under half", edge.Track{ID: 2, Box: edge.Box{X0: 15.1, Y0: 0, X1: 40, Y1: 40}, Class: edge.Car}, false},
		{"half over a car, from above", edge.Track{ID: 2, Box: edge.Box{X0: 0, Y0: 0, X1: 40, Y1: 20}, Class: edge.Car}, true},
		{"just under half, from above", edge.Track{ID: 2, Box: edge.Box{X0: 0, Y0: 0, X1: 40, Y1: 19.9}, Class: edge.Car}, false},
		{"half over a car's measured box", edge.Track{ID: 2, Box: edge.Box{X0: 60, Y0: 0, X1: 90, Y1: 40}, Meas: edge.Box{X0: 15, Y0: 0, X1: 40, Y1: 40}, Class: edge.Car}, true},
		{"over a bicycle", edge.Track{ID: 2, Box: edge.Box{X0: 0, Y0: 0, X1: 40, Y1: 40}, Class: edge.Bicycle}, false},
		{"touching a car's side", edge.Track{ID: 2, Box: edge.Box{X0: 20, Y0: 0, X1: 40, Y1: 40}, Class: edge.Car}, false},
		{"beside a car, overlapping only in height", edge.Track{ID: 2, Box: edge.Box{X0: 25, Y0: 0, X1: 40, Y1: 40}, Class: edge.Car}, false},
		{"beside a car, overlapping only in width", edge.Track{ID: 2, Box: edge.Box{X0: 0, Y0: 35, X1: 40, Y1: 60}, Class: edge.Car}, false},
		{"far from a car, up and left", edge.Track{ID: 2, Box: edge.Box{X0: 50, Y0: 50, X1: 90, Y1: 90}, Class: edge.Car}, false},
	} {
		if got := alighting(person, []edge.Track{person, c.v}); got != c.want {
			t.Errorf("%s: alighting %v, want %v", c.name, got, c.want)
		}
	}
}

// On 300×400 (diagonal 500, margin 5 px): a crosswalk (x 112.5..225, y 200..250) in a roadway
// (x 75..262.5, the whole height); fractions exact in binary, so the borders are exact pixels.
const marginScene = `
version: 1
camera: cam-1
signals:
  - {id: walk, kind: pedestrian, feed: true}
crosswalks:
  - {id: cw, site: main, polygon: [[0.375, 0.5], [0.75, 0.5], [0.75, 0.625], [0.375, 0.625]], signal: walk}
roadways:
  - {id: road, site: main, polygon: [[0.25, 0], [0.875, 0], [0.875, 1], [0.25, 1]]}
`

// walkAt walks a person of height h with their feet on y, from x 40 to 280 in 10 px frames, on
// marginScene (300×400), and returns what the rules found.
func walkAt(t *testing.T, y, h float32) *sink {
	t.Helper()
	s, err := scenefile.Parse([]byte(marginScene))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 300, 400, time.Minute)
	if e.margin != 5 {
		t.Fatalf("fixture: margin %v, want 5", e.margin)
	}
	out := &sink{}
	green := []edge.SignalState{{Light: edge.Green, Since: base.Add(-time.Minute), OnsetSeen: true}}
	for f := 0; f <= 24; f++ {
		x := float32(40 + 10*f)
		tk := edge.Track{ID: 1, Box: edge.Box{X0: x - 3, Y0: y - h, X1: x + 3, Y1: y}, Class: edge.Person, Score: 1, Hits: f + 3, VX: 100}
		e.Step(frameAt(f), green, []edge.Track{tk}, nil, out)
	}
	e.Flush(out)
	return out
}

// Feet within the margin (5 px) of a crosswalk's paint are on it, for its count; further, not.
func TestCrosswalkMarginCounts(t *testing.T) {
	for _, c := range []struct {
		y     float32
		count int
	}{{255, 1}, {255.1, 0}, {195, 1}, {194.9, 0}} {
		out := walkAt(t, c.y, 8)
		n := 0
		for _, k := range out.counts {
			if k.Zone == "cw" {
				n += k.N[edge.Person]
			}
		}
		if n != c.count {
			t.Errorf("feet at y %v (the paint is y 200..250): counted %d, want %d", c.y, n, c.count)
		}
	}
}

// For jaywalking, feet within a quarter of the person's height of the paint (10 px for a
// 40 px person) are on the crosswalk; further, in the roadway.
func TestCrosswalkBorderForJaywalking(t *testing.T) {
	for _, c := range []struct {
		y   float32
		jay bool
	}{{260, false}, {260.1, true}} {
		out := walkAt(t, c.y, 40)
		jay := false
		for _, ev := range out.events {
			jay = jay || ev.Type == "jaywalking"
		}
		if jay != c.jay {
			t.Errorf("feet at y %v, 40 px tall (the paint ends at 250): events %+v, want jaywalking %v", c.y, out.events, c.jay)
		}
	}
}

// An entry into a zone is confirmed once seen inside for confirm (200 ms): three frames 100 ms
// apart on the track is an intrusion, two are not.
func TestTrackIntrusionConfirmedAfter200ms(t *testing.T) {
	for _, c := range []struct {
		frames int
		events int
	}{{3, 1}, {2, 0}} {
		path := concat(straight(pos{15, 55}, pos{15, 55}, 1, 0), straight(pos{15, 65}, pos{15, 65}, c.frames-1, 0), straight(pos{15, 55}, pos{15, 55}, 1, 10))
		out := walk(t, edge.Person, nil, path)
		if len(out.events) != c.events {
			t.Errorf("%d frames on the track: events %+v, want %d", c.frames, out.events, c.events)
		}
	}
}

// At the platform edge, exactly dwell_s (2 s) is an intrusion, one frame less is not.
func TestPlatformEdgeExactlyTheDwell(t *testing.T) {
	for _, c := range []struct {
		frames int // at the edge, 100 ms apart: 21 frames span 2 s
		events int
	}{{21, 1}, {20, 0}} {
		path := concat(straight(pos{15, 35}, pos{15, 35}, 1, 0), straight(pos{15, 45}, pos{15, 45}, c.frames-1, 0), straight(pos{15, 35}, pos{15, 35}, 1, 10))
		out := walk(t, edge.Person, nil, path)
		if len(out.events) != c.events {
			t.Errorf("%d frames at the edge: events %+v, want %d", c.frames, out.events, c.events)
		}
	}
}

// Jaywalking needs jayConfirm (500 ms) in the roadway: six frames 100 ms apart is, five are not.
// The roadway is the scene's only zone (index 0).
func TestJaywalkingAfter500ms(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
roadways:
  - {id: road, site: main, polygon: [[0.4, 0], [0.8, 0], [0.8, 1], [0.4, 1]]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		frames int
		events int
	}{{6, 1}, {5, 0}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		path := concat(straight(pos{30, 50}, pos{30, 50}, 1, 0), straight(pos{45, 50}, pos{45, 50}, c.frames-1, 0), straight(pos{30, 50}, pos{30, 50}, 1, 10))
		for f, p := range path {
			e.Step(frameAt(f), nil, []edge.Track{personAt(7, p.x, p.y)}, nil, out)
		}
		if len(out.events) != c.events {
			t.Errorf("%d frames in the roadway: events %+v, want %d", c.frames, out.events, c.events)
		}
	}
}

// A person who steps onto a crosswalk exactly grace_s after the don't-walk began is judged;
// a little earlier is inside the grace.
func TestCrosswalkGraceBoundary(t *testing.T) {
	path := straight(pos{33, 75}, pos{95, 75}, 31, 0)
	first := walk(t, edge.Person, lights(edge.Red, edge.Red), path)
	if len(first.events) != 1 {
		t.Fatalf("events %+v, want one", first.events)
	}
	entered := first.events[0].Time
	for _, c := range []struct {
		before time.Duration
		events int
	}{{time.Second, 1}, {900 * time.Millisecond, 0}} {
		sig := lights(edge.Red, edge.Red)
		sig[1].Since = entered.Add(-c.before)
		if out := walk(t, edge.Person, sig, path); len(out.events) != c.events {
			t.Errorf("don't walk since %v before the entry (grace 1 s): events %+v, want %d", c.before, out.events, c.events)
		}
	}
}

// A vehicle crossing exactly grace_s after the red began is judged; a little earlier is not.
func TestRedLightGraceBoundary(t *testing.T) {
	first := drive(t, edge.Red, 0, true, 70, 0, edge.Car)
	if len(first.events) != 1 {
		t.Fatalf("events %+v, want one", first.events)
	}
	crossed := first.events[0].Time.Sub(base).Seconds()
	for _, c := range []struct {
		before float64
		events int
	}{{0.5, 1}, {0.4, 0}} {
		if out := drive(t, edge.Red, crossed-c.before, true, 70, 0, edge.Car); len(out.events) != c.events {
			t.Errorf("red since %.1f s before the crossing (grace 0.5 s): events %+v, want %d", c.before, out.events, c.events)
		}
	}
}

// Signals the caller did not pass (fewer states than the scene has signals) are unknown:
// nothing is judged, nothing breaks.
func TestMissingSignalStatesAreUnknown(t *testing.T) {
	if out := drive(t, edge.Red, 0, true, 70, 0, edge.Car); len(out.events) != 1 {
		t.Fatalf("fixture: events %+v, want one with the signal", out.events)
	}
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	for f := 0; f < 40; f++ {
		y := float32(70 - f)
		e.Step(frameAt(f), nil, []edge.Track{{ID: 1, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2}}, nil, out)
	}
	if len(out.events) != 0 {
		t.Fatalf("events %+v with no signal state, want none", out.events)
	}
	// A berth signal with no state: no train known, the dwell applies.
	s, err = scenefile.Parse([]byte(berthScene))
	if err != nil {
		t.Fatal(err)
	}
	e = New(s, 100, 100, time.Minute)
	out = &sink{}
	for f, p := range straight(pos{15, 60}, pos{15, 45}, 5, 30) {
		e.Step(frameAt(f), nil, []edge.Track{personAt(7, p.x, p.y)}, nil, out)
	}
	if len(out.events) != 1 {
		t.Fatalf("berth with no state: events %+v, want one", out.events)
	}
}

// riding on a slanted line, where both velocity components count: (20,60)→(100,0) crossed
// northward, normal (-0.6,-0.8), tangent (0.8,-0.6); a 10 px box by the line.
func TestRidingOnASlantedLine(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
count_lines:
  - {id: slant, site: main, line: [[0.2, 0.6], [1.0, 0.0]], direction: [0, -1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	b := edge.Box{X0: 55, Y0: 28, X1: 65, Y1: 38} // centre (60, 33): 2.4 px before the line
	for _, c := range []struct {
		name   string
		vx, vy float32
		want   bool
	}{
		{"along the normal", -3, -4, true},                    // along 5, across 0
		{"along over twice across", -1.08, -5.44, true},       // along 5, across 2.4
		{"along not quite twice across", -0.92, -5.56, false}, // along 5, across 2.6
		{"along the line", 4, -3, false},                      // along 0, across 5
		{"backwards", 3, 4, false},                            // along -5
	} {
		if got := e.riding(edge.Track{Box: b, VX: c.vx, VY: c.vy}); got != c.want {
			t.Errorf("%s: riding %v, want %v", c.name, got, c.want)
		}
	}
}

// A box is within a line when its centre projects onto it, or at most a tenth of its length
// beyond either end: (12.5,50)→(62.5,50) is 50 long, 5 px of slack each side (fractions exact
// in binary, so the ends are exact pixels).
func TestWithinTheLineSlack(t *testing.T) {
	l := newLine(scene.Polyline{{X: 0.125, Y: 0.5}, {X: 0.625, Y: 0.5}}, scene.Point{Y: -1}, 100, 100)
	for _, c := range []struct {
		x    float32 // the box centre's
		want bool
	}{{7.5, true}, {7.4, false}, {67.5, true}, {67.6, false}, {35, true}} {
		b := edge.Box{X0: c.x - 2, Y0: 40, X1: c.x + 2, Y1: 56}
		if got := l.within(b); got != c.want {
			t.Errorf("centre x %v: within %v, want %v", c.x, got, c.want)
		}
	}
}

// A person who steps onto a crosswalk from the side (its north edge) between heads for east and
// west, and stands, is judged by the first head listed: neither way is nearer.
func TestCrosswalkFromTheSideStandingFirstHead(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
signals:
  - {id: walk-east, kind: pedestrian, feed: true}
  - {id: walk-west, kind: pedestrian, feed: true}
crosswalks:
  - id: cw
    site: main
    polygon: [[0.4, 0.2], [0.8, 0.2], [0.8, 0.3], [0.4, 0.3]]
    signals:
      - {direction: [1, 0], signal: walk-east}
      - {direction: [-1, 0], signal: walk-west}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		east, west edge.Light
		events     int
	}{{edge.Red, edge.Green, 1}, {edge.Green, edge.Red, 0}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		signals := []edge.SignalState{{Light: c.east, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: c.west, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
		for f, p := range straight(pos{60, 10}, pos{60, 22}, 6, 20) {
			e.Step(frameAt(f), signals, []edge.Track{personAt(7, p.x, p.y)}, nil, out)
		}
		if len(out.events) != c.events {
			t.Errorf("east %v, west %v: events %+v, want %d", c.east, c.west, out.events, c.events)
		}
	}
}

// A fired track still in the zone keeps its place in the area's memory fresh: lost after 5 s
// on the track, a new track there a second later is the same person (the window counts from
// when it was last seen, not from the event), however many others are in the zone.
func TestRepeatWindowFromLastSeen(t *testing.T) {
	e, out := personEngine(t)
	f := 0
	for ; f < 50; f++ { // 5 s on the track (y 60..80); track 2 there too, elsewhere
		e.Step(frameAt(f), nil, []edge.Track{personAt(1, 5, 65), personAt(2, 25, 75)}, nil, out)
	}
	e.Step(frameAt(f), nil, []edge.Track{personAt(2, 25, 75)}, []int{1}, out) // 1 lost
	f++
	for end := f + 10; f < end; f++ { // a second later, back as track 3 where 1 was
		e.Step(frameAt(f), nil, []edge.Track{personAt(3, 5, 65), personAt(2, 25, 75)}, nil, out)
	}
	if len(out.events) != 2 {
		t.Fatalf("events %+v, want 2: tracks 1 and 2, not 3", out.events)
	}
}

// With heads for crossing north and south, a person crossing from the south kerb is judged by
// the north head.
func TestCrosswalkHeadNorthSouth(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
signals:
  - {id: walk-north, kind: pedestrian, feed: true}
  - {id: walk-south, kind: pedestrian, feed: true}
crosswalks:
  - id: cw
    site: main
    polygon: [[0.4, 0.2], [0.5, 0.2], [0.5, 0.8], [0.4, 0.8]]
    signals:
      - {direction: [0, 1], signal: walk-south}
      - {direction: [0, -1], signal: walk-north}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		south, north edge.Light
		events       int
	}{{edge.Green, edge.Red, 1}, {edge.Red, edge.Green, 0}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		signals := []edge.SignalState{{Light: c.north, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: c.south, Since: base.Add(-10 * time.Second), OnsetSeen: true}} // the scene's order
		for f, p := range straight(pos{45, 95}, pos{45, 5}, 45, 0) {
			tk := personAt(7, p.x, p.y)
			tk.VY = -20
			e.Step(frameAt(f), signals, []edge.Track{tk}, nil, out)
		}
		if len(out.events) != c.events {
			t.Errorf("south %v, north %v: events %+v, want %d", c.south, c.north, out.events, c.events)
		}
	}
}

// Stepping on from the side a little off the centre line (toward the centre is (2, 6): 72° from
// east) is not within 60° of either head: the way the person then walks, west, decides.
func TestCrosswalkFromTheSideOffCentre(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
signals:
  - {id: walk-east, kind: pedestrian, feed: true}
  - {id: walk-west, kind: pedestrian, feed: true}
crosswalks:
  - id: cw
    site: main
    polygon: [[0.4, 0.2], [0.8, 0.2], [0.8, 0.3], [0.4, 0.3]]
    signals:
      - {direction: [1, 0], signal: walk-east}
      - {direction: [-1, 0], signal: walk-west}
`))
	if err != nil {
		t.Fatal(err)
	}
	path := concat(straight(pos{58, 5}, pos{58, 19}, 14, 0), straight(pos{57, 19}, pos{20, 19}, 37, 0))
	for _, c := range []struct {
		east, west edge.Light
		events     int
	}{{edge.Red, edge.Green, 0}, {edge.Green, edge.Red, 1}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		signals := []edge.SignalState{{Light: c.east, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: c.west, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
		for f, p := range path {
			tk := personAt(7, p.x, p.y)
			if f > 0 {
				tk.VX, tk.VY = (p.x-path[f-1].x)*10, (p.y-path[f-1].y)*10
			}
			e.Step(frameAt(f), signals, []edge.Track{tk}, nil, out)
		}
		if len(out.events) != c.events {
			t.Errorf("east %v, west %v: events %+v, want %d", c.east, c.west, out.events, c.events)
		}
	}
}

// A crossing exactly between two lanes, on an approach with no heads of its own, is judged by
// the first lane listed (the lanes' stretches are exact pixels: 25..37.5 and 62.5..75).
func TestExactlyBetweenLanesTheFirst(t *testing.T) {
	s := scene.Defaults()
	s.Version, s.Camera = 1, "cam-1"
	s.Signals = []scene.Signal{{ID: "ball", Kind: "vehicle", Feed: true}, {ID: "left", Kind: "vehicle", Arrow: "left", Feed: true}}
	s.Approaches = []scene.Approach{{ID: "nb-stop", Site: "main-nb", StopLine: scene.Polyline{{X: 0.25, Y: 0.625}, {X: 0.75, Y: 0.625}}, Direction: scene.Point{Y: -1},
		Lanes: []scene.Lane{{Stretch: [2]scene.Point{{X: 0.25, Y: 0.625}, {X: 0.375, Y: 0.625}}, Signal: "left"}, {Stretch: [2]scene.Point{{X: 0.625, Y: 0.625}, {X: 0.75, Y: 0.625}}, Signal: "ball"}}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ball, left edge.Light
		events     int
	}{{edge.Green, edge.Red, 1}, {edge.Red, edge.Green, 0}} {
		sig := []edge.SignalState{{Light: c.ball, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: c.left, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
		if out := driveNorth(&s, 50, 0, sig); len(out.events) != c.events {
			t.Errorf("ball %v, left arrow %v: events %+v, want %d", c.ball, c.left, out.events, c.events)
		}
	}
}

// A lane's stretch is placed along the line by both coordinates of its ends: a lane on the
// straight part of a bent bar, ending at x 45, does not reach a car crossing at x 48 (3 px
// past its end, next to the bend), which the approach's ball head judges.
func TestLaneStretchEndsWhereItsPointsAre(t *testing.T) {
	s := bentScene(t, nil)
	s.Signals = append(s.Signals, scene.Signal{ID: "left", Kind: "vehicle", Arrow: "left", Feed: true})
	s.Approaches[0].Lanes = []scene.Lane{{Stretch: [2]scene.Point{{X: 0.2, Y: 0.6}, {X: 0.45, Y: 0.6}}, Signal: "left"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ballRed := []edge.SignalState{{Light: edge.Red, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: edge.Green, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
	for _, c := range []struct {
		name   string
		x      float32
		events int
	}{{"in the lane, its arrow green", 35, 0}, {"past the lane's end, the ball red", 48, 1}} {
		if out := driveNorth(s, c.x, 0, ballRed); len(out.events) != c.events {
			t.Errorf("%s: events %+v, want %d", c.name, out.events, c.events)
		}
	}
}

// Which lane a crossing is in is found from the box's centre, both coordinates: a car crossing
// the bent part of a bar, beyond its straight part's end, is in a lane that covers only the
// outer two thirds of the bent part (along the line 42..66).
func TestLaneOnTheOuterBentPart(t *testing.T) {
	s := bentScene(t, nil)
	s.Signals = append(s.Signals, scene.Signal{ID: "right", Kind: "vehicle", Arrow: "right", Feed: true})
	s.Approaches[0].Lanes = []scene.Lane{{Stretch: [2]scene.Point{{X: 0.6, Y: 0.6 - 0.2/3}, {X: 0.8, Y: 0.4}}, Signal: "right"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ballRed := []edge.SignalState{{Light: edge.Red, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: edge.Green, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
	if out := driveNorth(s, 75, 0, ballRed); len(out.events) != 0 || out.counted(edge.Car) != 1 {
		t.Fatalf("events %+v, counted %d; want none (the lane's arrow is green), 1 counted", out.events, out.counted(edge.Car))
	}
}
