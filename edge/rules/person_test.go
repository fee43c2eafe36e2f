package rules

import (
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// A 100×100 frame: a north-south roadway (x 40..80) with two crosswalks, one governed by the
// conflicting vehicle phase and one by a pedestrian head, and a platform on the left with its
// edge strip and the track.
const personScene = `
version: 1
camera: cam-1
signals:
  - {id: nb, kind: vehicle, region: [[0.9, 0.1], [0.95, 0.3]]}
  - {id: walk, kind: pedestrian, region: [[0.9, 0.5], [0.95, 0.6]]}
crosswalks:
  - {id: cw-veh, site: main, polygon: [[0.4, 0.2], [0.8, 0.2], [0.8, 0.3], [0.4, 0.3]], signal: nb}
  - {id: cw-ped, site: main, polygon: [[0.4, 0.7], [0.8, 0.7], [0.8, 0.8], [0.4, 0.8]], signal: walk, grace_s: 1}
  - {id: cw-none, site: main, polygon: [[0.4, 0.9], [0.8, 0.9], [0.8, 0.95], [0.4, 0.95]]}
roadways:
  - {id: road, site: main, polygon: [[0.4, 0], [0.8, 0], [0.8, 1], [0.4, 1]]}
platform_edges:
  - {id: edge-1, site: plat, polygon: [[0, 0.4], [0.3, 0.4], [0.3, 0.5], [0, 0.5]], dwell_s: 2}
tracks:
  - {id: track-1, site: plat, polygon: [[0, 0.6], [0.3, 0.6], [0.3, 0.8], [0, 0.8]]}
`

type pos struct{ x, y float32 }

// walk moves one track along path (one position per 100 ms frame) and returns what the rules found.
func walk(t *testing.T, class edge.Class, signals []edge.SignalState, path []pos) *sink {
	t.Helper()
	s, err := scenefile.Parse([]byte(personScene))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	for f, p := range path {
		now := base.Add(time.Duration(f) * 100 * time.Millisecond)
		tk := edge.Track{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - 8, X1: p.x + 2, Y1: p.y}, Class: class, Score: 1, Hits: f + 3}
		e.Step(now, signals, []edge.Track{tk}, nil, out)
	}
	e.Flush(out)
	return out
}

// straight is a straight path from a to b in n frames, then still for hold frames.
func straight(a, b pos, n, hold int) []pos {
	var out []pos
	for i := 0; i <= n; i++ {
		f := float32(i) / float32(n)
		out = append(out, pos{a.x + (b.x-a.x)*f, a.y + (b.y-a.y)*f})
	}
	for range hold {
		out = append(out, b)
	}
	return out
}

func concat(ps ...[]pos) []pos {
	var out []pos
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func lights(veh, ped edge.Light) []edge.SignalState {
	return []edge.SignalState{{Light: veh, Since: base.Add(-10 * time.Second), OnsetSeen: true, Source: wire.SignalCamera},
		{Light: ped, Since: base.Add(-10 * time.Second), OnsetSeen: true, Source: wire.SignalCamera}}
}

func TestPersonRules(t *testing.T) {
	acrossVeh := straight(pos{20, 25}, pos{95, 25}, 40, 0) // over cw-veh, west to east
	acrossPed := straight(pos{33, 75}, pos{95, 75}, 31, 0)
	cases := []struct {
		name    string
		class   edge.Class
		signals []edge.SignalState
		path    []pos
		want    map[string]string // event type → zone
		at      float64           // seconds after base of the (single) event, or -1
	}{
		{"crosswalk while the conflicting phase is green", edge.Person, lights(edge.Green, edge.Green), acrossVeh, map[string]string{wire.PedAgainstSignal: "cw-veh"}, 1.0},
		{"crosswalk while the conflicting phase is amber", edge.Person, lights(edge.Amber, edge.Green), acrossVeh, map[string]string{wire.PedAgainstSignal: "cw-veh"}, 1.0},
		{"crosswalk while the conflicting phase is red", edge.Person, lights(edge.Red, edge.Green), acrossVeh, nil, -1},
		{"crosswalk, signal unknown", edge.Person, lights(edge.LightUnknown, edge.Green), acrossVeh, nil, -1},
		{"pedestrian head red", edge.Person, lights(edge.Red, edge.Red), acrossPed, map[string]string{wire.PedAgainstSignal: "cw-ped"}, 0.3},
		{"pedestrian head green", edge.Person, lights(edge.Green, edge.Green), acrossPed, nil, -1},
		{"first seen on the crosswalk", edge.Person, lights(edge.Green, edge.Green), straight(pos{50, 25}, pos{95, 25}, 20, 0), nil, -1},
		{"a cyclist on the crosswalk is not judged", edge.Bicycle, lights(edge.Green, edge.Green), acrossVeh, nil, -1},
		{"unsignalised crosswalk", edge.Person, lights(edge.Green, edge.Red), straight(pos{20, 92}, pos{95, 92}, 40, 0), nil, -1},
		{"jaywalking mid-block", edge.Person, lights(edge.Red, edge.Green), straight(pos{20, 50}, pos{95, 50}, 40, 0), map[string]string{wire.Jaywalking: "road"}, 1.0},
		{"a cyclist in the roadway is not jaywalking", edge.Bicycle, lights(edge.Red, edge.Green), straight(pos{20, 50}, pos{95, 50}, 40, 0), nil, -1},
		{"steps off the kerb and back", edge.Person, lights(edge.Red, edge.Green), concat(straight(pos{30, 50}, pos{42, 50}, 6, 0), straight(pos{42, 50}, pos{30, 50}, 6, 0)), nil, -1},
		{"platform edge, longer than the dwell", edge.Person, nil, straight(pos{15, 30}, pos{15, 45}, 5, 30), map[string]string{wire.PlatformEdgeIntrusion: "edge-1"}, 0.4 + 2},
		{"platform edge, shorter than the dwell", edge.Person, nil, concat(straight(pos{15, 30}, pos{15, 45}, 5, 10), straight(pos{15, 45}, pos{15, 30}, 5, 10)), nil, -1},
		{"on the track", edge.Person, nil, straight(pos{15, 30}, pos{15, 70}, 20, 5), map[string]string{wire.TrackIntrusion: "track-1", wire.PlatformEdgeIntrusion: ""}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := walk(t, c.class, c.signals, c.path)
			got := map[string]string{}
			for _, e := range out.events {
				if _, dup := got[e.Type]; dup {
					t.Fatalf("two %s events: %+v", e.Type, out.events)
				}
				got[e.Type] = e.Zone
			}
			for typ, zone := range c.want {
				if zone == "" { // must not fire
					if _, ok := got[typ]; ok {
						t.Errorf("unexpected %s", typ)
					}
					delete(c.want, typ)
					continue
				}
				if got[typ] != zone {
					t.Errorf("%s in %q, want %q (events %+v)", typ, got[typ], zone, out.events)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("events %+v, want %v", out.events, c.want)
			}
			if c.at >= 0 && len(out.events) == 1 {
				if d := out.events[0].Time.Sub(base).Seconds() - c.at; d < -0.11 || d > 0.11 {
					t.Errorf("event at %.2f s, want %.2f", out.events[0].Time.Sub(base).Seconds(), c.at)
				}
			}
		})
	}
}

func TestPersonRulesGraceAndRevisits(t *testing.T) {
	// The walker enters at 0.3 s. With a grace of 1 s, 0.8 s into a pedestrian red does not
	// count; 1.8 s in does.
	for _, c := range []struct {
		since float64
		n     int
	}{{-0.5, 0}, {-1.5, 1}} {
		sig := lights(edge.Red, edge.Red)
		sig[1].Since = base.Add(time.Duration(c.since * float64(time.Second)))
		if out := walk(t, edge.Person, sig, straight(pos{33, 75}, pos{95, 75}, 31, 0)); len(out.events) != c.n {
			t.Errorf("red since %.1f s: %+v", c.since, out.events)
		}
	}
	// Two visits to the platform edge, each longer than the dwell: two events.
	visits := concat(straight(pos{15, 30}, pos{15, 45}, 5, 30), straight(pos{15, 45}, pos{15, 30}, 5, 10), straight(pos{15, 30}, pos{15, 45}, 5, 30))
	if out := walk(t, edge.Person, nil, visits); len(out.events) != 2 {
		t.Errorf("two visits: %+v", out.events)
	}
}

func TestZoneCounts(t *testing.T) {
	out := walk(t, edge.Person, lights(edge.Red, edge.Green), straight(pos{20, 25}, pos{95, 25}, 40, 0))
	got := map[string]int{}
	for _, c := range out.counts {
		got[c.Zone] += c.N[edge.Person]
	}
	if got["cw-veh"] != 1 || got["cw-ped"] != 0 || got["edge-1"] != 0 {
		t.Fatalf("counts %v", got)
	}
	if _, ok := got["road"]; ok {
		t.Fatal("roadways are not counted")
	}
}

// personEngine returns an engine on personScene, analysed at 100×100, and its sink.
func personEngine(t *testing.T) (*Engine, *sink) {
	t.Helper()
	s, err := scenefile.Parse([]byte(personScene))
	if err != nil {
		t.Fatal(err)
	}
	return New(s, 100, 100, time.Minute), &sink{}
}

// frameAt is the time of frame f, frames 100 ms apart.
func frameAt(f int) time.Time { return base.Add(time.Duration(f) * 100 * time.Millisecond) }

// personAt is a person track with their feet at (x, y).
func personAt(id int, x, y float32) edge.Track {
	return edge.Track{ID: id, Box: edge.Box{X0: x - 2, Y0: y - 8, X1: x + 2, Y1: y}, Class: edge.Person, Score: 1, Hits: 10}
}

// A zone counts each road user once, not each track: a track that begins inside the zone in
// mid-picture where a counted road user's track was just lost is that road user again. Road
// users there when the view begins, coming in at the frame's border, first found inside away
// from everyone counted, or beside a counted road user still tracked, are counted.
func TestZoneCountsOncePerRoadUser(t *testing.T) {
	e, out := personEngine(t)
	step := func(from, to int, ended []int, tracks ...edge.Track) {
		for f := from; f < to; f++ {
			e.Step(frameAt(f), nil, tracks, ended, out)
			ended = nil
		}
	}
	counts := func() map[string]int {
		e.Flush(out)
		got := map[string]int{}
		for _, c := range out.counts {
			got[c.Zone] += c.N[edge.Person]
		}
		out.counts = nil
		return got
	}
	// Two people side by side on the crosswalk, and one at the platform edge, when the view begins.
	step(0, 40, nil, personAt(1, 50, 25), personAt(2, 53, 25), personAt(10, 6, 45))
	// Track 1 breaks; track 5 begins where it was: the same person.
	step(40, 50, []int{1}, personAt(5, 51, 25), personAt(2, 53, 25), personAt(10, 6, 45))
	// Track 6 is first found inside, away from everyone counted: a person the detector found late.
	// Track 7 begins beside track 2, which is still tracked: a second person walking with them.
	step(50, 60, nil, personAt(5, 51, 25), personAt(2, 53, 25), personAt(6, 70, 25), personAt(7, 56, 25), personAt(10, 6, 45))
	// At the platform edge, track 10 ends and track 11 comes in at the frame's border beside it.
	step(60, 70, []int{10}, personAt(5, 51, 25), personAt(2, 53, 25), personAt(6, 70, 25), personAt(7, 56, 25), personAt(11, 1, 45))
	if got := counts(); got["cw-veh"] != 4 || got["edge-1"] != 2 {
		t.Fatalf("counts %v, want cw-veh 4 (1, 2, 6 and 7; not 5) and edge-1 2 (10 and 11)", got)
	}
	// The camera's view changes: every track ends, and whoever is in the new view is counted.
	e.Restart(frameAt(70))
	step(70, 71, []int{5, 2, 6, 7, 11})
	step(71, 80, nil, personAt(12, 51, 25))
	if got := counts(); got["cw-veh"] != 1 {
		t.Fatalf("after a new view: counts %v, want cw-veh 1", got)
	}
}

// A person whose track breaks and comes back as a new track at the same place is one event;
// a second person at the same place while the first is still in view is another.
func TestRepeatAfterTrackBreak(t *testing.T) {
	e, out := personEngine(t)
	f := 0
	for ; f < 10; f++ { // track 1 steps onto the track
		e.Step(frameAt(f), nil, []edge.Track{personAt(1, 15, 55+float32(f))}, nil, out)
	}
	e.Step(frameAt(f), nil, nil, []int{1}, out) // lost
	f += 5
	for end := f + 10; f < end; f++ { // back as track 2, same place
		e.Step(frameAt(f), nil, []edge.Track{personAt(2, 15, 66)}, nil, out)
	}
	if len(out.events) != 1 {
		t.Fatalf("a broken track counted twice: %+v", out.events)
	}
	for end := f + 10; f < end; f++ { // track 2 still there; track 3 steps on beside it
		e.Step(frameAt(f), nil, []edge.Track{personAt(2, 15, 66), personAt(3, 18, 55+float32(f%10))}, nil, out)
	}
	if len(out.events) != 2 {
		t.Fatalf("a second person next to the first: %+v", out.events)
	}
}

// A platform edge with a berth signal: green while a train stands with its doors open.
const berthScene = `
version: 1
camera: cam-1
signals:
  - {id: doors, kind: berth, feed: true}
platform_edges:
  - {id: edge-1, site: plat, polygon: [[0, 0.4], [0.3, 0.4], [0.3, 0.5], [0, 0.5]], dwell_s: 2, berth: doors}
`

// People at the edge while the doors are open are boarding: no event. Whoever is still there
// when the doors close counts after dwell_s from then; with the doors closed, as without a berth.
func TestPlatformEdgeBerth(t *testing.T) {
	s, err := scenefile.Parse([]byte(berthScene))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		doors func(f int) edge.Light // the berth signal at frame f (100 ms frames)
		at    float64                // seconds after base of the event, or -1 for none
	}{
		{"doors open the whole time", func(int) edge.Light { return edge.Green }, -1},
		{"doors close at 3 s, still at the edge", func(f int) edge.Light {
			if f < 30 {
				return edge.Green
			}
			return edge.Red
		}, 3 + 2},
		{"no train", func(int) edge.Light { return edge.Red }, 0.5 + 2},
		{"berth state unknown", func(int) edge.Light { return edge.LightUnknown }, 0.5 + 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			// From the platform (y 60) into the edge strip (y 45) in 5 frames, then 6 s still.
			for f, p := range straight(pos{15, 60}, pos{15, 45}, 5, 60) {
				now := base.Add(time.Duration(f) * 100 * time.Millisecond)
				sig := []edge.SignalState{{Light: c.doors(f), Since: base, Source: wire.SignalFeed}}
				tk := edge.Track{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - 8, X1: p.x + 2, Y1: p.y}, Class: edge.Person, Score: 1, Hits: f + 3}
				e.Step(now, sig, []edge.Track{tk}, nil, out)
			}
			e.Flush(out)
			var got []edge.Event
			for _, ev := range out.events {
				if ev.Type == wire.PlatformEdgeIntrusion {
					got = append(got, ev)
				}
			}
			switch {
			case c.at < 0 && len(got) > 0:
				t.Fatalf("%d events, want none: %+v", len(got), got)
			case c.at >= 0 && len(got) != 1:
				t.Fatalf("%d events, want 1", len(got))
			case c.at >= 0:
				if d := got[0].Time.Sub(base).Seconds(); d < c.at-0.15 || d > c.at+0.15 {
					t.Fatalf("event at %.2f s, want %.2f s", d, c.at)
				}
			}
		})
	}
}

// A person whose feet are just off a crosswalk's paint is on it, within a quarter of their own
// height: near the camera (a tall box) a few pixels off is centimetres; far away (a small box)
// the same pixels are metres, and crossing there is jaywalking.
func TestCrosswalkBorderScalesWithThePerson(t *testing.T) {
	s, err := scenefile.Parse([]byte(personScene))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		height float32
		jay    bool
	}{
		{"near: 3 px off is on the crosswalk", 40, false},
		{"far: 3 px off is jaywalking", 6, true},
	} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		// along cw-none (y 90..95), 3 px below its bottom edge, west to east across the roadway
		for f, p := range straight(pos{20, 98}, pos{95, 98}, 40, 0) {
			now := base.Add(time.Duration(f) * 100 * time.Millisecond)
			tk := edge.Track{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - c.height, X1: p.x + 2, Y1: p.y}, Class: edge.Person, Score: 1, Hits: f + 3}
			e.Step(now, lights(edge.Red, edge.Green), []edge.Track{tk}, nil, out)
		}
		if got := len(out.events) == 1 && out.events[0].Type == wire.Jaywalking; got != c.jay {
			t.Errorf("%s: events %+v, want jaywalking %v", c.name, out.events, c.jay)
		}
	}
}

// A driver getting out of a car (a crash, a breakdown at the kerb) and walking into the road did
// not step off the kerb: no jaywalking. The same walk by someone who came from the kerb is.
func TestGettingOutOfAVehicle(t *testing.T) {
	s, err := scenefile.Parse([]byte(personScene))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		car  bool
		want int
	}{{"from the car", true, 0}, {"from the kerb", false, 1}} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		for f, p := range straight(pos{34, 52}, pos{95, 52}, 40, 0) {
			now := base.Add(time.Duration(f) * 100 * time.Millisecond)
			tracks := []edge.Track{{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - 8, X1: p.x + 2, Y1: p.y}, Class: edge.Person, Score: 1, Hits: f + 3}}
			if c.car {
				tracks = append(tracks, edge.Track{ID: 3, Box: edge.Box{X0: 28, Y0: 42, X1: 46, Y1: 56}, Class: edge.Car, Score: 1, Hits: 50})
			}
			e.Step(now, lights(edge.Red, edge.Green), tracks, nil, out)
		}
		if len(out.events) != c.want {
			t.Errorf("%s: events %+v, want %d jaywalking", c.name, out.events, c.want)
		}
	}
}

// A person who comes into view with their feet just off the roadway's edge (from behind a parked
// van or a showcase at the kerb) and walks on into it has not stepped in from outside: "just off"
// is within a quarter of their own height, so it scales with the distance from the camera.
func TestRoadwayEdgeScalesWithThePerson(t *testing.T) {
	s, err := scenefile.Parse([]byte(personScene))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		fromX, height float32
		jay           bool
	}{
		{"near, first seen 4 px off the road", 36, 40, false},
		{"near, first seen 15 px off the road", 25, 40, true},
		{"far, first seen 4 px off the road", 36, 8, true},
	} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		// the roadway is x 40..80; east along y 50, clear of every crosswalk
		for f, p := range straight(pos{c.fromX, 50}, pos{60, 50}, 20, 10) {
			now := base.Add(time.Duration(f) * 100 * time.Millisecond)
			tk := edge.Track{ID: 7, Box: edge.Box{X0: p.x - 2, Y0: p.y - c.height, X1: p.x + 2, Y1: p.y}, Class: edge.Person, Score: 1, Hits: f + 3}
			e.Step(now, lights(edge.Red, edge.Green), []edge.Track{tk}, nil, out)
		}
		if got := len(out.events) == 1 && out.events[0].Type == wire.Jaywalking; got != c.jay {
			t.Errorf("%s: events %+v, want jaywalking %v", c.name, out.events, c.jay)
		}
	}
}
