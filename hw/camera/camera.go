// Package camera reads frames from video sources with OpenCV. Time comes from the stream
// (CAP_PROP_POS_MSEC), never from the frame index: real clips have variable or wrong frame rates.
package camera

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gocv.io/x/gocv"
)

// ErrFrameSize means the stream changed its frame size; scene coordinates no longer hold.
var ErrFrameSize = errors.New("camera: frame size changed mid-stream")

// Frame is one decoded frame. Its owner closes it once; Read reuses its Mat.
type Frame struct {
	Mat gocv.Mat
	Pos time.Duration // stream time since the start of the source
	Seq int           // frames read so far, from 1
}

// NewFrame returns an empty frame to read into.
func NewFrame() *Frame { return &Frame{Mat: gocv.NewMat()} }

// Close releases the frame's Mat.
func (f *Frame) Close() error { return f.Mat.Close() }

// File reads a video file as fast as it decodes.
type File struct {
	path          string
	vc            *gocv.VideoCapture
	Width, Height int
	FPS           float64 // as the container claims; may be wrong
	seq           int
	clock         clock
}

// OpenFile opens a video file, checking it before OpenCV sees it.
func OpenFile(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("clip %s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("clip %s: empty file", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	fh.Close()
	// FFmpeg only: other backends (GStreamer) log OpenCV exceptions on files they cannot parse.
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("clip %s: OpenCV cannot open it as a video", path)
	}
	f := &File{path: path, vc: vc, FPS: vc.Get(gocv.VideoCaptureFPS),
		Width: int(vc.Get(gocv.VideoCaptureFrameWidth)), Height: int(vc.Get(gocv.VideoCaptureFrameHeight))}
	if f.Width <= 0 || f.Height <= 0 {
		vc.Close()
		return nil, fmt.Errorf("clip %s: no video stream with a frame size", path)
	}
	if f.FPS <= 0 || f.FPS > 1000 {
		f.FPS = 25
	}
	f.clock = newClock(f.FPS)
	return f, nil
}

// Read decodes the next frame into fr. It returns io.EOF at the end of the stream.
func (f *File) Read(fr *Frame) error { return f.ReadAfter(fr, 0) }

// maxStuck is how many grabbed frames in a row may report no new timestamp before ReadAfter
// stops skipping and reads one: Grab says nothing at the end of a stream, so a timestamp that
// stops advancing may be the end (or a container without timestamps); the Read tells.
const maxStuck = 30

// ReadAfter decodes into fr the first frame at or after stream time notBefore (less half a
// frame). Frames before it are grabbed but not converted to BGR: the codec must still decode
// them, the colour conversion and copy are saved. fr.Seq counts every frame, grabbed or read.
// Stream time strictly increases to the last frame (see clock).
func (f *File) ReadAfter(fr *Frame, notBefore time.Duration) error {
	for {
		for stuck := 0; f.clock.next()+f.clock.period()/2 < notBefore && stuck <= maxStuck; {
			f.vc.Grab(1)
			if _, advanced := f.clock.frame(f.position()); advanced {
				stuck = 0
			} else {
				stuck++
			}
			f.seq++
		}
		if !f.vc.Read(&fr.Mat) || fr.Mat.Empty() {
			return io.EOF
		}
		if fr.Mat.Cols() != f.Width || fr.Mat.Rows() != f.Height {
			return fmt.Errorf("clip %s: frame %d is %dx%d, stream is %dx%d: %w", f.path, f.seq+1, fr.Mat.Cols(), fr.Mat.Rows(), f.Width, f.Height, ErrFrameSize)
		}
		f.seq++
		pos, _ := f.clock.frame(f.position())
		if pos+f.clock.period()/2 >= notBefore {
			fr.Pos, fr.Seq = pos, f.seq
			return nil
		}
		// Skipping stopped at a run of frames without timestamps that was not the end: go on.
	}
}

// position is the timestamp the container gives the frame just grabbed or read.
func (f *File) position() time.Duration {
	return time.Duration(f.vc.Get(gocv.VideoCapturePosMsec) * float64(time.Millisecond))
}

// Close releases the capture.
func (f *File) Close() error { return f.vc.Close() }
