package vision

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrModel means a model file is missing, unknown or malformed. OpenCV aborts the process on a
// file it cannot parse, so every file is checked here first: its sha256 must be the one in
// the models directory's MANIFEST.tsv, and its header must be what the manifest says it is.
var ErrModel = errors.New("model")

// Models is an installed models directory (make models): the files and their MANIFEST.tsv.
type Models struct {
	Dir    string
	sha256 map[string]string // file → hex digest from the manifest
}

// OpenModels reads dir/MANIFEST.tsv.
func OpenModels(dir string) (*Models, error) {
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (run 'make models')", ErrModel, err)
	}
	defer f.Close()
	m := &Models{Dir: dir, sha256: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 2 || len(cols[1]) != 64 {
			return nil, fmt.Errorf("%w: %s: malformed line %q", ErrModel, f.Name(), line)
		}
		m.sha256[cols[0]] = cols[1]
	}
	return m, sc.Err()
}

// read returns a verified file's bytes.
func (m *Models) read(file string) ([]byte, error) {
	want, ok := m.sha256[file]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in %s/MANIFEST.tsv", ErrModel, file, m.Dir)
	}
	b, err := os.ReadFile(filepath.Join(m.Dir, file))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (run 'make models')", ErrModel, err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%w: %s: sha256 %s, the manifest says %s: not the file crosswatch was tested with", ErrModel, file, got[:12], want[:12])
	}
	return b, nil
}

// darknetNet is a verified darknet cfg and weights pair, with the input size and class count the
// cfg declares.
type darknetNet struct {
	cfg, weights []byte
	w, h         int
	classes      int
}

// readDarknet reads name.cfg and name.weights and checks that they fit each other's format:
// a [net] section with an input size that is a multiple of 32, [yolo] heads that agree on the
// class count, and a weights header of darknet version 0.1 or 0.2 with data after it.
func (m *Models) readDarknet(name string) (*darknetNet, error) {
	cfg, err := m.read(name + ".cfg")
	if err != nil {
		return nil, err
	}
	weights, err := m.read(name + ".weights")
	if err != nil {
		return nil, err
	}
	n := &darknetNet{cfg: cfg, weights: weights}
	section := ""
	yolos := 0
	for _, line := range strings.Split(string(cfg), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = line
			if section == "[yolo]" {
				yolos++
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case section == "[net]" && k == "width":
			n.w, _ = strconv.Atoi(v)
		case section == "[net]" && k == "height":
			n.h, _ = strconv.Atoi(v)
		case section == "[yolo]" && k == "classes":
			c, _ := strconv.Atoi(v)
			if n.classes != 0 && c != n.classes {
				return nil, fmt.Errorf("%w: %s.cfg: [yolo] heads disagree on classes (%d, %d)", ErrModel, name, n.classes, c)
			}
			n.classes = c
		}
	}
	switch {
	case n.w < 32 || n.h < 32 || n.w%32 != 0 || n.h%32 != 0:
		return nil, fmt.Errorf("%w: %s.cfg: input %dx%d is not a multiple of 32", ErrModel, name, n.w, n.h)
	case yolos == 0 || n.classes < 1:
		return nil, fmt.Errorf("%w: %s.cfg: no [yolo] head with classes", ErrModel, name)
	case len(weights) < 20:
		return nil, fmt.Errorf("%w: %s.weights: %d bytes is no darknet weights file", ErrModel, name, len(weights))
	}
	major, minor := binary.LittleEndian.Uint32(weights[0:]), binary.LittleEndian.Uint32(weights[4:])
	if major != 0 || (minor != 1 && minor != 2) {
		return nil, fmt.Errorf("%w: %s.weights: darknet version %d.%d, want 0.1 or 0.2", ErrModel, name, major, minor)
	}
	return n, nil
}

// readONNX reads an ONNX file and checks that it starts like an ONNX ModelProto: field 1
// (ir_version) as a small varint.
func (m *Models) readONNX(file string) ([]byte, error) {
	b, err := m.read(file)
	if err != nil {
		return nil, err
	}
	if len(b) < 16 || b[0] != 0x08 || b[1] == 0 || b[1] > 20 {
		return nil, fmt.Errorf("%w: %s: not an ONNX model", ErrModel, file)
	}
	return b, nil
}

// CheckDetector verifies, without loading anything into OpenCV, that a scene's
// detector.model is installed here: every file it needs listed in the manifest, with the
// manifest's sha256 and a header of the right format. It returns an ErrModel error naming the
// file otherwise.
func (m *Models) CheckDetector(model string) error {
	if strings.HasPrefix(model, "picodet_") {
		if _, ok := picoModels[model]; !ok {
			return fmt.Errorf("%w: %s: not a PicoDet model crosswatch knows", ErrModel, model)
		}
		_, err := m.readONNX(model + ".onnx")
		return err
	}
	_, err := m.readDarknet(model)
	return err
}

// CheckONNX verifies one ONNX file as CheckDetector does (the evidence face detector).
func (m *Models) CheckONNX(file string) error {
	_, err := m.readONNX(file)
	return err
}
