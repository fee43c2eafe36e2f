package rules

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
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
	s, err := scene.Parse([]byte(`
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
	s, err := scene.Parse([]byte(sceneYAML))
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

// A person moving like a rider for riderFrames (3) measured frames in a row is a rider from
// the third.
func TestRiderAfterThreeFrames(t *testing.T) {
	s, err := scene.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	for f := range riderFrames {
		y := float32(70 - f)
		tk := edge.Track{ID: 1, Box: edge.Box{X0: 58, Y0: y - 10, X1: 62, Y1: y}, Class: edge.Person, Score: 1, Hits: f + 2, VY: -10}
		e.Step(frameAt(f), nil, []edge.Track{tk}, nil, out)
		if got, want := e.tracks[1].rider, f == riderFrames-1; got != want {
			t.Fatalf("frame %d: rider %v, want %v", f, got, want)
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
	s, err := scene.Parse([]byte(strings.Replace(sceneYAML, "grace_s: 0.5}", "grace_s: 0.5, confirm_line: [[0.5, 0.4], [0.7, 0.4]]}", 1)))
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
