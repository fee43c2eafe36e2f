package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/crosswatch/crosswatch/edge/synth"
)

func runSynth(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("synth")
	seed := fs.Uint64("seed", 1, "seed; the same seed renders the same clip")
	out := fs.String("out", "", "output directory (required)")
	dur := fs.Duration("duration", time.Minute, "clip length")
	fps := fs.Int("fps", 15, "frames per second")
	size := fs.String("size", "640x480", "frame size of the clip, WxH")
	codec := fs.String("codec", "mjpg", "mjpg (clip.avi) or h264 (clip.mp4)")
	kind := fs.String("kind", synth.Intersection, "intersection (red light, crossings, jaywalking) or platform (edge dwell, track)")
	variant := fs.String("variant", synth.Day, "day, night (dusk: low contrast, more noise) or occlusion (a tree canopy or a pillar)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	cfg := synth.DefaultConfig(*seed)
	cfg.Duration, cfg.FPS, cfg.Codec, cfg.Kind, cfg.Variant = *dur, *fps, *codec, *kind, *variant
	if _, err := fmt.Sscanf(*size, "%dx%d", &cfg.Width, &cfg.Height); err != nil {
		return fmt.Errorf("--size %q: want WxH such as 1280x720", *size)
	}
	t, err := synth.Generate(cfg, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "synth: wrote %s, scene.yaml and truth.json in %s (%d violations, %.0f s at %d fps)\n",
		t.Clip, *out, len(t.Violations), t.DurationS, t.FPS)
	return nil
}
