package vision

import (
	"slices"
	"sync"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
)

// Cameras sharing one network each get what a network of their own would find, at their own
// score threshold, in a slice the next camera's pass does not overwrite; and they can call it
// at once (the pass is serialised, a gocv Net is not safe for concurrent use).
func TestDNNPoolSharesOneNetwork(t *testing.T) {
	m := testModels(t)
	frame := clipFrame(t, "ped_roxaaaaa_crosswalk", 40)
	defer frame.Close()
	small := frame // 640×352: the analysed size already

	own, err := NewDNN(m, scene.DefaultModel, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	want := slices.Clone(own.Detect(small))
	if len(want) < 2 {
		t.Fatalf("the frame should hold road users: %v", want)
	}
	other := clipFrame(t, "ped_roxaaaaa_crosswalk", 80) // the second camera's picture
	defer other.Close()
	wantOther := slices.Clone(own.Detect(other))

	pool := NewDNNPool(m, 1)
	defer pool.Close()
	low, err := pool.Detector(scene.DefaultModel, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	high, err := pool.Detector(scene.DefaultModel, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pool.all); n != 1 {
		t.Fatalf("%d networks loaded, want 1 shared", n)
	}
	a := low.Detect(small)
	if !slices.Equal(a, want) {
		t.Fatalf("pooled at 0.3: %v\nown network: %v", a, want)
	}
	b := high.Detect(other)
	var above []edge.Detection
	for _, d := range wantOther {
		if d.Score >= 0.6 {
			above = append(above, d)
		}
	}
	if len(above) == len(wantOther) || len(above) == 0 {
		t.Fatalf("the other frame should hold detections both above and below 0.6: %v", wantOther)
	}
	if !slices.Equal(b, above) {
		t.Fatalf("camera at 0.6: %v, want %v", b, above)
	}
	if !slices.Equal(a, want) {
		t.Fatalf("the 0.6 camera's pass changed the 0.3 camera's detections: %v", a)
	}

	var wg sync.WaitGroup
	got := make([][]edge.Detection, 4)
	for i := range got {
		d, err := pool.Detector(scene.DefaultModel, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				got[i] = slices.Clone(d.Detect(small))
			}
		}()
	}
	wg.Wait()
	for i, g := range got {
		if !slices.Equal(g, want) {
			t.Fatalf("camera %d, concurrent: %v, want %v", i, g, want)
		}
	}
	if _, err := pool.Detector("nope", 0.3); err == nil {
		t.Fatal("a model not in the manifest: no error")
	}
}
