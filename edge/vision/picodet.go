package vision

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// picoModels are the PP-PicoDet exports crosswatch was tested with (models/MANIFEST.tsv), by
// input size. OpenCV sees only these files, verified by sha256, so their shapes are known.
var picoModels = map[string]int{"picodet_s_320_coco_cv46": 320, "picodet_s_416_coco_cv46": 416}

// picoStrides are the four output levels of a PicoDet-S head; each has a class-score output
// [1, cells, 80] (after the sigmoid) and a box output [1, cells, 4·8]: for each side, a
// distribution over 8 distances in units of the stride (generalized focal loss).
var picoStrides = [...]int{8, 16, 32, 64}

const picoBins = 8

func newPicoDet(m *Models, model string, minScore float64) (*DNN, error) {
	size, ok := picoModels[model]
	if !ok {
		return nil, fmt.Errorf("%w: %s: not a PicoDet model crosswatch knows (%v)", ErrModel, model, picoModels)
	}
	b, err := m.readONNX(model + ".onnx")
	if err != nil {
		return nil, err
	}
	net, err := gocv.ReadNetFromONNXBytes(b)
	if err != nil || net.Empty() {
		return nil, fmt.Errorf("%w: %s: OpenCV could not load it: %v", ErrModel, model, err)
	}
	d := &DNN{net: net, in: image.Pt(size, size), classes: 80, blob: gocv.NewMat(), minScore: float32(minScore), pico: true}
	for _, id := range net.GetUnconnectedOutLayers() {
		l := net.GetLayer(id)
		d.outNames = append(d.outNames, l.GetName())
		l.Close()
	}
	if len(d.outNames) != 2*len(picoStrides) {
		net.Close()
		d.blob.Close()
		return nil, fmt.Errorf("%w: %s: %d outputs, a PicoDet head has %d", ErrModel, model, len(d.outNames), 2*len(picoStrides))
	}
	return d, nil
}

// picoScale is the model's normalisation: (x − mean) / std per BGR channel, with std 57.375,
// 57.12 and 58.395; BlobFromImage takes one scale, so their mean (within 1 % of each).
var picoScale = 1 / ((57.375 + 57.12 + 58.395) / 3)

// forwardPico runs a PicoDet model and decodes its outputs into d.boxes, d.scores and d.cls
// in frame pixels.
func (d *DNN) forwardPico(frame gocv.Mat) {
	in := d.in
	gocv.BlobFromImages([]gocv.Mat{frame}, &d.blob, picoScale, in, gocv.NewScalar(103.53, 116.28, 123.675, 0), false, false, gocv.MatTypeCV32F)
	d.net.SetInput(d.blob, "")
	outs := d.net.ForwardLayers(d.outNames)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	sx, sy := float32(frame.Cols())/float32(in.X), float32(frame.Rows())/float32(in.Y)
	for k, stride := range picoStrides {
		cls, err1 := outs[k].DataPtrFloat32()
		box, err2 := outs[k+len(picoStrides)].DataPtrFloat32()
		gw := (in.X + stride - 1) / stride
		cells := gw * ((in.Y + stride - 1) / stride)
		if err1 != nil || err2 != nil || len(cls) != cells*d.classes || len(box) != cells*4*picoBins {
			continue // not the shape of this level: nothing to read
		}
		for c := 0; c < cells; c++ {
			row := cls[c*d.classes : (c+1)*d.classes]
			best, score := -1, float32(0)
			for j, s := range row {
				if s > score {
					best, score = j, s
				}
			}
			cl, ok := cocoClass[best]
			if !ok || score < d.minScore {
				continue
			}
			cx, cy := (float32(c%gw)+0.5)*float32(stride), (float32(c/gw)+0.5)*float32(stride)
			var dist [4]float32
			for side := range dist {
				dist[side] = expectedBin(box[c*4*picoBins+side*picoBins:][:picoBins]) * float32(stride)
			}
			r := image.Rect(int((cx-dist[0])*sx), int((cy-dist[1])*sy), int((cx+dist[2])*sx), int((cy+dist[3])*sy))
			d.boxes = append(d.boxes, r)
			d.scores = append(d.scores, score)
			d.cls = append(d.cls, cl)
		}
	}
}

// expectedBin is the expected bin index under the softmax of logits.
func expectedBin(logits []float32) float32 {
	m := logits[0]
	for _, v := range logits[1:] {
		m = max(m, v)
	}
	var sum, e float32
	for i, v := range logits {
		w := float32(math.Exp(float64(v - m)))
		sum += w
		e += w * float32(i)
	}
	return e / sum
}
