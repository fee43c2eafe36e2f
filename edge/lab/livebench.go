package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
)

// LiveResult is one run of 'bench --streams N': N cameras in real time on this box.
type LiveResult struct {
	Streams     int     `json:"streams"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	SourceFPS   float64 `json:"source_fps"`
	DurationS   float64 `json:"duration_s"`
	AnalysisFPS float64 `json:"analysis_fps"` // the cap per stream
	Nets        int     `json:"nets"`         // DNN networks the streams share (0: one each)
	// Per stream: frames handed to the analysis per second, and how far the stream position fell
	// behind the wall clock at the end and at worst. A stream keeps up when its lag stays small.
	MinAnalysedFPS float64 `json:"min_analysed_fps"`
	MaxLagS        float64 `json:"max_lag_s"`
	EndLagS        float64 `json:"end_lag_s"`
	Sustained      bool    `json:"sustained"` // every stream ≥ 10 analysed fps with an end lag under 1 s
	// CPU seconds the process used per second of video it got through, summed over the
	// streams: the cores one stream needs. On a box shared with other work, where the lag says
	// little, the streams this box could carry are its cores divided by this.
	CPUPerStreamS float64 `json:"cpu_per_stream_s"`
}

// paced plays a clip as a live camera would: frame i is not available before its stream time,
// and at the end the clip starts over. It records how far behind the wall clock the reader is.
type paced struct {
	ctx      context.Context // ends the wait for a frame's time
	path     string
	f        *camera.File
	start    time.Time
	offset   time.Duration // stream time of the loops before this one
	last     time.Duration
	handed   int
	maxLag   time.Duration
	lastLag  time.Duration
	deadline time.Time
}

func (p *paced) ReadAfter(fr *camera.Frame, notBefore time.Duration) error {
	if time.Now().After(p.deadline) {
		return io.EOF
	}
	for {
		err := p.f.ReadAfter(fr, notBefore-p.offset)
		if errors.Is(err, io.EOF) {
			p.f.Close()
			if p.f, err = camera.OpenFile(p.path); err != nil {
				return err
			}
			p.offset = p.last + 40*time.Millisecond
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	fr.Pos += p.offset
	p.last = fr.Pos
	due := p.start.Add(fr.Pos)
	wait(p.ctx, time.Until(due))
	p.lastLag = time.Since(due)
	p.maxLag = max(p.maxLag, p.lastLag)
	p.handed++
	return nil
}

// runLiveBench runs n pipelines on the clip in real time for d and reports whether they keep up.
//
// decodeOnly reads each stream at the same pace and the same analysis rate with nothing after
// the decoder (no pipeline, no outbox): the floor that OpenCV and FFmpeg set, for the memory
// comparison in docs/BENCHMARKS.md.
func runLiveBench(ctx context.Context, clip string, sc *scene.Scene, models *vision.Models, nets, n int, d time.Duration, decodeOnly bool) (LiveResult, error) {
	if sc.Detector.AnalysisFPS == 0 || sc.Detector.AnalysisFPS > 10 {
		sc.Detector.AnalysisFPS = 10 // the target: at least 10 analysed frames per second per stream
	}
	dir, err := os.MkdirTemp("", "crosswatch-livebench")
	if err != nil {
		return LiveResult{}, err
	}
	defer os.RemoveAll(dir)
	var pool *vision.DNNPool // nil: each stream loads its own network
	if models != nil && nets > 0 {
		pool = vision.NewDNNPool(models, nets)
		defer pool.Close()
	}
	res := LiveResult{Nets: nets, Streams: n, DurationS: d.Seconds(), AnalysisFPS: sc.Detector.AnalysisFPS, MinAnalysedFPS: 1e9}
	start := time.Now().Add(time.Second) // every camera starts at once
	// A stream that fails stops the others; each goroutine is waited for before the pool they
	// share is closed.
	g, gctx := errgroup.WithContext(ctx)
	runs := make([]func() error, n)
	srcs := make([]*paced, n)
	for i := range n {
		if srcs[i], runs[i], err = openLiveStream(gctx, clip, dir, i, sc, models, pool, start, d, decodeOnly); err != nil {
			for _, s := range srcs[:i] {
				s.f.Close()
			}
			return LiveResult{}, err
		}
		res.Width, res.Height, res.SourceFPS = srcs[i].f.Width, srcs[i].f.Height, srcs[i].f.FPS
	}
	cpu0 := cpuTime()
	for i := range n {
		g.Go(func() error {
			defer srcs[i].f.Close()
			wait(gctx, time.Until(start))
			return runs[i]()
		})
	}
	err = g.Wait()
	var streamed time.Duration // video the streams got through, summed
	for _, src := range srcs {
		res.MinAnalysedFPS = min(res.MinAnalysedFPS, float64(src.handed)/d.Seconds())
		res.MaxLagS = max(res.MaxLagS, src.maxLag.Seconds())
		res.EndLagS = max(res.EndLagS, src.lastLag.Seconds())
		streamed += src.last
	}
	if streamed > 0 {
		res.CPUPerStreamS = (cpuTime() - cpu0).Seconds() / streamed.Seconds()
	}
	res.Sustained = res.MinAnalysedFPS >= 10*0.95 && res.EndLagS < 1
	return res, err
}

// openLiveStream opens stream i, paced from start for d, and returns it with the run that reads
// it: the full pipeline into its own outbox, or the decoder alone. The run closes what it used
// but not the source's file.
func openLiveStream(ctx context.Context, clip, dir string, i int, sc *scene.Scene, models *vision.Models, pool *vision.DNNPool, start time.Time, d time.Duration, decodeOnly bool) (*paced, func() error, error) {
	f, err := camera.OpenFile(clip)
	if err != nil {
		return nil, nil, err
	}
	src := &paced{ctx: ctx, path: clip, f: f, start: start, deadline: start.Add(d)}
	if decodeOnly {
		return src, func() error { return decodeAll(ctx, src, sc.Detector.AnalysisFPS) }, nil
	}
	run, err := pipelineRun(ctx, filepath.Join(dir, fmt.Sprintf("outbox-%d.db", i)), fmt.Sprintf("live-%d", i), sc, models, pool, src, start)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return src, run, nil
}

func printLive(stdout io.Writer, r LiveResult, asJSON bool) {
	if asJSON {
		json.NewEncoder(stdout).Encode(r)
		return
	}
	fmt.Fprintf(stdout, "%d streams of %dx%d at %.0f fps for %.0f s: min %.1f analysed fps per stream, lag max %.2f s, at end %.2f s; sustained: %v\n",
		r.Streams, r.Width, r.Height, r.SourceFPS, r.DurationS, r.MinAnalysedFPS, r.MaxLagS, r.EndLagS, r.Sustained)
}

// pipelineRun builds one camera's outbox and pipeline and returns the run that uses and then
// closes them.
func pipelineRun(ctx context.Context, obPath, device string, sc *scene.Scene, models *vision.Models, pool *vision.DNNPool, src *paced, start time.Time) (func() error, error) {
	ob, err := outbox.Open(obPath, outbox.Options{ReserveBytes: -1})
	if err != nil {
		return nil, err
	}
	p, err := analysis.New(analysis.Config{Device: device, Scene: sc, Width: src.f.Width, Height: src.f.Height, Start: start, CountPeriod: time.Minute, Models: models, Detectors: pool},
		src, ob, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		ob.Close()
		return nil, err
	}
	return func() error {
		defer ob.Close()
		defer p.Close()
		_, err := p.Run(ctx, nil)
		return err
	}, nil
}

// decodeAll reads src to its end at fps frames per second of stream time, as the pipeline's
// decoder does, into one frame.
func decodeAll(ctx context.Context, src *paced, fps float64) error {
	fr := camera.NewFrame()
	defer fr.Close()
	period := time.Duration(float64(time.Second) / fps)
	var next time.Duration
	for ctx.Err() == nil {
		if err := src.ReadAfter(fr, next); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		next = fr.Pos + period
	}
	return nil
}
