package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
	"github.com/crosswatch/crosswatch/internal/testenv"
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

// The evidence of events made from real clips shows no face that an independent oracle can
// find. The oracle (Ultraface confirmed by a Haar cascade: neither is the anonymiser's YuNet) is
// first shown to find faces in the same frames before anonymisation, so the test can fail, and
// the evidence comes from where events make it: Pipeline.Event, with the tracked people, on a
// scene where every tracked person is an event. A failure names the clip, the event's stream
// time and the face's box.
//
// People are pixelated whole, which hides their faces too; the last case pastes faces with no
// body under them (a poster, a window) into a clip, so that only the face blur can hide them.
// Every one of an evidence image's three stills (before, at and after the event) is checked.
func TestEvidenceHasNoFaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: minutes of the dnn detector on real clips; the full suite ('make test') runs it")
	}
	models := modelsDir(t)
	videos := sharedVideos(t)
	u := newUltraface(t, models)
	a, closeA, err := vision.OpenEvidenceAnonymiser(models)
	if err != nil {
		t.Fatal(err)
	}
	defer closeA()
	check := func(t *testing.T, clip string, ev map[time.Duration][]byte, raw func(at time.Duration) gocv.Mat) (images, rawFaces int) {
		t.Helper()
		for at, jpg := range ev {
			img, err := gocv.IMDecode(jpg, gocv.IMReadColor)
			if err != nil {
				t.Fatalf("%s at %v: %v", clip, at, err)
			}
			if img.Cols() > vision.EvidenceWidth || img.Rows() > vision.EvidenceMaxHeight {
				t.Errorf("%s at %v: evidence %dx%d px", clip, at, img.Cols(), img.Rows())
			}
			// Each of the three stills (before, at, after) on its own, at its own size: the
			// oracle looks at the whole still and its quarters.
			for i, r := range vision.EvidenceStillRects(img.Cols(), img.Rows()) {
				still := img.Region(r)
				if f := u.faces(still); len(f) > 0 {
					t.Errorf("%s: still %d of the evidence of the event at %v shows %d face(s) at %v", clip, i, at, len(f), f)
				}
				still.Close()
			}
			img.Close()
			// The raw frame at the event's time: a track intrusion is dated from the entry, at most
			// the rules' 200 ms confirmation before the frame the evidence was made from.
			r := raw(at)
			rawFaces += len(u.faces(r))
			r.Close()
			images++
		}
		return images, rawFaces
	}
	t.Run("real clips", func(t *testing.T) {
		images, rawFaces := 0, 0
		for _, c := range []string{"general_metroeyes_subway_corridor", "platform_metroeyes_tokyo_metro_platform_fisheye"} {
			clip := filepath.Join(videos, c+".mp4")
			ev := evidenceOf(t, clip, models, a, nil)
			if len(ev) < 5 {
				t.Fatalf("%s: %d events with evidence, want at least 5", c, len(ev))
			}
			i, r := check(t, c, ev, func(at time.Duration) gocv.Mat { return rawFrameAt(t, clip, at, nil) })
			images, rawFaces = images+i, rawFaces+r
		}
		t.Logf("%d evidence images from events; %d faces in the same frames before anonymisation", images, rawFaces)
		if rawFaces == 0 {
			t.Fatal("the oracle finds no face in the raw frames either: it proves nothing")
		}
	})
	t.Run("faces outside any person", func(t *testing.T) {
		clip := filepath.Join(videos, "general_metroeyes_subway_corridor.mp4")
		crops := faceCrops(t, u, clip, 3)
		defer func() {
			for _, c := range crops {
				c.Close()
			}
		}()
		if len(crops) == 0 {
			t.Fatal("the oracle finds no face to paste")
		}
		paste := func(src *camera.File) vision.Source {
			return &pastedFaces{src: src, faces: crops, until: 4 * time.Second}
		}
		ev, stills := evidenceAndStills(t, clip, models, a, paste, 500*time.Millisecond)
		if len(ev) < 3 {
			t.Fatalf("%d events with evidence, want at least 3", len(ev))
		}
		images, rawFaces := check(t, "corridor with pasted faces", ev, func(at time.Duration) gocv.Mat { return rawFrameAt(t, clip, at, paste) })
		t.Logf("%d evidence images, %d pasted faces each; %d faces in the same frames before anonymisation", images, len(crops), rawFaces)
		if rawFaces < images {
			t.Fatalf("the oracle finds %d faces in %d raw frames with %d pasted faces each: it proves nothing", rawFaces, images, len(crops))
		}
		// The reference stills the box sends for the scene editor (crosswatch-edge run, one
		// per request) go through the same anonymiser: no face in any.
		if len(stills) < 5 {
			t.Fatalf("%d reference stills, want one every 0.5 s of 4 s", len(stills))
		}
		for at, jpg := range stills {
			img, err := gocv.IMDecode(jpg, gocv.IMReadColor)
			if err != nil {
				t.Fatalf("still at %v: %v", at, err)
			}
			if img.Cols() > vision.EvidenceWidth {
				t.Errorf("still at %v: %d px wide", at, img.Cols())
			}
			if f := u.faces(img); len(f) > 0 {
				t.Errorf("the reference still at %v shows %d face(s) at %v", at, len(f), f)
			}
			img.Close()
		}
		t.Logf("%d reference stills, no face in any", len(stills))
	})
}

// sharedVideos returns ../shared/videos, or skips saying why (fails in CI, where ../shared is
// always beside the clone).
func sharedVideos(t *testing.T) string {
	t.Helper()
	return testenv.File(t, "../../../shared/videos", "no ../shared/videos: the real clips stay outside the repository")
}
