package synth

import (
	"image"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Geometry of the rendered platform, in pixels of the 640×480 frame, looking down at it: the
// platform at the top, the yellow warning line, the danger strip, the edge, then the track.
const (
	PlatformCamera = "synth-cam-2"
	PlatformSite   = "example-platform-5"
	EdgeZone       = "edge-5"
	TrackZone      = "track-5"
	platformDwellS = 3.0

	warnY   = 310 // top of the danger strip (the warning line's lower edge)
	edgeY   = 352 // platform edge
	trackY  = 358 // top of the track zone
	lowLane = 280 // the lane nearest the edge, the only one people leave the platform from
)

// walkLanes are the feet rows people walk along, far enough apart that two people never overlap.
var walkLanes = []float64{130, 180, 230, lowLane}

// PlatformScene returns the scene file of the synthetic platform.
func PlatformScene() *scene.Scene {
	s := scene.Defaults()
	s.Version = 1
	s.Camera = PlatformCamera
	s.Detector = scene.Classical() // the synthetic world is drawn for a background model, not for COCO
	s.PlatformEdges = []scene.PlatformEdge{{Zone: scene.Zone{ID: EdgeZone, Site: PlatformSite, Polygon: rectPoly(0, warnY, W, edgeY)}, DwellS: platformDwellS}}
	s.Tracks = []scene.Zone{{ID: TrackZone, Site: PlatformSite, Polygon: rectPoly(0, trackY, W, H)}}
	s.Masks = [][]scene.Point{clockMask}
	return &s
}

// Platform person plans.
const (
	planWalk  = iota // along the platform
	planDwell        // to the danger strip, stay, back
	planTrack        // down onto the track, stay, back
)

type person struct {
	x, y    float64
	speed   float64
	dir     float64 // +1 east, -1 west
	plan    int
	stage   int     // 0 walk to turn, 1 down, 2 stay, 3 up, 4 walk off
	turnX   float64 // where the plan leaves the lane
	stay    float64 // seconds to stay
	stayed  float64
	targetY float64
	phase   float64 // sway
	color   [3]uint8
	inEdge  bool
	inTrack bool
	edgeAt  float64
	counted bool // entered the danger strip once already: a road user counts once
}

func (p *person) box() edge.Box {
	x := p.x + 1.5*math.Sin(p.phase) // people shift their weight; still people still move a little
	return edge.Box{X0: float32(x - pedW/2), Y0: float32(p.y - pedH), X1: float32(x + pedW/2), Y1: float32(p.y)}
}

type platformWorld struct {
	rng     *rand.Rand
	t, dt   float64
	people  []*person
	next    float64
	truth   *Truth
	entries int // people who entered the danger strip (each once), for exposure
}

func newPlatformWorld(cfg Config, truth *Truth) *platformWorld {
	return &platformWorld{rng: rand.New(rand.NewPCG(cfg.Seed, 0x706c6174666f726d)), dt: 1 / float64(cfg.FPS), truth: truth, next: WarmUpS}
}

// laneFree reports whether someone entering lane y from the side dir comes from (walking at
// speed) will never walk into anyone: everyone on the lane goes the same way, no slower, and
// the last of them is well in.
func (w *platformWorld) laneFree(y, dir, speed float64) bool {
	for _, p := range w.people {
		if math.Abs(p.y-y) >= pedH+8 {
			continue // on another lane, or down at the edge
		}
		if p.dir != dir || p.speed < speed {
			return false
		}
		from := float64(-pedW)
		if dir < 0 {
			from = W + pedW
		}
		if math.Abs(p.x-from) < 100 {
			return false
		}
	}
	return true
}

// edgeFree reports whether nobody is below the lane near q's x: two people side by side would
// be one blob to a camera.
func (w *platformWorld) edgeFree(q *person) bool {
	for _, p := range w.people {
		if p != q && p.stage >= 1 && p.stage <= 3 && math.Abs(p.x-q.x) < 3*pedW+20 {
			return false
		}
	}
	return true
}

// blocked reports whether a person walking the low lane must wait: someone coming back up
// from the edge, or someone waiting, just ahead.
func (w *platformWorld) blocked(q *person) bool {
	if q.y != lowLane {
		return false
	}
	for _, p := range w.people {
		if p == q {
			continue
		}
		ahead := (p.x - q.x) * q.dir
		returning := p.stage == 3 && ahead > -3*pedW && ahead < 3*pedW+30
		queued := p.y == lowLane && ahead > 0 && ahead < 3*pedW+20
		if returning || queued {
			return true
		}
	}
	return false
}

func (w *platformWorld) spawn() {
	if w.t < w.next {
		return
	}
	w.next = w.t + 1 + w.rng.ExpFloat64()*1.5
	lane := walkLanes[w.rng.IntN(len(walkLanes)-1)]
	if w.rng.Float64() < 0.5 {
		lane = lowLane // half the people walk along the edge, where the events are
	}
	p := &person{y: lane, speed: 40 + w.rng.Float64()*20, dir: 1, phase: w.rng.Float64() * 6,
		color: [3]uint8{uint8(50 + w.rng.IntN(170)), uint8(40 + w.rng.IntN(170)), uint8(50 + w.rng.IntN(170))}}
	p.x = -pedW
	if w.rng.IntN(2) == 0 && lane != lowLane {
		p.dir, p.x = -1, W+pedW
	}
	if lane == lowLane {
		p.speed = 50 // along the edge everyone walks one way at one pace: nobody passes anybody
	}
	if !w.laneFree(lane, p.dir, p.speed) {
		return
	}
	if lane == lowLane {
		switch r := w.rng.Float64(); {
		case r < 0.35:
			p.plan, p.targetY, p.stay = planDwell, 330, platformDwellS+1+w.rng.Float64()*3 // long enough to count
		case r < 0.55:
			p.plan, p.targetY, p.stay = planDwell, 330, 0.8+w.rng.Float64()*0.8 // a short look over the edge
		case r < 0.85:
			p.plan, p.targetY, p.stay = planTrack, 410+w.rng.Float64()*30, 1.5+w.rng.Float64()
		}
		p.turnX = 120 + w.rng.Float64()*400
	}
	w.people = append(w.people, p)
}

func (w *platformWorld) step() {
	w.spawn()
	for _, p := range w.people {
		p.phase += w.dt * 3
		switch p.stage {
		case 0, 4:
			if w.blocked(p) {
				continue // someone ahead: wait
			}
			p.x += p.dir * p.speed * w.dt
			if p.stage == 0 && p.plan != planWalk && (p.x-p.turnX)*p.dir >= 0 && w.edgeFree(p) {
				p.stage = 1 // turn towards the edge, where nobody else stands (else walk on a little)
			}
		case 1:
			p.y = math.Min(p.targetY, p.y+p.speed*w.dt)
			if p.y >= p.targetY {
				p.stage = 2
			}
		case 2:
			p.stayed += w.dt
			if p.plan == planTrack {
				p.x += p.dir * 8 * w.dt // wanders along the track
			}
			if p.stayed >= p.stay {
				p.stage = 3
			}
		case 3:
			p.y = math.Max(lowLane, p.y-p.speed*w.dt)
			if p.y <= lowLane {
				p.stage = 4
			}
		}
		w.judge(p)
	}
	n := 0
	for _, p := range w.people {
		if p.x > -2*pedW && p.x < W+2*pedW {
			w.people[n] = p
			n++
		}
	}
	w.people = w.people[:n]
	w.t += w.dt
}

// judge records the truth: a stay in the danger strip longer than the dwell time, and any
// step onto the track. Times are when the feet cross the zone's border.
func (w *platformWorld) judge(p *person) {
	inEdge := p.y >= warnY && p.y < edgeY
	if inEdge && !p.inEdge {
		p.edgeAt = w.t
		if !p.counted {
			p.counted = true
			w.entries++
		}
	}
	if !inEdge && p.inEdge && w.t-p.edgeAt >= platformDwellS {
		w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.PlatformEdgeIntrusion, T: round3(p.edgeAt + platformDwellS), Site: PlatformSite, Zone: EdgeZone})
	}
	p.inEdge = inEdge
	inTrack := p.y >= trackY
	if inTrack && !p.inTrack {
		w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.TrackIntrusion, T: round3(w.t), Site: PlatformSite, Zone: TrackZone})
	}
	p.inTrack = inTrack
}

// finish closes visits still open when the clip ends.
func (w *platformWorld) finish() {
	for _, p := range w.people {
		if p.inEdge && w.t-p.edgeAt >= platformDwellS {
			w.truth.Violations = append(w.truth.Violations, TruthEvent{Type: wire.PlatformEdgeIntrusion, T: round3(p.edgeAt + platformDwellS), Site: PlatformSite, Zone: EdgeZone})
		}
	}
	w.truth.Crossings = append(w.truth.Crossings, TruthCount{Site: PlatformSite, Zone: EdgeZone, Class: "person", N: w.entries})
}

// drawPlatformBackground paints the platform, the warning line, the edge and the track.
func drawPlatformBackground(m *gocv.Mat) {
	m.SetTo(gocv.NewScalar(168, 170, 172, 0)) // platform paving
	for x := 0; x < W; x += 48 {              // paving joints
		gocv.Line(m, image.Pt(x, 0), image.Pt(x, warnY-10), bgr(150, 152, 154), 1)
	}
	for y := 0; y < warnY-10; y += 48 {
		gocv.Line(m, image.Pt(0, y), image.Pt(W, y), bgr(150, 152, 154), 1)
	}
	rect := func(x0, y0, x1, y1 int, c [3]uint8) {
		gocv.Rectangle(m, image.Rect(x0, y0, x1, y1), bgr(c[0], c[1], c[2]), -1)
	}
	rect(0, warnY-10, W, warnY, [3]uint8{20, 200, 235}) // yellow tactile warning line
	rect(0, warnY, W, edgeY, [3]uint8{150, 152, 150})   // danger strip
	rect(0, edgeY, W, trackY, [3]uint8{210, 210, 205})  // edge coping
	rect(0, trackY, W, H, [3]uint8{60, 70, 80})         // ballast
	for x := 4; x < W; x += 26 {                        // sleepers
		rect(x, 380, x+12, 470, [3]uint8{50, 60, 75})
	}
	rect(0, 392, W, 397, [3]uint8{175, 175, 180}) // rails
	rect(0, 452, W, 457, [3]uint8{175, 175, 180})
}

func (w *platformWorld) draw(m *gocv.Mat) {
	for _, p := range w.people {
		drawPerson(m, p.box(), p.color)
	}
}
