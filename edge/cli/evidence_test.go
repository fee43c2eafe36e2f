package cli

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/vision"
)

// modelsDir returns the installed models, or skips (fails in CI, where 'make test' installs
// them from ../shared/models).
func modelsDir(t *testing.T) string {
	t.Helper()
	dir := "../../models/files"
	if _, err := vision.OpenModels(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: 'make test' installs the models", err)
		}
		t.Skipf("%v: run 'make models'", err)
	}
	return dir
}

// faceChecker is the independent face detector of the evidence test: OpenCV's Haar
// frontal-face cascade and YuNet on the image enlarged twice (small faces are the hard case).
// Each alone flags textures (a tiled wall, a crowd's pattern): a face counts when both find it
// in the same place, or YuNet is sure on its own.
type faceChecker struct {
	haar  gocv.CascadeClassifier
	yunet *vision.Faces
}

func newFaceChecker(t *testing.T, models string) *faceChecker {
	t.Helper()
	const cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
	if _, err := os.Stat(cascade); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: 'make test' installs opencv-data", err)
		}
		t.Skipf("%v: install opencv-data", err)
	}
	c := &faceChecker{haar: gocv.NewCascadeClassifier()}
	if !c.haar.Load(cascade) {
		t.Fatal("load the Haar cascade")
	}
	m, _ := vision.OpenModels(models)
	var err error
	if c.yunet, err = vision.NewFaces(m, evidenceFaceModel, 0.5); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.haar.Close(); c.yunet.Close() })
	return c
}

// faces returns the faces found in img.
func (c *faceChecker) faces(img gocv.Mat) []image.Rectangle {
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	haar := c.haar.DetectMultiScaleWithParams(gray, 1.05, 4, 0, image.Pt(10, 10), image.Pt(0, 0))
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(img, &big, image.Pt(img.Cols()*2/32*32, img.Rows()*2/32*32), 0, 0, gocv.InterpolationCubic)
	var found []image.Rectangle
	boxes, scores := c.yunet.Detect(big), c.yunet.Scores()
	for i, b := range boxes {
		b = image.Rect(b.Min.X/2, b.Min.Y/2, b.Max.X/2, b.Max.Y/2)
		sure := scores[i] >= 0.9
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

// The evidence images made from the real clips with people in them show no face that the
// independent face checker can find; the same checker finds faces in the same clips' frames
// before anonymisation, so the test can fail.
func TestEvidenceHasNoFaces(t *testing.T) {
	models := modelsDir(t)
	if _, err := os.Stat("../../../shared/videos"); err != nil {
		t.Skipf("no ../shared/videos (%v): the real clips stay outside the repository", err)
	}
	check := newFaceChecker(t, models)
	clips := []string{"ped_roxaaaaa_crosswalk", "ped_metroeyes_shibuya_scramble_elevated", "platform_metroeyes_tokyo_metro_platform_fisheye",
		"general_metroeyes_subway_corridor", "rlv_uvhnael_16h15", "rlv_webserver105_demo1"}
	images, rawFaces := 0, 0
	for _, c := range clips {
		clip := "../../../shared/videos/" + c + ".mp4"
		out := t.TempDir()
		if code, _, stderr := run("evidence", "--clip", clip, "--out", out, "--every", "1s", "--models", models); code != 0 {
			t.Fatalf("%s: %s", c, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*.jpg"))
		if len(files) < 5 {
			t.Fatalf("%s: %d evidence images", c, len(files))
		}
		for _, f := range files {
			img := gocv.IMRead(f, gocv.IMReadColor)
			if img.Cols() > vision.EvidenceWidth {
				t.Errorf("%s: %d px wide", f, img.Cols())
			}
			if faces := check.faces(img); len(faces) > 0 {
				t.Errorf("%s (%s): %d face(s) at %v", c, filepath.Base(f), len(faces), faces)
			}
			img.Close()
			images++
		}
		// The same frames, downscaled the same way but not anonymised.
		rawFaces += rawFacesIn(t, check, clip)
	}
	t.Logf("%d evidence images from %d real clips: no face found; %d faces in the same frames before anonymisation", images, len(clips), rawFaces)
	if rawFaces == 0 {
		t.Fatal("the checker finds no face in the raw frames either: it proves nothing")
	}
}

// rawFacesIn counts the checker's faces in a clip's frames every second, downscaled to the
// evidence width but not anonymised.
func rawFacesIn(t *testing.T, check *faceChecker, clip string) int {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	frame, small := gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer small.Close()
	n := 0
	for next := 0.0; vc.Read(&frame) && !frame.Empty(); {
		if pos := vc.Get(gocv.VideoCapturePosMsec); pos < next {
			continue
		} else {
			next = pos + 1000
		}
		scale := min(1, float64(vision.EvidenceWidth)/float64(frame.Cols()))
		gocv.Resize(frame, &small, image.Pt(int(float64(frame.Cols())*scale), int(float64(frame.Rows())*scale)), 0, 0, gocv.InterpolationArea)
		n += len(check.faces(small))
	}
	return n
}
