package signal

import (
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

var t0 = time.Unix(1_800_000_000, 0).UTC() // a multiple of the 20 s cycle below

func TestPlanLight(t *testing.T) {
	p := scene.Plan{CycleS: 20, GreenS: 8, AmberS: 3, OffsetS: 0}
	for _, c := range []struct {
		at    float64
		light edge.Light
		since float64
	}{{0, edge.Green, 0}, {7.9, edge.Green, 0}, {8, edge.Amber, 8}, {10.5, edge.Amber, 8}, {11, edge.Red, 11}, {19.9, edge.Red, 11}, {20, edge.Green, 20}, {-1, edge.Red, -9}} {
		l, since := PlanLight(p, t0.Add(time.Duration(c.at*float64(time.Second))))
		if l != c.light || !since.Equal(t0.Add(time.Duration(c.since*float64(time.Second)))) {
			t.Errorf("at %v s: %v since %v, want %v since %v s", c.at, l, since.Sub(t0), c.light, c.since)
		}
	}
	// The offset shifts the cycle.
	if l, _ := PlanLight(scene.Plan{CycleS: 20, GreenS: 8, AmberS: 3, OffsetS: 5}, t0.Add(4*time.Second)); l != edge.Red {
		t.Errorf("offset 5 s, at 4 s: %v", l)
	}
}

func TestFeed(t *testing.T) {
	f := NewFeed()
	f.Add(wire.Phase{Signal: "nb", State: "red", Time: t0.Add(10 * time.Second)})
	f.Add(wire.Phase{Signal: "nb", State: "green", Time: t0}) // out of order
	for _, c := range []struct {
		at    time.Duration
		light edge.Light
		ok    bool
	}{{-time.Second, edge.LightUnknown, false}, {5 * time.Second, edge.Green, true}, {10 * time.Second, edge.Red, true}, {10*time.Second + Stale + time.Second, edge.LightUnknown, false}} {
		l, _, ok := f.State("nb", t0.Add(c.at), Stale)
		if l != c.light || ok != c.ok {
			t.Errorf("at %v: %v %v, want %v %v", c.at, l, ok, c.light, c.ok)
		}
	}
	if _, _, ok := f.State("sb", t0, Stale); ok {
		t.Error("a signal the feed never mentioned is known")
	}
}

func TestSourcesPreferenceAndDisagreement(t *testing.T) {
	plan := &scene.Plan{CycleS: 20, GreenS: 8, AmberS: 3}
	sigs := []scene.Signal{
		{ID: "a", Feed: true, Plan: plan},                                   // default order: feed, camera, plan
		{ID: "b", Plan: plan, Prefer: []string{"camera", "plan"}},           // camera first
		{ID: "c", Feed: true, Plan: plan, Prefer: []string{"plan", "feed"}}, // plan first
	}
	f := NewFeed()
	f.Add(wire.Phase{Signal: "a", State: "green", Time: t0})
	f.Add(wire.Phase{Signal: "c", State: "red", Time: t0}) // disagrees with the plan's green
	s := NewSources(sigs, f)
	cam := []edge.SignalState{{}, {Light: edge.Red, Since: t0}, {}}
	var out []edge.SignalState
	for ms := 0; ms <= 1500; ms += 100 {
		out = s.Combine(t0.Add(time.Duration(ms)*time.Millisecond), cam)
	}
	if out[0].Source != wire.SignalFeed || out[0].Light != edge.Green {
		t.Errorf("a: %+v", out[0])
	}
	if out[1].Source != wire.SignalCamera || out[1].Light != edge.Red {
		t.Errorf("b: %+v", out[1])
	}
	if out[2].Source != wire.SignalPlan || out[2].Light != edge.Green {
		t.Errorf("c: %+v", out[2])
	}
	// b (camera red, plan green) and c (feed red, plan green) disagree for over a second: two
	// episodes, each counted once however long it lasts.
	if n := s.Disagreements(); n != 2 {
		t.Fatalf("%d disagreements, want 2", n)
	}
	for ms := 1600; ms <= 5000; ms += 100 {
		s.Combine(t0.Add(time.Duration(ms)*time.Millisecond), cam)
	}
	if n := s.Disagreements(); n != 2 {
		t.Fatalf("%d disagreements after a long episode, want 2", n)
	}
	// A brief difference (the camera a frame late) does not count.
	s2 := NewSources(sigs[1:2], nil)
	s2.Combine(t0, []edge.SignalState{{Light: edge.Red}})
	s2.Combine(t0.Add(500*time.Millisecond), []edge.SignalState{{Light: edge.Green}})
	if s2.Disagreements() != 0 {
		t.Fatal("half a second of difference counted")
	}
}

// Unknown reaches the rules: a head the camera alone reads is unknown while it is dark or
// unreadable, and a head the scene marks unknown is unknown whatever its sources say. A head
// with another source falls back to it.
func TestSourcesUnknown(t *testing.T) {
	plan := &scene.Plan{CycleS: 20, GreenS: 8, AmberS: 3}
	region := &[2]scene.Point{{X: 0.1, Y: 0.1}, {X: 0.2, Y: 0.3}}
	sigs := []scene.Signal{
		{ID: "cam", Region: region},
		{ID: "marked", Region: region, Feed: true, Plan: plan, State: "unknown"},
		{ID: "cam-or-plan", Region: region, Plan: plan},
	}
	f := NewFeed()
	f.Add(wire.Phase{Signal: "marked", State: "green", Time: t0})
	s := NewSources(sigs, f)
	lit := []edge.SignalState{{Light: edge.Red, Since: t0}, {Light: edge.Red, Since: t0}, {Light: edge.Red, Since: t0}}
	out := s.Combine(t0.Add(time.Second), lit)
	if out[0].Light != edge.Red || out[1].Light != edge.LightUnknown || out[2].Light != edge.Red {
		t.Fatalf("lit: %+v", out)
	}
	dark := make([]edge.SignalState, 3) // the reader's state once a head shows no lit lamp
	out = s.Combine(t0.Add(2*time.Second), dark)
	if out[0].Light != edge.LightUnknown || out[0].Source != "" {
		t.Errorf("a dark head with no other source: %+v, want unknown", out[0])
	}
	if out[1].Light != edge.LightUnknown {
		t.Errorf("a head marked unknown: %+v, want unknown", out[1])
	}
	if out[2].Light != edge.Green || out[2].Source != wire.SignalPlan {
		t.Errorf("a dark head with a plan: %+v, want the plan's green", out[2])
	}
}
