package synth

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// ClipName is the file Generate writes a Motion-JPEG clip to (OpenCV writes and reads it
// without FFmpeg); an H.264 clip is clip.mp4.
const ClipName = "clip.avi"

// clipFile returns the clip's file name and fourcc for a codec.
func clipFile(codec string) (name, fourcc string, err error) {
	switch codec {
	case "", "mjpg":
		return ClipName, "MJPG", nil
	case "h264":
		return "clip.mp4", "avc1", nil
	}
	return "", "", fmt.Errorf("synth: codec %q: use mjpg or h264", codec)
}

// clipStart is the wall-clock start written into the clip's modification time and truth: the
// clip ends a minute before it was rendered, so its events fall inside an aggregator's rolling
// window. Replays of the same file use the same start, hence the same event ids.
func clipStart(d time.Duration) time.Time {
	return time.Now().UTC().Truncate(time.Second).Add(-d - time.Minute)
}

func bgr(b, g, r uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

// Generate writes dir/clip.avi, dir/scene.yaml and dir/truth.json and returns the truth.
func Generate(cfg Config, dir string) (*Truth, error) {
	if cfg.FPS < 5 || cfg.FPS > 60 {
		return nil, fmt.Errorf("synth: fps %d is outside 5..60", cfg.FPS)
	}
	if cfg.Duration < 5*time.Second || cfg.Duration > time.Hour {
		return nil, fmt.Errorf("synth: duration %v is outside 5s..1h", cfg.Duration)
	}
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = W, H
	}
	if cfg.Width < 160 || cfg.Height < 120 || cfg.Width > 3840 || cfg.Height > 2160 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("synth: size %dx%d: even width 160..3840 and height 120..2160", cfg.Width, cfg.Height)
	}
	name, fourcc, err := clipFile(cfg.Codec)
	if err != nil {
		return nil, err
	}
	if cfg.Kind == "" {
		cfg.Kind = Intersection
	}
	if cfg.Variant == "" {
		cfg.Variant = Day
	}
	if cfg.Kind != Intersection && cfg.Kind != Platform {
		return nil, fmt.Errorf("synth: kind %q: use %s or %s", cfg.Kind, Intersection, Platform)
	}
	if cfg.Variant != Day && cfg.Variant != Night && cfg.Variant != Occlusion {
		return nil, fmt.Errorf("synth: variant %q: use %s, %s or %s", cfg.Variant, Day, Night, Occlusion)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	truth := &Truth{Version: 1, Kind: cfg.Kind, Variant: cfg.Variant, Seed: cfg.Seed, Clip: name, Camera: Camera, FPS: cfg.FPS,
		DurationS: cfg.Duration.Seconds(), Start: clipStart(cfg.Duration)}
	var w *world
	var pw *platformWorld
	sc := VariantScene(cfg.Variant)
	if cfg.Kind == Platform {
		pw, sc, truth.Camera = newPlatformWorld(cfg, truth), PlatformScene(), PlatformCamera
	} else {
		w = newWorld(cfg, truth)
	}

	clip := filepath.Join(dir, name)
	vw, err := gocv.VideoWriterFile(clip, fourcc, float64(cfg.FPS), cfg.Width, cfg.Height, true)
	if err != nil || !vw.IsOpened() {
		return nil, fmt.Errorf("synth: open video writer %s: %v", clip, err)
	}
	defer vw.Close()
	r := newRenderer(cfg, truth.Start)
	defer r.close()
	scaled := gocv.NewMat()
	defer scaled.Close()
	frames := int(cfg.Duration.Seconds() * float64(cfg.FPS))
	inRed := false
	var lastLight edge.Light
	var phases []byte // the controller's feed, JSON lines
	for i := 0; i < frames; i++ {
		if pw != nil {
			r.draw(pw.draw, nil, pw.t)
			if err := r.write(vw, cfg, &scaled, i); err != nil {
				return nil, err
			}
			pw.step()
			continue
		}
		if l := w.light(); i == 0 || l != lastLight {
			// What the signal controller would publish: both main-street heads change together.
			lastLight = l
			for _, g := range []string{SigNB, SigSB} {
				b, _ := json.Marshal(wire.Phase{V: wire.Version, Signal: g, State: l.String(), Time: truth.Start.Add(time.Duration(w.t * float64(time.Second)))})
				phases = append(append(phases, b...), '\n')
			}
		}
		if red := w.light() == edge.Red; red != inRed {
			inRed = red
			if red {
				truth.Plan = append(truth.Plan, TruthSignal{Signal: "main", RedS: round3(w.t), EndS: -1})
			} else if n := len(truth.Plan); n > 0 {
				truth.Plan[n-1].EndS = round3(w.t)
			}
		}
		light := w.light()
		r.draw(w.draw, func(m *gocv.Mat) {
			for _, g := range sc.Signals {
				if r := vision.SignalRect(g, W, H); !r.Empty() {
					drawHead(m, r, light)
				}
			}
		}, w.t)
		if err := r.write(vw, cfg, &scaled, i); err != nil {
			return nil, err
		}
		w.step()
	}
	if pw != nil {
		pw.finish()
	} else {
		if n := len(truth.Plan); n > 0 && truth.Plan[n-1].EndS < 0 {
			truth.Plan[n-1].EndS = round3(w.t)
		}
		for _, z := range []struct{ site, zone string }{{SiteNB, ZoneNB}, {SiteSB, ZoneSB}} {
			truth.Crossings = append(truth.Crossings, TruthCount{Site: z.site, Zone: z.zone, Class: "car", N: w.crossed[z.site+"|"+z.zone]})
		}
		// People who step onto a crosswalk over the main street, each once; one who steps on in
		// the clip's last 0.4 s is not confirmed on it before the end. Not the crosswalks over
		// the cross street: people waiting at the main street's kerb stand within the rules'
		// border of them (1 % of the diagonal), so whether they are on one is not exact.
		for _, z := range []struct{ site, zone string }{{SiteNB, XwalkS}, {SiteSB, XwalkN}} {
			n := 0
			for _, t := range w.walked[z.site+"|"+z.zone] {
				if t+0.4 < truth.DurationS {
					n++
				}
			}
			truth.Crossings = append(truth.Crossings, TruthCount{Site: z.site, Zone: z.zone, Class: "person", N: n})
		}
	}
	// An event the clip ends before it could be confirmed is not in the truth: a person must be
	// seen in the roadway for half a second before it is jaywalking, in a zone for a fifth.
	settle := map[string]float64{wire.Jaywalking: 0.7, wire.PedAgainstSignal: 0.4, wire.TrackIntrusion: 0.4}
	kept := []TruthEvent{}
	for _, v := range truth.Violations {
		if v.T+settle[v.Type] < truth.DurationS {
			kept = append(kept, v)
		}
	}
	truth.Violations = kept
	if err := vw.Close(); err != nil {
		return nil, fmt.Errorf("synth: close %s: %w", clip, err)
	}
	// The clip's modification time is its start, which replay uses by default.
	if err := os.Chtimes(clip, truth.Start, truth.Start); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	sb, err := scenefile.Marshal(sc)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Scene of the synthetic %s (crosswatch-edge synth --kind %s --variant %s --seed %d).\n# Coordinates are fractions of the frame (%dx%d here).\n",
		cfg.Kind, cfg.Kind, cfg.Variant, cfg.Seed, cfg.Width, cfg.Height)
	if err := os.WriteFile(filepath.Join(dir, "scene.yaml"), append([]byte(head), sb...), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if len(phases) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "phases.jsonl"), phases, 0o644); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	tb, _ := json.MarshalIndent(truth, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), append(tb, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return truth, nil
}

type renderer struct {
	bg, frame gocv.Mat
	noise     []gocv.Mat
	n         int
	variant   string
	kind      string
	start     time.Time
}

func newRenderer(cfg Config, start time.Time) *renderer {
	r := &renderer{bg: gocv.NewMatWithSize(H, W, gocv.MatTypeCV8UC3), frame: gocv.NewMat(), variant: cfg.Variant, kind: cfg.Kind, start: start}
	if cfg.Kind == Platform {
		drawPlatformBackground(&r.bg)
	} else {
		drawIntersectionBackground(&r.bg)
	}
	// Sensor noise: a few fixed patterns from the seed, cycled, so the clip is deterministic.
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	buf := make([]byte, W*H*3)
	sigma := 3.0
	if cfg.Variant == Night {
		sigma = 5 // a dark image is gained up: more noise relative to the signal
	}
	for k := 0; k < 6; k++ {
		for i := range buf {
			buf[i] = uint8(128 + int(rng.NormFloat64()*sigma))
		}
		m, _ := gocv.NewMatFromBytes(H, W, gocv.MatTypeCV8UC3, buf)
		r.noise = append(r.noise, m)
	}
	return r
}

func drawIntersectionBackground(m *gocv.Mat) {
	m.SetTo(gocv.NewScalar(88, 112, 92, 0)) // verge
	rect := func(x0, y0, x1, y1 int, c color.RGBA) { gocv.Rectangle(m, image.Rect(x0, y0, x1, y1), c, -1) }
	rect(150, 0, 210, H, bgr(150, 150, 145))    // west sidewalk
	rect(430, 0, 490, H, bgr(150, 150, 145))    // east sidewalk
	rect(mainX0, 0, mainX1, H, bgr(62, 62, 60)) // main street
	rect(0, crossY0, W, crossY1, bgr(62, 62, 60))
	for y := 0; y < H; y += 40 { // centre line, outside the intersection
		if y+20 < crossY0 || y > crossY1 {
			rect(318, y, 322, y+20, bgr(40, 200, 230))
		}
	}
	rect(322, nbStopY, 398, nbStopY+5, bgr(235, 235, 235)) // stop lines
	rect(242, sbStopY-5, 318, sbStopY, bgr(235, 235, 235))
	for x := mainX0 + 6; x < mainX1-6; x += 16 { // zebra crosswalks over the main street
		rect(x, 284, x+8, 304, bgr(215, 215, 215))
		rect(x, 176, x+8, 196, bgr(215, 215, 215))
	}
	for y := crossY0 + 6; y < crossY1-6; y += 16 { // and over the cross street, on the sidewalks' lines
		rect(sideW0+4, y, sideW1-4, y+8, bgr(215, 215, 215))
		rect(sideE0+4, y, sideE1-4, y+8, bgr(215, 215, 215))
	}
}

// Occluders of the occlusion variant, drawn over everything that moves.
func (r *renderer) occlude() {
	if r.variant != Occlusion {
		return
	}
	if r.kind == Platform {
		gocv.Rectangle(&r.frame, image.Rect(300, 0, 318, 268), bgr(120, 120, 125), -1) // a pillar
		gocv.Rectangle(&r.frame, image.Rect(296, 0, 322, 12), bgr(100, 100, 105), -1)
		return
	}
	// A tree canopy over the west sidewalk and the verge north of the cross street.
	gocv.Circle(&r.frame, image.Pt(180, 80), 46, bgr(40, 95, 45), -1)
	gocv.Circle(&r.frame, image.Pt(150, 110), 34, bgr(35, 85, 40), -1)
	gocv.Circle(&r.frame, image.Pt(210, 115), 30, bgr(45, 100, 50), -1)
}

// draw renders one frame: background, moving things, occluders, the variant's lighting, the
// emissive lamps, the burned-in clock, and sensor noise.
func (r *renderer) draw(things, lamps func(*gocv.Mat), t float64) {
	r.bg.CopyTo(&r.frame)
	things(&r.frame)
	r.occlude()
	if r.variant == Night {
		r.frame.ConvertToWithParams(&r.frame, gocv.MatTypeCV8UC3, 0.4, 14)
	}
	if lamps != nil {
		lamps(&r.frame)
	}
	// A camera's burned-in clock: it changes every second; the scene masks it.
	stamp := r.start.Add(time.Duration(t) * time.Second).Format("2006-01-02 15:04:05")
	gocv.Rectangle(&r.frame, image.Rect(0, 0, 228, 30), bgr(0, 0, 0), -1)
	gocv.PutText(&r.frame, stamp, image.Pt(6, 21), gocv.FontHersheySimplex, 0.55, bgr(255, 255, 255), 1)
	gocv.AddWeighted(r.frame, 1, r.noise[r.n%len(r.noise)], 1, -128, &r.frame)
	r.n++
}

// write appends the frame to the clip, scaled to the clip's size.
func (r *renderer) write(vw *gocv.VideoWriter, cfg Config, scaled *gocv.Mat, i int) error {
	out := r.frame
	if cfg.Width != W || cfg.Height != H {
		gocv.Resize(r.frame, scaled, image.Pt(cfg.Width, cfg.Height), 0, 0, gocv.InterpolationLinear)
		out = *scaled
	}
	if err := vw.Write(out); err != nil {
		return fmt.Errorf("synth: write frame %d: %w", i, err)
	}
	return nil
}

func (w *world) draw(m *gocv.Mat) {
	for _, v := range w.vehicles {
		b := v.box()
		rr := image.Rect(int(b.X0), int(b.Y0), int(b.X1), int(b.Y1))
		gocv.Rectangle(m, rr, bgr(v.color[0], v.color[1], v.color[2]), -1)
		ws := rr.Inset(6)
		if v.nb {
			ws.Max.Y = ws.Min.Y + 12
		} else {
			ws.Min.Y = ws.Max.Y - 12
		}
		gocv.Rectangle(m, ws, bgr(70, 50, 40), -1) // windscreen
	}
	for _, p := range w.peds {
		drawPerson(m, p.box(), p.color)
	}
}

// drawPerson draws a person seen from above and in front: body and head.
func drawPerson(m *gocv.Mat, b edge.Box, c [3]uint8) {
	gocv.Rectangle(m, image.Rect(int(b.X0), int(b.Y0)+6, int(b.X1), int(b.Y1)), bgr(c[0], c[1], c[2]), -1)
	gocv.Circle(m, image.Pt(int((b.X0+b.X1)/2), int(b.Y0)+4), 4, bgr(120, 160, 200), -1)
}

func drawHead(m *gocv.Mat, rect image.Rectangle, light edge.Light) {
	gocv.Rectangle(m, rect, bgr(25, 25, 25), -1)
	cx := (rect.Min.X + rect.Max.X) / 2
	step := rect.Dy() / 3
	lamps := []struct {
		l       edge.Light
		on, off color.RGBA
	}{
		{edge.Red, bgr(40, 40, 255), bgr(30, 30, 70)},
		{edge.Amber, bgr(0, 190, 255), bgr(30, 55, 70)},
		{edge.Green, bgr(90, 255, 60), bgr(30, 70, 30)},
	}
	for i, lp := range lamps {
		c := lp.off
		if lp.l == light {
			c = lp.on
		}
		gocv.Circle(m, image.Pt(cx, rect.Min.Y+step/2+i*step), step/2-3, c, -1)
	}
}

func (r *renderer) close() {
	r.bg.Close()
	r.frame.Close()
	for _, m := range r.noise {
		m.Close()
	}
}
