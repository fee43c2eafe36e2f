package vision

import (
	"fmt"
	"image"
	"image/color"
	"strconv"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// The evidence of an event is one JPEG of three anonymised stills stacked top to bottom, each
// under a banner: before, at and after the moment judged. One JPEG keeps the wire contract
// (wire.Event's evidence_jpeg: at most 640 × 1280 px) and the MQTT packet as they were.
const (
	// EvidenceMaxHeight is the tallest evidence image the aggregator accepts
	// (wire.MaxEvidenceHeight): the three stills and their banners fit in it.
	EvidenceMaxHeight = 1280
	// EvidenceBanner is the height of the banner above each still.
	EvidenceBanner = 18
	// EvidenceStills is how many stills an evidence image holds.
	EvidenceStills = 3
)

// Still is one moment of an event's evidence. Boxes are in Frame's pixels.
type Still struct {
	Frame gocv.Mat      // any size, read only; not owned
	At    time.Duration // from the moment judged: negative before, positive after
	// People are the tracked people and riders (pixelated whole), Vehicles the tracked cars,
	// buses, trucks and motorbikes (their plate region pixelated).
	People, Vehicles []edge.Box
	// Subject is the road user the event is about; zero: not tracked in this still.
	Subject edge.Box
}

// Judged is what every still of an event's evidence shows drawn in: the road user's box (in
// Still), the line or zone it crossed, and the signal state and where it came from.
type Judged struct {
	Subject string           // e.g. "car 12": the road user's class and track number
	Lines   []scene.Polyline // normalised: the stop line crossed, and any confirm line
	Zones   [][]scene.Point  // normalised: the zone entered
	// Signal is the light that governed the event and Source where it was read (camera,
	// controller feed or plan); Source "" means no signal governs the event.
	Signal edge.Light
	Source string
	Into   time.Duration // time into red, if red
	Time   time.Time     // the moment judged
}

// Colours of the evidence's drawings, distinct from what the anonymiser leaves.
var (
	colSubject = color.RGBA{R: 255, G: 0, B: 255, A: 255}   // magenta: clear on white, grey and yellow road users and paint
	colJudged  = color.RGBA{R: 255, G: 40, B: 40, A: 255}   // the line crossed
	colZone    = color.RGBA{R: 40, G: 220, B: 255, A: 255}  // the zone entered
	colBanner  = color.RGBA{R: 0, G: 0, B: 0, A: 255}       //
	colText    = color.RGBA{R: 255, G: 255, B: 255, A: 255} //
	colLights  = [...]color.RGBA{
		edge.LightUnknown: {R: 128, G: 128, B: 128, A: 255},
		edge.Red:          {R: 255, G: 0, B: 0, A: 255},
		edge.Amber:        {R: 255, G: 176, B: 0, A: 255},
		edge.Green:        {R: 0, G: 255, B: 0, A: 255},
	}
)

// EvidenceLayout returns the size of each still in the evidence of frames frameW × frameH
// pixels (at most EvidenceWidth wide, and small enough that three with their banners fit in
// EvidenceMaxHeight) and the whole image's size.
func EvidenceLayout(frameW, frameH int) (still, size image.Point) {
	if frameW <= 0 || frameH <= 0 {
		return image.Point{}, image.Point{}
	}
	w := min(EvidenceWidth, frameW)
	h := frameH * w / frameW
	if maxH := EvidenceMaxHeight/EvidenceStills - EvidenceBanner; h > maxH {
		w, h = frameW*maxH/frameH, maxH
	}
	w, h = max(w, 1), max(h, 1)
	return image.Pt(w, h), image.Pt(w, EvidenceStills*(EvidenceBanner+h))
}

// EvidenceStillRects returns where each still (without its banner) is in an evidence image of
// size w × h made by Montage, before to after.
func EvidenceStillRects(w, h int) []image.Rectangle {
	sh := h/EvidenceStills - EvidenceBanner
	rs := make([]image.Rectangle, EvidenceStills)
	for i := range rs {
		y := i*(EvidenceBanner+sh) + EvidenceBanner
		rs[i] = image.Rect(0, y, w, y+sh)
	}
	return rs
}

// Montage returns the evidence JPEG of an event: each of the EvidenceStills stills
// anonymised as JPEG does (people pixelated, plates pixelated, faces blurred), at the size
// EvidenceLayout gives for the first one's frame, with the subject's box, the judged lines and
// zones drawn in, under a banner with its time from the moment judged and the signal state and
// its source. The image is at most maxBytes long: the quality goes down until it fits.
func (a *Anonymiser) Montage(stills []Still, j Judged, maxBytes int) ([]byte, error) {
	if len(stills) != EvidenceStills {
		return nil, fmt.Errorf("evidence: %d stills, want %d", len(stills), EvidenceStills)
	}
	for i, s := range stills {
		if s.Frame.Empty() {
			return nil, fmt.Errorf("evidence: still %d: empty frame", i)
		}
	}
	still, size := EvidenceLayout(stills[0].Frame.Cols(), stills[0].Frame.Rows())
	if a.montage.Cols() != size.X || a.montage.Rows() != size.Y {
		a.montage.Close()
		a.montage = gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8UC3)
	}
	rects := EvidenceStillRects(size.X, size.Y)
	for i, s := range stills {
		a.anonymise(s.Frame, still, s.People, s.Vehicles)
		a.drawJudged(s, j, float32(still.X)/float32(s.Frame.Cols()))
		dst := a.montage.Region(rects[i])
		a.img.CopyTo(&dst)
		dst.Close()
		banner := a.montage.Region(image.Rect(0, rects[i].Min.Y-EvidenceBanner, size.X, rects[i].Min.Y))
		drawBanner(&banner, i, s.At, j)
		banner.Close()
	}
	for _, q := range []int{70, 55, 40, 25} {
		b, err := encodeJPEG(a.montage, q)
		if err != nil || len(b) <= maxBytes {
			return b, err
		}
	}
	return nil, fmt.Errorf("evidence: more than %d bytes at JPEG quality 25", maxBytes)
}

// drawJudged draws the zones and lines judged and the subject's box (Frame pixels × scale)
// over the anonymised still in a.img.
func (a *Anonymiser) drawJudged(s Still, j Judged, scale float32) {
	w, h := a.img.Cols(), a.img.Rows()
	px := func(p scene.Point) image.Point { return image.Pt(int(p.X*float64(w)), int(p.Y*float64(h))) }
	for _, z := range j.Zones {
		if len(z) < 2 {
			continue
		}
		ps := make([]image.Point, len(z))
		for i, p := range z {
			ps[i] = px(p)
		}
		pv := gocv.NewPointsVectorFromPoints([][]image.Point{ps})
		gocv.Polylines(&a.img, pv, true, colZone, 2)
		pv.Close()
	}
	for _, l := range j.Lines {
		for i := 1; i < len(l); i++ {
			gocv.Line(&a.img, px(l[i-1]), px(l[i]), colJudged, 2)
		}
	}
	if b := s.Subject; b.Area() > 0 {
		r := image.Rect(int(b.X0*scale), int(b.Y0*scale), int(b.X1*scale), int(b.Y1*scale))
		gocv.Rectangle(&a.img, r, colSubject, 2)
		at := image.Pt(r.Min.X, r.Min.Y-4)
		if at.Y < 10 {
			at.Y = r.Max.Y + 12
		}
		gocv.PutText(&a.img, j.Subject, at, gocv.FontHersheySimplex, 0.4, colSubject, 1)
	}
}

// drawBanner writes the still's name and time from the moment judged on the left of banner
// and the signal state with its source on the right, after a disc of the light's colour.
func drawBanner(banner *gocv.Mat, i int, at time.Duration, j Judged) {
	gocv.Rectangle(banner, image.Rect(0, 0, banner.Cols(), banner.Rows()), colBanner, -1)
	text := [...]string{"BEFORE", "AT", "AFTER"}[i] + " " + offset(at)
	if i == 1 {
		text = "AT " + j.Time.UTC().Format("15:04:05.0")
		if at != 0 {
			text += " (" + offset(at) + ")"
		}
		if j.Subject != "" {
			text += "  " + j.Subject
		}
	}
	gocv.PutText(banner, text, image.Pt(4, EvidenceBanner-5), gocv.FontHersheySimplex, 0.4, colText, 1)
	sig := "no signal"
	if j.Source != "" {
		sig = "signal " + j.Signal.String()
		if j.Signal == edge.Red && j.Into > 0 {
			sig += " " + strconv.FormatFloat(j.Into.Seconds(), 'f', 1, 64) + " s"
		}
		sig += " (" + j.Source + ")"
	}
	tw := gocv.GetTextSize(sig, gocv.FontHersheySimplex, 0.4, 1).X
	x := banner.Cols() - tw - 4
	gocv.PutText(banner, sig, image.Pt(x, EvidenceBanner-5), gocv.FontHersheySimplex, 0.4, colText, 1)
	if j.Source != "" {
		gocv.Circle(banner, image.Pt(x-9, EvidenceBanner/2), 5, colLights[j.Signal], -1)
	}
}

// offset formats a still's time from the moment judged: "-0.8 s", "+0.8 s", "0.0 s".
func offset(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	if d > 0 {
		s = "+" + s
	}
	return s
}
