package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/rules"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// runScene is 'crosswatch-edge scene draw': the scene over a frame of the clip, to PNG.
func runScene(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "draw" {
		return errors.New("usage: crosswatch-edge scene draw --scene S --clip C --out F.png [--at 2s] [--tracks] [--write-reference [--view-reference F]]")
	}
	fs := newFlags("scene draw")
	scenePath := fs.String("scene", "", "scene file (required)")
	clip := fs.String("clip", "", "video file (required)")
	out := fs.String("out", "", "PNG to write (required)")
	at := fs.Duration("at", 0, "stream time of the frame to draw on")
	withTracks := fs.Bool("tracks", false, "also run the scene's detector and tracker from the clip's start to --at and draw the road users tracked there, each with a dot where the rules judge its front")
	writeRef := fs.Bool("write-reference", false, "also write the scene's view reference from the 2 s of video from --at: the view the camera must show for its events to count (docs/SCENES.md)")
	refPath := fs.String("view-reference", "", "where --write-reference writes (default: <scene>.view.pgm beside the scene)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *scenePath == "" || *clip == "" || *out == "" {
		return errors.New("--scene, --clip and --out are required")
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return fmt.Errorf("--out %s: must end in .png", *out)
	}
	sc, err := scenefile.Load(*scenePath)
	if err != nil {
		return err
	}
	var tracks []edge.Track
	var tw, th int
	if *withTracks {
		if tracks, tw, th, err = tracksAt(ctx, sc, *clip, *at); err != nil {
			return err
		}
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
	vision.DrawTracks(&fr.Mat, tracks, tw, th, func(b edge.Box) [][2]float32 { return frontPoints(sc, b, tw, th) })
	if !gocv.IMWrite(*out, fr.Mat) {
		return fmt.Errorf("--out %s: cannot write the PNG", *out)
	}
	fmt.Fprintf(stdout, "scene %s drawn over the frame at %v of %s: %s\n", *scenePath, fr.Pos.Truncate(time.Millisecond), *clip, *out)
	if !*writeRef {
		return nil
	}
	return writeReference(stdout, sc, *scenePath, *clip, *refPath, *at)
}

// frontPoints are where the rules judge the front of a road user's box b, in a w×h frame: one
// per approach and count line.
func frontPoints(sc *scene.Scene, b edge.Box, w, h int) [][2]float32 {
	var out [][2]float32
	for _, a := range sc.Approaches {
		x, y := rules.FrontPoint(a, b, w, h)
		out = append(out, [2]float32{x, y})
	}
	for _, c := range sc.CountLines {
		x, y := rules.FrontPoint(c.Approach(), b, w, h)
		out = append(out, [2]float32{x, y})
	}
	return out
}

// writeReference is --write-reference: the scene's view reference learned from the clip at at,
// written to path (default: beside the scene).
func writeReference(stdout io.Writer, sc *scene.Scene, scenePath, clip, path string, at time.Duration) error {
	if path == "" {
		path = scene.ReferencePath(scenePath)
	}
	ref, from, to, err := learnReference(sc, clip, at)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, ref.EncodePGM(), 0o644); err != nil {
		return fmt.Errorf("--view-reference: %w", err)
	}
	fmt.Fprintf(stdout, "view reference of %s written from %v–%v of %s: %s\n", scenePath, from.Truncate(time.Millisecond), to.Truncate(time.Millisecond), clip, path)
	return nil
}

// referenceSpan is how much video a written view reference averages: passing road users blur
// away, the view stays.
const referenceSpan = 2 * time.Second

// learnReference averages the edge pictures of the clip's frames from at for referenceSpan
// (15 a second, at the scene's analysed size) into a view reference.
func learnReference(sc *scene.Scene, clip string, at time.Duration) (*vision.Reference, time.Duration, time.Duration, error) {
	src, err := camera.OpenFile(clip)
	if err != nil {
		return nil, 0, 0, err
	}
	defer src.Close()
	w, h := vision.ProcessSize(src.Width, src.Height, sc.Detector.ProcessWidth)
	prep := vision.NewPrep(w, h)
	edges := vision.NewViewEdges(w, h)
	defer edges.Close()
	l := vision.NewReferenceLearner(edges.Size())
	fr := camera.NewFrame()
	defer fr.Close()
	small := gocv.NewMat()
	defer small.Close()
	from, last := time.Duration(-1), time.Duration(0)
	for next := at; ; next = fr.Pos + time.Second/15 {
		err := src.ReadAfter(fr, next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, 0, err
		}
		if from < 0 {
			from = fr.Pos
		}
		if fr.Pos-from > referenceSpan {
			break
		}
		prep.Into(fr.Mat, &small)
		l.Add(edges.Of(small))
		last = fr.Pos
	}
	if l.N() == 0 {
		return nil, 0, 0, fmt.Errorf("clip %s: no frame at or after %v to write a view reference from", clip, at)
	}
	return l.Reference(), from, last, nil
}

// untilSource is a clip that ends after stream time end.
type untilSource struct {
	*camera.File
	end time.Duration
}

func (u untilSource) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	if err := u.File.ReadAfter(fr, notBefore); err != nil {
		return err
	}
	if fr.Pos > u.end {
		return io.EOF
	}
	return nil
}

// tracksAt runs the scene's pipeline over the clip up to stream time at and returns the
// tracks of the last frame it analysed, in pixels of a w×h analysed frame.
func tracksAt(ctx context.Context, sc *scene.Scene, clip string, at time.Duration) (tracks []edge.Track, w, h int, err error) {
	src, err := camera.OpenFile(clip)
	if err != nil {
		return nil, 0, 0, err
	}
	defer src.Close()
	var mem memOutbox
	p, err := analysis.New(analysis.Config{Device: "draw", Scene: sc, Width: src.Width, Height: src.Height, Start: time.Unix(0, 0).UTC(),
		CountPeriod: time.Minute, Models: modelsIfAny(sc)}, untilSource{src, at}, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, 0, 0, err
	}
	defer p.Close()
	if _, err := p.Run(ctx, nil); err != nil {
		return nil, 0, 0, err
	}
	tracks, w, h = p.Tracks()
	return tracks, w, h, nil
}
