package vision

import (
	"image"
	"os"
	"testing"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// The anonymiser's geometry, checked on its uncompressed output (a.img, before the JPEG) against
// a plain downscale of the same frame: which pixels it changed, and how.

func testModels(t *testing.T) *Models {
	t.Helper()
	dir := "../../models/files"
	if d := os.Getenv("CROSSWATCH_MODELS"); d != "" { // 'make mutate' runs a copy of the module
		dir = d
	}
	m, err := OpenModels(dir)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("models: %v ('make test' installs them)", err)
		}
		t.Skipf("models not installed (%v): run 'make models'; the anonymiser needs its detectors", err)
	}
	return m
}

// noPeople is a person detector that finds no one (nobody scores 0.999 on noise or anywhere),
// so that only the tracked boxes or the faces are pixelated.
func noPeople(t *testing.T, m *Models) *DNN {
	t.Helper()
	d, err := NewDNN(m, "yolo-fastest-1.1-xl", 0.999)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func noise(w, h int) gocv.Mat {
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	return m
}

// changes compares got with want (same size, 3 channels) and returns the changed pixels.
func changes(t *testing.T, got, want gocv.Mat) [][]bool {
	t.Helper()
	if got.Cols() != want.Cols() || got.Rows() != want.Rows() {
		t.Fatalf("size %dx%d, want %dx%d", got.Cols(), got.Rows(), want.Cols(), want.Rows())
	}
	g, w := got.ToBytes(), want.ToBytes()
	out := make([][]bool, got.Rows())
	for y := range out {
		out[y] = make([]bool, got.Cols())
		for x := range out[y] {
			i := 3 * (y*got.Cols() + x)
			out[y][x] = g[i] != w[i] || g[i+1] != w[i+1] || g[i+2] != w[i+2]
		}
	}
	return out
}

// bounds returns the bounding box of the changed pixels.
func bounds(ch [][]bool) image.Rectangle {
	var r image.Rectangle
	for y, row := range ch {
		for x, c := range row {
			if c {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func reference(frame gocv.Mat) gocv.Mat {
	scale := min(1, float32(EvidenceWidth)/float32(frame.Cols()))
	ref := gocv.NewMat()
	gocv.Resize(frame, &ref, image.Pt(int(float32(frame.Cols())*scale), int(float32(frame.Rows())*scale)), 0, 0, gocv.InterpolationArea)
	return ref
}

// A tracked box (frame pixels) is pixelated at the evidence's scale with its margins: a sixth of
// its width plus 2 px each side, an eighth of its height plus 2 above, half that below; in
// blocks of at least 6 px. Nothing else changes, and the image is 640 px wide.
func TestAnonymiserTrackedBoxGeometry(t *testing.T) {
	m := testModels(t)
	a := NewAnonymiser(noPeople(t, m), nil)
	defer a.Close()
	frame := noise(1280, 720)
	defer frame.Close()
	ref := reference(frame)
	defer ref.Close()
	// At scale 0.5: (200,100)-(261,221), 61×121 → margins 12 and 17 (8 below).
	jpg, err := a.JPEG(frame, []edge.Box{{X0: 400, Y0: 200, X1: 520, Y1: 440}})
	if err != nil {
		t.Fatal(err)
	}
	if img, err := gocv.IMDecode(jpg, gocv.IMReadColor); err != nil || img.Cols() != 640 || img.Rows() != 360 {
		t.Fatalf("evidence %dx%d (%v), want 640x360", img.Cols(), img.Rows(), err)
	} else {
		img.Close()
	}
	want := image.Rect(188, 83, 273, 229)
	ch := changes(t, a.img, ref)
	if got := bounds(ch); got != want {
		t.Fatalf("pixelated %v, want %v", got, want)
	}
	// Blocks: max(6, 146/8) = 18 px, so 85×146 px become 4×8 cells: at most 32 colours, each
	// run along a row at least 85/4 px long.
	colours := map[[3]byte]bool{}
	b := a.img.ToBytes()
	for y := want.Min.Y; y < want.Max.Y; y++ {
		for x := want.Min.X; x < want.Max.X; x++ {
			i := 3 * (y*a.img.Cols() + x)
			colours[[3]byte{b[i], b[i+1], b[i+2]}] = true
		}
	}
	if len(colours) > 32 || len(colours) < 16 {
		t.Errorf("%d colours in the pixelated box, want 4×8 blocks (≤ 32, and no fewer than half)", len(colours))
	}
}

// A frame no wider than the evidence keeps its size; a box pressed against the border is
// clipped to the image, and a sliver 2 px wide is still pixelated.
func TestAnonymiserSmallFrameAndBorder(t *testing.T) {
	m := testModels(t)
	a := NewAnonymiser(noPeople(t, m), nil)
	defer a.Close()
	frame := noise(320, 240)
	defer frame.Close()
	// (319,100)-(320,161) → margins 2 and 9: (317,91)-(322,165) ∩ the image: 3 px wide.
	if _, err := a.JPEG(frame, []edge.Box{{X0: 319, Y0: 100, X1: 319, Y1: 160}}); err != nil {
		t.Fatal(err)
	}
	if got, want := bounds(changes(t, a.img, frame)), image.Rect(317, 91, 320, 165); got != want {
		t.Errorf("border box pixelated %v, want %v", got, want)
	}
	// A box on the right edge itself: (320,100)-(321,161) → (318,91)-(323,165) ∩ image: 2 px.
	if _, err := a.JPEG(frame, []edge.Box{{X0: 320, Y0: 100, X1: 320, Y1: 160}}); err != nil {
		t.Fatal(err)
	}
	if got, want := bounds(changes(t, a.img, frame)), image.Rect(318, 91, 320, 165); got != want {
		t.Errorf("2-px sliver pixelated %v, want %v", got, want)
	}
	// A box on the bottom edge: (100,240)-(161,241) → margins 12 and 2: (88,238)-(173,242) ∩ image: 2 px tall.
	if _, err := a.JPEG(frame, []edge.Box{{X0: 100, Y0: 240, X1: 160, Y1: 240}}); err != nil {
		t.Fatal(err)
	}
	if got, want := bounds(changes(t, a.img, frame)), image.Rect(88, 238, 173, 240); got != want {
		t.Errorf("2-px-tall sliver pixelated %v, want %v", got, want)
	}
	// Wholly outside: nothing changes.
	if _, err := a.JPEG(frame, []edge.Box{{X0: 400, Y0: 100, X1: 420, Y1: 160}}); err != nil {
		t.Fatal(err)
	}
	if got := bounds(changes(t, a.img, frame)); !got.Empty() {
		t.Errorf("a box outside the frame changed %v", got)
	}
	if _, err := a.JPEG(gocv.NewMat(), nil); err == nil {
		t.Error("an empty frame gave evidence")
	}
}

// corridorFrame returns a frame of a real clip with people and faces in it, or skips (fails in
// CI, where ../shared is beside the clone).
func corridorFrame(t *testing.T) gocv.Mat {
	return clipFrame(t, "general_metroeyes_subway_corridor", 90)
}

// clipFrame returns frame n of a real clip. The caller closes it.
func clipFrame(t *testing.T, name string, n int) gocv.Mat {
	t.Helper()
	clip := testenv.Shared("../../../shared") + "/videos/" + name + ".mp4"
	if _, err := os.Stat(clip); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI runs with ../shared beside the clone", err)
		}
		t.Skipf("no real clip (%v): the real clips stay outside the repository", err)
	}
	vc, err := gocv.VideoCaptureFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	f := gocv.NewMat()
	for i := 0; i < n && vc.Read(&f); i++ { // corridor, 3 s in: faces towards the camera
	}
	if f.Empty() {
		t.Fatal("could not read the clip")
	}
	return f
}

// Faces YuNet finds are pixelated with a third of their width plus 2 px around them, found on
// the image resized to multiples of 32 and mapped back.
func TestAnonymiserFaceGeometry(t *testing.T) {
	m := testModels(t)
	faces, err := NewFaces(m, "face_detection_yunet_2023mar.onnx", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer faces.Close()
	a := NewAnonymiser(noPeople(t, m), faces)
	defer a.Close()
	full := corridorFrame(t)
	defer full.Close()
	// 1280×720 → 640×360, whose face image is 640×352; and 630×354 (not downscaled), whose
	// face image is 608×352: the boxes map back by 630/608 and 354/352.
	for _, size := range []image.Point{{1280, 720}, {630, 354}} {
		frame := gocv.NewMat()
		gocv.Resize(full, &frame, size, 0, 0, gocv.InterpolationArea)
		ref := reference(frame)
		w, h := ref.Cols(), ref.Rows()
		fw, fh := w/32*32, h/32*32
		small := gocv.NewMat()
		gocv.Resize(ref, &small, image.Pt(fw, fh), 0, 0, gocv.InterpolationArea)
		found := append([]image.Rectangle(nil), faces.Detect(small)...)
		small.Close()
		if len(found) == 0 {
			t.Fatalf("%v: YuNet finds no face in the frame: pick another", size)
		}
		sx, sy := float32(w)/float32(fw), float32(h)/float32(fh)
		var want image.Rectangle
		for _, f := range found {
			r := image.Rect(int(float32(f.Min.X)*sx), int(float32(f.Min.Y)*sy), int(float32(f.Max.X)*sx)+1, int(float32(f.Max.Y)*sy)+1)
			want = want.Union(r.Inset(-(r.Dx()/3 + 2)).Intersect(image.Rect(0, 0, w, h)))
		}
		if _, err := a.JPEG(frame, nil); err != nil {
			t.Fatal(err)
		}
		if got := bounds(changes(t, a.img, ref)); got != want {
			t.Errorf("%v: %d faces at %v: pixelated %v, want %v", size, len(found), found, got, want)
		}
		frame.Close()
		ref.Close()
	}
}

// The people the person detector finds in the image itself are pixelated, with the same
// margins as tracked ones, and so are the plate regions of the vehicles it finds (PlateRegion);
// nothing outside them changes.
func TestAnonymiserDetectedPeople(t *testing.T) {
	m := testModels(t)
	people, err := NewDNN(m, "yolo-fastest-1.1-xl", 0.15)
	if err != nil {
		t.Fatal(err)
	}
	defer people.Close()
	a := NewAnonymiser(people, nil)
	defer a.Close()
	for _, c := range []struct {
		clip  string
		frame int
	}{{"general_metroeyes_subway_corridor", 90}, {"ped_roxaaaaa_crosswalk", 40}} {
		detectedPeople(t, a, people, clipFrame(t, c.clip, c.frame))
	}
}

func detectedPeople(t *testing.T, a *Anonymiser, people *DNN, frame gocv.Mat) {
	t.Helper()
	defer frame.Close()
	ref := reference(frame)
	defer ref.Close()
	var rects, plates []image.Rectangle
	for _, d := range people.Detect(ref) {
		if d.Class == edge.Car || d.Class == edge.Bus || d.Class == edge.Truck {
			plates = append(plates, PlateRegion(image.Rect(int(d.Box.X0), int(d.Box.Y0), int(d.Box.X1)+1, int(d.Box.Y1)+1)).Intersect(image.Rect(0, 0, ref.Cols(), ref.Rows())))
		}
	}
	for _, d := range people.Detect(ref) {
		if d.Class == edge.Person || d.Class == edge.Bicycle || d.Class == edge.Motorbike {
			r := image.Rect(int(d.Box.X0), int(d.Box.Y0), int(d.Box.X1)+1, int(d.Box.Y1)+1)
			mx, my := r.Dx()/6+2, r.Dy()/8+2
			rects = append(rects, image.Rect(r.Min.X-mx, r.Min.Y-my, r.Max.X+mx, r.Max.Y+my/2).Intersect(image.Rect(0, 0, ref.Cols(), ref.Rows())))
		}
	}
	if len(rects) == 0 {
		t.Fatal("the person detector finds no one in the frame: pick another")
	}
	t.Logf("%d people and riders, %d vehicles (their lower halves pixelated)", len(rects), len(plates))
	if _, err := a.JPEG(frame, nil); err != nil {
		t.Fatal(err)
	}
	ch := changes(t, a.img, ref)
	all := append(rects, plates...)
	in := func(x, y int) bool {
		for _, r := range all {
			if image.Pt(x, y).In(r) {
				return true
			}
		}
		return false
	}
	outside := 0
	for y, row := range ch {
		for x, c := range row {
			if c && !in(x, y) {
				outside++
			}
		}
	}
	if outside > 0 {
		t.Errorf("%d pixels changed outside the %d people's boxes and %d plate regions", outside, len(rects), len(plates))
	}
	// Each box's outermost columns and rows changed (mostly: a block may match by chance).
	for _, r := range all {
		for _, line := range []image.Rectangle{{r.Min, image.Pt(r.Min.X+1, r.Max.Y)}, {image.Pt(r.Max.X-1, r.Min.Y), r.Max},
			{r.Min, image.Pt(r.Max.X, r.Min.Y+1)}, {image.Pt(r.Min.X, r.Max.Y-1), r.Max}} {
			n, c := 0, 0
			for y := line.Min.Y; y < line.Max.Y; y++ {
				for x := line.Min.X; x < line.Max.X; x++ {
					n++
					if ch[y][x] {
						c++
					}
				}
			}
			if c*2 < n {
				t.Errorf("box %v: its edge %v is not pixelated (%d of %d pixels changed)", r, line, c, n)
			}
		}
	}
}
