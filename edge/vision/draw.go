package vision

import (
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

var (
	colMask      = color.RGBA{R: 160, G: 160, B: 160, A: 255}
	colSignal    = color.RGBA{R: 255, G: 200, B: 0, A: 255}
	colStopLine  = color.RGBA{R: 255, G: 40, B: 40, A: 255}
	colCrosswalk = color.RGBA{R: 40, G: 220, B: 255, A: 255}
	colRoadway   = color.RGBA{R: 120, G: 255, B: 120, A: 255}
	colEdge      = color.RGBA{R: 255, G: 140, B: 0, A: 255}
	colTrack     = color.RGBA{R: 255, G: 60, B: 200, A: 255}
	colRoadUser  = color.RGBA{R: 255, G: 255, B: 255, A: 255}
	colCountLine = color.RGBA{R: 200, G: 120, B: 255, A: 255}
	colLane      = color.RGBA{R: 255, G: 255, B: 0, A: 255}
)

// DrawTracks draws tracked road users over img: each box (given in pixels of a w×h analysed
// frame) with its class and track number, and a dot at each point fronts returns for it (in
// the same pixels; nil: none), so that a person can check where the rules judge its front.
func DrawTracks(img *gocv.Mat, tracks []edge.Track, w, h int, fronts func(edge.Box) [][2]float32) {
	if w <= 0 || h <= 0 {
		return
	}
	sx, sy := float32(img.Cols())/float32(w), float32(img.Rows())/float32(h)
	thick := max(1, img.Cols()/480)
	for _, t := range tracks {
		b := t.Box
		if t.Meas.Area() > 0 {
			b = t.Meas
		}
		r := image.Rect(int(b.X0*sx), int(b.Y0*sy), int(b.X1*sx), int(b.Y1*sy))
		gocv.Rectangle(img, r, colRoadUser, thick)
		gocv.PutText(img, t.Class.String()+" "+strconv.Itoa(t.ID), r.Min.Add(image.Pt(2, -3)), gocv.FontHersheySimplex, 0.35*float64(thick), colRoadUser, thick)
		if fronts == nil {
			continue
		}
		for _, p := range fronts(b) {
			gocv.Circle(img, image.Pt(int(p[0]*sx), int(p[1]*sy)), 2+thick, colStopLine, -1)
		}
	}
}

// DrawScene draws a scene's masks, signal heads (with any arrow or unknown mark), stop lines
// and count lines of any number of segments (with the direction of travel across each), lane
// stretches with their heads, confirm lines, crosswalks (with a head per direction as arrows),
// roadways, platform-edge and track zones over img, labelled, so that a person can check them
// against the picture.
func DrawScene(img *gocv.Mat, s *scene.Scene) {
	w, h := img.Cols(), img.Rows()
	px := func(p scene.Point) image.Point { return image.Pt(int(p.X*float64(w)), int(p.Y*float64(h))) }
	thick := max(1, w/480)
	label := func(text string, at image.Point, c color.RGBA) {
		gocv.PutText(img, text, at.Add(image.Pt(3, -4)), gocv.FontHersheySimplex, 0.4*float64(thick), c, thick)
	}
	poly := func(pts []scene.Point, c color.RGBA) image.Point {
		ps := make([]image.Point, len(pts))
		for i, p := range pts {
			ps[i] = px(p)
		}
		pv := gocv.NewPointsVectorFromPoints([][]image.Point{ps})
		gocv.Polylines(img, pv, true, c, thick)
		pv.Close()
		return ps[0]
	}
	// arrow points from p along the direction dir, scaled by size.
	arrow := func(p image.Point, dir scene.Point, size float64, c color.RGBA) {
		dx, dy := dir.X*float64(w), dir.Y*float64(h)
		n := math.Hypot(dx, dy)
		l := size * float64(min(w, h))
		gocv.ArrowedLine(img, p, p.Add(image.Pt(int(dx/n*l), int(dy/n*l))), c, thick)
	}
	// line draws a polyline with the direction of travel from the middle of every segment, and
	// returns its first point.
	line := func(l scene.Polyline, dir scene.Point, c color.RGBA, width int) image.Point {
		for j := 1; j < len(l); j++ {
			p0, p1 := px(l[j-1]), px(l[j])
			gocv.Line(img, p0, p1, c, width)
			if dir != (scene.Point{}) {
				arrow(image.Pt((p0.X+p1.X)/2, (p0.Y+p1.Y)/2), dir, 0.08, c)
			}
		}
		if len(l) == 0 {
			return image.Point{}
		}
		return px(l[0])
	}
	for i, m := range s.Masks {
		label("mask "+strconv.Itoa(i), poly(m, colMask), colMask)
	}
	for _, g := range s.Signals {
		r := SignalRect(g, w, h)
		if r.Empty() {
			continue
		}
		gocv.Rectangle(img, r, colSignal, thick)
		text := g.ID
		if g.Arrow != "" {
			text += " (" + g.Arrow + " arrow)"
		}
		if g.State == "unknown" {
			text += " (unknown)"
		}
		label(text, r.Min, colSignal)
	}
	for _, z := range s.Roadways {
		label("roadway "+z.ID, poly(z.Polygon, colRoadway), colRoadway)
	}
	for _, c := range s.Crosswalks {
		text := c.ID
		if c.Signal != "" {
			text += " (" + c.Signal + ")"
		}
		label(text, poly(c.Polygon, colCrosswalk), colCrosswalk)
		// A head per direction: an arrow from the centre the way it governs, labelled.
		var mid image.Point
		for _, p := range c.Polygon {
			mid = mid.Add(px(p))
		}
		if len(c.Polygon) > 0 {
			mid = mid.Div(len(c.Polygon))
		}
		for _, cs := range c.Signals {
			arrow(mid, cs.Direction, 0.05, colCrosswalk)
			dx, dy := cs.Direction.X*float64(w), cs.Direction.Y*float64(h)
			n := math.Hypot(dx, dy)
			at := mid.Add(image.Pt(int(dx/n*0.05*float64(min(w, h))), int(dy/n*0.05*float64(min(w, h)))))
			if dx < 0 { // end the label at the arrow's tip, clear of the others
				at.X -= gocv.GetTextSize(cs.Signal, gocv.FontHersheySimplex, 0.4*float64(thick), thick).X + 6
			}
			label(cs.Signal, at, colCrosswalk)
		}
	}
	for _, z := range s.PlatformEdges {
		label("edge "+z.ID+" (dwell "+strconv.FormatFloat(z.DwellS, 'g', -1, 64)+" s)", poly(z.Polygon, colEdge), colEdge)
	}
	for _, z := range s.Tracks {
		label("track "+z.ID, poly(z.Polygon, colTrack), colTrack)
	}
	for _, c := range s.CountLines {
		label("count "+c.ID+" ("+c.Site+")", line(c.Line, c.Direction, colCountLine, thick), colCountLine)
	}
	for _, a := range s.Approaches {
		label(a.ID+" ("+a.Site+", "+strings.Join(a.Heads(), "+")+")", line(a.StopLine, a.Direction, colStopLine, 2*thick), colStopLine)
		// Each lane's stretch: ticks at its ends, its heads at its middle.
		for _, ln := range a.Lanes {
			p0, p1 := px(ln.Stretch[0]), px(ln.Stretch[1])
			for _, p := range []image.Point{p0, p1} {
				gocv.Circle(img, p, 2+thick, colLane, -1)
			}
			gocv.Line(img, p0, p1, colLane, thick)
			label("lane: "+strings.Join(ln.Heads(), "+"), image.Pt((p0.X+p1.X)/2, (p0.Y+p1.Y)/2+6*thick+10), colLane)
		}
		if c := a.ConfirmLine; c != nil {
			label(a.ID+" confirm", line(c, scene.Point{}, colStopLine, thick), colStopLine)
		}
	}
}
