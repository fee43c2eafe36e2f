// Package scene is a camera's scene as plain data: the zones, lines and signal heads the rules
// use, in coordinates normalised to 0..1 of the frame, their defaults and their validation.
// It links no file format: edge/scene/scenefile reads and writes scene files.
package scene

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// Point is a normalised frame coordinate, written [x, y] in a scene file.
type Point struct{ X, Y float64 }

// UnmarshalYAML reads [x, y]. The signature is yaml's (v2's, which v3 still calls) without a
// yaml type in it, so this package links no YAML decoder (edge/scene/scenefile decodes).
func (p *Point) UnmarshalYAML(unmarshal func(any) error) error {
	var xy []float64
	if err := unmarshal(&xy); err != nil || len(xy) != 2 {
		return fmt.Errorf("a point is [x, y], not %s", pointText(unmarshal))
	}
	p.X, p.Y = xy[0], xy[1]
	return nil
}

// pointText returns what was written where a point should be, for the error.
func pointText(unmarshal func(any) error) string {
	var v any
	if unmarshal(&v) != nil {
		return "that"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.ReplaceAll(string(b), ",", ", ")
}

// MarshalYAML writes [x, y] (scenefile.Marshal writes it in flow style, 4 significant digits).
func (p Point) MarshalYAML() (any, error) { return []float64{p.X, p.Y}, nil }

// Polyline is a line of two or more points, written [[x, y], [x, y], …]: a stop bar that bends,
// or one with an unpainted extension, is one line of several segments. Which side of it a point
// is on is decided by the segment nearest to the point (docs/SCENES.md, "Polylines").
type Polyline []Point

// Scene is one camera's view of the world.
type Scene struct {
	Version    int         `yaml:"version"`
	Camera     string      `yaml:"camera"`
	Masks      [][]Point   `yaml:"masks,omitempty"` // polygons ignored by detection (clocks, captions)
	Signals    []Signal    `yaml:"signals,omitempty"`
	Approaches []Approach  `yaml:"approaches,omitempty"`
	Crosswalks []Crosswalk `yaml:"crosswalks,omitempty"`
	// Roadways are carriageway polygons: a person crossing one outside every crosswalk is
	// jaywalking.
	Roadways []Zone `yaml:"roadways,omitempty"`
	// PlatformEdges are the danger strips along platform edges (between the warning line and
	// the edge): a person staying longer than the zone's dwell time is an intrusion.
	PlatformEdges []PlatformEdge `yaml:"platform_edges,omitempty"`
	// Tracks are track zones: any person entering one is an intrusion.
	Tracks []Zone `yaml:"tracks,omitempty"`
	// CountLines count the road users crossing a line where no signal governs it (a mid-block
	// road, a motorway, a path): the counts a site's rates need, and no event.
	CountLines []CountLine `yaml:"count_lines,omitempty"`
	// Detector is for the lab (the synthetic clips, a comparison of detectors): a real camera's
	// scene leaves it out and gets the product's defaults, which hold on cameras nobody tuned
	// for (docs/ACCURACY.md). check-config warns on every field a scene sets here.
	Detector Detector `yaml:"detector,omitempty"`
	// Overrides lists the detector fields the file set (detector.kind, …), for check-config's
	// warning; not part of the file.
	Overrides []string `yaml:"-"`
}

// CountLine is a line whose crossings, in one direction, are counted per class.
type CountLine struct {
	ID        string   `yaml:"id"` // the zone name in counts
	Site      string   `yaml:"site"`
	Line      Polyline `yaml:"line"`      // two or more points
	Direction Point    `yaml:"direction"` // direction of travel across every segment of the line
	// Front is as an approach's: where in the box's depth a road user's front is judged.
	Front float64 `yaml:"front,omitempty"`
	// Leg, optional, names the intersection leg the line is on, as an approach's: a count line
	// across a leg's outbound lanes is where road users leave by it (turning movements).
	Leg string `yaml:"leg,omitempty"`
}

// Approach returns the count line as an approach with no signal: crossed, counted, never judged.
func (c CountLine) Approach() Approach {
	return Approach{ID: c.ID, Site: c.Site, StopLine: c.Line, Direction: c.Direction, Front: c.Front, Leg: c.Leg}
}

// Zone is a named polygon of a site.
type Zone struct {
	ID      string  `yaml:"id"`
	Site    string  `yaml:"site"`
	Polygon []Point `yaml:"polygon"`
}

// PlatformEdge is a platform-edge danger zone.
type PlatformEdge struct {
	Zone   `yaml:",inline"`
	DwellS float64 `yaml:"dwell_s"` // how long a person may be in the zone before it counts
	// Berth names a signal of kind berth that shows green while a train stands at the platform
	// with its doors open: people in the zone then are boarding or alighting, and their dwell
	// time starts again when it stops showing green. None: every dwell counts.
	Berth string `yaml:"berth,omitempty"`
}

// Signal is a signal head. Its state comes from up to three sources: the camera (a region
// where the head is visible), the controller's phase feed, and a fixed-time plan. Rules use the
// first that knows the state, in the order Prefer gives (default feed, camera, plan); when two
// sources disagree, the device counts it.
type Signal struct {
	ID   string `yaml:"id"`
	Kind string `yaml:"kind"` // vehicle | pedestrian | berth (green: a train at the platform with its doors open)
	// Arrow, for a vehicle head whose lamps are arrows, is the movement it governs: left, right,
	// straight, u_turn, or a combination joined by "+" (straight+right). None: a ball head,
	// for every movement. A lane judged by a ball head and an arrow head may go when either
	// shows green (docs/SCENES.md, "Several heads").
	Arrow string `yaml:"arrow,omitempty"`
	// State "unknown" marks a head the camera cannot read (seen from behind or side-on, hidden
	// by a tree) and no other source knows: it needs no source, overrides any it has, and
	// whatever it governs alone judges nothing (road users are still counted).
	State  string    `yaml:"state,omitempty"`
	Region *[2]Point `yaml:"region,omitempty"` // rectangle, two opposite corners; none: not visible
	Feed   bool      `yaml:"feed,omitempty"`   // the controller publishes its phases (crosswatch/v1/{device}/phase)
	Plan   *Plan     `yaml:"plan,omitempty"`
	Prefer []string  `yaml:"prefer,omitempty"` // source order, e.g. [camera, feed, plan]
}

// Plan is a fixed-time signal plan: every CycleS seconds, counted from OffsetS seconds after
// the Unix epoch, green for GreenS, amber for AmberS, then red.
type Plan struct {
	CycleS  float64 `yaml:"cycle_s"`
	GreenS  float64 `yaml:"green_s"`
	AmberS  float64 `yaml:"amber_s"`
	OffsetS float64 `yaml:"offset_s"`
}

// Approach is an intersection approach: a stop line crossed in one direction, governed by one
// signal head, by several heads combined, or lane by lane.
type Approach struct {
	ID        string   `yaml:"id"` // the zone name in events
	Site      string   `yaml:"site"`
	StopLine  Polyline `yaml:"stop_line"` // two or more points
	Direction Point    `yaml:"direction"` // direction of travel across every segment of the line
	// Signal names the head that governs the approach; Signals several heads combined (the
	// heads for one movement: near- and far-side heads, or a ball head with an arrow head).
	// Lanes, if any, govern their own stretches of the stop line with their own heads; a
	// crossing outside every lane is governed by Signal and Signals, or, with neither, by the
	// nearest lane.
	Signal  string   `yaml:"signal,omitempty"`
	Signals []string `yaml:"signals,omitempty"`
	Lanes   []Lane   `yaml:"lanes,omitempty"`
	GraceS  float64  `yaml:"grace_s"` // time into red before a crossing counts
	// Front is where the vehicle's front meets the road, as a fraction of its box's depth
	// along the direction of travel, counted from the back of the box: the crossing is judged
	// there. 1 (the default) is the box's leading edge, right for traffic coming toward the
	// camera or across it, where that edge is the front bumper. For traffic driving away from
	// a high camera the leading edge is the roof or the rider's head, which passes the line
	// while the wheels are still short of it: 0.3–0.5 puts the judged point at the front
	// wheels (scene draw --tracks shows the judged point on every tracked road user: set it
	// where a vehicle waiting at the line meets the road with its front).
	Front float64 `yaml:"front,omitempty"`
	// ConfirmLine, optional, is a second line past the stop line, usually the far side of the
	// crosswalk, as red-light cameras use a second loop. With it, a crossing is counted, and
	// on red is an event, only once the vehicle's front passes this line too, in a later frame
	// (the event keeps the stop line's time and time into red): a vehicle that stops over the
	// stop line, or a waiting queue whose boxes wobble at it, neither runs a red nor counts.
	// Without it, the stop line alone decides.
	// Two or more points, every one past the stop line.
	ConfirmLine Polyline `yaml:"confirm_line,omitempty"`
	// Leg, optional, names the intersection leg (south, main-st-west) the approach enters by.
	// With legs named, a road user that crosses a leg's line and then one of another leg (a
	// count line across its outbound lanes, or its stop line) makes a turning movement
	// "entry>exit", counted per class with the entry's counts (docs/SCENES.md).
	Leg string `yaml:"leg,omitempty"`
}

// Heads returns the ids of the heads that govern the approach outside its lanes: Signal, then
// Signals.
func (a Approach) Heads() []string { return heads(a.Signal, a.Signals) }

// Lane is a stretch of an approach's stop line with heads of its own, such as a left-turn lane
// with an arrow head: a vehicle crossing the stop line there is judged by them.
type Lane struct {
	// Stretch is the lane's two ends, points on the approach's stop line (within 0.02 of it).
	Stretch [2]Point `yaml:"stretch"`
	Signal  string   `yaml:"signal,omitempty"`
	Signals []string `yaml:"signals,omitempty"`
}

// Heads returns the ids of the lane's heads: Signal, then Signals.
func (l Lane) Heads() []string { return heads(l.Signal, l.Signals) }

func heads(one string, more []string) []string {
	if one == "" {
		return more
	}
	return append([]string{one}, more...)
}

// Crosswalk is a marked pedestrian crossing. Its signal, if any, says when not to walk: a
// pedestrian head showing red (or flashing amber), or the conflicting vehicle phase showing
// green or amber. Signals instead gives a head per direction of crossing (one at each kerb):
// a person is judged by the head whose direction is nearest to the way they cross.
type Crosswalk struct {
	ID      string           `yaml:"id"`
	Site    string           `yaml:"site"`
	Polygon []Point          `yaml:"polygon"`
	Signal  string           `yaml:"signal,omitempty"`
	Signals []CrossingSignal `yaml:"signals,omitempty"`
	GraceS  float64          `yaml:"grace_s,omitempty"` // time into don't-walk before an entry counts
}

// CrossingSignal is the head that governs people crossing a crosswalk in one direction.
type CrossingSignal struct {
	Direction Point  `yaml:"direction"` // the way of crossing, [dx, dy]
	Signal    string `yaml:"signal"`
}

// Detector configures the detection stage for this camera.
type Detector struct {
	Kind string `yaml:"kind"` // classical (background model and blobs) or dnn
	// Model is the dnn detector's model in the models directory: a darknet one (name.cfg and
	// name.weights), e.g. yolo-fastest-1.1-xl, or a PicoDet one (picodet_s_320_coco_cv46);
	// MinScore its least confidence (default 0.3).
	Model        string  `yaml:"model,omitempty"`
	MinScore     float64 `yaml:"min_score,omitempty"`
	ProcessWidth int     `yaml:"process_width"` // frames wider than this are downscaled once
	// ModelWidth is the width the classical background model runs at (boxes are scaled back).
	ModelWidth int `yaml:"model_width"`
	// AnalysisFPS caps how many frames per second of stream time are analysed; the others are
	// decoded but not converted or analysed. 0 analyses every frame.
	AnalysisFPS float64 `yaml:"analysis_fps"`
	// Stride runs the detector on one analysed frame in Stride while the picture moves (1: on
	// every one). The frames between are read for the signals and the view; the tracker and
	// the rules pass over them, and predict across the interval at the next, so that no rule
	// judges a predicted box. It trades accuracy for CPU (docs/BENCHMARKS.md, the DNN detector).
	Stride int `yaml:"stride"`
	// StationaryS is about how long the classical detector still sees an object that stopped
	// (a car at a red light, a person waiting at the edge) before it fades into the background.
	StationaryS float64 `yaml:"stationary_s"`
	// Classical detector: blob areas as fractions of the frame.
	MinArea       float64 `yaml:"min_area"`
	PersonMaxArea float64 `yaml:"person_max_area"`
}

// DefaultModel is the detector model a scene gets when it names none: measured best on the
// labelled real clips at the CPU budget (docs/ACCURACY.md, docs/BENCHMARKS.md "Which DNN model").
const DefaultModel = "yolo-fastest-1.1-xl"

// Defaults returns the values a scene gets for fields it leaves out: the DNN detector (the
// classical one, a background model and blob sizes, works on the synthetic clips but not on
// real footage), and the classical detector's parameters for a scene that asks for it.
func Defaults() Scene {
	return Scene{Detector: Detector{Kind: "dnn", Model: DefaultModel, MinScore: 0.3, ProcessWidth: 640, ModelWidth: 320, AnalysisFPS: 15, Stride: 1,
		StationaryS: 30, MinArea: 0.0004, PersonMaxArea: 0.0035}}
}

// Classical returns the classical detector's defaults (a scene with detector.kind classical).
func Classical() Detector {
	d := Defaults().Detector
	d.Kind, d.Model, d.MinScore = "classical", "", 0
	return d
}

// Validate reports every problem, each with its field path.
func (s *Scene) Validate() error {
	var problems problems
	bad := problems.add
	name := func(field, v string) {
		if err := wire.CheckName(field, v); err != nil {
			bad(field, "%s", strings.TrimPrefix(err.Error(), wire.ErrInvalid.Error()+": "+field+": "))
		}
	}
	pt := func(field string, p Point) {
		if !(p.X >= 0 && p.X <= 1 && p.Y >= 0 && p.Y <= 1) {
			bad(field, "point [%v, %v] is outside the frame (coordinates are 0..1)", p.X, p.Y)
		}
	}
	// polyline checks a line of two or more points, each in the frame, each segment long enough
	// to have a side.
	polyline := func(f string, l Polyline) {
		if len(l) < 2 {
			bad(f, "needs at least 2 points, got %d", len(l))
		}
		for j, p := range l {
			pt(fmt.Sprintf("%s[%d]", f, j), p)
		}
		for j := 1; j < len(l); j++ {
			if math.Hypot(l[j].X-l[j-1].X, l[j].Y-l[j-1].Y) < 0.01 {
				if len(l) == 2 {
					bad(f, "needs 2 distinct points")
				} else {
					bad(fmt.Sprintf("%s[%d]", f, j), "is within 0.01 of the point before it: every segment needs 2 distinct points")
				}
				return
			}
		}
		// A line that folds back or crosses itself has no one side that traffic goes to.
		for j := 2; j < len(l); j++ {
			if (l[j-1].X-l[j-2].X)*(l[j].X-l[j-1].X)+(l[j-1].Y-l[j-2].Y)*(l[j].Y-l[j-1].Y) <= 0 {
				bad(fmt.Sprintf("%s[%d]", f, j), "turns back: a line may bend by less than 90° at each point")
				return
			}
		}
		for i := 1; i < len(l); i++ {
			for j := i + 2; j < len(l); j++ {
				if segmentsCross(l[i-1], l[i], l[j-1], l[j]) {
					bad(f, "crosses itself (segments %d and %d)", i, j)
					return
				}
			}
		}
	}
	if s.Version != 1 {
		bad("version", "must be 1, got %d", s.Version)
	}
	name("camera", s.Camera)
	for i, m := range s.Masks {
		f := fmt.Sprintf("masks[%d]", i)
		if len(m) < 3 {
			bad(f, "needs at least 3 points, got %d", len(m))
		}
		for j, p := range m {
			pt(fmt.Sprintf("%s[%d]", f, j), p)
		}
	}
	signals := map[string]string{}
	for i, g := range s.Signals {
		f := fmt.Sprintf("signals[%d]", i)
		name(f+".id", g.ID)
		if _, dup := signals[g.ID]; dup {
			bad(f+".id", "duplicate signal %q", g.ID)
		}
		signals[g.ID] = g.Kind
		if !knownKind(g.Kind) {
			bad(f+".kind", "must be vehicle, pedestrian or berth, got %q", g.Kind)
		}
		switch g.State {
		case "":
			if g.Region == nil && !g.Feed && g.Plan == nil {
				bad(f, "needs a source: a region where the camera sees it, feed: true, or a plan (or state: unknown)")
			}
		case "unknown":
		default:
			bad(f+".state", "must be unknown or absent, got %q", g.State)
		}
		if g.Arrow != "" {
			if g.Kind != "vehicle" {
				bad(f+".arrow", "only a vehicle head has arrows; %q is a %s signal", g.ID, g.Kind)
			} else if err := checkArrow(g.Arrow); err != "" {
				bad(f+".arrow", "%s", err)
			}
		}
		if r := g.Region; r != nil {
			pt(f+".region[0]", r[0])
			pt(f+".region[1]", r[1])
			if math.Abs(r[0].X-r[1].X) < 0.002 || math.Abs(r[0].Y-r[1].Y) < 0.002 {
				bad(f+".region", "is empty")
			}
		}
		if p := g.Plan; p != nil {
			if !(p.CycleS >= 10 && p.CycleS <= 600) {
				bad(f+".plan.cycle_s", "must be within 10..600 s, got %v", p.CycleS)
			}
			if !(p.GreenS > 0 && p.AmberS >= 0 && p.GreenS+p.AmberS < p.CycleS) {
				bad(f+".plan", "green_s > 0 and amber_s >= 0 must leave red time in the cycle")
			}
		}
		for j, src := range g.Prefer {
			switch src {
			case "camera", "feed", "plan":
			default:
				bad(fmt.Sprintf("%s.prefer[%d]", f, j), "must be camera, feed or plan, got %q", src)
			}
		}
	}
	zones := map[string]bool{}
	zone := func(f, id string) {
		name(f+".id", id)
		if zones[id] {
			bad(f+".id", "duplicate zone %q", id)
		}
		zones[id] = true
	}
	// crossed checks a line crossed one way (field lf) with its direction of travel and front.
	crossed := func(f, lf string, l Polyline, dir Point, front float64) {
		polyline(f+"."+lf, l)
		n := math.Hypot(dir.X, dir.Y)
		if n == 0 || math.IsNaN(n) {
			bad(f+".direction", "needs a non-zero [dx, dy]")
		}
		for j := 1; j < len(l) && n > 0; j++ {
			dx, dy := l[j].X-l[j-1].X, l[j].Y-l[j-1].Y
			if math.Abs(dx*dir.X+dy*dir.Y)/(n*math.Hypot(dx, dy)+1e-12) > 0.95 {
				what := strings.ReplaceAll(lf, "_", " ")
				if len(l) > 2 {
					what = fmt.Sprintf("%s's segment %d", what, j)
				}
				bad(f+".direction", "runs along the %s; it must cross it", what)
			}
		}
		if front < 0 || front > 1 || math.IsNaN(front) {
			bad(f+".front", "must be within 0..1 of the box's depth (0 or absent: 1, the leading edge), got %v", front)
		}
	}
	// vehicleHeads checks an approach's or a lane's heads (fields one and more).
	vehicleHeads := func(f string, one string, more []string) {
		if one != "" && len(more) > 0 {
			bad(f+".signals", "give signal or signals, not both")
		}
		seen := map[string]bool{}
		check := func(ff, id string) {
			if seen[id] {
				bad(ff, "names %q twice", id)
				return
			}
			seen[id] = true
			if k, ok := signals[id]; !ok {
				bad(ff, "no signal %q in signals", id)
			} else if k != "vehicle" && knownKind(k) {
				bad(ff, "signal %q is a %s signal; an approach needs a vehicle signal", id, k)
			}
		}
		if one != "" {
			check(f+".signal", one)
		}
		for j, id := range more {
			check(fmt.Sprintf("%s.signals[%d]", f, j), id)
		}
	}
	leg := func(f, l string) {
		if l != "" {
			name(f+".leg", l)
		}
	}
	for i, a := range s.Approaches {
		f := fmt.Sprintf("approaches[%d]", i)
		zone(f, a.ID)
		name(f+".site", a.Site)
		leg(f, a.Leg)
		crossed(f, "stop_line", a.StopLine, a.Direction, a.Front)
		if a.Signal == "" && len(a.Signals) == 0 && len(a.Lanes) == 0 {
			bad(f+".signal", "an approach needs a signal, signals or lanes (a line no signal governs is a count line)")
		}
		vehicleHeads(f, a.Signal, a.Signals)
		if a.GraceS < 0 || a.GraceS > 5 {
			bad(f+".grace_s", "must be within 0..5 s, got %v", a.GraceS)
		}
		stopOK := len(a.StopLine) >= 2
		var spans [][2]float64
		for j, ln := range a.Lanes {
			lf := fmt.Sprintf("%s.lanes[%d]", f, j)
			if len(ln.Heads()) == 0 {
				bad(lf+".signal", "a lane needs a signal or signals of its own")
			}
			vehicleHeads(lf, ln.Signal, ln.Signals)
			pt(lf+".stretch[0]", ln.Stretch[0])
			pt(lf+".stretch[1]", ln.Stretch[1])
			if !stopOK {
				continue
			}
			var at [2]float64
			on := true
			for k, p := range ln.Stretch {
				d, s := a.StopLine.locate(p)
				if d > laneSlack {
					bad(fmt.Sprintf("%s.stretch[%d]", lf, k), "point [%v, %v] is %.3g off the stop line; a lane's ends lie on its approach's stop line (within %v)", p.X, p.Y, d, laneSlack)
					on = false
				}
				at[k] = s
			}
			if !on {
				continue
			}
			span := [2]float64{math.Min(at[0], at[1]), math.Max(at[0], at[1])}
			if span[1]-span[0] < 0.01 {
				bad(lf+".stretch", "needs 2 distinct points along the stop line")
				continue
			}
			for k, o := range spans {
				if span[0] < o[1]-0.005 && o[0] < span[1]-0.005 {
					bad(lf+".stretch", "overlaps lanes[%d]", k)
				}
			}
			spans = append(spans, span)
		}
		if c := a.ConfirmLine; c != nil {
			polyline(f+".confirm_line", c)
			// Every point on the side of the stop line that traffic goes to, and no segment
			// across it (a side of a segment, and whether two segments cross, are the same in
			// normalised and in pixel coordinates).
			if stopOK && len(c) >= 2 && !a.StopLine.wholly(c, a.Direction) {
				bad(f+".confirm_line", "must lie past the stop line in the direction of travel")
			}
		}
	}
	for i, c := range s.CountLines {
		f := fmt.Sprintf("count_lines[%d]", i)
		zone(f, c.ID)
		name(f+".site", c.Site)
		leg(f, c.Leg)
		crossed(f, "line", c.Line, c.Direction, c.Front)
	}
	poly := func(f string, z Zone) {
		zone(f, z.ID)
		name(f+".site", z.Site)
		if len(z.Polygon) < 3 {
			bad(f+".polygon", "needs at least 3 points, got %d", len(z.Polygon))
		}
		for j, p := range z.Polygon {
			pt(fmt.Sprintf("%s.polygon[%d]", f, j), p)
		}
	}
	for i, c := range s.Crosswalks {
		f := fmt.Sprintf("crosswalks[%d]", i)
		poly(f, Zone{ID: c.ID, Site: c.Site, Polygon: c.Polygon})
		walkHead := func(ff, id string) {
			if k, ok := signals[id]; !ok {
				bad(ff, "no signal %q in signals", id)
			} else if k == "berth" {
				bad(ff, "signal %q is a berth signal; a crosswalk needs a pedestrian or vehicle signal", id)
			}
		}
		if c.Signal != "" {
			walkHead(f+".signal", c.Signal)
			if len(c.Signals) > 0 {
				bad(f+".signals", "give signal or signals, not both")
			}
		}
		for j, cs := range c.Signals {
			sf := fmt.Sprintf("%s.signals[%d]", f, j)
			walkHead(sf+".signal", cs.Signal)
			n := math.Hypot(cs.Direction.X, cs.Direction.Y)
			if n == 0 || math.IsNaN(n) {
				bad(sf+".direction", "needs a non-zero [dx, dy]: the way of crossing the head governs")
				continue
			}
			for k, o := range c.Signals[:j] {
				m := math.Hypot(o.Direction.X, o.Direction.Y)
				if m > 0 && (cs.Direction.X*o.Direction.X+cs.Direction.Y*o.Direction.Y)/(n*m) > 0.95 {
					bad(sf+".direction", "is the direction of signals[%d]; each head governs its own direction", k)
				}
			}
		}
		if c.GraceS < 0 || c.GraceS > 5 {
			bad(f+".grace_s", "must be within 0..5 s, got %v", c.GraceS)
		}
	}
	for i, z := range s.Roadways {
		poly(fmt.Sprintf("roadways[%d]", i), z)
	}
	for i, z := range s.PlatformEdges {
		f := fmt.Sprintf("platform_edges[%d]", i)
		poly(f, z.Zone)
		if z.DwellS < 0 || z.DwellS > 60 || math.IsNaN(z.DwellS) {
			bad(f+".dwell_s", "must be within 0..60 s, got %v", z.DwellS)
		}
		if k, ok := signals[z.Berth]; z.Berth != "" && !ok {
			bad(f+".berth", "no signal %q in signals", z.Berth)
		} else if z.Berth != "" && k != "berth" {
			bad(f+".berth", "signal %q is a %s signal; berth needs a signal of kind berth", z.Berth, k)
		}
	}
	for i, z := range s.Tracks {
		poly(fmt.Sprintf("tracks[%d]", i), z)
	}
	d := s.Detector
	switch d.Kind {
	case "classical":
		if d.Model != "" {
			bad("detector.model", "only a dnn detector has a model")
		}
	case "dnn":
		if d.Model == "" || strings.ContainsAny(d.Model, "/\\") || strings.HasPrefix(d.Model, ".") {
			bad("detector.model", "a model name from the models directory, such as yolo-fastest-1.1-xl, got %q", d.Model)
		}
		if d.MinScore < 0 || d.MinScore >= 1 {
			bad("detector.min_score", "must be within (0,1) (0 or absent: 0.3), got %v", d.MinScore)
		}
	default:
		bad("detector.kind", "must be classical or dnn, got %q", d.Kind)
	}
	if d.ProcessWidth < 64 || d.ProcessWidth > 4096 {
		bad("detector.process_width", "must be within 64..4096, got %d", d.ProcessWidth)
	}
	if d.ModelWidth < 64 || d.ModelWidth > d.ProcessWidth {
		bad("detector.model_width", "must be within 64..process_width (%d), got %d", d.ProcessWidth, d.ModelWidth)
	}
	if d.AnalysisFPS < 0 || d.AnalysisFPS > 120 || math.IsNaN(d.AnalysisFPS) {
		bad("detector.analysis_fps", "must be within 0..120 (0: every frame), got %v", d.AnalysisFPS)
	}
	if d.Stride < 1 || d.Stride > 4 {
		bad("detector.stride", "must be within 1..4 (1: the detector on every analysed frame), got %d", d.Stride)
	}
	if d.StationaryS < 1 || d.StationaryS > 600 || math.IsNaN(d.StationaryS) {
		bad("detector.stationary_s", "must be within 1..600 s, got %v", d.StationaryS)
	}
	if d.MinArea <= 0 || d.MinArea >= 1 {
		bad("detector.min_area", "must be within (0,1), got %v", d.MinArea)
	}
	if d.PersonMaxArea <= d.MinArea || d.PersonMaxArea >= 1 {
		bad("detector.person_max_area", "must be within (min_area,1), got %v", d.PersonMaxArea)
	}
	return problems.err()
}

func knownKind(k string) bool { return k == "vehicle" || k == "pedestrian" || k == "berth" }

// laneSlack is how far (a fraction of the frame) a lane's end may be from its stop line.
const laneSlack = 0.02

// arrows are the movements an arrow head may govern.
var arrows = []string{"left", "right", "straight", "u_turn"}

// checkArrow returns what is wrong with an arrow, "" if nothing.
func checkArrow(a string) string {
	seen := map[string]bool{}
	for _, m := range strings.Split(a, "+") {
		if !slices.Contains(arrows, m) {
			return fmt.Sprintf("must be left, right, straight or u_turn, or several joined by + (straight+right), got %q", a)
		}
		if seen[m] {
			return fmt.Sprintf("names %s twice in %q", m, a)
		}
		seen[m] = true
	}
	return ""
}

// segment returns the index of l's segment nearest to p (the earlier one on a tie), the
// distance to it, and where p projects along it as a fraction of its length (unclamped). l has
// at least 2 points.
func (l Polyline) segment(p Point) (seg int, dist, t float64) {
	dist = math.Inf(1)
	for j := 1; j < len(l); j++ {
		a, b := l[j-1], l[j]
		dx, dy := b.X-a.X, b.Y-a.Y
		u := 0.0
		if n := dx*dx + dy*dy; n > 0 {
			u = ((p.X-a.X)*dx + (p.Y-a.Y)*dy) / n
		}
		c := math.Min(1, math.Max(0, u))
		if d := math.Hypot(a.X+c*dx-p.X, a.Y+c*dy-p.Y); d < dist {
			seg, dist, t = j-1, d, u
		}
	}
	return seg, dist, t
}

// locate returns how far p is from the line and where its nearest point is along the line, as
// a length from the first point.
func (l Polyline) locate(p Point) (dist, along float64) {
	seg, dist, t := l.segment(p)
	for j := 1; j <= seg; j++ {
		along += math.Hypot(l[j].X-l[j-1].X, l[j].Y-l[j-1].Y)
	}
	return dist, along + math.Min(1, math.Max(0, t))*math.Hypot(l[seg+1].X-l[seg].X, l[seg+1].Y-l[seg].Y)
}

// past reports whether p is on the side of the line that traffic travelling dir goes to: the
// side of the segment nearest to it.
func (l Polyline) past(p Point, dir Point) bool {
	seg, _, _ := l.segment(p)
	a, b := l[seg], l[seg+1]
	dx, dy := b.X-a.X, b.Y-a.Y
	side := dx*(p.Y-a.Y) - dy*(p.X-a.X)
	ahead := dx*dir.Y - dy*dir.X
	return side*ahead > 0
}

// wholly reports whether every point of c is past l, travelling dir, and no segment of c
// crosses one of l.
func (l Polyline) wholly(c Polyline, dir Point) bool {
	for _, p := range c {
		if !l.past(p, dir) {
			return false
		}
	}
	for i := 1; i < len(c); i++ {
		for j := 1; j < len(l); j++ {
			if segmentsCross(c[i-1], c[i], l[j-1], l[j]) {
				return false
			}
		}
	}
	return true
}

// segmentsCross reports whether segments ab and cd intersect.
func segmentsCross(a, b, c, d Point) bool {
	cross := func(o, p, q Point) float64 { return (p.X-o.X)*(q.Y-o.Y) - (p.Y-o.Y)*(q.X-o.X) }
	d1, d2 := cross(c, d, a), cross(c, d, b)
	d3, d4 := cross(a, b, c), cross(a, b, d)
	return (d1 > 0) != (d2 > 0) && (d3 > 0) != (d4 > 0)
}

// problems collects every validation problem, each prefixed with its field path, as
// internal/cfgfile.Problems does (that package links the YAML decoder, this one must not).
type problems []string

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}
