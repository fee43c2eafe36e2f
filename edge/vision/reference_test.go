package vision

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/edge/scene"
)

// A reference survives its PGM file; a file that is not one, truncated, or of another size is
// refused with an error that says which, before any OpenCV call sees it.
func TestReferenceFile(t *testing.T) {
	r := &Reference{W: 4, H: 3, Pix: []byte{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 255}}
	b := r.EncodePGM()
	got, err := DecodeReference(b, 4, 3)
	if err != nil || got.W != 4 || got.H != 3 || !bytes.Equal(got.Pix, r.Pix) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header ends early"},
		{"a PNG", []byte("\x89PNG\r\n\x1a\n...."), "not a binary PGM"},
		{"ASCII PGM", []byte("P2\n4 3\n255\n0 1 2"), "want P5"},
		{"16-bit", []byte("P5\n4 3\n65535\n" + strings.Repeat("x", 24)), "want 255"},
		{"bad size", []byte("P5\n-4 3\n255\n"), "is not a size"},
		{"another camera", []byte("P5\n64 36\n255\n" + strings.Repeat("x", 64*36)), "it is 64×36; this camera's view needs 4×3"},
		{"truncated", b[:len(b)-2], "10 bytes of picture, want 4×3 = 12"},
		{"trailing data", append(append([]byte(nil), b...), 'x'), "13 bytes of picture"},
	} {
		_, err := DecodeReference(tc.data, 4, 3)
		if !errors.Is(err, ErrReference) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeReference(f *testing.F) {
	f.Add((&Reference{W: 2, H: 2, Pix: []byte{1, 2, 3, 4}}).EncodePGM())
	f.Add([]byte("P5 # c\n2 2 255\nabcd"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReference(b, 2, 2)
		if err == nil && len(r.Pix) != 4 {
			t.Fatalf("accepted %d bytes of picture", len(r.Pix))
		}
	})
}

// Similarity is 1 for the same picture, also under another contrast, about 0 for an unrelated
// one, and ignores the cells watch leaves out.
func TestSimilarity(t *testing.T) {
	ref := &Reference{W: 4, H: 2, Pix: []byte{0, 200, 0, 200, 200, 0, 200, 0}}
	brighter := []byte{50, 250, 50, 250, 250, 50, 250, 50}
	if s := ref.Similarity(brighter, nil); s < 0.999 {
		t.Errorf("same edges, another contrast: %v", s)
	}
	other := []byte{0, 0, 200, 200, 0, 0, 200, 200}
	if s := ref.Similarity(other, nil); s > 0.01 || s < -0.01 {
		t.Errorf("unrelated: %v", s)
	}
	if s := ref.Similarity([]byte{7, 7, 7, 7, 7, 7, 7, 7}, nil); s != 0 {
		t.Errorf("flat (a covered lens): %v, want 0", s)
	}
	if s := ref.Similarity([]byte{1, 2}, nil); s != 0 {
		t.Errorf("another size: %v, want 0", s)
	}
	// Only the first row watched: the second row's difference (a burned-in clock) is ignored.
	watch := []bool{true, true, true, true, false, false, false, false}
	if s := ref.Similarity([]byte{0, 200, 0, 200, 9, 9, 9, 9}, watch); s < 0.999 {
		t.Errorf("masked cells counted: %v", s)
	}
}

func TestWatchCells(t *testing.T) {
	// A mask over the top-left quarter of a 4×4 reference.
	w := WatchCells(4, 4, [][]scene.Point{{{X: 0, Y: 0}, {X: 0.5, Y: 0}, {X: 0.5, Y: 0.5}, {X: 0, Y: 0.5}}})
	n := 0
	for i, on := range w {
		if !on {
			n++
			if x, y := i%4, i/4; x > 1 || y > 1 {
				t.Errorf("cell %d,%d masked", x, y)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d cells masked, want 4", n)
	}
	if WatchCells(4, 4, [][]scene.Point{{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}}}) != nil {
		t.Error("masked everywhere: want every cell watched (nil)")
	}
}

func TestReferenceLearner(t *testing.T) {
	l := NewReferenceLearner(2, 1)
	if l.Reference() != nil {
		t.Fatal("a reference from nothing")
	}
	l.Add([]byte{10, 100})
	l.Add([]byte{20, 200})
	l.Add([]byte{1}) // another size: ignored
	if r := l.Reference(); l.N() != 2 || r.Pix[0] != 15 || r.Pix[1] != 150 {
		t.Fatalf("%d pictures, %+v", l.N(), r)
	}
	l.Reset()
	if l.N() != 0 || l.Reference() != nil {
		t.Fatal("not reset")
	}
}
