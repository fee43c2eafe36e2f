package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/internal/camtest"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// testClip writes a small Motion-JPEG clip of moving squares.
func testClip(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.avi")
	vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 320, 240, true)
	if err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC3)
	defer m.Close()
	for i := 0; i < 45; i++ {
		m.SetTo(gocv.NewScalar(float64(i*5%255), 80, 120, 0))
		vw.Write(m)
	}
	vw.Close()
	return path
}

// A network camera that drops is reconnected with backoff, frames flow again, and the outage
// is reported once.
func TestStreamReconnects(t *testing.T) {
	testenv.Tool(t, "ffmpeg", "ffmpeg") // serves the test stream
	clip := testClip(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	kill := camtest.Serve(t, clip, port)
	var gaps []time.Duration
	var drops []time.Time // told as the drop happens, before the reconnect
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := OpenStream(ctx, fmt.Sprintf("http://127.0.0.1:%d", port), StreamOptions{MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second,
		OnGap:  func(from, to time.Time) { mu.Lock(); gaps = append(gaps, to.Sub(from)); mu.Unlock() },
		OnDrop: func(at time.Time) { mu.Lock(); drops = append(drops, at); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Width != 320 || s.Height != 240 {
		t.Fatalf("size %dx%d", s.Width, s.Height)
	}
	fr := NewFrame()
	defer fr.Close()
	for i := 0; i < 10; i++ {
		if err := s.Read(fr); err != nil {
			t.Fatal(err)
		}
	}
	kill() // the camera goes away …
	go func() {
		time.Sleep(1500 * time.Millisecond)
		camtest.Serve(t, clip, port) // … and comes back
	}()
	before := fr.Pos
	// Frames already buffered come first; read until the drop is noticed and 10 frames after.
	for after, prev := 0, fr.Pos; after < 10; prev = fr.Pos {
		if err := s.Read(fr); err != nil {
			t.Fatal(err)
		}
		if fr.Pos <= prev {
			t.Fatalf("stream time went from %v to %v (reconnects %d): it must only increase", prev, fr.Pos, s.Reconnects)
		}
		if s.Reconnects > 0 {
			after++
		}
		if ctx.Err() != nil {
			t.Fatal("no reconnect within a minute")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if s.Reconnects != 1 || len(gaps) != 1 || gaps[0] < time.Second || len(drops) != 1 {
		t.Fatalf("reconnects %d, gaps %v, drops %v", s.Reconnects, gaps, drops)
	}
	if fr.Pos-before < time.Second {
		t.Fatalf("stream time did not move across the outage: %v → %v", before, fr.Pos)
	}
}

// A source that never answers is retried until the context ends, then reported: no abort.
func TestStreamUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := OpenStream(ctx, "http://127.0.0.1:9/none", StreamOptions{MinBackoff: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// A V4L2 device that is not there (unplugged, or the wrong number) goes through OpenCV's V4L2
// backend, is retried like any live source until the context ends, and is reported, without an
// abort. (No test here reads a real V4L2 device: the machines that run them have none.)
func TestV4L2DeviceMissing(t *testing.T) {
	dev := "/dev/video97"
	if _, err := os.Stat(dev); err == nil {
		t.Skipf("%s exists here", dev)
	}
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	_, err := OpenStream(ctx, dev, StreamOptions{MinBackoff: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), dev) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(logs.String(), "video source unreachable; retrying") || !strings.Contains(logs.String(), dev) {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// Every real clip's stream time strictly increases to its last frame, also where the container
// reports position 0 on the last frames (CATALOG.md, "Added 2026-12-01"), and the last frame's
// time is about where the file ends, not past it: no frame was timed far ahead of the video.
func TestFileTimeMonotonicRealClips(t *testing.T) {
	for _, clip := range camtest.Clips(t, "../../../shared/videos") {
		t.Run(filepath.Base(clip), func(t *testing.T) {
			camtest.Clip(t, clip)
			f, err := OpenFile(clip)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dur := probeDuration(t, clip)
			fr := NewFrame()
			defer fr.Close()
			var prev time.Duration = -1
			n := 0
			for ; ; n++ {
				err := f.Read(fr)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if fr.Pos <= prev {
					t.Fatalf("frame %d at %v, not after the frame before (%v)", fr.Seq, fr.Pos, prev)
				}
				prev = fr.Pos
			}
			if n < 10 {
				t.Fatalf("only %d frames read", n)
			}
			if dur > 0 && (prev > dur+100*time.Millisecond || prev < dur-time.Second) {
				t.Fatalf("last frame (%d) at %v; the file lasts %v", n, prev, dur)
			}
		})
	}
}

// probeDuration is the clip's duration by ffprobe (0: no ffprobe).
func probeDuration(t *testing.T, clip string) time.Duration {
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", clip).Output()
	if err != nil {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(out)) + "s")
	if err != nil {
		return 0
	}
	return d
}
