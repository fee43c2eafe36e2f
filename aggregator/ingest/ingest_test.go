package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

type acks struct {
	mu  sync.Mutex
	got map[string][]wire.Ack
}

func (a *acks) Ack(device string, k wire.Ack) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.got == nil {
		a.got = map[string][]wire.Ack{}
	}
	a.got[device] = append(a.got[device], k)
	return nil
}

func (a *acks) all(device string) (committed []string, rejected []wire.Rejection) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.got[device] {
		committed = append(committed, k.Committed...)
		rejected = append(rejected, k.Rejected...)
	}
	return
}

// testNow is the aggregator's clock in these tests: the events are an hour old.
func testNow() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }

var sites = []aggregator.Site{{ID: "main-nb", Name: "Main St northbound", Kind: aggregator.Road}, {ID: "plat-5", Name: "Platform 5", Kind: aggregator.Rail}}

func event(id, site, typ string) []byte {
	b, _ := wire.Encode(wire.Event{V: 1, ID: id, Device: "edge-1", Camera: "cam-1", Site: site, Zone: "z", Type: typ,
		Time: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Class: "car", Confidence: 0.9})
	return b
}

func run(t *testing.T, store Store, msgs []Message) (*acks, Stats) {
	t.Helper()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := &acks{}
	g := New(store, a, cat, sites, Config{MaxBatch: 3, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	if !submitAll(g, msgs) {
		t.Fatal("queue full")
	}
	return a, g.Stats()
}

// submitAll runs g, submits msgs and stops it: a graceful stop commits everything already
// submitted. It reports whether the queue took every message.
func submitAll(g *Ingester, msgs []Message) bool {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	ok := true
	for _, m := range msgs {
		ok = g.TrySubmit(m) && ok
	}
	cancel()
	<-done
	return ok
}

func TestExactlyOnceAndDeadLetters(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	topic := wire.Topic("edge-1", wire.KindEvents)
	msgs := []Message{
		{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)},
		{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)}, // duplicate in the same batch
		{Topic: topic, Payload: event("e2", "main-nb", wire.RedLightRunning)},
		{Topic: topic, Payload: event("e3", "nowhere", wire.RedLightRunning)},                            // unknown site
		{Topic: topic, Payload: event("e4", "plat-5", wire.RedLightRunning)},                             // stored, not priced: road entry
		{Topic: wire.Topic("edge-2", wire.KindEvents), Payload: event("e5", "main-nb", wire.Jaywalking)}, // device mismatch
		{Topic: topic, Payload: []byte(`{"v":1,"id":"e6","oops":true}`)},                                 // malformed, id recoverable
		{Topic: topic, Payload: []byte(`not json`)},                                                      // malformed, no id
		{Topic: topic, Payload: oversizedEvidence("e7")},                                                 // evidence over the limit
	}
	for i := range msgs {
		msgs[i].Received = time.Now()
	}
	a, stats := run(t, st, msgs)
	// Re-delivery of everything in a second run changes nothing.
	run(t, st, msgs[:3])

	committed, rejected := a.all("edge-1")
	if strings.Join(committed, ",") != "e1,e1,e2,e4" {
		t.Fatalf("committed acks %v", committed)
	}
	if len(rejected) != 3 || rejected[0].ID != "e3" || !strings.Contains(rejected[0].Reason, `unknown site "nowhere"`) || rejected[1].ID != "e6" ||
		rejected[2].ID != "e7" || !strings.Contains(rejected[2].Reason, "evidence_jpeg") {
		t.Fatalf("rejected %+v", rejected)
	}
	// The device is told the reason as a code, with the record's site and camera.
	if r := rejected[0]; r.Code != wire.RejectUnknownSite || r.Site != "nowhere" || r.Camera == "" {
		t.Errorf("rejection of e3 %+v, want code %s, site nowhere and its camera", r, wire.RejectUnknownSite)
	}
	if r := rejected[2]; r.Code != wire.RejectPayload {
		t.Errorf("rejection of e7 %+v, want code %s", r, wire.RejectPayload)
	}
	if c, r := a.all("edge-2"); len(c) != 0 || len(r) != 1 || !strings.Contains(r[0].Reason, "does not match") {
		t.Fatalf("edge-2 acks %v %v", c, r)
	}
	if stats.Committed != 3 || stats.Duplicates != 1 || stats.DeadLetters != 5 {
		t.Fatalf("stats %+v", stats)
	}
	scores, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "2026.11-1", From: time.Unix(0, 0), To: time.Now(), MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	// No road users counted: both sites have insufficient data, listed by id, with their points.
	if len(scores) != 2 || scores[0].ID != "main-nb" || scores[0].Points != 50 || scores[0].Deductions != 2 || scores[0].Events[wire.RedLightRunning] != 2 {
		t.Fatalf("scores %+v", scores)
	}
	if scores[1].Points != 0 || scores[1].Events[wire.RedLightRunning] != 1 {
		t.Fatalf("rail site %+v", scores[1])
	}
	ledger, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "main-nb", Version: ""})
	if err != nil || len(ledger) != 2 || ledger[0].EventID != "e1" || ledger[0].CatalogVersion != "2026.11-1" || ledger[0].Points != 25 {
		t.Fatalf("ledger %+v %v", ledger, err)
	}
	dl, err := st.FindDeadLetters(ctx, 10, 0)
	if err != nil || len(dl) != 5 {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	if _, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "nope", Version: ""}); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
}

type failingStore struct{}

func (failingStore) Commit(context.Context, *aggregator.Batch) (int, error) {
	return 0, errors.New("disk I/O error")
}

// Nothing is acknowledged unless it was committed.
func TestNoAckWithoutCommit(t *testing.T) {
	a, _ := run(t, failingStore{}, []Message{{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: event("e1", "main-nb", wire.RedLightRunning)}})
	if c, r := a.all("edge-1"); len(c)+len(r) != 0 {
		t.Fatalf("acked %v %v without a commit", c, r)
	}
}

func oversizedEvidence(id string) []byte {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, wire.MaxEvidenceBytes)...)
	b, _ := wire.Encode(wire.Event{V: 1, ID: id, Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Type: wire.RedLightRunning,
		Time: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Class: "car", Confidence: 0.9, Evidence: jpeg})
	return b
}

// A site that lists its cameras rejects events from other cameras, with the reason.
func TestSiteCameras(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat, _ := catalog.Load("../../configs/catalog.yaml")
	a := &acks{}
	g := New(st, a, cat, []aggregator.Site{{ID: "main-nb", Name: "x", Kind: aggregator.Road, Cameras: []string{"cam-9"}}},
		Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 8}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	if !g.TrySubmit(Message{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: event("e1", "main-nb", wire.RedLightRunning), Received: time.Now()}) {
		t.Fatal("queue full")
	}
	cancel()
	<-done
	_, rejected := a.all("edge-1")
	if len(rejected) != 1 || !strings.Contains(rejected[0].Reason, `camera "cam-1" is not one of site "main-nb"'s cameras`) {
		t.Fatalf("rejected %+v", rejected)
	}
	if r := rejected[0]; r.Code != wire.RejectUnknownCamera || r.Site != "main-nb" || r.Camera != "cam-1" {
		t.Errorf("rejection %+v, want code %s for site main-nb, camera cam-1", r, wire.RejectUnknownCamera)
	}
}

// Live views hear about each commit after it is durable: new events only, with their sites and
// the devices that reported; a batch of duplicates changes nothing.
func TestOnCommitTellsWhatChanged(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.UpsertSites(context.Background(), sites)
	cat, _ := catalog.Load("../../configs/catalog.yaml")
	var mu sync.Mutex
	var got aggregator.Change
	calls := 0
	feed := func(msgs ...Message) {
		g := New(st, &acks{}, cat, sites, Config{MaxBatch: 100, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
		g.SetOnCommit(func(c aggregator.Change) {
			// The change is reported only once it is stored.
			if c.Events > 0 {
				if ev, _ := st.FindEvents(context.Background(), aggregator.EventFilter{From: time.Unix(0, 0), To: time.Now()}); len(ev) == 0 {
					t.Error("notified before the commit")
				}
			}
			mu.Lock()
			got.Merge(c)
			calls++
			mu.Unlock()
		})
		submitAll(g, msgs)
	}
	topic := wire.Topic("edge-1", wire.KindEvents)
	status, _ := wire.Encode(wire.Status{V: 1, Device: "edge-1", Online: true, Time: testNow()})
	feed(Message{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)}, Message{Topic: topic, Payload: event("e2", "plat-5", wire.TrackIntrusion)},
		Message{Topic: wire.Topic("edge-1", wire.KindStatus), Payload: status})
	if got.Events != 2 || strings.Join(got.Sites, ",") != "main-nb,plat-5" || strings.Join(got.Devices, ",") != "edge-1" {
		t.Fatalf("change %+v", got)
	}
	n := calls
	feed(Message{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)}) // a duplicate
	if calls != n {
		t.Fatalf("a batch of duplicates was reported as a change")
	}
	// Road users counted at a site change its rates; a quiet minute's record changes nothing shown.
	counts := func(id string, n int) Message {
		b, _ := wire.Encode(wire.Counts{V: 1, ID: id, Device: "edge-1", Camera: "cam-1", Site: "plat-5", Zone: "edge-5",
			Start: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), PeriodS: 60, Counts: map[string]int{"person": n}})
		return Message{Topic: wire.Topic("edge-1", wire.KindCounts), Payload: b}
	}
	got = aggregator.Change{}
	feed(counts("c1", 0))
	if calls != n {
		t.Fatalf("a count record with nobody in it was reported as a change: %+v", got)
	}
	feed(counts("c2", 7))
	if got.Counts != 1 || got.Events != 0 || strings.Join(got.Sites, ",") != "plat-5" {
		t.Fatalf("change %+v, want one count record at plat-5", got)
	}
}
