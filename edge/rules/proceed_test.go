package rules

import (
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// step is one analysed frame of a single car on sceneYAML's approach (a stop line at y 50 of a
// 100×100 frame, traffic going up): the box's top (its front), its speed up the frame in
// pixels per second, and the light.
type step struct {
	top, vy float32
	light   edge.Light
}

// path moves the car's top from a to b one pixel a frame (10 frames a second, so 10 px/s), then
// holds it there for hold frames, under light.
func path(a, b float32, hold int, light edge.Light) []step {
	var out []step
	for y := a; y >= b; y-- {
		out = append(out, step{top: y, vy: -10, light: light})
	}
	for range hold {
		out = append(out, step{top: b, light: light})
	}
	return out
}

// run drives one car (a 6×10 box, so one box height is 10 px) along steps; if end, its track
// ends after the last one. It returns what the rules found and the time of each step.
func run(t *testing.T, steps []step, end bool) (*sink, []time.Time) {
	t.Helper()
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	red := base.Add(-20 * time.Second)
	var at []time.Time
	for f, st := range steps {
		now := base.Add(time.Duration(f) * 100 * time.Millisecond)
		at = append(at, now)
		sig := []edge.SignalState{{Light: st.light, Since: red, OnsetSeen: true, Source: "camera"}}
		tk := edge.Track{ID: 7, Box: edge.Box{X0: 57, Y0: st.top, X1: 63, Y1: st.top + 10}, Class: edge.Car, Score: 1, Hits: f + 2, VY: st.vy}
		e.Step(now, sig, []edge.Track{tk}, nil, out)
	}
	if end {
		e.Step(base.Add(time.Duration(len(steps))*100*time.Millisecond), nil, nil, []int{7}, out)
	}
	e.Flush(out)
	return out, at
}

func join(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// crossing returns the time of the first step whose front is clearly past the line (more than
// the 1 % margin of the frame's diagonal): when the rules count the crossing.
func crossing(steps []step, at []time.Time) time.Time {
	for i, s := range steps {
		if 50-s.top > 0.01*141.5 {
			return at[i]
		}
	}
	return time.Time{}
}

// A vehicle has run the red only once it proceeds into the junction, a box height past the bar,
// before the light turns green. Creeping over the bar and waiting there is a crossing (counted)
// but not a violation, whatever it does on green; one that then goes on red has run it, timed
// from its crossing of the bar.
func TestRedLightNeedsTheVehicleToProceed(t *testing.T) {
	for _, c := range []struct {
		name   string
		steps  []step
		end    bool
		events int
	}{
		{"drives through on red", path(60, 0, 0, edge.Red), false, 1},
		{"creeps half a height over the bar and waits", path(60, 45, 40, edge.Red), false, 0},
		{"creeps over, waits, goes on green", join(path(60, 45, 30, edge.Red), path(45, 0, 0, edge.Green)), false, 0},
		{"creeps over, waits, goes on amber", join(path(60, 45, 30, edge.Red), path(45, 0, 0, edge.Amber)), false, 1},
		{"creeps over, waits, then runs the red", join(path(60, 45, 20, edge.Red), path(45, 0, 0, edge.Red)), false, 1},
		{"waits over the bar longer than the hold, then goes", join(path(60, 45, 110, edge.Red), path(45, 0, 0, edge.Red)), false, 0},
		{"stops just short of a height past the bar", path(60, 41, 40, edge.Red), false, 0},
		{"stops a height past the bar", path(60, 39, 40, edge.Red), false, 1},
		// Lost 4 px past the bar: driving on at 2 heights a second (out of view, or behind a bus),
		// it ran the red; standing there, it did not.
		{"lost while driving on", []step{{60, -20, edge.Red}, {56, -20, edge.Red}, {52, -20, edge.Red}, {48, -20, edge.Red}, {46, -20, edge.Red}}, true, 1},
		{"lost while standing over the bar", join(path(60, 46, 0, edge.Red), []step{{46, 0, edge.Red}, {46, 0, edge.Red}}), true, 0},
		// The speed that counts as driving on is one box height a second, and no less.
		{"lost while driving on at one height a second", []step{{60, -10, edge.Red}, {52, -10, edge.Red}, {48, -10, edge.Red}, {47, -10, edge.Red}}, true, 1},
		{"lost while creeping at half a height a second", []step{{60, -5, edge.Red}, {52, -5, edge.Red}, {48, -5, edge.Red}}, true, 0},
		{"crosses on green", path(60, 0, 0, edge.Green), false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, at := run(t, c.steps, c.end)
			if len(out.events) != c.events {
				t.Fatalf("%d events %+v, want %d", len(out.events), out.events, c.events)
			}
			if out.counted(edge.Car) != 1 {
				t.Fatalf("counted %d, want the crossing once", out.counted(edge.Car))
			}
			if c.events == 1 {
				if want := crossing(c.steps, at); !out.events[0].Time.Equal(want) {
					t.Fatalf("event at %v, want the crossing of the bar at %v", out.events[0].Time.Sub(base), want.Sub(base))
				}
				if out.events[0].Track != 7 || out.events[0].Class != edge.Car || out.events[0].Signal == nil || out.events[0].Signal.Light != edge.Red {
					t.Fatalf("event %+v: want track 7, a car, on red", out.events[0])
				}
			}
		})
	}
}
