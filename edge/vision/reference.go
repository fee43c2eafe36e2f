package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"math"
	"strconv"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/scene"
)

// RefWidth is the width in cells of a view reference: a camera's view is recognised by the
// layout of its edges at this coarse scale (kerbs, lane markings, buildings), not by detail.
const RefWidth = 64

// RefSize returns the size of the view reference of a w×h analysed frame.
func RefSize(w, h int) (int, int) { return RefWidth, max(1, h*RefWidth/max(w, 1)) }

// Reference is the edge picture of a camera's view: per cell, the strength of the grey
// gradient after the frame's histogram is equalised, 0–255. Equalising first makes it hold
// under day and night lighting (what stays is where edges are, not how bright they are); a
// Reference is compared by correlation, which ignores overall contrast as well.
type Reference struct {
	W, H int
	Pix  []byte // W*H, row by row
}

// ErrReference means a view reference file is not one this camera can use.
var ErrReference = errors.New("view reference")

// Similarity returns the correlation, −1 to 1, between the reference and an edge picture pix of
// the same size, over the cells watch marks (nil: all). 1: the same view; around 0: another.
// A flat picture (no edges at all, a covered lens) has no correlation: 0.
func (r *Reference) Similarity(pix []byte, watch []bool) float64 {
	if len(pix) != len(r.Pix) {
		return 0
	}
	var n, sa, sb float64
	for i := range pix {
		if watch == nil || watch[i] {
			n++
			sa += float64(r.Pix[i])
			sb += float64(pix[i])
		}
	}
	if n < 2 {
		return 0
	}
	ma, mb := sa/n, sb/n
	var cov, va, vb float64
	for i := range pix {
		if watch == nil || watch[i] {
			a, b := float64(r.Pix[i])-ma, float64(pix[i])-mb
			cov += a * b
			va += a * a
			vb += b * b
		}
	}
	if va == 0 || vb == 0 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// WatchCells marks the cells of a w×h reference outside the scene's masks (burned-in clocks,
// captions, watermarks): those change, or stay, whatever the camera sees.
func WatchCells(w, h int, masks [][]scene.Point) []bool {
	watch := make([]bool, w*h)
	n := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px, py := (float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h)
			in := false
			for _, m := range masks {
				if insidePoly(m, px, py) {
					in = true
					break
				}
			}
			if !in {
				watch[y*w+x] = true
				n++
			}
		}
	}
	if n < w*h/10 {
		return nil // masked almost everywhere: a mistake in the scene; watch it all rather than nothing
	}
	return watch
}

func insidePoly(poly []scene.Point, x, y float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > y) != (b.Y > y) && x < (b.X-a.X)*(y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

// EncodePGM writes the reference as a binary PGM image (P5): a picture anyone can open to see
// what the camera is expected to show.
func (r *Reference) EncodePGM() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "P5\n# crosswatch view reference: edge strength per cell\n%d %d\n255\n", r.W, r.H)
	b.Write(r.Pix)
	return b.Bytes()
}

// DecodeReference parses a PGM view reference and checks it is w×h, before any OpenCV call
// sees it. Errors wrap ErrReference and say what is wrong.
func DecodeReference(data []byte, w, h int) (*Reference, error) {
	rest := data
	var fields [4]string
	for i := 0; i < 4; i++ {
		for {
			rest = bytes.TrimLeft(rest, " \t\r\n")
			if len(rest) > 0 && rest[0] == '#' {
				if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
					rest = rest[nl+1:]
					continue
				}
				rest = nil
			}
			break
		}
		end := bytes.IndexAny(rest, " \t\r\n")
		if end <= 0 {
			return nil, fmt.Errorf("%w: not a binary PGM image (P5): its header ends early", ErrReference)
		}
		fields[i], rest = string(rest[:end]), rest[end+1:] // one whitespace byte ends the header
	}
	if fields[0] != "P5" {
		return nil, fmt.Errorf("%w: not a binary PGM image (starts %q, want P5)", ErrReference, fields[0])
	}
	gw, err1 := strconv.Atoi(fields[1])
	gh, err2 := strconv.Atoi(fields[2])
	maxv, err3 := strconv.Atoi(fields[3])
	switch {
	case err1 != nil || err2 != nil || gw <= 0 || gh <= 0 || gw > 4096 || gh > 4096:
		return nil, fmt.Errorf("%w: size %q×%q is not a size", ErrReference, fields[1], fields[2])
	case err3 != nil || maxv != 255:
		return nil, fmt.Errorf("%w: maximum value %q, want 255 (8-bit)", ErrReference, fields[3])
	case gw != w || gh != h:
		return nil, fmt.Errorf("%w: it is %d×%d; this camera's view needs %d×%d (written for another camera, frame size or process_width? write it again with scene draw --write-reference)", ErrReference, gw, gh, w, h)
	case len(rest) != w*h:
		return nil, fmt.Errorf("%w: %d bytes of picture, want %d×%d = %d (truncated or corrupt)", ErrReference, len(rest), w, h, w*h)
	}
	return &Reference{W: w, H: h, Pix: append([]byte(nil), rest...)}, nil
}

// ViewEdges makes the edge picture of analysed frames, to compare with a Reference. It owns
// its Mats; Close releases them.
type ViewEdges struct {
	small, gray, gx, gy, mag, cells, out gocv.Mat
	size, work                           image.Point
	pix                                  []byte
}

// NewViewEdges returns a ViewEdges for w×h frames.
func NewViewEdges(w, h int) *ViewEdges {
	rw, rh := RefSize(w, h)
	return &ViewEdges{small: gocv.NewMat(), gray: gocv.NewMat(), gx: gocv.NewMat(), gy: gocv.NewMat(), mag: gocv.NewMat(),
		cells: gocv.NewMat(), out: gocv.NewMat(), size: image.Pt(rw, rh), work: image.Pt(2*rw, 2*rh)}
}

// Size returns the edge picture's size.
func (v *ViewEdges) Size() (int, int) { return v.size.X, v.size.Y }

// Of returns the edge picture of frame (BGR, the analysed size). The slice is reused by the
// next call.
func (v *ViewEdges) Of(frame gocv.Mat) []byte {
	gocv.Resize(frame, &v.small, v.work, 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(v.small, &v.gray, gocv.ColorBGRToGray)
	gocv.EqualizeHist(v.gray, &v.gray)
	gocv.Sobel(v.gray, &v.gx, gocv.MatTypeCV32F, 1, 0, 3, 1, 0, gocv.BorderReplicate)
	gocv.Sobel(v.gray, &v.gy, gocv.MatTypeCV32F, 0, 1, 3, 1, 0, gocv.BorderReplicate)
	gocv.Magnitude(v.gx, v.gy, &v.mag)
	gocv.Resize(v.mag, &v.cells, v.size, 0, 0, gocv.InterpolationArea)
	gocv.ConvertScaleAbs(v.cells, &v.out, 0.25, 0) // a full black-to-white step is about 1000
	// DataPtrUint8 reads the Mat's own bytes (ToBytes would copy them into a new slice per frame).
	b, err := v.out.DataPtrUint8()
	if err != nil {
		b = v.out.ToBytes() // not continuous: cannot happen for a Mat Resize made
	}
	v.pix = append(v.pix[:0], b...)
	return v.pix
}

// Close releases the Mats.
func (v *ViewEdges) Close() {
	for _, m := range []*gocv.Mat{&v.small, &v.gray, &v.gx, &v.gy, &v.mag, &v.cells, &v.out} {
		m.Close()
	}
}

// ReferenceLearner averages edge pictures into a Reference, for a scene that has none.
type ReferenceLearner struct {
	w, h int
	sum  []float64
	n    int
}

// NewReferenceLearner returns a learner of w×h references.
func NewReferenceLearner(w, h int) *ReferenceLearner {
	return &ReferenceLearner{w: w, h: h, sum: make([]float64, w*h)}
}

// Add takes one edge picture.
func (l *ReferenceLearner) Add(pix []byte) {
	if len(pix) != len(l.sum) {
		return
	}
	for i, p := range pix {
		l.sum[i] += float64(p)
	}
	l.n++
}

// Reset forgets what was added (the view changed while learning).
func (l *ReferenceLearner) Reset() {
	clear(l.sum)
	l.n = 0
}

// N is how many pictures were added.
func (l *ReferenceLearner) N() int { return l.n }

// Reference returns the average of the pictures added; nil before any.
func (l *ReferenceLearner) Reference() *Reference {
	if l.n == 0 {
		return nil
	}
	r := &Reference{W: l.w, H: l.h, Pix: make([]byte, len(l.sum))}
	for i, s := range l.sum {
		r.Pix[i] = byte(math.Round(s / float64(l.n)))
	}
	return r
}
