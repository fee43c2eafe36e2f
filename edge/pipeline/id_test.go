package pipeline

import (
	"slices"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// ParseID reads back the ids EventID and CountsID make, with their zone numbers, and tells a
// camera's ids from those of a camera whose name extends it: the sender clears a camera's
// refusal for a site by them.
func TestParseID(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 30, 0, 125e6, time.UTC)
	cases := []struct {
		id, camera, kind string
		zone             int
	}{
		{EventID("cam-1", at, wire.RedLightRunning, 0, 7), "cam-1", wire.KindEvents, 0},
		{EventID("cam-1", at, wire.TrackIntrusion, 12, 1234), "cam-1", wire.KindEvents, 12},
		{CountsID("cam-1", 3, at), "cam-1", wire.KindCounts, 3},
		{EventID("cam-1-b", at, wire.Jaywalking, 0, 7), "cam-1", "", 0}, // another camera's
		{CountsID("cam-1-b", 0, at), "cam-1", "", 0},
		{EventID("cam-1", at, wire.Jaywalking, 0, 7), "cam-1-b", "", 0},
		{EventID("a", at, wire.Jaywalking, 2, 7), "a", wire.KindEvents, 2},
		{EventID("a-1", at, wire.Jaywalking, 0, 7), "a", "", 0},
		{"cam-1", "cam-1", "", 0},
		{"cam-1-", "cam-1", "", 0},
		{"cam-1-1795595400125-rl0-t", "cam-1", "", 0},
		{"cam-1-c-1795595400125", "cam-1", "", 0},
		{"cam-1-1795595400125-rl99999999999999999999-t1", "cam-1", "", 0},
		{"gap-edge-1-1795595400125", "edge-1", "", 0},
		{"burst-000001", "burst", "", 0},
	}
	for _, c := range cases {
		if kind, zone := ParseID(c.id, c.camera); kind != c.kind || zone != c.zone {
			t.Errorf("ParseID(%q, %q) = %q, %d, want %q, %d", c.id, c.camera, kind, zone, c.kind, c.zone)
		}
	}
}

// ZoneSites numbers the zones as the pipeline's ids do: approaches, crosswalks, roadways,
// platform edges, tracks, then count lines.
func TestZoneSites(t *testing.T) {
	s := &scene.Scene{
		Approaches:    []scene.Approach{{ID: "a0", Site: "s-a"}, {ID: "a1", Site: "s-b"}},
		Crosswalks:    []scene.Crosswalk{{ID: "c", Site: "s-c"}},
		Roadways:      []scene.Zone{{ID: "r", Site: "s-d"}},
		PlatformEdges: []scene.PlatformEdge{{Zone: scene.Zone{ID: "p", Site: "s-e"}}},
		Tracks:        []scene.Zone{{ID: "t", Site: "s-f"}},
		CountLines:    []scene.CountLine{{ID: "l", Site: "s-g"}},
	}
	if got, want := ZoneSites(s), []string{"s-a", "s-b", "s-c", "s-d", "s-e", "s-f", "s-g"}; !slices.Equal(got, want) {
		t.Errorf("ZoneSites = %v, want %v", got, want)
	}
	p := New(Config{Scene: s, Width: 640, Height: 360, CountPeriod: time.Minute}, nil, nil, nil, nil)
	for i, id := range []string{"a0", "a1", "c", "r", "p", "t", "l"} {
		if p.zoneIdx[id] != i {
			t.Errorf("zone %s is number %d in the pipeline, %d in ZoneSites", id, p.zoneIdx[id], i)
		}
	}
}
