package vision

import (
	"os"
	"path/filepath"
)

// The evidence models: a person detector finds everyone to pixelate, a face detector blurs
// faces. The daemon, replay and the lab's evidence command all anonymise with these.
const (
	EvidencePeopleModel = "yolo-fastest-1.1-xl" // COCO: people, and the bicycles and motorbikes people ride
	EvidenceFaceModel   = "face_detection_yunet_2023mar.onnx"
)

// OpenEvidenceAnonymiser loads the evidence models from the models directory dir. The caller
// closes what it returns, from the goroutine that uses the anonymiser.
func OpenEvidenceAnonymiser(dir string) (*Anonymiser, func(), error) {
	m, err := OpenModels(dir)
	if err != nil {
		return nil, nil, err
	}
	people, err := NewDNN(m, EvidencePeopleModel, 0.15) // a low bar: a missed person is worse than a blurred bollard
	if err != nil {
		return nil, nil, err
	}
	people.Native = true // at the evidence image's own size: riders 20 px tall are found
	faces, err := NewFaces(m, EvidenceFaceModel, 0.5)
	if err != nil {
		people.Close()
		return nil, nil, err
	}
	a := NewAnonymiser(people, faces)
	return a, func() { a.Close(); people.Close(); faces.Close() }, nil
}

// CheckEvidenceModels checks, without loading them, that dir holds the evidence models.
func CheckEvidenceModels(dir string) error {
	m, err := OpenModels(dir)
	if err != nil {
		return err
	}
	if err := m.CheckDetector(EvidencePeopleModel); err != nil {
		return err
	}
	return m.CheckONNX(EvidenceFaceModel)
}

// ModelsDir is the models directory the edge's commands default to: $CROSSWATCH_MODELS, else
// models/files, where 'make models' installs. (Read here, not in each command: the daemon's
// replay and the lab's tools must agree on it, and deploy/image_test checks the variable.)
func ModelsDir() string {
	if d := os.Getenv("CROSSWATCH_MODELS"); d != "" {
		return d
	}
	return filepath.Join("models", "files")
}
