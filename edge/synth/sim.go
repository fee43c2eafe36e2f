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

// Config selects the clip.
type Config struct {
	Seed     uint64
	Duration time.Duration
	FPS      int
	// Width and Height of the written clip. The scene is rendered at 640×480 and scaled once;
	// scene coordinates are normalised, so the same scene file holds.
	Width, Height int
	Codec         string // "mjpg" (clip.avi, no FFmpeg needed) or "h264" (clip.mp4)
}

// DefaultConfig is a one-minute 640×480 Motion-JPEG clip at 15 fps.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Duration: time.Minute, FPS: 15, Width: W, Height: H, Codec: "mjpg"}
}

// Truth is what the clip contains, exactly.
type Truth struct {
	Version    int           `json:"version"`
	Seed       uint64        `json:"seed"`
	Clip       string        `json:"clip"`
	Camera     string        `json:"camera"`
	FPS        int           `json:"fps"`
	DurationS  float64       `json:"duration_s"`
	Start      time.Time     `json:"start"` // the clip's wall-clock start; replay uses it as --start
	Violations []TruthEvent  `json:"violations"`
	Crossings  []TruthCount  `json:"crossings"` // vehicles crossing each stop line, for exposure
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
)

func norm(x, y float64) scene.Point { return scene.Point{X: x / W, Y: y / H} }

// Scene returns the scene file of the synthetic intersection.
func Scene() *scene.Scene {
	s := scene.Defaults()
	s.Version = 1
	s.Camera = Camera
	s.Signals = []scene.Signal{
		{ID: SigNB, Kind: "vehicle", Region: [2]scene.Point{norm(410, 106), norm(432, 172)}},
		{ID: SigSB, Kind: "vehicle", Region: [2]scene.Point{norm(208, 308), norm(230, 374)}},
	}
	s.Approaches = []scene.Approach{
		{ID: ZoneNB, Site: SiteNB, StopLine: [2]scene.Point{norm(322, nbStopY), norm(398, nbStopY)}, Direction: scene.Point{X: 0, Y: -1}, Signal: SigNB, GraceS: graceS},
		{ID: ZoneSB, Site: SiteSB, StopLine: [2]scene.Point{norm(242, sbStopY), norm(318, sbStopY)}, Direction: scene.Point{X: 0, Y: 1}, Signal: SigSB, GraceS: graceS},
	}
	s.Crosswalks = []scene.Crosswalk{
		{ID: "south-xwalk", Site: SiteNB, Polygon: []scene.Point{norm(mainX0, 284), norm(mainX1, 284), norm(mainX1, 304), norm(mainX0, 304)}},
		{ID: "north-xwalk", Site: SiteSB, Polygon: []scene.Point{norm(mainX0, 176), norm(mainX1, 176), norm(mainX1, 196), norm(mainX0, 196)}},
	}
	return &s
}

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

type pedestrian struct {
	x, y, vx, vy float64
	color        [3]uint8
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
	lastRed  float64
}

func newWorld(cfg Config, truth *Truth) *world {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x63726f7373776174))
	w := &world{rng: rng, dt: 1 / float64(cfg.FPS), offset: rng.Float64() * cycleS, truth: truth, crossed: map[string]int{}}
	w.nextCar = [2]float64{rng.Float64() * 2, rng.Float64() * 2}
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
		p.x += p.vx * w.dt
		p.y += p.vy * w.dt
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

func (w *world) drive(v, ahead *vehicle, light edge.Light) {
	stopAt := math.Inf(1) // distance the front may still travel
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
	return palette[w.rng.IntN(len(palette))]
}

func (w *world) spawnPed(light edge.Light) {
	p := &pedestrian{color: [3]uint8{uint8(60 + w.rng.IntN(150)), uint8(40 + w.rng.IntN(150)), uint8(60 + w.rng.IntN(150))}}
	speed := 35 + w.rng.Float64()*20
	rs := redSince(w.t, w.offset)
	if light == edge.Red && rs > walkPad && rs < redS-(mainX1-mainX0+60)/speed-1 && w.rng.Float64() < 0.7 {
		// Cross the main street on a crosswalk while it is red (the walk phase).
		p.y = 300
		if w.rng.IntN(2) == 0 {
			p.y = 192
		}
		p.x, p.vx = mainX0-25, speed
		if w.rng.IntN(2) == 0 {
			p.x, p.vx = mainX1+25, -speed
		}
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
