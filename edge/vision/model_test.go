package vision

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModels writes files into a fresh models directory with a manifest of their sha256
// (or of wrong, when given for a file).
func writeModels(t *testing.T, files map[string][]byte, wrong map[string]bool) string {
	t.Helper()
	dir := t.TempDir()
	var man strings.Builder
	for name, b := range files {
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
		sum := sha256.Sum256(b)
		if wrong[name] {
			sum = sha256.Sum256(append(b, 'x'))
		}
		man.WriteString(name + "\t" + hex.EncodeToString(sum[:]) + "\torigin\tlicence\tinput\tclasses\n")
	}
	os.WriteFile(filepath.Join(dir, "MANIFEST.tsv"), []byte(man.String()), 0o644)
	return dir
}

// Every malformed or unknown model file is refused with a clear error before OpenCV sees it
// (OpenCV would abort the process).
func TestModelFilesCheckedBeforeOpenCV(t *testing.T) {
	weights := append([]byte{0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 64)...)
	goodCfg := []byte("[net]\nwidth=320\nheight=320\n[convolutional]\nfilters=255\n[yolo]\nclasses=80\n")
	cases := []struct {
		name  string
		files map[string][]byte
		wrong map[string]bool
		load  func(*Models) error
		want  string
	}{
		{"not in the manifest", map[string][]byte{}, nil, func(m *Models) error { _, err := NewDNN(m, "nope", 0.3); return err }, "not in"},
		{"sha256 differs", map[string][]byte{"m.cfg": goodCfg, "m.weights": weights}, map[string]bool{"m.weights": true},
			func(m *Models) error { _, err := NewDNN(m, "m", 0.3); return err }, "sha256"},
		{"input not a multiple of 32", map[string][]byte{"m.cfg": []byte("[net]\nwidth=300\nheight=300\n[yolo]\nclasses=80\n"), "m.weights": weights}, nil,
			func(m *Models) error { _, err := NewDNN(m, "m", 0.3); return err }, "multiple of 32"},
		{"no yolo head", map[string][]byte{"m.cfg": []byte("[net]\nwidth=320\nheight=320\n"), "m.weights": weights}, nil,
			func(m *Models) error { _, err := NewDNN(m, "m", 0.3); return err }, "no [yolo] head"},
		{"weights are text", map[string][]byte{"m.cfg": goodCfg, "m.weights": []byte("this is not a weights file at all")}, nil,
			func(m *Models) error { _, err := NewDNN(m, "m", 0.3); return err }, "darknet version"},
		{"wrong class count", map[string][]byte{"m.cfg": []byte("[net]\nwidth=320\nheight=320\n[yolo]\nclasses=20\n"), "m.weights": weights}, nil,
			func(m *Models) error { _, err := NewDNN(m, "m", 0.3); return err }, "20 classes"},
		{"onnx that is not onnx", map[string][]byte{"f.onnx": []byte("PK\x03\x04 a zip file, not a model")}, nil,
			func(m *Models) error { _, err := NewFaces(m, "f.onnx", 0.5); return err }, "not an ONNX model"},
		{"a PicoDet crosswatch was not tested with", map[string][]byte{"picodet_m_640_coco.onnx": []byte("\x08\x07 whatever")}, nil,
			func(m *Models) error { _, err := NewDNN(m, "picodet_m_640_coco", 0.3); return err }, "not a PicoDet model crosswatch knows"},
		{"a PicoDet that is not onnx", map[string][]byte{"picodet_s_320_coco_cv46.onnx": []byte("PK\x03\x04 a zip file, not a model")}, nil,
			func(m *Models) error { _, err := NewDNN(m, "picodet_s_320_coco_cv46", 0.3); return err }, "not an ONNX model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := OpenModels(writeModels(t, c.files, c.wrong))
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(m)
			if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrModel with %q", err, c.want)
			}
		})
	}
	if _, err := OpenModels(t.TempDir()); !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), "make models") {
		t.Fatalf("no manifest: %v", err)
	}
}
