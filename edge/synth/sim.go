// Package synth renders seeded, deterministic clips of a signalised intersection with exact
// ground truth: a clip OpenCV reads, the scene file for it and the violations it contains.
package synth

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Geometry of the rendered intersection, in pixels of a W×H frame. The main street runs
// north-south; northbound traffic drives up the screen.
const (
	W, H = 640, 480

	mainX0, mainX1 = 240, 400 // main street
	crossY0        = 200      // cross street
	crossY1        = 280
	nbLaneX        = 360 // lane centres
	sbLaneX        = 280
	nbStopY        = 312 // northbound stop line (front of a vehicle crosses it going up)
	sbStopY        = 168
	carW, carL     = 34, 60
	pedW, pedH     = 10, 24
	stopGap        = 12 // how far before the line a stopping vehicle halts
)

// Signal plan of the main street, seconds.
const (
	greenS, amberS, redS = 9.0, 3.0, 12.0
	cycleS               = greenS + amberS + redS
	graceS               = 0.5
)

// Scenario kinds and variants.
const (
	Intersection = "intersection" // a signalised crossroads: red-light running, crossings, jaywalking
	Platform     = "platform"     // a rail platform: edge-zone dwell and track intrusion

	Day       = "day"
	Night     = "night"     // dusk: low contrast and stronger sensor noise; signal lamps stay bright
	Occlusion = "occlusion" // static occluders (a tree canopy, a pillar) that objects pass behind
)

// WarmUpS is how long each clip shows its empty scene before anything enters it.
const WarmUpS = 3.0

// Config selects the clip.
type Config struct {
	Kind     string // Intersection (default) or Platform
	Variant  string // Day (default), Night or Occlusion
	Seed     uint64
	Duration time.Duration
	FPS      int
	// Width and Height of the written clip. The scene is rendered at 640×480 and scaled once;
	// scene coordinates are normalised, so the same scene file holds.
	Width, Height int
	Codec         string // "mjpg" (clip.avi, no FFmpeg needed) or "h264" (clip.mp4)
}

// DefaultConfig is a one-minute 640×480 Motion-JPEG clip of the intersection by day at 15 fps.
func DefaultConfig(seed uint64) Config {
	return Config{Kind: Intersection, Variant: Day, Seed: seed, Duration: time.Minute, FPS: 15, Width: W, Height: H, Codec: "mjpg"}
}

// Truth is what the clip contains, exactly.
type Truth struct {
	Version    int           `json:"version"`
	Kind       string        `json:"kind"`
	Variant    string        `json:"variant"`
	Seed       uint64        `json:"seed"`
	Clip       string        `json:"clip"`
	Camera     string        `json:"camera"`
	FPS        int           `json:"fps"`
	DurationS  float64       `json:"duration_s"`
	Start      time.Time     `json:"start"` // the clip's wall-clock start; replay uses it as --start
	Violations []TruthEvent  `json:"violations"`
	Crossings  []TruthCount  `json:"crossings"` // road users entering each counted zone, for exposure
	Plan       []TruthSignal `json:"plan"`      // red intervals of the main street
}

// TruthEvent is one violation: its type, when (seconds from the clip start) and where.
type TruthEvent struct {
	Type string  `json:"type"`
	T    float64 `json:"t"`
	Site string  `json:"site"`
	Zone string  `json:"zone"`
}

// TruthCount is how many vehicles of a class crossed a zone's line.
type TruthCount struct {
	Site  string `json:"site"`
	Zone  string `json:"zone"`
	Class string `json:"class"`
	N     int    `json:"n"`
}

// TruthSignal is one red interval.
type TruthSignal struct {
	Signal string  `json:"signal"`
	RedS   float64 `json:"red_s"`
	EndS   float64 `json:"end_s"`
}

// Camera and site names of the synthetic scene.
const (
	Camera  = "synth-cam-1"
	SiteNB  = "synth-main-nb"
	SiteSB  = "synth-main-sb"
	ZoneNB  = "nb-stop"
	ZoneSB  = "sb-stop"
	SigNB   = "nb-head"
	SigSB   = "sb-head"
	walkPad = 1.0 // pedestrians start walking this long after main red begins

	XwalkS = "south-xwalk" // across the main street, governed by the northbound phase
	XwalkN = "north-xwalk" // governed by the southbound phase
	XwalkW = "west-xwalk"  // across the cross street, unsignalised in this scene
	XwalkE = "east-xwalk"
	RoadS  = "main-south" // roadway polygons
	RoadN  = "main-north"
	RoadX  = "cross-street"
)

// clockMask is where the burned-in clock is drawn: masked in every scene.
var clockMask = []scene.Point{{X: 0, Y: 0}, {X: 0.36, Y: 0}, {X: 0.36, Y: 0.07}, {X: 0, Y: 0.07}}

// rectPoly returns a rectangle polygon in scene coordinates.
func rectPoly(x0, y0, x1, y1 float64) []scene.Point {
	return []scene.Point{norm(x0, y0), norm(x1, y0), norm(x1, y1), norm(x0, y1)}
}

func norm(x, y float64) scene.Point { return scene.Point{X: x / W, Y: y / H} }

// Scene returns the scene file of the synthetic intersection.
func Scene() *scene.Scene {
	s := scene.Defaults()
	s.Version = 1
	s.Camera = Camera
	s.Detector = scene.Classical() // the synthetic world is drawn for a background model, not for COCO
	s.Signals = []scene.Signal{
		{ID: SigNB, Kind: "vehicle", Region: &[2]scene.Point{norm(410, 106), norm(432, 172)}},
		{ID: SigSB, Kind: "vehicle", Region: &[2]scene.Point{norm(208, 308), norm(230, 374)}},
	}
	s.Approaches = []scene.Approach{
		{ID: ZoneNB, Site: SiteNB, StopLine: scene.Polyline{norm(322, nbStopY), norm(398, nbStopY)}, Direction: scene.Point{X: 0, Y: -1}, Signal: SigNB, GraceS: graceS},
		{ID: ZoneSB, Site: SiteSB, StopLine: scene.Polyline{norm(242, sbStopY), norm(318, sbStopY)}, Direction: scene.Point{X: 0, Y: 1}, Signal: SigSB, GraceS: graceS},
	}
	// The crosswalks over the main street say "don't walk" while its phase is green or amber.
	s.Crosswalks = []scene.Crosswalk{
		{ID: XwalkS, Site: SiteNB, Polygon: rectPoly(mainX0, 284, mainX1, 304), Signal: SigNB},
		{ID: XwalkN, Site: SiteSB, Polygon: rectPoly(mainX0, 176, mainX1, 196), Signal: SigSB},
		{ID: XwalkW, Site: SiteNB, Polygon: rectPoly(sideW0, crossY0, sideW1, crossY1)},
		{ID: XwalkE, Site: SiteSB, Polygon: rectPoly(sideE0, crossY0, sideE1, crossY1)},
	}
	s.Roadways = []scene.Zone{
		{ID: RoadS, Site: SiteNB, Polygon: rectPoly(mainX0, crossY1, mainX1, H)},
		{ID: RoadN, Site: SiteSB, Polygon: rectPoly(mainX0, 0, mainX1, crossY0)},
		{ID: RoadX, Site: SiteNB, Polygon: rectPoly(0, crossY0, W, crossY1)},
	}
	s.Masks = [][]scene.Point{clockMask}
	return &s
}

// VariantScene returns the scene a variant's clip is written with. The Night variant's
// northbound approach is written as an operator might write a bent stop bar and a far-side head
// seen from behind: a stop line that bends up beyond the lane, and signals [nb-head, nb-far]
// with nb-far marked unknown. It judges as Scene() does, so the truth is the same, and the
// seeds test runs a polyline and combined heads through the whole edge path.
func VariantScene(variant string) *scene.Scene {
	s := Scene()
	if variant != Night {
		return s
	}
	s.Signals = append(s.Signals, scene.Signal{ID: SigNB + "-far", Kind: "vehicle", State: "unknown"})
	a := &s.Approaches[0]
	a.StopLine = scene.Polyline{norm(322, nbStopY), norm(384, nbStopY), norm(398, nbStopY-8)}
	a.Signal, a.Signals = "", []string{SigNB, SigNB + "-far"}
	return s
}

// Sidewalk crossings of the cross street (x ranges).
const (
	sideW0, sideW1 = 160, 212
	sideE0, sideE1 = 428, 480
)

// mainLight returns the main street's light at t seconds, given the plan's offset.
func mainLight(t, offset float64) edge.Light {
	c := math.Mod(t+offset, cycleS)
	switch {
	case c < greenS:
		return edge.Green
	case c < greenS+amberS:
		return edge.Amber
	}
	return edge.Red
}

// redSince returns how long the main street has been red at t (valid when red).
func redSince(t, offset float64) float64 { return math.Mod(t+offset, cycleS) - greenS - amberS }

type vehicle struct {
	nb        bool    // northbound (else southbound)
	s         float64 // distance travelled from the spawn point to the front bumper, px
	v, vmax   float64
	violator  bool // ignores red
	committed bool // decided to go through amber
	crossed   bool
	color     [3]uint8
}

// front returns the y of the front bumper.
func (v *vehicle) front() float64 {
	if v.nb {
		return H + 4 - v.s
	}
	return -4 + v.s
}

// distToLine is how far the front is before the stop line (negative once past).
func (v *vehicle) distToLine() float64 {
	if v.nb {
		return v.front() - nbStopY
	}
	return sbStopY - v.front()
}

func (v *vehicle) box() edge.Box {
	x := float32(sbLaneX)
	if v.nb {
		x = nbLaneX
	}
	f := float32(v.front())
	if v.nb {
		return edge.Box{X0: x - carW/2, Y0: f, X1: x + carW/2, Y1: f + carL}
	}
	return edge.Box{X0: x - carW/2, Y0: f - carL, X1: x + carW/2, Y1: f}
}

// Pedestrian kinds in the intersection.
const (
	pedSidewalk = iota // walks along a sidewalk, over the cross street's crosswalks
	pedLegal           // crosses the main street on a crosswalk during its walk phase
	pedAgainst         // crosses on a crosswalk while the main street has green
	pedJaywalk         // crosses the main street mid-block
)

type pedestrian struct {
	x, y, vx, vy float64
	color        [3]uint8
	kind         int
	entered      bool // the truth moment (crosswalk or roadway entry) has passed
	site, zone   string
}

func (p *pedestrian) box() edge.Box {
	return edge.Box{X0: float32(p.x - pedW/2), Y0: float32(p.y - pedH), X1: float32(p.x + pedW/2), Y1: float32(p.y)}
}

// world is the simulation state. Step advances it; the renderer draws it.
type world struct {
	rng      *rand.Rand
	t, dt    float64
	offset   float64
	vehicles []*vehicle
	peds     []*pedestrian
	nextCar  [2]float64 // next spawn time per lane (0 nb, 1 sb)
	nextPed  float64
	truth    *Truth
	crossed  map[string]int
	walked   map[string][]float64 // site|crosswalk → when each walker stepped onto it
	lastRed  float64
}

func newWorld(cfg Config, truth *Truth) *world {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x63726f7373776174))
	w := &world{rng: rng, dt: 1 / float64(cfg.FPS), offset: rng.Float64() * cycleS, truth: truth, crossed: map[string]int{}, walked: map[string][]float64{}}
	// Nothing enters before WarmUpS: a background model learns the empty scene first, as a
	// camera's detector does after it starts.
	w.nextCar = [2]float64{WarmUpS + rng.Float64()*2, WarmUpS + rng.Float64()*2}
	w.nextPed = WarmUpS
	return w
}

func (w *world) light() edge.Light { return mainLight(w.t, w.offset) }

func (w *world) step() {
	w.spawn()
	light := w.light()
	for _, lane := range []bool{true, false} {
		var ahead *vehicle
		for _, v := range w.vehicles { // vehicles are in spawn order: the first is furthest along
			if v.nb != lane {
				continue
			}
			w.drive(v, ahead, light)
			ahead = v
		}
	}
	for _, p := range w.peds {
		before := p.x
		if w.waits(p) {
			continue
		}
		p.x += p.vx * w.dt
		p.y += p.vy * w.dt
		w.judge(p, before)
	}
	// Drop what left the frame.
	n := 0
	for _, v := range w.vehicles {
		if v.s < H+carL+20 {
			w.vehicles[n] = v
			n++
		}
	}
	w.vehicles = w.vehicles[:n]
	m := 0
	for _, p := range w.peds {
		if p.x > -20 && p.x < W+20 && p.y > -10 && p.y < H+pedH+10 {
			w.peds[m] = p
			m++
		}
	}
	w.peds = w.peds[:m]
	w.t += w.dt
}

// judge records the truth of a pedestrian crossing the main street: entering a crosswalk
// against the signal (the rules' crosswalk border is one margin outside the paint), or entering
// the roadway off the crosswalks.
func (w *world) judge(p *pedestrian, before float64) {
	if p.entered || p.vx == 0 {
		return
	}
	edgeX := float64(mainX0)
	if p.vx < 0 {
		edgeX = mainX1
	}
	if p.kind == pedAgainst || p.kind == pedLegal {
		edgeX -= math.Copysign(ruleMargin, p.vx)
	}
	if (before-edgeX)*(p.x-edgeX) > 0 {
		return // not crossed this step
	}
	p.entered = true
	t := w.t + w.dt*math.Abs(before-edgeX)/math.Abs(p.x-before)
	if p.kind == pedAgainst || p.kind == pedLegal {
		w.walked[p.site+"|"+p.zone] = append(w.walked[p.site+"|"+p.zone], t)
	}
	switch p.kind {
	case pedAgainst:
		if l := mainLight(t, w.offset); l == edge.Green || l == edge.Amber {
			w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.PedAgainstSignal, T: round3(t), Site: p.site, Zone: p.zone})
		}
	case pedJaywalk:
		w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.Jaywalking, T: round3(t), Site: p.site, Zone: p.zone})
	}
}

// ruleMargin is the rules' crosswalk border at 640×480: 1 % of the frame diagonal.
const ruleMargin = 8.0

// yieldTo returns how far v may still travel before a pedestrian who is crossing, or about to
// cross, its lane: vehicles stop for people in the road, with room to spare.
func (w *world) yieldTo(v *vehicle) float64 {
	laneX := float64(sbLaneX)
	if v.nb {
		laneX = nbLaneX
	}
	stop := math.Inf(1)
	for _, p := range w.peds {
		if p.vx == 0 || p.x < mainX0-60 || p.x > mainX1+60 {
			continue
		}
		// Past this lane already?
		if (p.vx > 0 && p.x-pedW > laneX+carW/2+6) || (p.vx < 0 && p.x+pedW < laneX-carW/2-6) {
			continue
		}
		var d float64
		if v.nb {
			d = v.front() - (p.y + 24) // front must stay below the feet
		} else {
			d = (p.y - pedH - 24) - v.front()
		}
		if d < -carL/2 || d > 200 {
			continue // already beside or past the person, or far away
		}
		stop = math.Min(stop, math.Max(0, d))
	}
	return stop
}

func (w *world) drive(v, ahead *vehicle, light edge.Light) {
	stopAt := w.yieldTo(v) // distance the front may still travel
	if !v.crossed && !v.violator && !v.committed {
		d := v.distToLine()
		switch light {
		case edge.Amber:
			if v.v*v.v/(2*250) > d-stopGap { // cannot stop comfortably: go
				v.committed = true
			} else {
				stopAt = d - stopGap
			}
		case edge.Red:
			stopAt = d - stopGap
		}
	}
	if light == edge.Green {
		v.committed = false
	}
	if ahead != nil {
		gap := ahead.s - carL - 14 - v.s
		stopAt = math.Min(stopAt, gap)
	}
	vdes := v.vmax
	if !math.IsInf(stopAt, 1) {
		vdes = math.Min(vdes, math.Sqrt(2*300*math.Max(0, stopAt)))
	}
	if vdes > v.v {
		v.v = math.Min(vdes, v.v+180*w.dt)
	} else {
		v.v = vdes
	}
	before := v.distToLine()
	v.s += v.v * w.dt
	after := v.distToLine()
	if !v.crossed && before > 0 && after <= 0 {
		v.crossed = true
		t := w.t + w.dt*before/(before-after) // interpolated crossing time
		site, zone := SiteNB, ZoneNB
		if !v.nb {
			site, zone = SiteSB, ZoneSB
		}
		w.crossed[site+"|"+zone]++
		if mainLight(t, w.offset) == edge.Red && redSince(t, w.offset) >= graceS {
			w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.RedLightRunning, T: round3(t), Site: site, Zone: zone})
		}
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func (w *world) laneClear(nb bool) bool {
	for _, v := range w.vehicles {
		if v.nb == nb && !v.crossed {
			return false
		}
	}
	return true
}

func (w *world) spawn() {
	light := w.light()
	for lane := 0; lane < 2; lane++ {
		nb := lane == 0
		if w.t < w.nextCar[lane] {
			continue
		}
		// A spawn needs room behind the last vehicle of the lane.
		room := true
		for _, v := range w.vehicles {
			if v.nb == nb && v.s < carL+30 {
				room = false
			}
		}
		if !room {
			w.nextCar[lane] = w.t + 0.5
			continue
		}
		v := &vehicle{nb: nb, vmax: 100 + w.rng.Float64()*40, color: w.carColor()}
		v.v = v.vmax
		// Some vehicles that arrive on a clear approach during red run it. They are planned to
		// reach the line well past the grace time and before green, so the truth is unambiguous.
		if light == edge.Red && w.laneClear(nb) && w.rng.Float64() < 0.55 {
			reach := v.distToLine() / v.vmax
			at := redSince(w.t, w.offset) + reach
			if at > graceS+1.0 && at < redS-1.0 {
				v.violator = true
			}
		}
		w.vehicles = append(w.vehicles, v)
		w.nextCar[lane] = w.t + 1.2 + w.rng.ExpFloat64()*2.5
	}
	if w.t >= w.nextPed {
		w.spawnPed(light)
		w.nextPed = w.t + 0.8 + w.rng.ExpFloat64()*1.5
	}
}

func (w *world) carColor() [3]uint8 {
	palette := [][3]uint8{{40, 40, 200}, {200, 60, 40}, {230, 230, 230}, {20, 20, 20}, {60, 160, 60}, {40, 180, 220}, {150, 150, 160}}
	c := palette[w.rng.IntN(len(palette))]
	// No two cars share a paint exactly: a background model that saw one wait in a queue would
	// take the next of the same colour for road.
	for i := range c {
		c[i] = uint8(min(250, max(5, int(c[i])+w.rng.IntN(41)-20)))
	}
	return c
}

// vehicleNear reports whether a vehicle occupies or is about to occupy the rows y0..y1.
func (w *world) vehicleNear(y0, y1 float64) bool {
	for _, v := range w.vehicles {
		b := v.box()
		if float64(b.Y1) > y0-20 && float64(b.Y0) < y1+20 {
			return true
		}
	}
	return false
}

// waits reports whether a pedestrian at the kerb waits for a vehicle in their path to pass:
// nobody walks into a car.
func (w *world) waits(p *pedestrian) bool {
	if p.vx == 0 || p.entered {
		return false
	}
	kerb := float64(mainX0)
	if p.vx < 0 {
		kerb = mainX1
	}
	if math.Abs(p.x-kerb) > 14 {
		return false
	}
	for _, v := range w.vehicles {
		b := v.box()
		if float64(b.Y1) > p.y-pedH-16 && float64(b.Y0) < p.y+16 {
			return true
		}
	}
	return false
}

// crosserNear reports whether someone is already crossing the main street near row y: two
// people passing each other would be one blob to a camera for a moment.
func (w *world) crosserNear(y float64) bool {
	for _, p := range w.peds {
		if p.vx != 0 && math.Abs(p.y-y) < 2*pedH {
			return true
		}
	}
	return false
}

// crossFrom places p at one kerb of the main street, walking across at speed.
func (w *world) crossFrom(p *pedestrian, speed, startPad float64) {
	p.x, p.vx = mainX0-startPad, speed
	if w.rng.IntN(2) == 0 {
		p.x, p.vx = mainX1+startPad, -speed
	}
}

func (w *world) spawnPed(light edge.Light) {
	p := &pedestrian{color: [3]uint8{uint8(60 + w.rng.IntN(150)), uint8(40 + w.rng.IntN(150)), uint8(60 + w.rng.IntN(150))}}
	speed := 35 + w.rng.Float64()*20
	rs := redSince(w.t, w.offset)
	r := w.rng.Float64()
	south := w.rng.IntN(2) == 0
	xwalkY, site, zone := 192.0, SiteSB, XwalkN
	if south {
		xwalkY, site, zone = 300, SiteNB, XwalkS
	}
	const pad = 45 // start this far from the kerb: seen on the pavement first
	// Seconds from now until the walker enters the crosswalk.
	enter := (pad - ruleMargin) / speed
	switch {
	case light == edge.Red && rs > walkPad && rs < redS-(mainX1-mainX0+2*pad)/speed-1 && r < 0.6:
		// Cross the main street on a crosswalk during its walk phase (main street red).
		p.kind, p.y, p.site, p.zone = pedLegal, xwalkY, site, zone
		w.crossFrom(p, speed, pad)
	case light == edge.Green && math.Mod(w.t+w.offset, cycleS)+enter > 1 && math.Mod(w.t+w.offset, cycleS)+enter < greenS+amberS-1 &&
		r < 0.3 && !w.vehicleNear(xwalkY-pedH, xwalkY):
		// Step onto the crosswalk while the main street has green: against the signal.
		p.kind, p.y, p.site, p.zone = pedAgainst, xwalkY, site, zone
		w.crossFrom(p, speed, pad)
	case r < 0.45:
		// Cross mid-block, away from every crosswalk, when no vehicle is close.
		p.kind = pedJaywalk
		// Rows clear of the signal heads (their regions are not searched) and of the clock.
		p.y, p.site, p.zone = 400+w.rng.Float64()*45, SiteNB, RoadS
		if !south {
			p.y, p.site, p.zone = 62+w.rng.Float64()*34, SiteSB, RoadN
		}
		if w.vehicleNear(p.y-pedH, p.y) || w.crosserNear(p.y) {
			p.kind = pedSidewalk
			break
		}
		w.crossFrom(p, speed, pad)
	}
	if p.kind != pedSidewalk {
		w.peds = append(w.peds, p)
		return
	}
	// Walk along a sidewalk, away from the signal heads.
	p.x = 175 + w.rng.Float64()*20
	if w.rng.IntN(2) == 0 {
		p.x = 450 + w.rng.Float64()*20
	}
	p.y, p.vy = -2, speed
	if w.rng.IntN(2) == 0 {
		p.y, p.vy = H+pedH, -speed
	}
	w.peds = append(w.peds, p)
}
