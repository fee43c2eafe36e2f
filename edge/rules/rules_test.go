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

const sceneYAML = `
version: 1
camera: cam-1
signals:
  - {id: nb, kind: vehicle, region: [[0.9, 0.1], [0.95, 0.3]]}
approaches:
  - {id: nb-stop, site: main-nb, stop_line: [[0.5, 0.5], [0.7, 0.5]], direction: [0, -1], signal: nb, grace_s: 0.5}
`

type sink struct {
	events []edge.Event
	counts []edge.Count
}

func (s *sink) Event(e edge.Event) { s.events = append(s.events, e) }
func (s *sink) Count(c edge.Count) { s.counts = append(s.counts, c) }

// counted returns the road users of class in every count record so far.
func (s *sink) counted(class edge.Class) int {
	n := 0
	for _, k := range s.counts {
		n += k.N[class]
	}
	return n
}

var base = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// drive moves a car north (up) through x=60% from y=70% to stopAt (fractions of a 100×100 frame).
func drive(t *testing.T, light edge.Light, sinceS float64, onset bool, fromY, stopAt float32, class edge.Class) *sink {
	t.Helper()
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	sig := []edge.SignalState{{Light: light, Since: base.Add(time.Duration(sinceS * float64(time.Second))), OnsetSeen: onset, Source: "camera"}}
	y := fromY
	for f := 0; f < 60; f++ {
		now := base.Add(time.Duration(f) * 100 * time.Millisecond)
		if y > stopAt {
			y -= 1
		}
		tk := edge.Track{ID: 1, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: class, Score: 1, Hits: f + 2}
		e.Step(now, sig, []edge.Track{tk}, nil, out)
	}
	e.Flush(out)
	return out
}

func TestRedLight(t *testing.T) {
	cases := []struct {
		name   string
		light  edge.Light
		since  float64 // red onset, seconds after base; the car crosses at about 2.1 s
		onset  bool
		from   float32
		stopAt float32
		class  edge.Class
		events int
		counts int
	}{
		{"runs red", edge.Red, 0, true, 70, 0, edge.Car, 1, 1},
		{"inside grace", edge.Red, 1.8, true, 70, 0, edge.Car, 0, 1},
		{"red before observation", edge.Red, 2.0, false, 70, 0, edge.Truck, 1, 1},
		{"green", edge.Green, 0, true, 70, 0, edge.Car, 0, 1},
		{"amber", edge.Amber, 0, true, 70, 0, edge.Car, 0, 1},
		{"unknown signal", edge.LightUnknown, 0, true, 70, 0, edge.Car, 0, 1},
		{"stops at the line", edge.Red, 0, true, 70, 51, edge.Car, 0, 0},
		{"creeps within margin", edge.Red, 0, true, 70, 49.6, edge.Car, 0, 0},
		{"first seen past the line", edge.Red, 0, true, 45, 0, edge.Car, 0, 0},
		{"pedestrian is not a vehicle", edge.Red, 0, true, 70, 0, edge.Person, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := drive(t, c.light, c.since, c.onset, c.from, c.stopAt, c.class)
			if len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
			if n := out.counted(c.class); n != c.counts {
				t.Fatalf("counted %d crossings, want %d", n, c.counts)
			}
			if c.events == 1 {
				ev := out.events[0]
				if ev.Site != "main-nb" || ev.Zone != "nb-stop" || ev.Class != c.class || ev.Signal == nil || ev.Signal.Light != edge.Red {
					t.Fatalf("event %+v", ev)
				}
				if got := ev.Time.Sub(base).Seconds(); got < 1.9 || got > 2.4 {
					t.Fatalf("crossing at %.1f s, want about 2.1 s", got)
				}
			}
		})
	}
}

// A vehicle can come into view already astride the line: from the side of the frame, or from
// behind an occluder. Moving across the line, it is entering now and is judged; standing (a
// waiting car whose roof overhangs the bar when the detector first finds it), it is not.
func TestEnteringAstrideTheLine(t *testing.T) {
	s, _ := scenefile.Parse([]byte(sceneYAML))
	for _, c := range []struct {
		name   string
		vy     float32 // pixels per second, negative = north, across the line
		events int
	}{
		{"moving across", -10, 1},
		{"standing", 0, 0},
		{"moving back", 10, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			sig := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true}}
			y := float32(45) // box 45..55 over a line at 50: astride it
			for f := 0; f < 30; f++ {
				tk := edge.Track{ID: 4, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2, VY: c.vy}
				e.Step(base.Add(time.Duration(f)*100*time.Millisecond), sig, []edge.Track{tk}, nil, out)
				y += c.vy / 10
			}
			if len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
			if c.events == 1 && !out.events[0].Time.Equal(base) {
				t.Fatalf("event at %v, want the first frame", out.events[0].Time.Sub(base))
			}
		})
	}
}

// front places the judged point inside the box: a motorcycle seen from above and behind whose
// box top (the rider's head) is past the line while its front wheel, 40 % up the box, is short
// of it has not crossed; moving on, it has.
func TestFrontOfTheBox(t *testing.T) {
	s, err := scenefile.Parse([]byte(strings.Replace(sceneYAML, "grace_s: 0.5}", "grace_s: 0.5, front: 0.4}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		stopAt float32 // box top; the box is 20 tall, the line at 50
		events int
	}{
		{"head over the line, wheel short of it", 40, 0}, // front at 52: 2 short
		{"wheel over the line, driving on", 0, 1},
		// Front at 42, 8 past, less than the box's height: over the bar, stopped, not run.
		{"wheel over the line, stopped", 30, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			sig := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true}}
			for f, y := 0, float32(55); f < 60; f++ {
				tk := edge.Track{ID: 5, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 20}, Class: edge.Motorbike, Score: 1, Hits: f + 2}
				e.Step(base.Add(time.Duration(f)*100*time.Millisecond), sig, []edge.Track{tk}, nil, out)
				y = max(c.stopAt, y-1)
			}
			if len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
		})
	}
}

// With a confirm line, a crossing is counted, and on red is an event, once the vehicle's front
// passes that line too, stamped with the stop line's time; a vehicle that stops between the two
// lines, or whose track ends there, is neither.
func TestConfirmLine(t *testing.T) {
	s, err := scenefile.Parse([]byte(strings.Replace(sceneYAML, "grace_s: 0.5}", "grace_s: 0.5, confirm_line: [[0.5, 0.4], [0.7, 0.4]]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		stopAt float32 // box top; the stop line is at 50, the confirm line at 40
		ends   int     // frame at which the track ends; 0 never
		events int
	}{
		{"goes on into the junction", 0, 0, 1},
		{"stops between the lines", 45, 0, 0},
		{"lost between the lines", 0, 17, 0}, // front at 70-17 = 53 → past the stop line at frame 21
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(s, 100, 100, time.Minute)
			out := &sink{}
			sig := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true}}
			y := float32(70)
			for f := 0; f < 60; f++ {
				now := base.Add(time.Duration(f) * 100 * time.Millisecond)
				tracks := []edge.Track{{ID: 6, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: edge.Car, Score: 1, Hits: f + 2}}
				var ended []int
				switch {
				case c.ends > 0 && f == c.ends+8: // past the stop line, short of the confirm line
					tracks, ended = nil, []int{6}
				case c.ends > 0 && f > c.ends+8:
					tracks = nil
				}
				e.Step(now, sig, tracks, ended, out)
				y = max(c.stopAt, y-1)
			}
			if len(out.events) != c.events {
				t.Fatalf("events %+v, want %d", out.events, c.events)
			}
			e.Flush(out)
			if n := out.counted(edge.Car); n != c.events {
				t.Fatalf("counted %d, want %d", n, c.events)
			}
			if c.events == 1 {
				// The stop line is crossed at y = 50 - 0.5 (margin 1.4) → frame 21; the confirm
				// line at frame 31. The event carries the first.
				if got := out.events[0].Time.Sub(base).Seconds(); got < 2.0 || got > 2.3 {
					t.Fatalf("event at %.1f s, want the stop line's crossing at about 2.1 s", got)
				}
			}
		})
	}
}

// A car driving south across a northbound stop line is not running that approach's light.
func TestWrongDirection(t *testing.T) {
	s, _ := scenefile.Parse([]byte(sceneYAML))
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	sig := []edge.SignalState{{Light: edge.Red, Since: base, OnsetSeen: true}}
	for f := 0; f < 40; f++ {
		y := float32(20 + f)
		e.Step(base.Add(time.Duration(f)*100*time.Millisecond), sig,
			[]edge.Track{{ID: 3, Box: edge.Box{X0: 57, Y0: y, X1: 63, Y1: y + 10}, Class: edge.Car, Hits: 5}}, nil, out)
	}
	if len(out.events) != 0 {
		t.Fatalf("events %+v", out.events)
	}
}

// A count line counts the road users crossing it in its direction, per class, and judges
// nobody: there is no signal to run.
func TestCountLine(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
count_lines:
  - {id: mid-nb, site: mid-block, line: [[0.2, 0.5], [0.8, 0.5]], direction: [0, -1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	box := func(x, y float32) edge.Box { return edge.Box{X0: x - 3, Y0: y, X1: x + 3, Y1: y + 10} }
	for f := 0; f < 40; f++ {
		up, down := float32(70-f), float32(20+f) // one car northbound, one southbound
		e.Step(base.Add(time.Duration(f)*100*time.Millisecond), nil, []edge.Track{
			{ID: 1, Box: box(40, up), Class: edge.Car, Hits: f + 2},
			{ID: 2, Box: box(60, down), Class: edge.Car, Hits: f + 2},
			{ID: 3, Box: box(70, up), Class: edge.Bicycle, Hits: f + 2},
		}, nil, out)
	}
	e.Flush(out)
	if len(out.events) != 0 {
		t.Fatalf("a count line raised events: %+v", out.events)
	}
	if len(out.counts) != 1 || out.counts[0].Zone != "mid-nb" || out.counts[0].Site != "mid-block" ||
		out.counts[0].N[edge.Car] != 1 || out.counts[0].N[edge.Bicycle] != 1 {
		t.Fatalf("counts %+v, want one car and one bicycle northbound at mid-nb", out.counts)
	}
}

func TestCountsRollEveryPeriod(t *testing.T) {
	s, _ := scenefile.Parse([]byte(sceneYAML))
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	for f := 0; f <= 150; f++ {
		e.Step(base.Add(time.Duration(f)*time.Second), nil, nil, nil, out)
	}
	e.Flush(out)
	if len(out.counts) != 3 || !out.counts[2].Start.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("counts %+v", out.counts)
	}
}

func BenchmarkStep(b *testing.B) {
	s, _ := scenefile.Parse([]byte(sceneYAML))
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	sig := []edge.SignalState{{Light: edge.Green, Since: base}}
	tracks := make([]edge.Track, 20)
	for i := range tracks {
		tracks[i] = edge.Track{ID: i + 1, Box: edge.Box{X0: float32(i * 5), Y0: 60, X1: float32(i*5 + 4), Y1: 70}, Class: edge.Car, Hits: 5}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Step(base.Add(time.Duration(i)*time.Millisecond), sig, tracks, nil, out)
	}
}

// The frame path allocates nothing in steady state (docs/BENCHMARKS.md): twenty tracks over
// an approach with front and a confirm line, a crosswalk and a roadway, on red.
func TestStepAllocatesNothing(t *testing.T) {
	s, err := scenefile.Parse([]byte(strings.Replace(sceneYAML, "grace_s: 0.5}", "grace_s: 0.5, front: 0.5, confirm_line: [[0.5, 0.4], [0.7, 0.4]]}", 1) + `
crosswalks:
  - {id: cw, site: main-nb, polygon: [[0.4, 0.2], [0.9, 0.2], [0.9, 0.3], [0.4, 0.3]], signal: nb}
roadways:
  - {id: road, site: main-nb, polygon: [[0.4, 0.0], [0.9, 0.0], [0.9, 1.0], [0.4, 1.0]]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	sig := []edge.SignalState{{Light: edge.Red, Since: base, OnsetSeen: true}}
	tracks := make([]edge.Track, 20)
	for i := range tracks {
		tracks[i] = edge.Track{ID: i + 1, Box: edge.Box{X0: float32(i * 5), Y0: 60, X1: float32(i*5 + 4), Y1: 70}, Class: edge.Class(1 + i%6), Hits: 5}
	}
	stepAllocatesNothing(t, e, sig, tracks, out)
}

// stepAllocatesNothing fails t if a frame of tracks after the first allocates in e.Step.
func stepAllocatesNothing(t *testing.T, e *Engine, sig []edge.SignalState, tracks []edge.Track, out *sink) {
	t.Helper()
	f := 0
	step := func() {
		e.Step(base.Add(time.Duration(f)*time.Millisecond), sig, tracks, nil, out)
		f++
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per frame", n)
	}
}

// FrontPoint is where the crossing test measures: as far past the stop line as frontPast says,
// on a slanted line too.
func TestFrontPoint(t *testing.T) {
	a := scene.Approach{StopLine: scene.Polyline{{X: 0.5, Y: 0.5}, {X: 0.7, Y: 0.5}}, Direction: scene.Point{Y: -1}, Front: 0.4}
	if x, y := FrontPoint(a, edge.Box{X0: 55, Y0: 40, X1: 65, Y1: 60}, 100, 100); x != 60 || math.Abs(float64(y)-52) > 1e-4 {
		t.Fatalf("front point (%v, %v), want (60, 52): 40 %% up from the bottom", x, y)
	}
	a = scene.Approach{StopLine: scene.Polyline{{X: 0.1, Y: 0.6}, {X: 0.9, Y: 0.4}}, Direction: scene.Point{X: 0.3, Y: -1}, Front: 0.3}
	b := edge.Box{X0: 40, Y0: 20, X1: 70, Y1: 75}
	x, y := FrontPoint(a, b, 100, 100)
	l := newLine(a.StopLine, a.Direction, 100, 100)
	if got, want := l.past(edge.Box{X0: x, Y0: y, X1: x, Y1: y}, true), l.frontPast(b, 0.3); math.Abs(float64(got-want)) > 1e-3 {
		t.Fatalf("front point %.2f past the line, the test measures %.2f", got, want)
	}
}

// A rider the detector sees only as a person (seen from behind, the machine hidden) who rides
// down the approach through the stop line on red is a red-light runner, a motorbike; a person
// walking across the lanes at the line is not, and neither is judged by the person rules.
func TestRiderSeenAsAPerson(t *testing.T) {
	s, err := scenefile.Parse([]byte(sceneYAML))
	if err != nil {
		t.Fatal(err)
	}
	red := []edge.SignalState{{Light: edge.Red, Since: base.Add(-5 * time.Second), OnsetSeen: true, Source: "camera"}}
	for _, c := range []struct {
		name    string
		vx, vy  float32 // pixels per frame of 100 ms
		x, y    float32 // start of the feet
		want    int     // red-light events
		counted edge.Class
	}{
		{"riding north through the line", 0, -1, 60, 70, 1, edge.Motorbike},
		{"walking east along the line", 1, 0, 45, 51, 0, edge.Person},
		{"walking north-east across the lanes and the line", 1, -0.6, 45, 60, 0, edge.Person},
	} {
		e := New(s, 100, 100, time.Minute)
		out := &sink{}
		for f := 0; f < 40; f++ {
			now := base.Add(time.Duration(f) * 100 * time.Millisecond)
			x, y := c.x+c.vx*float32(f), c.y+c.vy*float32(f)
			tk := edge.Track{ID: 1, Box: edge.Box{X0: x - 2, Y0: y - 10, X1: x + 2, Y1: y}, Class: edge.Person, Score: 1, Hits: f + 2, VX: 10 * c.vx, VY: 10 * c.vy}
			e.Step(now, red, []edge.Track{tk}, nil, out)
		}
		e.Flush(out)
		if len(out.events) != c.want || (c.want > 0 && out.events[0].Class != edge.Motorbike) {
			t.Errorf("%s: events %+v, want %d red-light running by a motorbike", c.name, out.events, c.want)
		}
		if c.want > 0 && out.counted(c.counted) != 1 {
			t.Errorf("%s: counted %d %v, want 1", c.name, out.counted(c.counted), c.counted)
		}
	}
}

// Lines whose scene names their legs count turning movements: a road user that crosses the
// south leg's line and then the north or east leg's is south>north or south>east, per class,
// in the entry's count record; one that crosses a single leg (or two lines of one leg) makes none.
func TestTurningMovements(t *testing.T) {
	s, err := scenefile.Parse([]byte(`
version: 1
camera: cam-1
count_lines:
  - {id: in-s, site: x, leg: south, line: [[0.1, 0.7], [0.9, 0.7]], direction: [0, -1]}
  - {id: in-s2, site: x, leg: south, line: [[0.1, 0.6], [0.5, 0.6]], direction: [0, -1]}
  - {id: out-n, site: x, leg: north, line: [[0.1, 0.3], [0.9, 0.3]], direction: [0, -1]}
  - {id: out-e, site: x, leg: east, line: [[0.8, 0.1], [0.8, 0.6]], direction: [1, 0]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(s, 100, 100, time.Minute)
	out := &sink{}
	box := func(x, y float32) edge.Box { return edge.Box{X0: x - 3, Y0: y, X1: x + 3, Y1: y + 10} }
	for f := 0; f < 80; f++ {
		fy := float32(f)
		straight := box(40, 85-fy)
		turning := box(30, 85-fy)
		if f > 35 {
			turning = box(30+(fy-35)*1.5, 49)
		}
		tracks := []edge.Track{
			{ID: 1, Box: straight, Class: edge.Car, Hits: f + 2},
			{ID: 2, Box: turning, Class: edge.Car, Hits: f + 2},
			{ID: 3, Box: box(60, max(60, 85-fy)), Class: edge.Bicycle, Hits: f + 2}, // stops past the south line
			{ID: 4, Box: box(65, max(5, 45-fy)), Class: edge.Car, Hits: f + 2},      // seen first inside: only the north line
		}
		e.Step(base.Add(time.Duration(f)*100*time.Millisecond), nil, tracks, nil, out)
	}
	e.Flush(out)
	got := map[string]edge.Count{}
	for _, c := range out.counts {
		got[c.Zone] = c
	}
	in := got["in-s"]
	if in.N[edge.Car] != 2 || in.N[edge.Bicycle] != 1 {
		t.Fatalf("in-s counts %v", in.N)
	}
	want := map[string][edge.NumClasses]int{}
	sn, se := want["south>north"], want["south>east"]
	sn[edge.Car], se[edge.Car] = 1, 1
	want["south>north"], want["south>east"] = sn, se
	if len(in.Movements) != 2 || in.Movements["south>north"] != sn || in.Movements["south>east"] != se {
		t.Errorf("movements %v, want %v", in.Movements, want)
	}
	if got["out-n"].N[edge.Car] != 2 || got["out-e"].N[edge.Car] != 1 || got["out-n"].Movements != nil || got["out-e"].Movements != nil {
		t.Errorf("exit lines %+v %+v", got["out-n"], got["out-e"])
	}
}
