package vision

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
)

// EvidenceWidth is the widest evidence image that leaves the box.
const EvidenceWidth = 640

// Anonymiser makes the evidence image of an event: the frame downscaled to at most
// EvidenceWidth pixels wide, every person pixelated (the tracker's people and riders, and every
// person a person detector finds in the image itself, standing still or not) and every face
// found by a face detector blurred on top. Nobody can be recognised in what it returns. Not
// safe for concurrent use.
type Anonymiser struct {
	people *DNN   // required: finds the people the tracker may not have (still, or unclassified)
	faces  *Faces // optional: blurs faces outside any person box too
	img    gocv.Mat
	face   gocv.Mat // img resized to multiples of 32 for the face detector
	tmp    gocv.Mat
	boxes  []image.Rectangle
}

// NewAnonymiser returns an anonymiser; people must not be nil, faces may be.
func NewAnonymiser(people *DNN, faces *Faces) *Anonymiser {
	return &Anonymiser{people: people, faces: faces, img: gocv.NewMat(), face: gocv.NewMat(), tmp: gocv.NewMat()}
}

// JPEG returns the anonymised evidence image of frame. tracked are the boxes of the tracked
// people and riders, in frame pixels.
func (a *Anonymiser) JPEG(frame gocv.Mat, tracked []edge.Box) ([]byte, error) {
	if frame.Empty() {
		return nil, fmt.Errorf("evidence: empty frame")
	}
	scale := min(1, float32(EvidenceWidth)/float32(frame.Cols()))
	w, h := int(float32(frame.Cols())*scale), int(float32(frame.Rows())*scale)
	gocv.Resize(frame, &a.img, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	bounds := image.Rect(0, 0, w, h)
	a.boxes = a.boxes[:0]
	for _, b := range tracked {
		a.boxes = append(a.boxes, image.Rect(int(b.X0*scale), int(b.Y0*scale), int(b.X1*scale)+1, int(b.Y1*scale)+1))
	}
	for _, d := range a.people.Detect(a.img) {
		if d.Class == edge.Person || d.Class == edge.Bicycle || d.Class == edge.Motorbike {
			a.boxes = append(a.boxes, image.Rect(int(d.Box.X0), int(d.Box.Y0), int(d.Box.X1)+1, int(d.Box.Y1)+1))
		}
	}
	for _, r := range a.boxes {
		// A margin around each person: boxes are loose at the edges, and heads stick out.
		mx, my := r.Dx()/6+2, r.Dy()/8+2
		a.pixelate(image.Rect(r.Min.X-mx, r.Min.Y-my, r.Max.X+mx, r.Max.Y+my/2).Intersect(bounds))
	}
	if a.faces != nil {
		fw, fh := max(32, w/32*32), max(32, h/32*32)
		gocv.Resize(a.img, &a.face, image.Pt(fw, fh), 0, 0, gocv.InterpolationArea)
		sx, sy := float32(w)/float32(fw), float32(h)/float32(fh)
		for _, f := range a.faces.Detect(a.face) {
			r := image.Rect(int(float32(f.Min.X)*sx), int(float32(f.Min.Y)*sy), int(float32(f.Max.X)*sx)+1, int(float32(f.Max.Y)*sy)+1)
			m := r.Dx()/3 + 2
			a.pixelate(r.Inset(-m).Intersect(bounds))
		}
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, a.img, []int{gocv.IMWriteJpegQuality, 70})
	if err != nil {
		return nil, fmt.Errorf("evidence: encode: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// pixelate replaces r by blocks of at least 6 pixels (or 8 blocks across, whichever is coarser).
func (a *Anonymiser) pixelate(r image.Rectangle) {
	if r.Dx() < 2 || r.Dy() < 2 {
		return
	}
	roi := a.img.Region(r)
	defer roi.Close()
	block := max(6, max(r.Dx(), r.Dy())/8)
	small := image.Pt(max(1, r.Dx()/block), max(1, r.Dy()/block))
	gocv.Resize(roi, &a.tmp, small, 0, 0, gocv.InterpolationArea)
	gocv.Resize(a.tmp, &roi, r.Size(), 0, 0, gocv.InterpolationNearestNeighbor) // writes through to img
}

// Close releases the Mats (not the detectors, which the caller owns).
func (a *Anonymiser) Close() {
	a.img.Close()
	a.face.Close()
	a.tmp.Close()
}
