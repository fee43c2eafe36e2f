// Package vision does the pixel work on frames with OpenCV: one downscale, a motion gate, a
// classical detector (background model and blobs) and a signal-head colour reader. Each type
// owns the gocv.Mats it makes and releases them in Close; steady state allocates no Mats.
package vision

import (
	"image"
	"image/color"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// ProcessSize returns the analysed size for a w×h source: downscaled to at most maxW wide.
func ProcessSize(w, h, maxW int) (int, int) {
	if w <= maxW {
		return w, h
	}
	return maxW, max(1, h*maxW/w)
}

// Prep downscales frames to the analysed size, once per frame. It holds no Mats, so several
// goroutines may use it.
type Prep struct {
	size image.Point
}

// NewPrep returns a Prep that produces w×h frames.
func NewPrep(w, h int) *Prep { return &Prep{size: image.Pt(w, h)} }

// Into writes src at the analysed size into dst: resized, or copied when src already has it.
// dst is reused across calls: no allocation in steady state.
func (p *Prep) Into(src gocv.Mat, dst *gocv.Mat) {
	if src.Cols() == p.size.X && src.Rows() == p.size.Y {
		src.CopyTo(dst)
		return
	}
	gocv.Resize(src, dst, p.size, 0, 0, gocv.InterpolationLinear) // area averaging cost 12 % of the whole 1080p path; the detector averages again at model_width
}

// Gate reports whether anything moved since the last frame it saw, on a tiny grey copy, outside
// the scene's masks and signal heads: a burned-in clock ticking or a lamp changing colour is not
// something moving, and must not wake the detector.
type Gate struct {
	small, gray, prev, diff gocv.Mat
	allow                   gocv.Mat // 255 where the thumbnail counts; empty: everywhere
	watched                 int      // pixels of the thumbnail that count
	size                    image.Point
	minPixels               int
	primed                  bool
	changed                 float64 // fraction of the watched thumbnail that changed in the last frame
}

// viewChange is the fraction of the thumbnail that must change between two analysed frames for
// the view itself to have changed (a cut, a camera knocked or turned). Measured on the real
// clips: traffic, crowds and an arriving train change at most 38 % (the Shibuya crowd, with the
// camera drifting); the cut in rlv_gutomadon_redlight changes 75 %.
const viewChange = 0.6

// NewGate returns a gate that compares 80-pixel-wide thumbnails of w×h frames, ignoring masks
// (scene coordinates) and exclude (rectangles in frame pixels).
func NewGate(w, h int, masks [][]scene.Point, exclude []image.Rectangle) *Gate {
	sw := 80
	sh := max(1, h*sw/w)
	g := &Gate{small: gocv.NewMat(), gray: gocv.NewMat(), prev: gocv.NewMat(), diff: gocv.NewMat(),
		size: image.Pt(sw, sh), minPixels: 2, watched: sw * sh}
	if len(masks) > 0 || len(exclude) > 0 {
		g.allow = allowMask(sw, sh, float32(w)/float32(sw), masks, exclude)
		if n := gocv.CountNonZero(g.allow); n > 0 {
			g.watched = n
		} else {
			g.allow.Close() // masked everywhere: a mistake in the scene; watch it all rather than nothing
			g.allow = gocv.Mat{}
		}
	}
	return g
}

// Moving reports motion between this frame and the previous one. The first frame counts as moving.
func (g *Gate) Moving(frame gocv.Mat) bool {
	// Nearest-neighbour sampling: a thumbnail for motion needs no filtering, and it is ~10x cheaper.
	gocv.Resize(frame, &g.small, g.size, 0, 0, gocv.InterpolationNearestNeighbor)
	gocv.CvtColor(g.small, &g.gray, gocv.ColorBGRToGray)
	if !g.primed {
		g.gray.CopyTo(&g.prev)
		g.primed = true
		return true
	}
	gocv.AbsDiff(g.gray, g.prev, &g.diff)
	g.gray.CopyTo(&g.prev)
	gocv.Threshold(g.diff, &g.diff, 12, 255, gocv.ThresholdBinary)
	if g.allow.Ptr() != nil {
		gocv.BitwiseAnd(g.diff, g.allow, &g.diff)
	}
	n := gocv.CountNonZero(g.diff)
	g.changed = float64(n) / float64(g.watched)
	return n >= g.minPixels
}

// ViewChanged reports whether the last frame Moving saw shows another view than the one
// before it: most of the picture changed at once.
func (g *Gate) ViewChanged() bool { return g.changed >= viewChange }

// Close releases the Mats.
func (g *Gate) Close() {
	for _, m := range []*gocv.Mat{&g.small, &g.gray, &g.prev, &g.diff} {
		m.Close()
	}
	if g.allow.Ptr() != nil {
		g.allow.Close()
	}
}

// Classical finds moving blobs with a background model and classes them by size. It needs no
// model file; it cannot tell a stopped object from the background for long.
type Classical struct {
	mog           *bgModel
	small         gocv.Mat // the frame at the model's size
	fg, kOpen     gocv.Mat
	kClose, allow gocv.Mat
	model         image.Point // size the background model runs at
	scale         float32     // frame pixels per model pixel
	minArea       float32     // in frame pixels
	personMax     float32
	dets          []edge.Detection
}

// analysisFPS is the scene's analysed frame rate; 0 (every frame) counts as 30.
func analysisFPS(d scene.Detector) float64 {
	if d.AnalysisFPS <= 0 {
		return 30
	}
	return d.AnalysisFPS
}

// warmFrames is how many analysed frames the background model learns fast: two seconds.
func warmFrames(d scene.Detector) int { return int(2 * analysisFPS(d)) }

// backgroundHistory returns MOG2's history in analysed frames for the scene's StationaryS. MOG2
// takes a new stationary colour into the background once its weight reaches 1 − its background
// ratio (0.9), after about a tenth of the history.
func backgroundHistory(d scene.Detector) int {
	return max(100, int(10*d.StationaryS*analysisFPS(d)))
}

// NewClassical returns a detector for w×h frames. Its background model runs at
// d.ModelWidth wide (boxes are scaled back to the frame). Pixels inside masks and exclude
// (given in frame pixels) are ignored.
func NewClassical(w, h int, d scene.Detector, masks [][]scene.Point, exclude []image.Rectangle) *Classical {
	mw, mh := ProcessSize(w, h, max(d.ModelWidth, 64))
	scale := float32(w) / float32(mw)
	c := &Classical{
		mog:   newBgModel(backgroundHistory(d), 16, warmFrames(d)),
		small: gocv.NewMat(),
		fg:    gocv.NewMat(),
		model: image.Pt(mw, mh),
		scale: scale,
		kOpen: gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3)),
		// Closing joins the parts of one vehicle (windscreen, roof) without bridging the gap to
		// the next road user; the kernel scales with the model's resolution.
		kClose:    gocv.GetStructuringElement(gocv.MorphRect, closeKernel(mw)),
		allow:     allowMask(mw, mh, scale, masks, exclude),
		minArea:   float32(d.MinArea) * float32(w*h),
		personMax: float32(d.PersonMaxArea) * float32(w*h),
	}
	return c
}

// allowMask returns a mw×mh mask: 255, and 0 inside masks (scene coordinates) and exclude
// (rectangles in pixels of a frame scale times as wide).
func allowMask(mw, mh int, scale float32, masks [][]scene.Point, exclude []image.Rectangle) gocv.Mat {
	allow := gocv.NewMatWithSize(mh, mw, gocv.MatTypeCV8U)
	allow.SetTo(gocv.NewScalar(255, 0, 0, 0))
	black := color.RGBA{}
	if len(masks) > 0 {
		polys := make([][]image.Point, len(masks))
		for i, m := range masks {
			for _, p := range m {
				polys[i] = append(polys[i], image.Pt(int(p.X*float64(mw)), int(p.Y*float64(mh))))
			}
		}
		pv := gocv.NewPointsVectorFromPoints(polys)
		gocv.FillPoly(&allow, pv, black)
		pv.Close()
	}
	for _, r := range exclude {
		r = image.Rect(int(float32(r.Min.X)/scale), int(float32(r.Min.Y)/scale), int(float32(r.Max.X)/scale+1), int(float32(r.Max.Y)/scale+1))
		gocv.Rectangle(&allow, r, black, -1)
	}
	return allow
}

func closeKernel(modelWidth int) image.Point {
	if modelWidth <= 400 {
		return image.Pt(3, 3)
	}
	return image.Pt(5, 5)
}

// Detect returns the blobs in frame. The slice is owned by the detector and valid until the next call.
func (c *Classical) Detect(frame gocv.Mat) []edge.Detection {
	in := frame
	if frame.Cols() != c.model.X || frame.Rows() != c.model.Y {
		gocv.Resize(frame, &c.small, c.model, 0, 0, gocv.InterpolationArea)
		in = c.small
	}
	if err := c.mog.apply(in, &c.fg); err != nil {
		c.dets = c.dets[:0]
		return c.dets // a frame the model rejects has nothing to find
	}
	gocv.Threshold(c.fg, &c.fg, 127, 255, gocv.ThresholdBinary)
	gocv.BitwiseAnd(c.fg, c.allow, &c.fg)
	gocv.MorphologyEx(c.fg, &c.fg, gocv.MorphOpen, c.kOpen)
	gocv.MorphologyEx(c.fg, &c.fg, gocv.MorphClose, c.kClose)
	contours := gocv.FindContours(c.fg, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	c.dets = c.dets[:0]
	for i := 0; i < contours.Size(); i++ {
		r := gocv.BoundingRect(contours.At(i))
		k := c.scale
		b := edge.Box{X0: float32(r.Min.X) * k, Y0: float32(r.Min.Y) * k, X1: float32(r.Max.X) * k, Y1: float32(r.Max.Y) * k}
		a := b.Area()
		if a < c.minArea {
			continue
		}
		cls := edge.Car
		if a <= c.personMax {
			cls = edge.Person
			if b.H() < 1.3*b.W() {
				cls = edge.ClassUnknown // small and not upright: not sure enough to class
			}
		}
		c.dets = append(c.dets, edge.Detection{Box: b, Class: cls, Score: 1})
	}
	return c.dets
}

// Learning reports whether the background model is still learning the scene: the caller should
// run Detect on every frame until it is not, motion or none.
func (c *Classical) Learning() bool { return c.mog.n < c.mog.warm }

// Relearn makes the background model learn the scene anew, fast, as it does at the start: after
// the view has changed, the old background is all foreground.
func (c *Classical) Relearn() { c.mog.n = 0 }

// Close releases the Mats and the background model.
func (c *Classical) Close() {
	c.mog.close()
	for _, m := range []*gocv.Mat{&c.small, &c.fg, &c.kOpen, &c.kClose, &c.allow} {
		m.Close()
	}
}

// SignalReader classifies each signal head's lit lamp by colour, with hysteresis: a new light
// must be seen in two consecutive frames, and its onset is the first of them.
type SignalReader struct {
	regions     []image.Rectangle
	hsv, lit    gocv.Mat
	state       []edge.SignalState
	cand        []edge.Light
	candSince   []time.Time
	knownAt     []time.Time // the last frame whose state was a known light
	minLitPixel int
}

// onsetGap is how long a head may show no lit lamp between two lights with the second one's
// onset still observed: lamps go dark for a few frames as they change (seen on real heads).
const onsetGap = 1500 * time.Millisecond

// NewSignalReader reads the scene's signal heads in w×h frames.
func NewSignalReader(s *scene.Scene, w, h int) *SignalReader {
	r := &SignalReader{hsv: gocv.NewMat(), lit: gocv.NewMat(), minLitPixel: 4}
	for _, g := range s.Signals {
		r.regions = append(r.regions, SignalRect(g, w, h))
	}
	r.state = make([]edge.SignalState, len(r.regions))
	r.cand = make([]edge.Light, len(r.regions))
	r.candSince = make([]time.Time, len(r.regions))
	r.knownAt = make([]time.Time, len(r.regions))
	return r
}

// SignalRect returns a signal head's region in w×h pixels, clipped to the frame; empty for a
// head the camera does not see.
func SignalRect(g scene.Signal, w, h int) image.Rectangle {
	if g.Region == nil {
		return image.Rectangle{}
	}
	return image.Rect(int(g.Region[0].X*float64(w)), int(g.Region[0].Y*float64(h)),
		int(g.Region[1].X*float64(w)), int(g.Region[1].Y*float64(h))).Canon().Intersect(image.Rect(0, 0, w, h))
}

// HSV ranges of lit lamps (OpenCV hue is 0..180).
var lampRanges = [...]struct {
	light  edge.Light
	lo, hi gocv.Scalar
}{
	{edge.Red, gocv.NewScalar(0, 90, 120, 0), gocv.NewScalar(9, 255, 255, 0)},
	{edge.Red, gocv.NewScalar(165, 90, 120, 0), gocv.NewScalar(180, 255, 255, 0)},
	{edge.Amber, gocv.NewScalar(10, 90, 120, 0), gocv.NewScalar(35, 255, 255, 0)},
	{edge.Green, gocv.NewScalar(40, 60, 120, 0), gocv.NewScalar(95, 255, 255, 0)},
}

// Read updates and returns the signal states; the slice is owned by the reader.
func (r *SignalReader) Read(frame gocv.Mat, now time.Time) []edge.SignalState {
	for i, rect := range r.regions {
		if rect.Empty() {
			continue // not seen by the camera: its state comes from elsewhere
		}
		roi := frame.Region(rect)
		gocv.CvtColor(roi, &r.hsv, gocv.ColorBGRToHSV)
		roi.Close()
		var n [4]int
		for _, lr := range lampRanges {
			gocv.InRangeWithScalar(r.hsv, lr.lo, lr.hi, &r.lit)
			n[lr.light] += gocv.CountNonZero(r.lit)
		}
		seen := edge.LightUnknown
		for l := edge.Red; l <= edge.Green; l++ {
			if n[l] >= r.minLitPixel && n[l] > n[seen] {
				seen = l
			}
		}
		r.update(i, seen, now)
	}
	return r.state
}

func (r *SignalReader) update(i int, seen edge.Light, now time.Time) {
	st := &r.state[i]
	if st.Light != edge.LightUnknown {
		r.knownAt[i] = now
	}
	if seen == st.Light {
		r.cand[i] = st.Light
		return
	}
	if seen != r.cand[i] {
		r.cand[i], r.candSince[i] = seen, now
		return
	}
	// Seen twice in a row: switch. The onset is observed when we saw a light before it: the
	// previous state, or one that ended at most onsetGap before this light first showed (heads
	// go dark between lamps). Since is when the new light first showed.
	onset := st.Light != edge.LightUnknown || !r.knownAt[i].IsZero() && r.candSince[i].Sub(r.knownAt[i]) <= onsetGap
	*st = edge.SignalState{Light: seen, Since: r.candSince[i], OnsetSeen: onset, Source: "camera"}
}

// Close releases the Mats.
func (r *SignalReader) Close() {
	r.hsv.Close()
	r.lit.Close()
}

// maskPolygons converts scene masks to pixel polygons of a w×h frame.
func maskPolygons(masks [][]scene.Point, w, h int) [][]image.Point {
	out := make([][]image.Point, len(masks))
	for i, m := range masks {
		for _, p := range m {
			out[i] = append(out[i], image.Pt(int(p.X*float64(w)), int(p.Y*float64(h))))
		}
	}
	return out
}

// inPolygons reports whether (x, y) is inside any of the polygons (even-odd rule).
func inPolygons(polys [][]image.Point, x, y int) bool {
	for _, poly := range polys {
		in := false
		for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
			a, b := poly[i], poly[j]
			if (a.Y > y) != (b.Y > y) && x < (b.X-a.X)*(y-a.Y)/(b.Y-a.Y)+a.X {
				in = !in
			}
		}
		if in {
			return true
		}
	}
	return false
}
