package rules

import (
	"math"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// bent is a stop bar along y 60 from x 20 to 50 that bends up to [80, 40] (a 100×100 frame),
// crossed northward.
var bent = scene.Polyline{{X: 0.2, Y: 0.6}, {X: 0.5, Y: 0.6}, {X: 0.8, Y: 0.4}}

// A point is past a polyline by the segment nearest to it, taken as a whole line, so beyond
// either end the end segment's line goes on; it is within the line when it projects onto that
// segment, or past an end of the polyline by at most a tenth of its length.
func TestPolylineSide(t *testing.T) {
	l := newLine(bent, scene.Point{Y: -1}, 100, 100)
	if math.Abs(float64(l.length)-(30+math.Hypot(30, 20))) > 1e-3 {
		t.Fatalf("length %v", l.length)
	}
	for _, c := range []struct {
		name   string
		x, y   float32
		past   float32 // along the governing segment's normal
		within bool
	}{
		{"before the first segment", 30, 65, -5, true},
		{"past the first segment", 30, 55, 5, true},
		{"beyond the first end, inside the slack", 15, 58, 2, true},
		{"beyond the first end, outside the slack", 5, 58, 2, false},
		{"past the bent segment", 70, 45, 1.387, true},
		{"past the first segment's line, before the bent one", 70, 55, -6.934, true},
		{"inside the bend, nearest the bent segment", 52, 57, 1.387, true},
		{"inside the bend, nearest the first segment", 48, 58, 2, true},
		{"outside the bend", 52, 62, -2.774, true},
		{"under the corner: a tie, the earlier segment", 50, 61, -1, true},
		{"beyond the last end, inside the slack", 82, 36, 2.219, true},
		{"beyond the last end, outside the slack, before", 95, 40, -8.321, false},
	} {
		b := edge.Box{X0: c.x, Y0: c.y, X1: c.x, Y1: c.y}
		if got := l.past(b, true); math.Abs(float64(got-c.past)) > 1e-2 {
			t.Errorf("%s: (%v, %v) is %.3f past, want %.3f", c.name, c.x, c.y, got, c.past)
		}
		if got := l.within(b); got != c.within {
			t.Errorf("%s: (%v, %v) within = %v, want %v", c.name, c.x, c.y, got, c.within)
		}
	}
	for _, c := range []struct{ x, y, want float32 }{{65, 50, 30 + 18.028}, {10, 60, -10}, {35, 70, 15}, {90, 30, 30 + 49.92}} {
		if got := l.along(c.x, c.y); math.Abs(float64(got-c.want)) > 1e-2 {
			t.Errorf("along (%v, %v) = %.3f, want %.3f", c.x, c.y, got, c.want)
		}
	}
}

// bentScene governs the bent stop bar with head nb; confirm, if not empty, is its confirm line.
func bentScene(t *testing.T, confirm scene.Polyline) *scene.Scene {
	t.Helper()
	s := scene.Defaults()
	s.Version, s.Camera = 1, "cam-1"
	s.Signals = []scene.Signal{{ID: "nb", Kind: "vehicle", Feed: true}}
	s.Approaches = []scene.Approach{{ID: "nb-stop", Site: "main-nb", StopLine: bent, Direction: scene.Point{Y: -1}, Signal: "nb", ConfirmLine: confirm}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return &s
}

// driveNorth moves a 6×10 car north at x from y 75 (box top) to stopAt, one pixel a frame at
// 10 frames a second, under signals, and returns what the rules found.
func driveNorth(s *scene.Scene, x, stopAt float32, signals []edge.SignalState) *sink {
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	y := float32(75)
	for f := 0; f < 90; f++ {
		tk := edge.Track{ID: 1, Box: edge.Box{X0: x - 3, Y0: y, X1: x + 3, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2, VY: -10}
		e.Step(base.Add(time.Duration(f)*100*time.Millisecond), signals, []edge.Track{tk}, nil, out)
		y = max(stopAt, y-1)
	}
	e.Flush(out)
	return out
}

func red() []edge.SignalState {
	return []edge.SignalState{{Light: edge.Red, Since: base.Add(-10 * time.Second), OnsetSeen: true, Source: wire.SignalFeed}}
}

// A vehicle is judged against the segment it crosses: one that stops past the straight bar's
// line but short of the bent part, where it drives, has not crossed.
func TestBentStopLine(t *testing.T) {
	s := bentScene(t, nil)
	for _, c := range []struct {
		name            string
		x               float32
		stopAt          float32
		counted, events int
	}{
		{"across the straight part", 35, 0, 1, 1},
		{"stops before the straight part", 35, 61, 0, 0},
		{"across the bent part", 70, 0, 1, 1},
		{"stops past the straight part's line, short of the bent part", 70, 50, 0, 0},
		// The bar at x 67 (the box's leading corner) is at y 48.7: over it by half the box's
		// height, and stopped there, it crossed (counted) but did not run the red.
		{"stops past the bent part", 70, 44, 1, 0},
		{"stops a box height past the bent part", 70, 34, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := driveNorth(s, c.x, c.stopAt, red())
			if len(out.events) != c.events || out.counted(edge.Car) != c.counted {
				t.Fatalf("events %+v, counted %d; want %d events, %d counted", out.events, out.counted(edge.Car), c.events, c.counted)
			}
		})
	}
}

// A confirm line bent as the stop line is: a vehicle that stops past the straight part's line
// but short of the bent part, where it drives, has not confirmed.
func TestBentConfirmLine(t *testing.T) {
	s := bentScene(t, scene.Polyline{{X: 0.2, Y: 0.45}, {X: 0.5, Y: 0.45}, {X: 0.8, Y: 0.25}})
	for _, c := range []struct {
		name   string
		stopAt float32
		events int
	}{
		{"goes on", 0, 1},
		{"stops between the bent parts", 38, 0}, // past y 45, the straight part's line; the bent part is at y 33.7 for x 67
	} {
		t.Run(c.name, func(t *testing.T) {
			if out := driveNorth(s, 70, c.stopAt, red()); len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
		})
	}
}

// A vehicle first seen astride the bent part is entering when it moves across that part, not
// across the straight part: the normal of the segment that judges it decides.
func TestAstrideTheBentPart(t *testing.T) {
	s := bentScene(t, nil)
	for _, c := range []struct {
		name   string
		vx, vy float32
		events int
	}{
		{"moving north, across the bent part", 0, -10, 1},
		{"moving north-east, along the bent part", 10, -8, 0}, // 8 px/s across the straight part: entering, if it judged
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			x, y := float32(70), float32(42) // the box 67..73 × 42..52 astride the bar (y 48.7 at x 67)
			for f := 0; f < 30; f++ {
				tk := edge.Track{ID: 4, Box: edge.Box{X0: x - 3, Y0: y, X1: x + 3, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2, VX: c.vx, VY: c.vy}
				e.Step(base.Add(time.Duration(f)*100*time.Millisecond), red(), []edge.Track{tk}, nil, out)
				x, y = x+c.vx/10, y+c.vy/10
			}
			if len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
		})
	}
}

// FrontPoint on a bent line is measured along the normal of the segment that judges the box.
func TestFrontPointBent(t *testing.T) {
	a := scene.Approach{StopLine: bent, Direction: scene.Point{Y: -1}, Front: 0.2}
	b := edge.Box{X0: 64, Y0: 40, X1: 76, Y1: 60}
	x, y := FrontPoint(a, b, 100, 100)
	l := newLine(a.StopLine, a.Direction, 100, 100)
	sg := l.seg(b)
	if sg != &l.segs[1] {
		t.Fatal("the box is judged by the first segment")
	}
	if got, want := sg.past(edge.Box{X0: x, Y0: y, X1: x, Y1: y}, true), l.frontPast(b, 0.2); math.Abs(float64(got-want)) > 1e-3 {
		t.Fatalf("front point (%.2f, %.2f) is %.2f past, the test measures %.2f", x, y, got, want)
	}
	// Moved along the bent segment's normal from the box centre, not straight up.
	if dx := x - 70; math.Abs(float64(dx)) < 0.5 {
		t.Fatalf("front point (%.2f, %.2f) is straight above the centre", x, y)
	}
}

// Several heads for one lane: unreadable ones are left out, readable ones for one movement
// that disagree are unknown, and otherwise the most permissive light governs.
func TestResolveHeads(t *testing.T) {
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	st := func(l edge.Light, since float64, onset bool) edge.SignalState {
		return edge.SignalState{Light: l, Since: at(since), OnsetSeen: onset, Source: wire.SignalCamera}
	}
	ball, ball2, left, right := head{i: 0}, head{i: 1}, head{i: 2, arrow: "left"}, head{i: 3, arrow: "right"}
	marked := head{i: -1}
	U, R, A, G := edge.LightUnknown, edge.Red, edge.Amber, edge.Green
	for _, c := range []struct {
		name   string
		heads  []head
		lights [4]edge.SignalState
		want   edge.Light
		since  float64
		onset  bool
	}{
		{"one head", []head{ball}, [4]edge.SignalState{st(R, 1, true)}, R, 1, true},
		{"two ball heads agree: the later onset", []head{ball, ball2}, [4]edge.SignalState{st(R, 1, true), st(R, 2, false)}, R, 2, false},
		{"two ball heads agree, the other later", []head{ball, ball2}, [4]edge.SignalState{st(R, 3, true), st(R, 2, false)}, R, 3, true},
		{"two ball heads disagree", []head{ball, ball2}, [4]edge.SignalState{st(R, 1, true), st(G, 1, true)}, U, 0, false},
		{"one of two unreadable", []head{ball, ball2}, [4]edge.SignalState{{}, st(R, 1, true)}, R, 1, true},
		{"none readable", []head{ball, ball2}, [4]edge.SignalState{}, U, 0, false},
		{"ball red, arrow green: go", []head{ball, left}, [4]edge.SignalState{st(R, 1, true), {}, st(G, 1, true)}, G, 1, true},
		{"ball green, arrow red: go", []head{ball, left}, [4]edge.SignalState{st(G, 1, true), {}, st(R, 1, true)}, G, 1, true},
		{"ball red, arrow amber", []head{ball, left}, [4]edge.SignalState{st(R, 1, true), {}, st(A, 1, true)}, A, 1, true},
		{"ball red, arrow red", []head{ball, left}, [4]edge.SignalState{st(R, 1, true), {}, st(R, 4, true)}, R, 4, true},
		{"ball red, arrow dark", []head{ball, left}, [4]edge.SignalState{st(R, 1, true)}, R, 1, true},
		{"two arrows for two movements differ", []head{left, right}, [4]edge.SignalState{2: st(R, 1, true), 3: st(G, 1, true)}, G, 1, true},
		{"an arrow alone", []head{left}, [4]edge.SignalState{2: st(R, 5, true)}, R, 5, true},
		{"a head marked unknown is left out", []head{marked, ball2}, [4]edge.SignalState{st(G, 1, true), st(R, 1, true)}, R, 1, true},
		{"a head marked unknown alone", []head{marked}, [4]edge.SignalState{st(R, 1, true)}, U, 0, false},
		{"no heads", nil, [4]edge.SignalState{st(R, 1, true)}, U, 0, false},
	} {
		got := resolve(c.lights[:], c.heads)
		if got.Light != c.want || (c.want != U && (!got.Since.Equal(at(c.since)) || got.OnsetSeen != c.onset)) {
			t.Errorf("%s: %v since %v onset %v, want %v since %v onset %v", c.name, got.Light, got.Since.Sub(base), got.OnsetSeen, c.want, c.since, c.onset)
		}
	}
}

// A left-turn lane judged by its arrow head alone, the other lanes by the ball head: a car
// crossing in a lane is judged by that lane's heads. With no heads of its own, the approach
// judges a crossing outside every lane by the nearest lane.
func TestLanes(t *testing.T) {
	sc := func(approachHead bool) *scene.Scene {
		s := scene.Defaults()
		s.Version, s.Camera = 1, "cam-1"
		s.Signals = []scene.Signal{{ID: "ball", Kind: "vehicle", Feed: true}, {ID: "left", Kind: "vehicle", Arrow: "left", Feed: true}}
		a := scene.Approach{ID: "nb-stop", Site: "main-nb", StopLine: scene.Polyline{{X: 0.2, Y: 0.6}, {X: 0.8, Y: 0.6}}, Direction: scene.Point{Y: -1},
			Lanes: []scene.Lane{{Stretch: [2]scene.Point{{X: 0.2, Y: 0.6}, {X: 0.4, Y: 0.6}}, Signal: "left"}}}
		if approachHead {
			a.Signal = "ball"
		} else {
			a.Lanes = append(a.Lanes, scene.Lane{Stretch: [2]scene.Point{{X: 0.6, Y: 0.6}, {X: 0.8, Y: 0.6}}, Signal: "ball"})
		}
		s.Approaches = []scene.Approach{a}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	lights := func(ball, left edge.Light) []edge.SignalState {
		return []edge.SignalState{{Light: ball, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: left, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
	}
	for _, c := range []struct {
		name         string
		approachHead bool
		x            float32
		ball, left   edge.Light
		events       int
	}{
		{"left lane, arrow red, ball green", true, 30, edge.Green, edge.Red, 1},
		{"left lane, arrow green, ball red", true, 30, edge.Red, edge.Green, 0},
		{"through lane, arrow red, ball green", true, 60, edge.Green, edge.Red, 0},
		{"through lane, arrow green, ball red", true, 60, edge.Red, edge.Green, 1},
		{"between lanes, nearer the left lane", false, 45, edge.Green, edge.Red, 1},
		{"between lanes, nearer the through lane", false, 55, edge.Green, edge.Red, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := driveNorth(sc(c.approachHead), c.x, 0, lights(c.ball, c.left))
			if len(out.events) != c.events || out.counted(edge.Car) != 1 {
				t.Fatalf("events %+v, counted %d; want %d events, 1 counted", out.events, out.counted(edge.Car), c.events)
			}
		})
	}
}

// An approach or crosswalk whose signal is unknown judges nothing and still counts: a head
// marked unknown in the scene (even if a reading came in for it), and a head read as unknown.
func TestUnknownJudgesNothing(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
signals:
  - {id: hidden, kind: vehicle, state: unknown}
  - {id: hidden-too, kind: vehicle, state: unknown, feed: true}
  - {id: nb, kind: vehicle, feed: true}
approaches:
  - {id: nb-stop, site: main-nb, stop_line: [[0.2, 0.6], [0.8, 0.6]], direction: [0, -1], signal: hidden}
crosswalks:
  - {id: cw-hidden, site: main, polygon: [[0.4, 0.2], [0.8, 0.2], [0.8, 0.3], [0.4, 0.3]], signal: hidden-too}
  - {id: cw-dark, site: main, polygon: [[0.4, 0.7], [0.8, 0.7], [0.8, 0.8], [0.4, 0.8]], signal: nb}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		signals []edge.SignalState
	}{
		// Red for the approach and green (the conflicting phase: don't walk) for the crosswalk
		// would be events, were the heads not marked unknown; nb is read unknown (dark).
		{"marked unknown, read red and green", []edge.SignalState{{Light: edge.Red, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: edge.Green, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {}}},
		{"marked unknown and read unknown", make([]edge.SignalState, 3)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			for f := 0; f < 60; f++ {
				y := float32(75 - f)
				e.Step(base.Add(time.Duration(f)*100*time.Millisecond), c.signals, []edge.Track{
					{ID: 1, Box: edge.Box{X0: 27, Y0: y, X1: 33, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2},
					{ID: 2, Box: edge.Box{X0: 18 + float32(f) - 2, Y0: 17, X1: 18 + float32(f) + 2, Y1: 25}, Class: edge.Person, Score: 1, Hits: f + 2},
					{ID: 3, Box: edge.Box{X0: 18 + float32(f) - 2, Y0: 67, X1: 18 + float32(f) + 2, Y1: 75}, Class: edge.Person, Score: 1, Hits: f + 2},
				}, nil, out)
			}
			e.Flush(out)
			if len(out.events) != 0 {
				t.Fatalf("events %+v on unknown signals", out.events)
			}
			if out.counted(edge.Car) != 1 || out.counted(edge.Person) != 2 {
				t.Fatalf("counted %d cars and %d people, want 1 and 2", out.counted(edge.Car), out.counted(edge.Person))
			}
		})
	}
}

// A crosswalk with a head per direction of crossing judges each person by the head for the
// way they cross: from the kerb they stepped on at toward the far one, or, stepping on from
// the side, the way they then walk.
func TestCrosswalkHeadPerDirection(t *testing.T) {
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
	eastward := straight(pos{20, 25}, pos{95, 25}, 40, 0)
	westward := straight(pos{95, 25}, pos{20, 25}, 40, 0)
	// On at the north side, then west: the first head listed, east, would judge one standing.
	fromSide := concat(straight(pos{60, 5}, pos{60, 19}, 14, 0), straight(pos{59, 19}, pos{20, 19}, 39, 0))
	for _, c := range []struct {
		name       string
		path       []pos
		east, west edge.Light
		events     int
	}{
		{"eastward, east head red", eastward, edge.Red, edge.Green, 1},
		{"eastward, west head red", eastward, edge.Green, edge.Red, 0},
		{"westward, east head red", westward, edge.Red, edge.Green, 0},
		{"westward, west head red", westward, edge.Green, edge.Red, 1},
		{"eastward, its head unknown", eastward, edge.LightUnknown, edge.Red, 0},
		{"from the side, then west, east head red", fromSide, edge.Red, edge.Green, 0},
		{"from the side, then west, west head red", fromSide, edge.Green, edge.Red, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			signals := []edge.SignalState{{Light: c.east, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: c.west, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
			for f, p := range c.path {
				var vx, vy float32
				if f > 0 {
					vx, vy = (p.x-c.path[f-1].x)*10, (p.y-c.path[f-1].y)*10
				}
				tk := edge.Track{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - 8, X1: p.x + 2, Y1: p.y}, Class: edge.Person, Score: 1, Hits: f + 3, VX: vx, VY: vy}
				e.Step(base.Add(time.Duration(f)*100*time.Millisecond), signals, []edge.Track{tk}, nil, out)
			}
			e.Flush(out)
			if len(out.events) != c.events || out.counted(edge.Person) != 1 {
				t.Fatalf("events %+v, counted %d; want %d events, 1 counted", out.events, out.counted(edge.Person), c.events)
			}
			if c.events == 1 && (out.events[0].Type != wire.PedAgainstSignal || out.events[0].Signal == nil || out.events[0].Signal.Light != edge.Red) {
				t.Fatalf("event %+v", out.events[0])
			}
		})
	}
}

// A lane on the bent part of a stop line: its stretch is placed along the polyline, so a car
// crossing the bent part is judged by the lane's arrow, one crossing the straight part by the
// approach's ball head.
func TestLaneOnTheBend(t *testing.T) {
	s := bentScene(t, nil)
	s.Signals = append(s.Signals, scene.Signal{ID: "right", Kind: "vehicle", Arrow: "right", Feed: true})
	s.Approaches[0].Lanes = []scene.Lane{{Stretch: [2]scene.Point{{X: 0.5, Y: 0.6}, {X: 0.8, Y: 0.4}}, Signal: "right"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ballRed := []edge.SignalState{{Light: edge.Red, Since: base.Add(-10 * time.Second), OnsetSeen: true}, {Light: edge.Green, Since: base.Add(-10 * time.Second), OnsetSeen: true}}
	for _, c := range []struct {
		name   string
		x      float32
		events int
	}{{"on the bend, its arrow green", 70, 0}, {"on the straight part, the ball red", 35, 1}} {
		if out := driveNorth(s, c.x, 0, ballRed); len(out.events) != c.events || out.counted(edge.Car) != 1 {
			t.Errorf("%s: events %+v, counted %d; want %d events, 1 counted", c.name, out.events, out.counted(edge.Car), c.events)
		}
	}
}

// A count line that bends counts a road user crossing its bent part once, one that stops past
// the straight part's line but short of the bent part not at all, nor one driving the other way.
func TestBentCountLine(t *testing.T) {
	s := scene.Defaults()
	s.Version, s.Camera = 1, "cam-1"
	s.CountLines = []scene.CountLine{{ID: "ramp", Site: "ramp-1", Line: bent, Direction: scene.Point{Y: -1}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	e := New(&s, 100, 100, time.Minute)
	out := &sink{}
	for f := 0; f < 60; f++ {
		up, down := float32(75-f), float32(20+f)
		e.Step(base.Add(time.Duration(f)*100*time.Millisecond), nil, []edge.Track{
			{ID: 1, Box: edge.Box{X0: 67, Y0: up, X1: 73, Y1: up + 10}, Class: edge.Car, Hits: f + 2},
			{ID: 2, Box: edge.Box{X0: 72, Y0: down, X1: 78, Y1: down + 10}, Class: edge.Car, Hits: f + 2},
			{ID: 3, Box: edge.Box{X0: 73, Y0: max(48, up), X1: 79, Y1: max(48, up) + 10}, Class: edge.Car, Hits: f + 2}, // the bend is at y 44.7 for x 73
		}, nil, out)
	}
	e.Flush(out)
	if len(out.events) != 0 || out.counted(edge.Car) != 1 {
		t.Fatalf("events %+v, counted %d; want none and 1", out.events, out.counted(edge.Car))
	}
}

// The richer scene's frame path allocates nothing in steady state either: judging boxes against
// polylines of several segments (the heads are resolved only at a crossing or an entry).
func TestRichStepAllocatesNothing(t *testing.T) {
	s, err := scenefile.Load("../scene/testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	sig := make([]edge.SignalState, len(s.Signals))
	for i := range sig {
		sig[i] = edge.SignalState{Light: edge.Light(1 + i%3), Since: base, OnsetSeen: true}
	}
	tracks := make([]edge.Track, 20)
	for i := range tracks {
		tracks[i] = edge.Track{ID: i + 1, Box: edge.Box{X0: float32(i * 5), Y0: 50, X1: float32(i*5 + 4), Y1: 64}, Class: edge.Class(1 + i%6), Hits: 5}
	}
	stepAllocatesNothing(t, e, sig, tracks, out)
}
