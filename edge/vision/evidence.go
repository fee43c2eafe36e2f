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
	boxes  []image.Rectangle // people, evidence pixels
	plates []image.Rectangle // vehicles, evidence pixels
	// The three-still montage (Montage): reused while the stills keep their size.
	montage gocv.Mat
}

// NewAnonymiser returns an anonymiser; people must not be nil, faces may be.
func NewAnonymiser(people *DNN, faces *Faces) *Anonymiser {
	return &Anonymiser{people: people, faces: faces, img: gocv.NewMat(), face: gocv.NewMat(), tmp: gocv.NewMat(), montage: gocv.NewMat()}
}

// JPEG returns the anonymised evidence image of frame. tracked are the boxes of the tracked
// people and riders, in frame pixels. The plates of the vehicles the person detector finds are
// pixelated too (PlateRegion).
func (a *Anonymiser) JPEG(frame gocv.Mat, tracked []edge.Box) ([]byte, error) {
	if frame.Empty() {
		return nil, fmt.Errorf("evidence: empty frame")
	}
	scale := min(1, float32(EvidenceWidth)/float32(frame.Cols()))
	a.anonymise(frame, image.Pt(int(float32(frame.Cols())*scale), int(float32(frame.Rows())*scale)), tracked, nil)
	return encodeJPEG(a.img, 70)
}

// anonymise downscales frame to size into a.img and pixelates in it every person (tracked, in
// frame pixels, and found by the person detector), the plate region of every vehicle (tracked
// and found) and every face.
func (a *Anonymiser) anonymise(frame gocv.Mat, size image.Point, people, vehicles []edge.Box) {
	w, h := size.X, size.Y
	scale := float32(w) / float32(frame.Cols())
	gocv.Resize(frame, &a.img, size, 0, 0, gocv.InterpolationArea)
	bounds := image.Rect(0, 0, w, h)
	px := func(b edge.Box, s float32) image.Rectangle {
		return image.Rect(int(b.X0*s), int(b.Y0*s), int(b.X1*s)+1, int(b.Y1*s)+1)
	}
	a.boxes, a.plates = a.boxes[:0], a.plates[:0]
	for _, b := range people {
		a.boxes = append(a.boxes, px(b, scale))
	}
	for _, b := range vehicles {
		a.plates = append(a.plates, px(b, scale))
	}
	for _, d := range a.people.Detect(a.img) {
		switch d.Class {
		case edge.Person, edge.Bicycle, edge.Motorbike:
			a.boxes = append(a.boxes, px(d.Box, 1))
		case edge.Car, edge.Bus, edge.Truck:
			a.plates = append(a.plates, px(d.Box, 1))
		}
	}
	for _, r := range a.boxes {
		// A margin around each person: boxes are loose at the edges, and heads stick out.
		mx, my := r.Dx()/6+2, r.Dy()/8+2
		a.pixelate(image.Rect(r.Min.X-mx, r.Min.Y-my, r.Max.X+mx, r.Max.Y+my/2).Intersect(bounds))
	}
	for _, r := range a.plates {
		a.pixelate(PlateRegion(r).Intersect(bounds))
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
}

// PlateRegion is the part of a vehicle's box (evidence pixels) that is pixelated so that no
// number plate in it can be read: the whole lower half, widened by a tenth of the box's width
// plus 2 px each side and an eighth of its height plus 2 px below. No plate is looked for or
// read: wherever the camera sees a car, bus, truck or motorbike from, its plates are on its
// lower half, and a box is loose.
func PlateRegion(r image.Rectangle) image.Rectangle {
	mx, my := r.Dx()/10+2, r.Dy()/8+2
	return image.Rect(r.Min.X-mx, r.Min.Y+r.Dy()/2, r.Max.X+mx, r.Max.Y+my)
}

func encodeJPEG(img gocv.Mat, quality int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, quality})
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
	a.montage.Close()
}
