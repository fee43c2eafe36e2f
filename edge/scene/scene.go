// Package scene loads and validates a camera's scene file: the zones, lines and signal heads the
// rules use, in coordinates normalised to 0..1 of the frame.
package scene

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/cfgfile"
)

// Point is a normalised frame coordinate, written [x, y] in YAML.
type Point struct{ X, Y float64 }

// UnmarshalYAML reads [x, y].
func (p *Point) UnmarshalYAML(n *yaml.Node) error {
	var xy []float64
	if err := n.Decode(&xy); err != nil || len(xy) != 2 {
		return fmt.Errorf("line %d: a point is [x, y]", n.Line)
	}
	p.X, p.Y = xy[0], xy[1]
	return nil
}

// MarshalYAML writes [x, y].
func (p Point) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range []float64{p.X, p.Y} {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: trimFloat(v)})
	}
	return n, nil
}

func trimFloat(v float64) string { return fmt.Sprintf("%.4g", v) }

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
	Line      [2]Point `yaml:"line"`
	Direction Point    `yaml:"direction"` // direction of travel across the line
	// Front is as an approach's: where in the box's depth a road user's front is judged.
	Front float64 `yaml:"front,omitempty"`
}

// Approach returns the count line as an approach with no signal: crossed, counted, never judged.
func (c CountLine) Approach() Approach {
	return Approach{ID: c.ID, Site: c.Site, StopLine: c.Line, Direction: c.Direction, Front: c.Front}
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
	ID     string    `yaml:"id"`
	Kind   string    `yaml:"kind"`             // vehicle | pedestrian | berth (green: a train at the platform with its doors open)
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

// Approach is an intersection approach: a stop line crossed in one direction, governed by a signal.
type Approach struct {
	ID        string   `yaml:"id"` // the zone name in events
	Site      string   `yaml:"site"`
	StopLine  [2]Point `yaml:"stop_line"`
	Direction Point    `yaml:"direction"` // direction of travel across the line
	Signal    string   `yaml:"signal"`
	GraceS    float64  `yaml:"grace_s"` // time into red before a crossing counts
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
	ConfirmLine *[2]Point `yaml:"confirm_line,omitempty"`
}

// Crosswalk is a marked pedestrian crossing. Its signal, if any, says when not to walk: a
// pedestrian head showing red (or flashing amber), or the conflicting vehicle phase showing
// green or amber.
type Crosswalk struct {
	ID      string  `yaml:"id"`
	Site    string  `yaml:"site"`
	Polygon []Point `yaml:"polygon"`
	Signal  string  `yaml:"signal,omitempty"`
	GraceS  float64 `yaml:"grace_s,omitempty"` // time into don't-walk before an entry counts
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
	return Scene{Detector: Detector{Kind: "dnn", Model: DefaultModel, MinScore: 0.3, ProcessWidth: 640, ModelWidth: 320, AnalysisFPS: 15,
		StationaryS: 30, MinArea: 0.0004, PersonMaxArea: 0.0035}}
}

// Classical returns the classical detector's defaults (a scene with detector.kind classical).
func Classical() Detector {
	d := Defaults().Detector
	d.Kind, d.Model, d.MinScore = "classical", "", 0
	return d
}

// detectorOverrides returns the detector fields the document sets, as detector.<key>.
func detectorOverrides(b []byte) []string {
	var doc struct {
		Detector map[string]yaml.Node `yaml:"detector"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return nil
	}
	var out []string
	for k := range doc.Detector {
		out = append(out, "detector."+k)
	}
	slices.Sort(out)
	return out
}

// Load reads, decodes strictly and validates a scene file.
func Load(path string) (*Scene, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scene: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("scene %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes strictly (unknown keys are errors) and validates.
func Parse(b []byte) (*Scene, error) {
	s := Defaults()
	s.Overrides = detectorOverrides(b)
	if slices.Contains(s.Overrides, "detector.kind") && !slices.Contains(s.Overrides, "detector.model") {
		s.Detector.Model, s.Detector.MinScore = "", 0 // another kind: the dnn's model is not its default
	}
	if err := cfgfile.Decode(b, &s); err != nil {
		return nil, err
	}
	if s.Detector.Kind == "dnn" && s.Detector.Model == "" {
		s.Detector.Model = DefaultModel
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes the scene as YAML.
func (s *Scene) Marshal() ([]byte, error) { return yaml.Marshal(s) }

// Validate reports every problem, each with its field path.
func (s *Scene) Validate() error {
	var problems cfgfile.Problems
	bad := problems.Add
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
		if g.Kind != "vehicle" && g.Kind != "pedestrian" && g.Kind != "berth" {
			bad(f+".kind", "must be vehicle, pedestrian or berth, got %q", g.Kind)
		}
		if g.Region == nil && !g.Feed && g.Plan == nil {
			bad(f, "needs a source: a region where the camera sees it, feed: true, or a plan")
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
	crossed := func(f, lf string, l [2]Point, dir Point, front float64) {
		pt(f+"."+lf+"[0]", l[0])
		pt(f+"."+lf+"[1]", l[1])
		dx, dy := l[1].X-l[0].X, l[1].Y-l[0].Y
		if math.Hypot(dx, dy) < 0.01 {
			bad(f+"."+lf, "needs 2 distinct points")
		}
		if n := math.Hypot(dir.X, dir.Y); n == 0 || math.IsNaN(n) {
			bad(f+".direction", "needs a non-zero [dx, dy]")
		} else if math.Abs(dx*dir.X+dy*dir.Y)/(n*math.Hypot(dx, dy)+1e-12) > 0.95 {
			bad(f+".direction", "runs along the %s; it must cross it", strings.ReplaceAll(lf, "_", " "))
		}
		if front < 0 || front > 1 || math.IsNaN(front) {
			bad(f+".front", "must be within 0..1 of the box's depth (0 or absent: 1, the leading edge), got %v", front)
		}
	}
	for i, a := range s.Approaches {
		f := fmt.Sprintf("approaches[%d]", i)
		zone(f, a.ID)
		name(f+".site", a.Site)
		crossed(f, "stop_line", a.StopLine, a.Direction, a.Front)
		dx, dy := a.StopLine[1].X-a.StopLine[0].X, a.StopLine[1].Y-a.StopLine[0].Y
		if k, ok := signals[a.Signal]; !ok {
			bad(f+".signal", "no signal %q in signals", a.Signal)
		} else if k != "vehicle" {
			bad(f+".signal", "signal %q is a %s signal; an approach needs a vehicle signal", a.Signal, k)
		}
		if a.GraceS < 0 || a.GraceS > 5 {
			bad(f+".grace_s", "must be within 0..5 s, got %v", a.GraceS)
		}
		if c := a.ConfirmLine; c != nil {
			pt(f+".confirm_line[0]", c[0])
			pt(f+".confirm_line[1]", c[1])
			if math.Hypot(c[1].X-c[0].X, c[1].Y-c[0].Y) < 0.01 {
				bad(f+".confirm_line", "needs 2 distinct points")
			}
			// Both ends on the side of the stop line that traffic goes to (a side of a line
			// is the same in normalised and in pixel coordinates).
			side := func(p Point) float64 { return dx*(p.Y-a.StopLine[0].Y) - dy*(p.X-a.StopLine[0].X) }
			ahead := dx*a.Direction.Y - dy*a.Direction.X
			if side(c[0])*ahead <= 0 || side(c[1])*ahead <= 0 {
				bad(f+".confirm_line", "must lie past the stop line in the direction of travel")
			}
		}
	}
	for i, c := range s.CountLines {
		f := fmt.Sprintf("count_lines[%d]", i)
		zone(f, c.ID)
		name(f+".site", c.Site)
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
		if k, ok := signals[c.Signal]; c.Signal != "" && !ok {
			bad(f+".signal", "no signal %q in signals", c.Signal)
		} else if k == "berth" {
			bad(f+".signal", "signal %q is a berth signal; a crosswalk needs a pedestrian or vehicle signal", c.Signal)
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
	if d.StationaryS < 1 || d.StationaryS > 600 || math.IsNaN(d.StationaryS) {
		bad("detector.stationary_s", "must be within 1..600 s, got %v", d.StationaryS)
	}
	if d.MinArea <= 0 || d.MinArea >= 1 {
		bad("detector.min_area", "must be within (0,1), got %v", d.MinArea)
	}
	if d.PersonMaxArea <= d.MinArea || d.PersonMaxArea >= 1 {
		bad("detector.person_max_area", "must be within (min_area,1), got %v", d.PersonMaxArea)
	}
	return problems.Err()
}
