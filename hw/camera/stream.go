package camera

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// IsLive reports whether source names a live source rather than a file: an RTSP or HTTP(S)
// stream, or a V4L2 device.
func IsLive(source string) bool {
	for _, p := range []string{"rtsp://", "rtsps://", "http://", "https://", "/dev/video"} {
		if strings.HasPrefix(source, p) {
			return true
		}
	}
	return false
}

// StreamOptions tune a live source.
type StreamOptions struct {
	// Reconnect backoff: exponential from MinBackoff to MaxBackoff, each wait jittered by up to
	// a half, so that many cameras behind one failed switch do not all retry at once.
	MinBackoff, MaxBackoff time.Duration
	// OnGap is told of each outage once the source is back: from the last frame before it to
	// the first frame after it (wall clock). It must not block.
	OnGap func(from, to time.Time)
	// OnDrop, if set, is told when the source drops, before reconnecting (then OnGap once it
	// is back). It must not block.
	OnDrop func(at time.Time)
	Log    *slog.Logger
	Now    func() time.Time
}

// Stream reads a live source (RTSP or HTTP through OpenCV's FFmpeg backend, or a V4L2 device)
// and reconnects when it drops. Frame times are wall-clock time since Open, strictly
// increasing: a live stream's own timestamps restart at every reconnect, and some cameras send
// none, so after a reconnect time continues from before the outage. Not safe for concurrent use.
type Stream struct {
	source        string
	opts          StreamOptions
	ctx           context.Context
	vc            *gocv.VideoCapture
	Width, Height int
	start         time.Time
	last          time.Time // wall time of the last frame read
	seq           int
	clock         clock // stream time strictly increases, across reconnects too
	Reconnects    int
	vcDropped     bool // the capture dropped and connect has not succeeded since
}

// OpenStream connects to source, retrying with backoff until ctx ends. The size of the first
// frame's stream is the size every later frame must have.
func OpenStream(ctx context.Context, source string, opts StreamOptions) (*Stream, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{source: source, opts: opts, ctx: ctx}
	if err := s.connect(); err != nil {
		return nil, err
	}
	s.Width, s.Height = int(s.vc.Get(gocv.VideoCaptureFrameWidth)), int(s.vc.Get(gocv.VideoCaptureFrameHeight))
	if s.Width <= 0 || s.Height <= 0 {
		s.vc.Close()
		return nil, fmt.Errorf("source %s: no video with a frame size", source)
	}
	s.start = opts.Now()
	s.last = s.start
	s.clock = newClock(s.vc.Get(gocv.VideoCaptureFPS))
	return s, nil
}

// connect opens the capture, retrying with jittered exponential backoff until ctx ends.
func (s *Stream) connect() error {
	wait := s.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		api := gocv.VideoCaptureFFmpeg
		if strings.HasPrefix(s.source, "/dev/video") {
			api = gocv.VideoCaptureV4L2
		}
		vc, err := gocv.OpenVideoCaptureWithAPI(s.source, api)
		if err == nil && vc.IsOpened() {
			s.vc = vc
			// A recovery is logged at the level of the warnings it ends, so a log kept at
			// warn shows the source back as well as gone.
			lvl := slog.LevelInfo
			if attempt > 1 || s.vcDropped {
				lvl = slog.LevelWarn
			}
			s.vcDropped = false
			s.opts.Log.Log(s.ctx, lvl, "video source connected", "source", s.source, "attempt", attempt)
			return nil
		}
		if vc != nil {
			vc.Close()
		}
		s.opts.Log.Warn("video source unreachable; retrying", "source", s.source, "attempt", attempt, "in", wait)
		t := time.NewTimer(wait/2 + time.Duration(rand.Int64N(int64(wait))))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return fmt.Errorf("source %s: %w", s.source, s.ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, s.opts.MaxBackoff)
	}
}

// Read decodes the next frame into fr. When the source drops, it reconnects (with backoff)
// and reports the outage through OnGap; it returns io.EOF only when ctx ends.
func (s *Stream) Read(fr *Frame) error { return s.ReadAfter(fr, 0) }

// ReadAfter reads frames until one arrives at or after notBefore (wall time since Open); the
// ones before it are grabbed, not converted.
func (s *Stream) ReadAfter(fr *Frame, notBefore time.Duration) error {
	for {
		if s.ctx.Err() != nil {
			return io.EOF
		}
		early := s.opts.Now().Sub(s.start) < notBefore
		s.seq++
		if early && s.seq%64 != 0 {
			s.vc.Grab(1) // a dropped source shows at the next Read
			continue
		}
		// Read, now and then also while skipping, so that a dead source is noticed.
		if !s.vc.Read(&fr.Mat) || fr.Mat.Empty() {
			s.seq--
			if err := s.reconnect(); err != nil {
				return err
			}
			continue
		}
		if fr.Mat.Cols() != s.Width || fr.Mat.Rows() != s.Height {
			return fmt.Errorf("source %s: frame is %dx%d, stream was %dx%d: %w", s.source, fr.Mat.Cols(), fr.Mat.Rows(), s.Width, s.Height, ErrFrameSize)
		}
		s.last = s.opts.Now()
		if s.last.Sub(s.start) < notBefore {
			continue // read to check the source; still before the frame wanted
		}
		// Wall time since Open goes on across an outage; the clock keeps it increasing even
		// when the wall clock stands still or is stepped back.
		fr.Pos, _ = s.clock.frame(s.last.Sub(s.start))
		fr.Seq = s.seq
		return nil
	}
}

// reconnect replaces a dropped capture and reports the gap once frames flow again.
func (s *Stream) reconnect() error {
	from := s.last
	if s.opts.OnDrop != nil {
		s.opts.OnDrop(s.opts.Now())
	}
	s.vc.Close()
	s.vcDropped = true
	s.opts.Log.Warn("video source dropped; reconnecting", "source", s.source)
	if err := s.connect(); err != nil {
		return io.EOF // ctx ended while retrying
	}
	s.Reconnects++
	if s.opts.OnGap != nil {
		s.opts.OnGap(from, s.opts.Now())
	}
	return nil
}

// Close releases the capture.
func (s *Stream) Close() error { return s.vc.Close() }
