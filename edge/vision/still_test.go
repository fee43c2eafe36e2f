package vision_test

import (
	"context"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// meanNeighbourDiff is the mean grey-level difference of horizontally neighbouring pixels of
// img inside r: pixelated (blocks of ≥ 6 px), it is small; fine noise left alone, ~80.
func meanNeighbourDiff(img gocv.Mat, r image.Rectangle) float64 {
	diff, pairs := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x+1 < r.Max.X; x++ {
			d := int(img.GetUCharAt(y, x)) - int(img.GetUCharAt(y, x+1))
			diff += max(d, -d)
			pairs++
		}
	}
	return float64(diff) / float64(pairs)
}

// A camera's reference still goes through the evidence anonymiser with the frame's tracked and
// detected people: the "person" is a patch of fine noise no detector calls a person, so only
// the boxes the pipeline hands over can hide it. The still is made once per request, from the
// frame after it, at most 640 px wide.
func TestReferenceStillPixelatesPeople(t *testing.T) {
	m := modelsOrSkip(t)
	people, err := vision.NewDNN(m, "yolo-fastest-1.1-xl", 0.15)
	if err != nil {
		t.Fatal(err)
	}
	defer people.Close()
	anon := vision.NewAnonymiser(people, nil)
	defer anon.Close()

	box := image.Rect(300, 380, 340, 470)
	pic := solid(120)
	defer pic.Close()
	noise := pic.Region(box)
	gocv.RandU(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	noise.Close()
	src := &frames{n: 30, picture: func(int) gocv.Mat { return pic }}
	det := &script{dets: func(int) []edge.Detection {
		return []edge.Detection{{Box: edge.Box{X0: float32(box.Min.X), Y0: float32(box.Min.Y), X1: float32(box.Max.X), Y1: float32(box.Max.Y)}, Class: edge.Person, Score: 0.9}}
	}}
	var req edge.StillRequest
	var stills [][]byte
	var reasons []string
	req.Ask(wire.FrameStart)
	p, _ := newPipeline(t, platformScene(), src, det, camConfig{Evidence: anon, Stills: &req,
		OnStill: func(b []byte, _ time.Time, reason string) {
			stills, reasons = append(stills, b), append(reasons, reason)
		}})
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if len(stills) != 1 || reasons[0] != wire.FrameStart {
		t.Fatalf("%d stills (%v), want one for the start", len(stills), reasons)
	}
	img, err := gocv.IMDecode(stills[0], gocv.IMReadGrayScale)
	if err != nil || img.Empty() {
		t.Fatalf("still: %v", err)
	}
	defer img.Close()
	if img.Cols() > vision.EvidenceWidth || img.Cols() != fw || img.Rows() != fh {
		t.Fatalf("still %dx%d, want the analysed %dx%d (≤ %d wide)", img.Cols(), img.Rows(), fw, fh, vision.EvidenceWidth)
	}
	inside := meanNeighbourDiff(img, box.Inset(4))
	outside := meanNeighbourDiff(img, image.Rect(100, 100, 200, 200))
	t.Logf("mean neighbouring difference inside the person %.1f, on the plain background %.1f", inside, outside)
	if inside > 15 {
		t.Fatalf("the person is not pixelated in the reference still (%.1f grey levels between neighbours)", inside)
	}
}
