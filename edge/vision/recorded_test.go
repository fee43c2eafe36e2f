package vision_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/hw/camera"
	"github.com/crosswatch/crosswatch/internal/obsrec"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

var record = flag.Bool("record", false, "record the real clip's observations and messages into edge/pipeline/testdata")

// The recording edge/pipeline replays: a real clip's observations, as this analyser yields
// them, and the messages the pipeline committed from them (docs/TESTING.md).
const (
	recordedClip  = "rlv_webserver105_demo1"
	recordedScene = "../../configs/scenes/real/" + recordedClip + ".classical.yaml"
	recordedObs   = "../pipeline/testdata/" + recordedClip + ".obs.jsonl"
	recordedMsgs  = "../pipeline/testdata/" + recordedClip + ".messages.jsonl"
)

// recorder passes the analyser's observations on and writes each one down.
type recorder struct {
	pipeline.Observations
	enc *json.Encoder
}

func (r *recorder) Next(ctx context.Context) (*edge.Observation, error) {
	o, err := r.Observations.Next(ctx)
	if err == nil {
		c := *o
		c.Decoded, c.DetectTime = time.Time{}, 0 // wall clock: not part of what was seen
		r.enc.Encode(c)
	}
	return o, err
}

// The red light run in the real clip: the analyser and the pipeline over it commit the
// messages recorded in edge/pipeline/testdata, which edge/pipeline's TestRecordedClip gets
// again from the recorded observations alone. With -record, both files are written anew.
func TestRecordedObservations(t *testing.T) {
	clip := testenv.SharedClip(t, testenv.Shared("../../../shared")+"/videos/"+recordedClip+".mp4")
	s, err := scenefile.Load(recordedScene)
	if err != nil {
		t.Fatal(err)
	}
	src, err := camera.OpenFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, h := vision.ProcessSize(src.Width, src.Height, s.Detector.ProcessWidth)
	a, err := vision.NewAnalyser(vision.AnalyserConfig{Scene: s, Width: src.Width, Height: src.Height, Start: start,
		Detector: vision.NewClassical(w, h, s.Detector, s.Masks, vision.SignalRects(s, w, h))}, src, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var obs bytes.Buffer
	header, _ := json.Marshal(map[string]any{"clip": recordedClip, "scene": recordedScene, "width": w, "height": h, "start": start})
	obs.Write(append(header, '\n'))
	pc := pipeline.Config{Device: "dev-rec", Scene: s, Width: w, Height: h, Start: start, CountPeriod: time.Minute}
	ob := &memOutbox{}
	if _, err := pipeline.New(pc, &recorder{Observations: a, enc: json.NewEncoder(&obs)}, ob, nil, log).Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(ob.events(t)); n != 1 {
		t.Fatalf("%d events, want the one red light run (docs/ACCURACY.md)", n)
	}
	msgs := obsrec.Messages(ob.msgs)
	if *record {
		if err := os.WriteFile(recordedObs, obs.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(recordedMsgs, append(msgs, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(recordedMsgs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), msgs) {
		t.Errorf("the messages differ from %s (run with -record if the change is meant):\n%s", recordedMsgs, msgs)
	}
	got, wantObs := bufio.NewScanner(&obs), mustOpen(t, recordedObs)
	defer wantObs.Close()
	ws := bufio.NewScanner(wantObs)
	for i := 0; got.Scan(); i++ {
		if !ws.Scan() || ws.Text() != got.Text() {
			t.Fatalf("observation %d differs from %s (run with -record if the change is meant):\n%s", i, recordedObs, got.Text())
		}
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
