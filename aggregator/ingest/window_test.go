package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

func eventAt(id string, at time.Time) []byte {
	b, _ := wire.Encode(wire.Event{V: 1, ID: id, Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Type: wire.RedLightRunning,
		Time: at, Class: "car", Confidence: 0.9})
	return b
}

// Times far from the aggregator's clock are dead letters with the reason, and the device is
// told; a site never shows negative road users, whatever a device claims; a rejected
// payload is kept cut to DeadLetterBytes.
func TestTimeWindowCountsAndDeadLetterCap(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertSites(context.Background(), sites); err != nil {
		t.Fatal(err)
	}
	now := testNow()
	counts := func(id, n string) []byte {
		return []byte(`{"v":1,"id":"` + id + `","device":"edge-1","camera":"cam-1","site":"main-nb","zone":"z","start":"` +
			now.Add(-10*time.Minute).Format(time.RFC3339) + `","period_s":60,"counts":{"car":` + n + `}}`)
	}
	gapAt := func(id string, at time.Time) []byte {
		b, _ := wire.Encode(wire.Gap{V: 1, ID: id, Device: "edge-1", Time: at, Reason: wire.GapOutboxFull, Evicted: map[string]int{"counts": 1}, Oldest: at, Newest: at})
		return b
	}
	big := append(eventAt("big", now), make([]byte, 20000)...) // trailing junk: not JSON
	topic := func(kind string) string { return wire.Topic("edge-1", kind) }
	msgs := []Message{
		{Topic: topic(wire.KindEvents), Payload: eventAt("ok", now.Add(-time.Hour))},
		{Topic: topic(wire.KindEvents), Payload: eventAt("old", now.Add(-8*24*time.Hour))},
		{Topic: topic(wire.KindEvents), Payload: eventAt("ahead", now.Add(10*time.Minute))},
		{Topic: topic(wire.KindEvents), Payload: eventAt("y9999", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))},
		{Topic: topic(wire.KindEvents), Payload: eventAt("y0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))},
		{Topic: topic(wire.KindCounts), Payload: counts("k1", "5")},
		{Topic: topic(wire.KindCounts), Payload: counts("k2", "9223372036854775807")},
		{Topic: topic(wire.KindCounts), Payload: counts("k3", "9223372036854775807")},
		{Topic: topic(wire.KindGaps), Payload: gapAt("g-old", now.Add(-30*24*time.Hour))},
		{Topic: topic(wire.KindEvents), Payload: big},
	}
	a, stats := run(t, st, msgs)
	committed, rejected := a.all("edge-1")
	if fmt.Sprint(committed) != "[ok k1]" {
		t.Fatalf("committed %v, want [ok k1]", committed)
	}
	reasons := map[string]string{}
	for _, r := range rejected {
		reasons[r.ID] = r.Reason
	}
	for id, want := range map[string]string{
		"old": "time: 2026-11-17T09:00:00Z is more than 168h0m0s before the aggregator's clock", "ahead": "more than 5m0s after the aggregator's clock",
		"y9999": "9999-01-01T00:00:00Z is more than 5m0s after", "y0": "0000-01-01T00:00:00Z is more than 168h0m0s before", "k2": "counts.car", "k3": "counts.car", "g-old": "before the aggregator's clock",
	} {
		if !strings.Contains(reasons[id], want) {
			t.Errorf("%s: rejected with %q, want %q", id, reasons[id], want)
		}
	}
	if stats.DeadLetters != 8 {
		t.Errorf("%d dead letters, want 8", stats.DeadLetters)
	}
	scores, err := st.FindSiteScores(context.Background(), aggregator.ScoreQuery{CatalogVersion: "2026.11-1", From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) == 0 || scores[0].ID != "main-nb" || scores[0].RoadUsers != 5 {
		t.Fatalf("main-nb road users %d, want 5 (never negative from overflowing counts)", scores[0].RoadUsers)
	}
	dl, err := st.FindDeadLetters(context.Background(), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range dl {
		if d.Size == len(big) {
			found = true
			if len(d.Payload) != 4<<10 {
				t.Errorf("dead letter of %d bytes kept %d, want 4096", d.Size, len(d.Payload))
			}
		}
		if len(d.Payload) > 4<<10 {
			t.Errorf("dead letter keeps %d bytes", len(d.Payload))
		}
	}
	if !found {
		t.Errorf("no dead letter of %d bytes: %+v", len(big), dl)
	}
}
