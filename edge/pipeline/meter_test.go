package pipeline

import (
	"context"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
)

// The Meter counts every frame decoded and analysed, each detector run, view change and
// event, as Run sees them.
func TestMeterCounts(t *testing.T) {
	pic := solid(90)
	defer pic.Close()
	src := &frames{n: 120, picture: func(int) gocv.Mat { return pic }}
	person := []edge.Detection{{Box: edge.Box{X0: 300, Y0: 200, X1: 330, Y1: 300}, Class: edge.Person, Score: 0.9}}
	det := &script{dets: func(int) []edge.Detection { return person }}
	var m Meter
	detects, events := 0, 0
	m.OnDetect = func(s float64) {
		if s < 0 {
			t.Errorf("detector time %v", s)
		}
		detects++
	}
	m.OnEvent = func(string) { events++ }
	p, ob := newPipeline(t, platformScene(), src, det, Config{Meter: &m})
	began := time.Now()
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLastFrame(t, &m, began, time.Now())
	if got := m.Decoded.Load(); got != 120 {
		t.Errorf("decoded %d, want 120", got)
	}
	if got := m.Analysed.Load(); got != int64(st.Frames) || got != 120 {
		t.Errorf("analysed %d, want every one of %d frames", got, st.Frames)
	}
	if detects != st.Analysed || detects == 0 {
		t.Errorf("%d detector times, %d detector runs", detects, st.Analysed)
	}
	if n := len(ob.events(t)); events != n || n == 0 {
		t.Errorf("OnEvent told %d events, the outbox has %d", events, n)
	}
	if m.Dropped.Load() != 0 {
		t.Errorf("a file dropped %d frames: it must wait for the analysis", m.Dropped.Load())
	}
}

// slowDetector takes its time, as a DNN on a busy box does.
type slowDetector struct{ script }

func (s *slowDetector) Detect(f gocv.Mat) []edge.Detection {
	time.Sleep(5 * time.Millisecond)
	return s.script.Detect(f)
}

// A live source whose analysis falls behind drops the frames no slot can take, and counts
// them: decoded = analysed + dropped.
func TestMeterLiveDrops(t *testing.T) {
	pic := solid(90)
	defer pic.Close()
	src := &frames{n: 300, picture: func(int) gocv.Mat { return pic }}
	det := &slowDetector{script{dets: func(int) []edge.Detection { return nil }}}
	var m Meter
	p, _ := newPipeline(t, platformScene(), src, det, Config{Meter: &m, Live: true})
	began := time.Now()
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	checkLastFrame(t, &m, began, time.Now())
	dec, an, dr := m.Decoded.Load(), m.Analysed.Load(), m.Dropped.Load()
	if dr == 0 || dec != 300 || an+dr != dec {
		t.Fatalf("decoded %d, analysed %d, dropped %d: want drops, and decoded = analysed + dropped = 300", dec, an, dr)
	}
}

// checkLastFrame checks that the meter's last frame was read during the run, near its end.
func checkLastFrame(t *testing.T, m *Meter, from, to time.Time) {
	t.Helper()
	last := time.Unix(0, m.LastFrameNanos.Load())
	if last.Before(from) || last.After(to) || to.Sub(last) > to.Sub(from)/2+50*time.Millisecond {
		t.Errorf("last frame at %v, want near the end of the run %v – %v", last, from, to)
	}
}
