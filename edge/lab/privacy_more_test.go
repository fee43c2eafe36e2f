package lab

import (
	"context"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// ultraface is the privacy test's oracle: Ultra-Light-Fast-Generic-Face-Detector (RFB-320), a
// different face detector from the anonymiser's YuNet, confirmed by OpenCV's Haar frontal-face
// cascade (each alone flags textures: a face counts when both find it in the same place, or
// Ultraface is sure on its own). It looks at the whole image and at each quarter of it at the
// network's native 320×240, so faces 12 px tall are within reach.
type ultraface struct {
	net  gocv.Net
	haar gocv.CascadeClassifier
}

func newUltraface(t *testing.T, models string) *ultraface {
	t.Helper()
	const cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
	if _, err := os.Stat(cascade); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: 'make test' installs opencv-data", err)
		}
		t.Skipf("the privacy oracle needs OpenCV's Haar cascade (%v): install opencv-data", err)
	}
	b, err := os.ReadFile(filepath.Join(models, "ultraface-RFB-320.onnx")) // 'make models' verified it
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("the privacy oracle needs ultraface-RFB-320.onnx (%v): run 'make models'", err)
	}
	net, err := gocv.ReadNetFromONNXBytes(b)
	if err != nil || net.Empty() {
		t.Fatalf("load ultraface: %v", err)
	}
	u := &ultraface{net: net, haar: gocv.NewCascadeClassifier()}
	if !u.haar.Load(cascade) {
		t.Fatal("load the Haar cascade")
	}
	t.Cleanup(func() { u.net.Close(); u.haar.Close() })
	return u
}

// detect returns Ultraface's faces in img (pixels of img) with their scores.
func (u *ultraface) detect(img gocv.Mat) ([]image.Rectangle, []float32) {
	var boxes []image.Rectangle
	var scores []float32
	w, h := img.Cols(), img.Rows()
	views := []image.Rectangle{image.Rect(0, 0, w, h)}
	for _, y := range []int{0, h / 2} {
		for _, x := range []int{0, w / 2} {
			views = append(views, image.Rect(x, y, x+w/2, y+h/2))
		}
	}
	for _, v := range views {
		roi := img.Region(v)
		blob := gocv.BlobFromImage(roi, 1.0/128, image.Pt(320, 240), gocv.NewScalar(127, 127, 127, 0), true, false)
		roi.Close()
		u.net.SetInput(blob, "")
		outs := u.net.ForwardLayers([]string{"scores", "boxes"})
		blob.Close()
		sc, bx := outs[0], outs[1]
		n := sc.Total() / 2
		sf, _ := sc.DataPtrFloat32()
		bf, _ := bx.DataPtrFloat32()
		for i := 0; i < n; i++ {
			if p := sf[2*i+1]; p >= 0.7 {
				r := image.Rect(v.Min.X+int(bf[4*i]*float32(v.Dx())), v.Min.Y+int(bf[4*i+1]*float32(v.Dy())),
					v.Min.X+int(bf[4*i+2]*float32(v.Dx())), v.Min.Y+int(bf[4*i+3]*float32(v.Dy()))).Intersect(image.Rect(0, 0, w, h))
				if r.Dx() >= 6 && r.Dy() >= 6 {
					boxes, scores = append(boxes, r), append(scores, p)
				}
			}
		}
		for _, o := range outs {
			o.Close()
		}
	}
	if len(boxes) == 0 {
		return nil, nil
	}
	keep := make([]int, len(boxes))
	for i := range keep {
		keep[i] = -1 // NMSBoxes fills the first entries and does not say how many
	}
	gocv.NMSBoxes(boxes, scores, 0.7, 0.3, keep)
	var kb []image.Rectangle
	var ks []float32
	for _, i := range keep {
		if i < 0 {
			break
		}
		kb, ks = append(kb, boxes[i]), append(ks, scores[i])
	}
	return kb, ks
}

// faces returns the oracle's faces in img.
func (u *ultraface) faces(img gocv.Mat) []image.Rectangle {
	boxes, scores := u.detect(img)
	if len(boxes) == 0 {
		return nil
	}
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	haar := u.haar.DetectMultiScaleWithParams(gray, 1.05, 3, 0, image.Pt(10, 10), image.Pt(0, 0))
	var found []image.Rectangle
	for i, b := range boxes {
		sure := scores[i] >= 0.97
		for _, h := range haar {
			if in := b.Intersect(h); !in.Empty() && in.Dx()*in.Dy()*3 >= min(b.Dx()*b.Dy(), h.Dx()*h.Dy()) {
				sure = true
			}
		}
		if sure {
			found = append(found, b)
		}
	}
	return found
}

// wholeFrameScene makes every person the detector tracks an event (a track zone over the whole
// frame), so that the clip's evidence images are made where events make them: in
// Pipeline.Event, from the tracked people and the anonymiser.
func wholeFrameScene(camera string) *scene.Scene {
	s := scene.Defaults()
	s.Version, s.Camera = 1, camera
	s.Tracks = []scene.Zone{{ID: "all", Site: "privacy", Polygon: []scene.Point{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}}}}
	s.Detector.Kind, s.Detector.Model, s.Detector.MinScore = "dnn", "yolo-fastest-1.1-xl", 0.3
	s.Detector.PersonMaxArea = 0.5
	return &s
}

// evidenceOf replays clip through the pipeline with the anonymiser a and returns each event's
// evidence image by stream time.
func evidenceOf(t *testing.T, clip string, models string, a *vision.Anonymiser, wrap func(*camera.File) vision.Source) map[time.Duration][]byte {
	t.Helper()
	ev, _ := evidenceAndStills(t, clip, models, a, wrap, 0)
	return ev
}

// askingStills is a Source that asks for a reference still every every of stream time, as
// the aggregator's frame requests do (from another goroutine: here the decoder's).
type askingStills struct {
	vision.Source
	req   *edge.StillRequest
	every time.Duration
	next  time.Duration
}

func (s *askingStills) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	err := s.Source.ReadAfter(fr, notBefore)
	if err == nil && fr.Pos >= s.next {
		s.req.Ask(wire.FrameRequest)
		s.next = fr.Pos + s.every
	}
	return err
}

// evidenceAndStills is evidenceOf that also asks for a reference still every stillEvery of
// stream time (0: never) and returns them by stream time, as crosswatch-edge run makes them.
func evidenceAndStills(t *testing.T, clip string, models string, a *vision.Anonymiser, wrap func(*camera.File) vision.Source,
	stillEvery time.Duration) (map[time.Duration][]byte, map[time.Duration][]byte) {
	t.Helper()
	f, err := camera.OpenFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var src vision.Source = f
	if wrap != nil {
		src = wrap(f)
	}
	m, err := vision.OpenModels(models)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mem memOutbox
	cfg := analysis.Config{Device: "privacy", Scene: wholeFrameScene("privacy-cam"), Width: f.Width, Height: f.Height,
		Start: start, CountPeriod: time.Minute, Models: m, Evidence: a}
	stills := map[time.Duration][]byte{}
	if stillEvery > 0 {
		req := &edge.StillRequest{}
		src = &askingStills{Source: src, req: req, every: stillEvery}
		cfg.Stills = req
		cfg.OnStill = func(b []byte, at time.Time, _ string) { stills[at.Sub(start)] = b }
	}
	p, err := analysis.New(cfg, src, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	out := map[time.Duration][]byte{}
	for _, msg := range mem.msgs {
		if !strings.HasSuffix(msg.Topic, "/"+wire.KindEvents) {
			continue
		}
		e, err := wire.DecodeEvent(msg.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Evidence) == 0 {
			t.Errorf("%s: event %s has no evidence image", filepath.Base(clip), e.ID)
			continue
		}
		out[e.Time.Sub(start)] = e.Evidence
	}
	return out, stills
}

// rawFrameAt returns the clip's frame at stream time at (through wrap, if not nil), downscaled as the evidence is but not
// anonymised. The caller closes it.
func rawFrameAt(t *testing.T, clip string, at time.Duration, wrap func(*camera.File) vision.Source) gocv.Mat {
	t.Helper()
	f, err := camera.OpenFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var src vision.Source = f
	if wrap != nil {
		src = wrap(f)
	}
	fr := camera.NewFrame()
	defer fr.Close()
	if err := src.ReadAfter(fr, at); err != nil {
		t.Fatalf("%s at %v: %v", clip, at, err)
	}
	small := gocv.NewMat()
	scale := min(1, float64(vision.EvidenceWidth)/float64(fr.Mat.Cols()))
	gocv.Resize(fr.Mat, &small, image.Pt(int(float64(fr.Mat.Cols())*scale), int(float64(fr.Mat.Rows())*scale)), 0, 0, gocv.InterpolationArea)
	return small
}

// pastedFaces is a Source that plays a clip with faces pasted over its top band, as on a
// poster or behind a window: heads with no body under them, which no person detector calls a
// person, so only the anonymiser's face blur can hide them.
type pastedFaces struct {
	src   *camera.File
	faces []gocv.Mat // crops at the clip's full size, owned
	until time.Duration
}

func (p *pastedFaces) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	if err := p.src.ReadAfter(fr, notBefore); err != nil {
		return err
	}
	if fr.Pos > p.until {
		return io.EOF
	}
	x := fr.Mat.Cols() / 20
	for _, f := range p.faces {
		dst := fr.Mat.Region(image.Rect(x, fr.Mat.Rows()/30, x+f.Cols(), fr.Mat.Rows()/30+f.Rows()))
		f.CopyTo(&dst)
		dst.Close()
		x += f.Cols() + fr.Mat.Cols()/20
	}
	return nil
}

// faceCrops returns up to n faces the oracle finds in clip's frames (every second), each
// cropped with a margin at the clip's full size. The caller closes them.
func faceCrops(t *testing.T, u *ultraface, clip string, n int) []gocv.Mat {
	t.Helper()
	src, err := camera.OpenFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fr := camera.NewFrame()
	defer fr.Close()
	small := gocv.NewMat()
	defer small.Close()
	var crops []gocv.Mat
	for next := time.Duration(0); len(crops) < n; next = fr.Pos + time.Second {
		if err := src.ReadAfter(fr, next); err != nil {
			break
		}
		scale := float64(vision.EvidenceWidth) / float64(fr.Mat.Cols())
		gocv.Resize(fr.Mat, &small, image.Pt(vision.EvidenceWidth, int(float64(fr.Mat.Rows())*scale)), 0, 0, gocv.InterpolationArea)
		for _, f := range u.faces(small) {
			if f.Dy() < 16 || len(crops) == n {
				continue
			}
			// Back to full size, with half a face of margin, enlarged 1.5× (a poster is big).
			m := f.Dy() / 2
			r := image.Rect(int(float64(f.Min.X-m)/scale), int(float64(f.Min.Y-m)/scale), int(float64(f.Max.X+m)/scale), int(float64(f.Max.Y+m)/scale)).
				Intersect(image.Rect(0, 0, fr.Mat.Cols(), fr.Mat.Rows()))
			roi := fr.Mat.Region(r)
			c := gocv.NewMat()
			gocv.Resize(roi, &c, image.Pt(r.Dx()*3/2, r.Dy()*3/2), 0, 0, gocv.InterpolationCubic)
			roi.Close()
			crops = append(crops, c)
		}
	}
	return crops
}
