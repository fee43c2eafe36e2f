package vision

import (
	"fmt"
	"image"
	"math"
	"strings"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// cocoClass maps the COCO (darknet order) classes crosswatch uses to its own.
var cocoClass = map[int]edge.Class{0: edge.Person, 1: edge.Bicycle, 2: edge.Car, 3: edge.Motorbike, 5: edge.Bus, 7: edge.Truck}

// DNN detects people and vehicles with a darknet YOLO model or a PP-PicoDet ONNX model
// through OpenCV's dnn module (plain resize to the model's input, no letterbox). Not safe for
// concurrent use.
type DNN struct {
	net        gocv.Net
	in         image.Point
	classes    int
	outNames   []string
	blob       gocv.Mat
	minScore   float32
	personOnly bool
	pico       bool // a PicoDet model: outputs decoded here (see picodet.go)
	// Native runs a darknet network at the frame's own size (rounded down to multiples of 32)
	// instead of the model's: slower, but small people stay big enough to find. A PicoDet
	// export has a fixed input size and ignores it.
	Native bool
	// scratch reused every frame
	boxes   []image.Rectangle
	nmsIn   []image.Rectangle // boxes, people shifted apart from vehicles
	scores  []float32
	cls     []edge.Class
	indices []int
	dets    []edge.Detection
}

// NewDNN loads model, verified first: a darknet model (name.cfg and name.weights in the models
// directory; a one-class model is a person detector) or a PicoDet one (name.onnx, picodet_…).
func NewDNN(m *Models, model string, minScore float64) (*DNN, error) {
	if strings.HasPrefix(model, "picodet_") {
		return newPicoDet(m, model, minScore)
	}
	n, err := m.readDarknet(model)
	if err != nil {
		return nil, err
	}
	if n.classes != 80 && n.classes != 1 {
		return nil, fmt.Errorf("%w: %s: %d classes; crosswatch reads COCO (80) or person-only (1) models", ErrModel, model, n.classes)
	}
	net, err := gocv.ReadNetBytes("darknet", n.weights, n.cfg)
	if err != nil || net.Empty() {
		return nil, fmt.Errorf("%w: %s: OpenCV could not load it: %v", ErrModel, model, err)
	}
	d := &DNN{net: net, in: image.Pt(n.w, n.h), classes: n.classes, blob: gocv.NewMat(), minScore: float32(minScore), personOnly: n.classes == 1}
	for _, id := range net.GetUnconnectedOutLayers() {
		d.outNames = append(d.outNames, net.GetLayerNames()[id-1])
	}
	return d, nil
}

// Detect returns the people and vehicles in frame, in frame pixels. The slice is owned by the
// detector and valid until the next call.
func (d *DNN) Detect(frame gocv.Mat) []edge.Detection {
	d.dets = d.dets[:0]
	if frame.Empty() {
		return d.dets
	}
	fw, fh := float32(frame.Cols()), float32(frame.Rows())
	d.boxes, d.scores, d.cls = d.boxes[:0], d.scores[:0], d.cls[:0]
	if d.pico {
		d.forwardPico(frame)
	} else {
		d.forwardYOLO(frame)
	}
	if len(d.boxes) == 0 {
		return d.dets
	}
	return d.suppress(fw, fh, frame.Cols())
}

// forwardYOLO runs a darknet YOLO model, whose outputs are decoded already (cx, cy, w, h,
// objectness, class scores), into d.boxes, d.scores and d.cls in frame pixels.
func (d *DNN) forwardYOLO(frame gocv.Mat) {
	in := d.in
	if d.Native {
		in = image.Pt(max(32, frame.Cols()/32*32), max(32, frame.Rows()/32*32))
	}
	gocv.BlobFromImages([]gocv.Mat{frame}, &d.blob, 1.0/255, in, gocv.NewScalar(0, 0, 0, 0), true, false, gocv.MatTypeCV32F)
	d.net.SetInput(d.blob, "")
	outs := d.net.ForwardLayers(d.outNames)
	fw, fh := float32(frame.Cols()), float32(frame.Rows())
	for i := range outs {
		out := outs[i]
		data, err := out.DataPtrFloat32()
		cols := out.Cols()
		if err == nil && cols == 5+d.classes {
			for r := 0; r+cols <= len(data); r += cols {
				row := data[r : r+cols]
				best, score := -1, float32(0)
				for c, s := range row[5:] {
					if s > score {
						best, score = c, s
					}
				}
				cls, ok := edge.Person, d.personOnly
				if !ok {
					cls, ok = cocoClass[best]
				}
				if !ok || score < d.minScore {
					continue
				}
				cx, cy, w, h := row[0]*fw, row[1]*fh, row[2]*fw, row[3]*fh
				d.boxes = append(d.boxes, image.Rect(int(cx-w/2), int(cy-h/2), int(cx+w/2), int(cy+h/2)))
				d.scores = append(d.scores, score)
				d.cls = append(d.cls, cls)
			}
		}
		out.Close()
	}
}

// suppress keeps the best of overlapping boxes and merges riders into their machines.
func (d *DNN) suppress(fw, fh float32, cols int) []edge.Detection {
	// One NMS over every vehicle class (a car also scored as a truck must not become two
	// vehicles) and one over people: a rider's box overlaps their motorbike's, and both must
	// survive to be merged below. People are shifted right of the frame so the two never meet.
	d.indices = resizeInts(d.indices, len(d.boxes))
	for i := range d.indices {
		d.indices[i] = -1 // gocv v0.31 leaves unused slots at 0, which would keep box 0
	}
	d.nmsIn = append(d.nmsIn[:0], d.boxes...)
	shift := image.Pt(4*cols, 0) // boxes reach at most a frame width past its edges
	for i, c := range d.cls {
		if c == edge.Person {
			d.nmsIn[i] = d.nmsIn[i].Add(shift)
		}
	}
	gocv.NMSBoxes(d.nmsIn, d.scores, d.minScore, 0.45, d.indices)
	for _, i := range d.indices {
		if i < 0 {
			continue
		}
		r := d.boxes[i]
		b := edge.Box{X0: max(0, float32(r.Min.X)), Y0: max(0, float32(r.Min.Y)), X1: min(fw, float32(r.Max.X)), Y1: min(fh, float32(r.Max.Y))}
		if b.Area() > 0 {
			d.dets = append(d.dets, edge.Detection{Box: b, Class: d.cls[i], Score: d.scores[i]})
		}
	}
	d.dets = mergeRiders(d.dets)
	return d.dets
}

// mergeRiders makes each person riding a bicycle or motorbike part of it: one road user, the
// vehicle's class, the two boxes' union. A COCO model finds the rider and the machine apart;
// left apart, a rider would be judged as a pedestrian (a crosswalk or roadway rule) and the
// motorbike under them could go unseen, so a motorbike running a red light would be a person
// the red-light rule ignores. A rider sits over the machine: their centre over its middle,
// their head above its top, their feet within its height (or on the road beside it when
// stopped). A pedestrian walking past a parked bicycle is beside it, not over it, at the
// machine's depth. Works in place; returns dets shortened.
func mergeRiders(dets []edge.Detection) []edge.Detection {
	merged := false
	for i := range dets {
		p := dets[i]
		if p.Class != edge.Person {
			continue
		}
		best, bestD := -1, float32(0)
		for j, v := range dets {
			if v.Class != edge.Bicycle && v.Class != edge.Motorbike || !rides(p.Box, v.Box) {
				continue
			}
			d := (p.Box.X0 + p.Box.X1 - v.Box.X0 - v.Box.X1) / 2
			if d < 0 {
				d = -d
			}
			if best < 0 || d < bestD {
				best, bestD = j, d
			}
		}
		if best < 0 {
			continue
		}
		v := &dets[best]
		v.Box = edge.Box{X0: min(v.Box.X0, p.Box.X0), Y0: min(v.Box.Y0, p.Box.Y0), X1: max(v.Box.X1, p.Box.X1), Y1: max(v.Box.Y1, p.Box.Y1)}
		v.Score = max(v.Score, p.Score)
		dets[i].Class = edge.ClassUnknown // merged; dropped below
		merged = true
	}
	if !merged {
		return dets
	}
	out := dets[:0]
	for _, d := range dets {
		if d.Class != edge.ClassUnknown {
			out = append(out, d)
		}
	}
	return out
}

// rides reports whether a person box p sits on a bicycle or motorbike box v (see mergeRiders).
func rides(p, v edge.Box) bool {
	vw, vh := v.X1-v.X0, v.Y1-v.Y0
	if vw <= 0 || vh <= 0 || p.X1-p.X0 > 1.5*vw {
		return false
	}
	cx, vcx := (p.X0+p.X1)/2, (v.X0+v.X1)/2
	if cx < vcx-0.35*vw || cx > vcx+0.35*vw {
		return false
	}
	return p.Y0 < v.Y0+0.25*vh && p.Y1 > v.Y0+0.3*vh && p.Y1 <= v.Y1+0.15*vh
}

// MaskedDNN drops detections that lie wholly in a mask (a caption is not a person). Wholly: a
// static mask over a transient caption also covers road, and a car driving partly under it is a
// car (on the real red-light clips, "mostly" still hid a violator for a second).
// Not safe for concurrent use.
type MaskedDNN struct {
	det   netDetector
	masks [][]image.Point
	out   []edge.Detection
}

// netDetector is a network's detector: a DNN of one camera's own or a PooledDNN.
type netDetector interface {
	Detect(frame gocv.Mat) []edge.Detection
	Close()
}

// Detect returns the detections not wholly masked; the slice is valid until the next call.
func (m *MaskedDNN) Detect(frame gocv.Mat) []edge.Detection {
	m.out = m.out[:0]
	for _, d := range m.det.Detect(frame) {
		in := 0 // of a 3×3 grid of points over the box
		for i := float32(1); i <= 3; i++ {
			for j := float32(1); j <= 3; j++ {
				x, y := d.Box.X0+d.Box.W()*i/4, d.Box.Y0+d.Box.H()*j/4
				if inPolygons(m.masks, int(x), int(y)) {
					in++
				}
			}
		}
		if in < 9 {
			m.out = append(m.out, d)
		}
	}
	return m.out
}

// NewMaskedDNN wraps d (a *DNN or a *PooledDNN) for w×h frames with the scene's masks.
func NewMaskedDNN(d netDetector, masks [][]scene.Point, w, h int) *MaskedDNN {
	return &MaskedDNN{det: d, masks: maskPolygons(masks, w, h)}
}

// Close closes the detector it wraps.
func (m *MaskedDNN) Close() { m.det.Close() }

// Close releases the network.
func (d *DNN) Close() {
	d.net.Close()
	d.blob.Close()
}

func resizeInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// Faces finds faces with YuNet (for blurring, never for recognition): an ONNX model run at a
// size that is a multiple of 32, decoded here because gocv v0.31 has no FaceDetectorYN.
type Faces struct {
	net      gocv.Net
	blob     gocv.Mat
	minScore float32
	names    []string
	boxes    []image.Rectangle
	scores   []float32
}

// Scores returns the scores of the boxes of the latest Detect, in the same order.
func (f *Faces) Scores() []float32 { return f.scores }

// yunetStrides are YuNet's output scales; its outputs are cls, obj, bbox, kps per stride.
var yunetStrides = []int{8, 16, 32}

// NewFaces loads YuNet from the models directory, verified first.
func NewFaces(m *Models, file string, minScore float64) (*Faces, error) {
	b, err := m.readONNX(file)
	if err != nil {
		return nil, err
	}
	net, err := gocv.ReadNetFromONNXBytes(b)
	if err != nil || net.Empty() {
		return nil, fmt.Errorf("%w: %s: OpenCV could not load it: %v", ErrModel, file, err)
	}
	f := &Faces{net: net, blob: gocv.NewMat(), minScore: float32(minScore)}
	for _, s := range yunetStrides {
		for _, k := range []string{"cls", "obj", "bbox"} {
			f.names = append(f.names, fmt.Sprintf("%s_%d", k, s))
		}
	}
	return f, nil
}

// Detect returns the faces in img, whose size must be a multiple of 32 both ways. The slice
// is owned by Faces and valid until the next call.
func (f *Faces) Detect(img gocv.Mat) []image.Rectangle {
	f.boxes, f.scores = f.boxes[:0], f.scores[:0]
	w, h := img.Cols(), img.Rows()
	if w%32 != 0 || h%32 != 0 || w == 0 || h == 0 {
		return f.boxes
	}
	gocv.BlobFromImages([]gocv.Mat{img}, &f.blob, 1, image.Pt(w, h), gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
	f.net.SetInput(f.blob, "")
	outs := f.net.ForwardLayers(f.names)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	for si, s := range yunetStrides {
		cls, err1 := outs[3*si].DataPtrFloat32()
		obj, err2 := outs[3*si+1].DataPtrFloat32()
		bbox, err3 := outs[3*si+2].DataPtrFloat32()
		cols, rows := w/s, h/s
		if err1 != nil || err2 != nil || err3 != nil || len(cls) < cols*rows || len(obj) < cols*rows || len(bbox) < 4*cols*rows {
			continue
		}
		for i := 0; i < cols*rows; i++ {
			score := float32(math.Sqrt(float64(clamp01(cls[i]) * clamp01(obj[i]))))
			if score < f.minScore {
				continue
			}
			r, c := i/cols, i%cols
			cx, cy := (float32(c)+bbox[4*i])*float32(s), (float32(r)+bbox[4*i+1])*float32(s)
			bw, bh := float32(math.Exp(float64(bbox[4*i+2])))*float32(s), float32(math.Exp(float64(bbox[4*i+3])))*float32(s)
			f.boxes = append(f.boxes, image.Rect(int(cx-bw/2), int(cy-bh/2), int(cx+bw/2), int(cy+bh/2)))
			f.scores = append(f.scores, score)
		}
	}
	return f.boxes
}

func clamp01(x float32) float32 { return min(1, max(0, x)) }

// Close releases the network.
func (f *Faces) Close() {
	f.net.Close()
	f.blob.Close()
}
