package ingest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.UpsertSites(context.Background(), sites); err != nil {
		t.Fatal(err)
	}
	return st
}

// runCatalog is run with a catalog written in the test.
func runCatalog(t *testing.T, store Store, cat *aggregator.Catalog, msgs []Message) *acks {
	t.Helper()
	a := &acks{}
	g := New(store, a, cat, sites, Config{MaxBatch: 3, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	for i := range msgs {
		msgs[i].Received = t0
	}
	if !submitAll(g, msgs) {
		t.Fatal("queue full")
	}
	return a
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := wire.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A device may only report counts and gaps as itself: a payload naming another device than the
// topic's is dead-lettered and rejected to the publisher, and nothing of it is stored. Spoofed
// counts would inflate another site's exposure and so lower its rates.
func TestCountsAndGapsDeviceMustMatchTopic(t *testing.T) {
	st := openStore(t)
	counts := wire.Counts{V: 1, ID: "k1", Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Start: t0, PeriodS: 60, Counts: map[string]int{"car": 500}}
	gap := wire.Gap{V: 1, ID: "g1", Device: "edge-1", Time: t0, Reason: wire.GapOutboxFull, Evicted: map[string]int{"counts": 3}, Oldest: t0.Add(-time.Hour), Newest: t0}
	a := runCatalog(t, st, shippedCatalog(t), []Message{
		{Topic: wire.Topic("edge-2", wire.KindCounts), Payload: mustEncode(t, counts)},
		{Topic: wire.Topic("edge-2", wire.KindGaps), Payload: mustEncode(t, gap)},
	})
	c, r := a.all("edge-2")
	if len(c) != 0 || len(r) != 2 {
		t.Fatalf("edge-2: committed %v rejected %+v, want both rejected", c, r)
	}
	for i, id := range []string{"k1", "g1"} {
		if r[i].ID != id || !strings.Contains(r[i].Reason, `device "edge-1" in the payload does not match the topic's device "edge-2"`) {
			t.Errorf("rejection %d: %+v", i, r[i])
		}
	}
	if c, r := a.all("edge-1"); len(c)+len(r) != 0 {
		t.Fatalf("the named device was told something: %v %v", c, r)
	}
	ctx := context.Background()
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "x", From: t0.Add(-time.Hour), To: t0.Add(time.Hour), MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		if s.RoadUsers != 0 {
			t.Errorf("site %s counts %d road users from a spoofed record", s.ID, s.RoadUsers)
		}
	}
	if g, _ := st.FindGaps(ctx, 10); len(g) != 0 {
		t.Errorf("spoofed gap stored: %+v", g)
	}
	if dl, _ := st.FindDeadLetters(ctx, 10, 0); len(dl) != 2 {
		t.Errorf("%d dead letters, want 2", len(dl))
	}
	// The same records on their own device's topic are stored: the rejection was the device.
	a = runCatalog(t, st, shippedCatalog(t), []Message{
		{Topic: wire.Topic("edge-1", wire.KindCounts), Payload: mustEncode(t, counts)},
		{Topic: wire.Topic("edge-1", wire.KindGaps), Payload: mustEncode(t, gap)},
	})
	if c, r := a.all("edge-1"); strings.Join(c, ",") != "k1,g1" || len(r) != 0 {
		t.Fatalf("own topic: committed %v rejected %v", c, r)
	}
}

// An event type the catalog has no entry for is dead-lettered, not stored unpriced: the type is
// valid on the wire (jaywalking), the catalog here simply does not list it.
func TestEventTypeWithoutCatalogEntry(t *testing.T) {
	st := openStore(t)
	cat := &aggregator.Catalog{Version: "only-rl", Entries: []aggregator.CatalogEntry{
		{Type: wire.RedLightRunning, Points: 25, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
	topic := wire.Topic("edge-1", wire.KindEvents)
	a := runCatalog(t, st, cat, []Message{
		{Topic: topic, Payload: event("j1", "main-nb", wire.Jaywalking)},
		{Topic: topic, Payload: event("r1", "main-nb", wire.RedLightRunning)},
	})
	c, r := a.all("edge-1")
	if strings.Join(c, ",") != "r1" || len(r) != 1 || r[0].ID != "j1" || !strings.Contains(r[0].Reason, `event type "jaywalking" has no entry in catalog only-rl`) {
		t.Fatalf("committed %v rejected %+v", c, r)
	}
	ev, err := st.FindEvents(context.Background(), aggregator.EventFilter{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(ev) != 1 || ev[0].ID != "r1" {
		t.Fatalf("stored events %+v %v", ev, err)
	}
}

// min_confidence is inclusive: an event exactly at the minimum is priced, one just below is
// stored but deducts nothing.
func TestMinConfidenceBoundary(t *testing.T) {
	st := openStore(t)
	cat := &aggregator.Catalog{Version: "mc", Entries: []aggregator.CatalogEntry{
		{Type: wire.RedLightRunning, Points: 30, SiteKinds: []aggregator.SiteKind{aggregator.Road}, MinConfidence: 0.75, Description: "x"}}}
	topic := wire.Topic("edge-1", wire.KindEvents)
	var msgs []Message
	for _, c := range []struct {
		id   string
		conf float64
	}{{"at", 0.75}, {"below", 0.7499}, {"above", 0.9}} {
		msgs = append(msgs, Message{Topic: topic, Payload: mustEncode(t, wire.Event{V: 1, ID: c.id, Device: "edge-1", Camera: "cam-1", Site: "main-nb",
			Zone: "z", Type: wire.RedLightRunning, Time: t0, Class: "car", Confidence: c.conf})})
	}
	a := runCatalog(t, st, cat, msgs)
	if c, r := a.all("edge-1"); strings.Join(c, ",") != "at,below,above" || len(r) != 0 {
		t.Fatalf("committed %v rejected %v: all three are stored", c, r)
	}
	l, err := st.FindLedger(context.Background(), aggregator.LedgerFilter{Site: "main-nb", Version: "mc"})
	if err != nil {
		t.Fatal(err)
	}
	var priced []string
	for _, e := range l {
		priced = append(priced, e.EventID)
	}
	if strings.Join(priced, ",") != "at,above" {
		t.Fatalf("priced %v, want at,above (equal to min_confidence is priced)", priced)
	}
}

func shippedCatalog(t *testing.T) *aggregator.Catalog {
	t.Helper()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}
