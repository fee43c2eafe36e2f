package lab

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/internal/camtest"
)

// drawScene is a scene with one small mask and nothing else: scene draw leaves the frame as
// decoded but for no line at all, so the PNG can be told apart from its neighbours.
const drawScene = "version: 1\ncamera: draw-test\nmasks:\n  - [[0, 0], [0.01, 0], [0.01, 0.01]]\n"

// refFrame is a frame of the clip decoded one by one, with the time its container gives it.
type refFrame struct {
	pos   time.Duration
	thumb gocv.Mat // grey, 160 wide
}

// thumb returns img as a grey thumbnail 160 pixels wide.
func thumb(img gocv.Mat) gocv.Mat {
	w, h := 160, max(1, img.Rows()*160/img.Cols())
	small, gray := gocv.NewMat(), gocv.NewMat()
	gocv.Resize(img, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(small, &gray, gocv.ColorBGRToGray)
	small.Close()
	return gray
}

func meanAbsDiff(a, b gocv.Mat) float64 {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	return d.Mean().Val1
}

// scene draw --at T draws the frame at T on every real clip (issue 14, case 7: on 25 fps clips
// whose first frame is at 0 it drew the 1.24 s frame for any later T). The reference is the
// clip decoded frame by frame, with no skipping: the drawn frame must be the decoded frame that
// looks most like it, and that frame's container time within one frame period of T.
func TestSceneDrawAtEveryClip(t *testing.T) {
	sc := filepath.Join(t.TempDir(), "scene.yaml")
	if err := os.WriteFile(sc, []byte(drawScene), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, clip := range camtest.Clips(t, "../../../shared/videos") {
		t.Run(filepath.Base(clip), func(t *testing.T) {
			camtest.Clip(t, clip)
			ref, period := decodeReference(t, clip)
			defer func() {
				for _, r := range ref {
					r.thumb.Close()
				}
			}()
			end := ref[len(ref)-1].pos
			for _, at := range []time.Duration{0, 1500 * time.Millisecond, end / 2, end - 500*time.Millisecond} {
				out := filepath.Join(t.TempDir(), "at.png")
				code, stdout, stderr := run("scene", "draw", "--scene", sc, "--clip", clip, "--out", out, "--at", at.String())
				if code != 0 {
					t.Fatalf("--at %v: %s", at, stderr)
				}
				img := gocv.IMRead(out, gocv.IMReadColor)
				got := thumb(img)
				img.Close()
				best, bestD := -1, 0.0
				for i, r := range ref {
					if d := meanAbsDiff(got, r.thumb); best < 0 || d < bestD {
						best, bestD = i, d
					}
				}
				got.Close()
				// Where neighbouring frames are identical (duplicated frames), any of them will do.
				ok := false
				for _, r := range ref {
					if d := meanAbsDiff(ref[best].thumb, r.thumb); d <= 0.05 && absDur(r.pos-at) <= period {
						ok = true
					}
				}
				if !ok {
					t.Errorf("--at %v: drew the frame decoded at %v (mean difference %.2f); want one within %v (%s)", at, ref[best].pos, bestD, period, strings.TrimSpace(stdout))
				}
				// The time it reports is the drawn frame's.
				_, said, _ := strings.Cut(stdout, "frame at ")
				said, _, _ = strings.Cut(said, " ")
				if d, err := time.ParseDuration(said); err != nil || absDur(d-ref[best].pos) > period/2 {
					t.Errorf("--at %v: message %q; the frame drawn is at %v", at, strings.TrimSpace(stdout), ref[best].pos)
				}
			}
		})
	}
}

// decodeReference decodes every frame of clip with OpenCV alone (no camera package: it is what is
// tested), and returns them with their container times and the clip's longest frame period.
func decodeReference(t *testing.T, clip string) ([]refFrame, time.Duration) {
	t.Helper()
	vc, err := gocv.VideoCaptureFileWithAPI(clip, gocv.VideoCaptureFFmpeg)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	var ref []refFrame
	var period time.Duration
	for vc.Read(&m) && !m.Empty() {
		pos := time.Duration(vc.Get(gocv.VideoCapturePosMsec) * float64(time.Millisecond))
		if len(ref) > 0 && pos <= ref[len(ref)-1].pos {
			continue // the last frames of many MP4s report 0: not usable as a reference
		}
		if len(ref) > 0 {
			period = max(period, pos-ref[len(ref)-1].pos)
		}
		ref = append(ref, refFrame{pos, thumb(m)})
	}
	if len(ref) < 10 {
		t.Fatalf("%s: %d frames decoded", clip, len(ref))
	}
	return ref, period
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
