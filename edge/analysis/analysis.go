// Package analysis wires one camera: the detector its scene asks for, the vision.Analyser
// that owns the camera's frames, and the pipeline over the analyser's observations. The
// daemon and the lab tools build their cameras here, so that the choice of detector is made
// in one place, outside both the analyser and the pipeline.
package analysis

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/signal"
)

// Config describes one camera's analysis (vision.Analyser) and logic (pipeline).
type Config struct {
	Device      string
	Scene       *scene.Scene
	Width       int       // source frame size
	Height      int       //
	Start       time.Time // wall-clock time of stream position 0
	CountPeriod time.Duration
	// Evidence, if set, makes each event's anonymised evidence image. Owned by the caller.
	Evidence *vision.Anonymiser
	// Models is the installed models directory, for a scene whose detector is "dnn".
	Models *vision.Models
	// Detectors, if set, lends the DNN networks (one pool for a box's cameras, owned by the
	// caller) instead of Models loading one for this camera alone.
	Detectors *vision.DNNPool
	Feed      *signal.Feed // the signal controller's phases; may be nil
	Reference []byte       // the scene's view reference (vision.AnalyserConfig.Reference)
	Live      bool         // a live camera (vision.AnalyserConfig.Live)
	Meter     *edge.Meter
	// Stills and OnStill: reference stills on request (pipeline.Config.Stills), made by the
	// analyser's anonymiser (none without Evidence: a raw frame never leaves the box).
	Stills  *edge.StillRequest
	OnStill func(jpeg []byte, at time.Time, reason string)
	// OnSignals is told when a signal's live state changes (pipeline.Config.OnSignals).
	OnSignals func()
}

// The analyser is what the pipeline consumes: its observations and its evidence stills.
var (
	_ pipeline.Observations = (*vision.Analyser)(nil)
	_ pipeline.Evidence     = (*vision.Analyser)(nil)
	_ pipeline.Still        = (*vision.Analyser)(nil)
)

// Camera is a camera's pipeline over its analyser. Close releases the analyser.
type Camera struct {
	*pipeline.Pipeline
	analyser *vision.Analyser
}

// Close stops the decoder and releases every Mat.
func (c *Camera) Close() { c.analyser.Close() }

// New builds one camera: the detector its scene asks for, the analyser over src with
// it, and the pipeline over the analyser's observations, writing to ob. It fails when the
// scene's detector model cannot be loaded or the view reference is bad.
func New(cfg Config, src vision.Source, ob pipeline.Outbox, notify func(), log *slog.Logger) (*Camera, error) {
	w, h := vision.ProcessSize(cfg.Width, cfg.Height, cfg.Scene.Detector.ProcessWidth)
	det, err := Detector(cfg.Scene, w, h, cfg.Models, cfg.Detectors)
	if err != nil {
		return nil, err
	}
	a, err := vision.NewAnalyser(vision.AnalyserConfig{Scene: cfg.Scene, Width: cfg.Width, Height: cfg.Height, Start: cfg.Start,
		Detector: det, Evidence: cfg.Evidence, Reference: cfg.Reference, Live: cfg.Live, Meter: cfg.Meter}, src, log)
	if err != nil {
		return nil, err
	}
	pc := pipeline.Config{Device: cfg.Device, Scene: cfg.Scene, Start: cfg.Start, CountPeriod: cfg.CountPeriod, Feed: cfg.Feed, Meter: cfg.Meter}
	pc.Width, pc.Height = a.Size()
	pc.Stills, pc.OnStill, pc.OnSignals = cfg.Stills, cfg.OnStill, cfg.OnSignals
	if cfg.Evidence != nil {
		pc.Evidence, pc.Still = a, a
	}
	return &Camera{Pipeline: pipeline.New(pc, a, ob, notify, log), analyser: a}, nil
}

// Detector returns the detector the scene asks for, for frames of w × h: the DNN (a
// network of pool's, else one loaded from models) or the classical one.
func Detector(s *scene.Scene, w, h int, models *vision.Models, pool *vision.DNNPool) (vision.Detector, error) {
	if s.Detector.Kind != "dnn" {
		return vision.NewClassical(w, h, s.Detector, s.Masks, vision.SignalRects(s, w, h)), nil
	}
	minScore := s.Detector.MinScore
	if minScore == 0 {
		minScore = 0.3
	}
	switch {
	case pool != nil:
		d, err := pool.Detector(s.Detector.Model, minScore)
		if err != nil {
			return nil, fmt.Errorf("detector.model: %w", err)
		}
		return vision.NewMaskedDNN(d, s.Masks, w, h), nil
	case models != nil:
		d, err := vision.NewDNN(models, s.Detector.Model, minScore)
		if err != nil {
			return nil, fmt.Errorf("detector.model: %w", err)
		}
		return vision.NewMaskedDNN(d, s.Masks, w, h), nil
	default:
		return nil, fmt.Errorf("detector.kind dnn: no models directory (run 'make models')")
	}
}
