package pipeline

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// stillMaker is a Still that records the frames it was asked for (by their observation's
// sequence number, which the hook below tells it).
type stillMaker struct {
	frame int
	made  []int
}

func (s *stillMaker) Still([]edge.Track, []edge.Detection) ([]byte, error) {
	s.made = append(s.made, s.frame)
	return []byte{0xff, 0xd8, byte(s.frame), 0xff, 0xd9}, nil
}

// seqObs tells the still maker the sequence number of each observation it yields.
type seqObs struct {
	Observations
	s *stillMaker
}

func (o *seqObs) Next(ctx context.Context) (*edge.Observation, error) {
	ob, err := o.Observations.Next(ctx)
	if ob != nil {
		o.s.frame = ob.Seq
	}
	return ob, err
}

// The live signal states follow the combined signals frame by frame, with the source each is
// read by, "unknown" from the source it would be read by, and a head the scene fixes as
// unknown from "fixed"; each change is told once.
func TestLiveSignalStates(t *testing.T) {
	s := junctionScene()
	s.Signals = append(s.Signals, scene.Signal{ID: "hidden", Kind: "vehicle", State: "unknown"})
	obs := record(30, func(int) []edge.Detection { return nil }, func(i int, o *edge.Observation) {
		switch {
		case i < 10:
			o.Signals = []edge.SignalState{{}, {}}
		case i < 20:
			o.Signals = []edge.SignalState{{Light: edge.Red, Since: start}, {Light: edge.Green}}
		default:
			o.Signals = []edge.SignalState{{Light: edge.Green, Since: start.Add(at(20))}, {}}
		}
	})
	var seen [][]wire.SignalState
	var p *Pipeline
	changes := 0
	cfg := Config{OnSignals: func() { changes++; seen = append(seen, p.Signals()) }}
	p, _ = newPipeline(s, obs, cfg)
	if got := p.Signals(); got != nil {
		t.Fatalf("before the first frame: %v, want none", got)
	}
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := [][]wire.SignalState{
		{{ID: "nb", State: "unknown", Source: "camera"}, {ID: "hidden", State: "unknown", Source: "fixed"}},
		{{ID: "nb", State: "red", Source: "camera"}, {ID: "hidden", State: "unknown", Source: "fixed"}},
		{{ID: "nb", State: "green", Source: "camera"}, {ID: "hidden", State: "unknown", Source: "fixed"}},
	}
	if changes != 3 || !reflect.DeepEqual(seen, want) {
		t.Fatalf("%d changes:\n got %v\nwant %v", changes, seen, want)
	}
}

// A still is made only when asked, from the next frame, once per request; the reason goes
// with it.
func TestStillOnRequest(t *testing.T) {
	sm := &stillMaker{}
	var req edge.StillRequest
	type sent struct {
		frame  byte
		reason string
	}
	var got []sent
	obs := record(30, func(int) []edge.Detection { return nil }, nil)
	ob := &memOutbox{}
	var p *Pipeline
	cfg := Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute,
		Stills: &req, Still: sm, OnStill: func(b []byte, _ time.Time, reason string) { got = append(got, sent{b[2], reason}) }}
	req.Ask(wire.FrameStart)
	p = New(cfg, &seqObs{Observations: &hook{Observations: &replay{obs: obs}, after: func(i int) {
		if i == 11 {
			req.Ask(wire.FrameScene)
			req.Ask(wire.FrameRequest) // asked twice before it is taken: one still, the latest reason
		}
	}}, s: sm}, ob, nil, discard)
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := []sent{{1, wire.FrameStart}, {13, wire.FrameRequest}}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(sm.made, []int{1, 13}) {
		t.Fatalf("stills %v (made from frames %v), want %v", got, sm.made, want)
	}
}
