package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// runScene is 'crosswatch-edge scene draw': the scene over a frame of the clip, to PNG.
func runScene(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "draw" {
		return errors.New("usage: crosswatch-edge scene draw --scene S --clip C --out F.png [--at 2s]")
	}
	fs := newFlags("scene draw")
	scenePath := fs.String("scene", "", "scene file (required)")
	clip := fs.String("clip", "", "video file (required)")
	out := fs.String("out", "", "PNG to write (required)")
	at := fs.Duration("at", 0, "stream time of the frame to draw on")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *scenePath == "" || *clip == "" || *out == "" {
		return errors.New("--scene, --clip and --out are required")
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return fmt.Errorf("--out %s: must end in .png", *out)
	}
	sc, err := scene.Load(*scenePath)
	if err != nil {
		return err
	}
	src, err := camera.OpenFile(*clip)
	if err != nil {
		return err
	}
	defer src.Close()
	fr := camera.NewFrame()
	defer fr.Close()
	if err := src.ReadAfter(fr, *at); err != nil {
		return fmt.Errorf("clip %s: no frame at %v: %w", *clip, *at, err)
	}
	vision.DrawScene(&fr.Mat, sc)
	if !gocv.IMWrite(*out, fr.Mat) {
		return fmt.Errorf("--out %s: cannot write the PNG", *out)
	}
	fmt.Fprintf(stdout, "scene %s drawn over the frame at %v of %s: %s\n", *scenePath, fr.Pos.Truncate(time.Millisecond), *clip, *out)
	return nil
}
