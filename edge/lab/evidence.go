package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// runEvidence writes the anonymised evidence image of a frame every --every of stream time,
// to check the anonymisation on real footage by eye and in tests.
func runEvidence(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("evidence")
	clip := fs.String("clip", "", "video file (required)")
	out := fs.String("out", "", "directory for the JPEGs (required)")
	every := fs.Duration("every", 2*time.Second, "stream time between two images")
	models := fs.String("models", vision.ModelsDir(), "installed models directory (make models)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clip == "" || *out == "" {
		return errors.New("--clip and --out are required")
	}
	if *every <= 0 {
		return errors.New("--every: must be positive")
	}
	a, closeA, err := vision.OpenEvidenceAnonymiser(*models)
	if err != nil {
		return err
	}
	defer closeA()
	src, err := camera.OpenFile(*clip)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	fr := camera.NewFrame()
	defer fr.Close()
	n := 0
	for next := time.Duration(0); ctx.Err() == nil; next = fr.Pos + *every {
		if err := src.ReadAfter(fr, next); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		jpg, err := a.JPEG(fr.Mat, nil)
		if err != nil {
			return err
		}
		name := filepath.Join(*out, fmt.Sprintf("evidence-%06d.jpg", fr.Pos.Milliseconds()))
		if err := os.WriteFile(name, jpg, 0o644); err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(stdout, "evidence: %d anonymised images in %s\n", n, *out)
	return nil
}

// modelsIfAny opens the default models directory for a scene whose detector needs a model;
// nil otherwise, or when it cannot (pipeline.New then says what is missing).
func modelsIfAny(sc *scene.Scene) *vision.Models {
	if sc.Detector.Kind != "dnn" {
		return nil
	}
	m, _ := vision.OpenModels(vision.ModelsDir())
	return m
}
