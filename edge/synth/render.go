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
	"github.com/crosswatch/crosswatch/edge/vision"
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	truth := &Truth{Version: 1, Seed: cfg.Seed, Clip: name, Camera: Camera, FPS: cfg.FPS, DurationS: cfg.Duration.Seconds(), Start: clipStart(cfg.Duration)}
	w := newWorld(cfg, truth)

	clip := filepath.Join(dir, name)
	vw, err := gocv.VideoWriterFile(clip, fourcc, float64(cfg.FPS), cfg.Width, cfg.Height, true)
	if err != nil || !vw.IsOpened() {
		return nil, fmt.Errorf("synth: open video writer %s: %v", clip, err)
	}
	defer vw.Close()
	r := newRenderer(cfg.Seed)
	defer r.close()
	out := r.frame
	scaled := gocv.NewMat()
	defer scaled.Close()
	frames := int(cfg.Duration.Seconds() * float64(cfg.FPS))
	inRed := false
	for i := 0; i < frames; i++ {
		if red := w.light() == edge.Red; red != inRed {
			inRed = red
			if red {
				truth.Plan = append(truth.Plan, TruthSignal{Signal: "main", RedS: round3(w.t), EndS: -1})
			} else if n := len(truth.Plan); n > 0 {
				truth.Plan[n-1].EndS = round3(w.t)
			}
		}
		r.draw(w)
		out = r.frame
		if cfg.Width != W || cfg.Height != H {
			gocv.Resize(r.frame, &scaled, image.Pt(cfg.Width, cfg.Height), 0, 0, gocv.InterpolationLinear)
			out = scaled
		}
		if err := vw.Write(out); err != nil {
			return nil, fmt.Errorf("synth: write frame %d: %w", i, err)
		}
		w.step()
	}
	if n := len(truth.Plan); n > 0 && truth.Plan[n-1].EndS < 0 {
		truth.Plan[n-1].EndS = round3(w.t)
	}
	for _, z := range []struct{ site, zone string }{{SiteNB, ZoneNB}, {SiteSB, ZoneSB}} {
		truth.Crossings = append(truth.Crossings, TruthCount{Site: z.site, Zone: z.zone, Class: "car", N: w.crossed[z.site+"|"+z.zone]})
	}
	if truth.Violations == nil {
		truth.Violations = []TruthEvent{}
	}
	if err := vw.Close(); err != nil {
		return nil, fmt.Errorf("synth: close %s: %w", clip, err)
	}
	// The clip's modification time is its start, which replay uses by default.
	if err := os.Chtimes(clip, truth.Start, truth.Start); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	sc, err := Scene().Marshal()
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Scene of the synthetic intersection (crosswatch-edge synth --seed %d).\n# Coordinates are fractions of the frame (%dx%d here).\n", cfg.Seed, cfg.Width, cfg.Height)
	if err := os.WriteFile(filepath.Join(dir, "scene.yaml"), append([]byte(head), sc...), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
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
}

func newRenderer(seed uint64) *renderer {
	r := &renderer{bg: gocv.NewMatWithSize(H, W, gocv.MatTypeCV8UC3), frame: gocv.NewMat()}
	r.bg.SetTo(gocv.NewScalar(88, 112, 92, 0)) // verge
	rect := func(x0, y0, x1, y1 int, c color.RGBA) { gocv.Rectangle(&r.bg, image.Rect(x0, y0, x1, y1), c, -1) }
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
	for x := mainX0 + 6; x < mainX1-6; x += 16 { // zebra crosswalks
		rect(x, 284, x+8, 304, bgr(215, 215, 215))
		rect(x, 176, x+8, 196, bgr(215, 215, 215))
	}
	// Sensor noise: a few fixed patterns from the seed, cycled, so the clip is deterministic.
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, W*H*3)
	for k := 0; k < 6; k++ {
		for i := range buf {
			buf[i] = uint8(128 + int(rng.NormFloat64()*3))
		}
		m, _ := gocv.NewMatFromBytes(H, W, gocv.MatTypeCV8UC3, buf)
		r.noise = append(r.noise, m)
	}
	return r
}

func (r *renderer) draw(w *world) {
	r.bg.CopyTo(&r.frame)
	light := w.light()
	for _, g := range Scene().Signals {
		drawHead(&r.frame, vision.SignalRect(g, W, H), light)
	}
	for _, v := range w.vehicles {
		b := v.box()
		rr := image.Rect(int(b.X0), int(b.Y0), int(b.X1), int(b.Y1))
		gocv.Rectangle(&r.frame, rr, bgr(v.color[0], v.color[1], v.color[2]), -1)
		ws := rr.Inset(6)
		if v.nb {
			ws.Max.Y = ws.Min.Y + 12
		} else {
			ws.Min.Y = ws.Max.Y - 12
		}
		gocv.Rectangle(&r.frame, ws, bgr(70, 50, 40), -1) // windscreen
	}
	for _, p := range w.peds {
		b := p.box()
		gocv.Rectangle(&r.frame, image.Rect(int(b.X0), int(b.Y0)+6, int(b.X1), int(b.Y1)), bgr(p.color[0], p.color[1], p.color[2]), -1)
		gocv.Circle(&r.frame, image.Pt(int(p.x), int(b.Y0)+4), 4, bgr(120, 160, 200), -1)
	}
	gocv.AddWeighted(r.frame, 1, r.noise[r.n%len(r.noise)], 1, -128, &r.frame)
	r.n++
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
