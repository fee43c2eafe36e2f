package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// BenchResult is what 'crosswatch-edge bench --json' prints.
type BenchResult struct {
	Clip        string  `json:"clip"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	Frames      int     `json:"frames"`
	DecodeFPS   float64 `json:"decode_fps"`   // the same capture with no analysis
	PipelineFPS float64 `json:"pipeline_fps"` // the full edge path into the outbox
	Ratio       float64 `json:"ratio"`        // pipeline_fps / decode_fps
	// The same two passes in CPU seconds of the whole process (user + system, every thread),
	// and their ratio (decode CPU / pipeline CPU): what the ratio would be on a box whose two
	// stages had the cores to themselves. Unlike the wall-clock ratio it holds on a busy box,
	// where other processes take the cores (docs/BENCHMARKS.md).
	DecodeCPUS   float64 `json:"decode_cpu_s"`
	PipelineCPUS float64 `json:"pipeline_cpu_s"`
	CPURatio     float64 `json:"cpu_ratio"`
	AnalysisFPS  float64 `json:"analysis_fps"` // the scene's cap on analysed frames per stream second
	Analysed     int     `json:"analysed"`     // frames that passed the motion gate
	Events       int     `json:"events"`
	// Frame that completes a violation → outbox commit (durable), over the events found.
	EventLatencyP50MS float64 `json:"event_latency_p50_ms,omitempty"`
	EventLatencyP99MS float64 `json:"event_latency_p99_ms,omitempty"`
}

// percentile returns the p-th percentile (0..100) of ds in milliseconds; ds is sorted in place.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return float64(ds[max(i, 0)]) / float64(time.Millisecond)
}

// benchFlags are the flags of `crosswatch-edge bench`.
type benchFlags struct {
	clip, scene, models   string
	frames, streams, nets int
	stride                int
	analysisFPS           float64
	asJSON, decodeOnly    bool
	duration              time.Duration
}

func parseBench(args []string) (*benchFlags, error) {
	var f benchFlags
	fs := newFlags("bench")
	fs.StringVar(&f.clip, "clip", "", "video file (required)")
	fs.StringVar(&f.scene, "scene", "", "scene file (default: a scene with no zones, which still runs detection and tracking)")
	fs.IntVar(&f.frames, "frames", 0, "frames to measure (0: the whole clip)")
	fs.Float64Var(&f.analysisFPS, "analysis-fps", -1, "override the scene's detector.analysis_fps (0: every frame)")
	fs.IntVar(&f.stride, "stride", 0, "override the scene's detector.stride: the detector on one analysed frame in this many (0: the scene's)")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.IntVar(&f.streams, "streams", 0, "instead: run this many cameras at once, each playing the clip in real time, and report whether they keep up")
	fs.DurationVar(&f.duration, "duration", time.Minute, "with --streams: how long")
	fs.BoolVar(&f.decodeOnly, "decode-only", false, "with --streams: only decode, at the same pace (the memory floor of OpenCV and FFmpeg)")
	fs.StringVar(&f.models, "models", vision.ModelsDir(), "installed models directory (make models), for a scene whose detector is dnn")
	fs.IntVar(&f.nets, "nets", runtime.NumCPU(), "with --streams and a DNN scene: networks the streams share (default: one per core, as many passes as can run at once; 0: one per stream)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.clip == "" {
		return nil, errors.New("--clip is required")
	}
	return &f, nil
}

// benchScene is --scene, or a scene with no zones on the classical detector; with its models.
func benchScene(f *benchFlags) (*scene.Scene, *vision.Models, error) {
	sc := &scene.Scene{}
	if f.scene != "" {
		var err error
		if sc, err = scenefile.Load(f.scene); err != nil {
			return nil, nil, err
		}
	} else {
		d := scene.Defaults()
		d.Version, d.Camera = 1, "bench"
		d.Detector = scene.Classical() // no scene: the figures in docs/BENCHMARKS.md without --scene are the classical path's
		sc = &d
	}
	if f.analysisFPS >= 0 {
		sc.Detector.AnalysisFPS = f.analysisFPS
	}
	if f.stride != 0 {
		if f.stride < 1 || f.stride > 4 {
			return nil, nil, fmt.Errorf("--stride: must be within 1..4, got %d", f.stride)
		}
		sc.Detector.Stride = f.stride
	}
	if sc.Detector.Kind != "dnn" || f.decodeOnly {
		return sc, nil, nil
	}
	models, err := vision.OpenModels(f.models)
	if err != nil {
		return nil, nil, fmt.Errorf("--models: detector.kind dnn needs the models (make models): %w", err)
	}
	return sc, models, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseBench(args)
	if err != nil {
		return err
	}
	sc, models, err := benchScene(f)
	if err != nil {
		return err
	}
	if f.streams > 0 {
		r, err := runLiveBench(ctx, f.clip, sc, models, f.nets, f.streams, f.duration, f.decodeOnly)
		if err != nil {
			return err
		}
		printLive(stdout, r, f.asJSON)
		return nil
	}
	r, err := decodePass(ctx, f.clip, f.frames)
	if err != nil {
		return err
	}
	if err := pipelinePass(ctx, f.clip, f.frames, sc, models, &r); err != nil {
		return err
	}
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "%s %dx%d, %d frames: decode %.1f fps, pipeline %.1f fps, ratio %.2f, CPU ratio %.2f (analysis cap %g fps, %d analysed, %d events; frame→outbox p50 %.1f ms p99 %.1f ms)\n",
		r.Clip, r.Width, r.Height, r.Frames, r.DecodeFPS, r.PipelineFPS, r.Ratio, r.CPURatio, r.AnalysisFPS, r.Analysed, r.Events, r.EventLatencyP50MS, r.EventLatencyP99MS)
	return nil
}

// decodePass decodes up to frames frames of the clip (0: all) with nothing after the decoder:
// the physical limit of this box for this clip.
func decodePass(ctx context.Context, clip string, frames int) (BenchResult, error) {
	src, err := camera.OpenFile(clip)
	if err != nil {
		return BenchResult{}, err
	}
	defer src.Close()
	fr := camera.NewFrame()
	defer fr.Close()
	began, cpu0 := time.Now(), cpuTime()
	n := 0
	for (frames == 0 || n < frames) && ctx.Err() == nil {
		if err := src.Read(fr); err != nil {
			break
		}
		n++
	}
	decode, decodeCPU := time.Since(began), cpuTime()-cpu0
	if n == 0 {
		return BenchResult{}, fmt.Errorf("clip %s: no frames decoded", clip)
	}
	return BenchResult{Clip: filepath.Base(clip), Width: src.Width, Height: src.Height, Frames: n,
		DecodeFPS: float64(n) / decode.Seconds(), DecodeCPUS: decodeCPU.Seconds()}, nil
}

// pipelinePass runs the full path over the same frames, into a real outbox (no network: the
// sender is not on the frame path), and completes r.
func pipelinePass(ctx context.Context, clip string, frames int, sc *scene.Scene, models *vision.Models, r *BenchResult) error {
	dir, err := os.MkdirTemp("", "crosswatch-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{ReserveBytes: -1})
	if err != nil {
		return err
	}
	defer ob.Close()
	src, err := camera.OpenFile(clip)
	if err != nil {
		return err
	}
	defer src.Close()
	var limited vision.Source = src
	if frames > 0 {
		limited = &frameLimit{src: src, left: frames}
	}
	p, err := analysis.New(analysis.Config{Device: "bench", Scene: sc, Width: r.Width, Height: r.Height, Start: time.Unix(0, 0), CountPeriod: time.Minute, Models: models},
		limited, ob, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer p.Close()
	cpu0 := cpuTime()
	st, err := p.Run(ctx, nil)
	if err != nil {
		return err
	}
	pipelineCPU := cpuTime() - cpu0
	r.PipelineFPS, r.Analysed, r.AnalysisFPS = float64(st.Frames)/st.Elapsed.Seconds(), st.Analysed, sc.Detector.AnalysisFPS
	for _, v := range st.Events {
		r.Events += v
	}
	r.Ratio = r.PipelineFPS / r.DecodeFPS
	// Per frame: the pipeline pass may stop before the clip's end (--frames counts both alike).
	r.PipelineCPUS = pipelineCPU.Seconds()
	if st.Frames > 0 && pipelineCPU > 0 {
		r.CPURatio = (r.DecodeCPUS / float64(r.Frames)) / (pipelineCPU.Seconds() / float64(st.Frames))
	}
	r.EventLatencyP50MS, r.EventLatencyP99MS = percentile(st.EventLatency, 50), percentile(st.EventLatency, 99)
	return nil
}

// cpuTime is the CPU time the process has used so far, every thread, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type frameLimit struct {
	src  vision.Source
	left int
}

func (f *frameLimit) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	if fr.Seq >= f.left {
		return io.EOF
	}
	return f.src.ReadAfter(fr, notBefore)
}
