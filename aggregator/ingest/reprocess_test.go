package ingest

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
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

// noisyJPEG is a valid evidence image larger than the dead-letter cap of the payloads that do
// not decode.
func noisyJPEG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 320, 180))
	for i := range img.Pix {
		img.Pix[i] = uint8((i * 7919) % 251)
	}
	img.Set(0, 0, color.Gray{})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if b.Len() < 8<<10 {
		t.Fatalf("test image of %d bytes: want more than the 4 KiB cap", b.Len())
	}
	return b.Bytes()
}

// Events for a site the aggregator did not know are dead letters; after the site is added
// and the aggregator restarted, reprocessing records them once, with their evidence, under
// the clock of when they were received. Reprocessing again changes nothing.
func TestReprocessAfterUnknownSiteIsFixed(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureCatalog(ctx, cat, map[string]aggregator.SiteKind{"main-nb": aggregator.Road, "plat-5": aggregator.Rail}); err != nil {
		t.Fatal(err)
	}
	evidence := noisyJPEG(t)
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	withImage, _ := wire.Encode(wire.Event{V: 1, ID: "n1", Device: "edge-1", Camera: "cam-1", Site: "new-sb", Zone: "z", Type: wire.RedLightRunning,
		Time: at, Class: "car", Confidence: 0.9, Evidence: evidence})
	counts, _ := wire.Encode(wire.Counts{V: 1, ID: "k1", Device: "edge-1", Camera: "cam-1", Site: "new-sb", Zone: "z", Start: at, PeriodS: 60,
		Counts: map[string]int{"car": 7}})
	otherCamera, _ := wire.Encode(wire.Event{V: 1, ID: "n3", Device: "edge-1", Camera: "cam-7", Site: "new-sb", Zone: "z", Type: wire.RedLightRunning,
		Time: at, Class: "car", Confidence: 0.9})
	topic := wire.Topic("edge-1", wire.KindEvents)
	msgs := []Message{
		{Topic: topic, Payload: withImage},
		{Topic: topic, Payload: event("n2", "new-sb", wire.RedLightRunning)},
		{Topic: topic, Payload: otherCamera},        // still invalid after the fix, for another reason
		{Topic: topic, Payload: []byte("not json")}, // still invalid, for the same reason
		{Topic: wire.Topic("edge-1", wire.KindCounts), Payload: counts},
	}
	for i := range msgs {
		msgs[i].Received = testNow()
	}
	a := &acks{}
	submitAll(New(st, a, cat, sites, Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 16}, quiet, testNow), msgs)
	if _, rejected := a.all("edge-1"); len(rejected) != 4 {
		t.Fatalf("before the fix: %d rejected, want 4", len(rejected))
	}
	dl, _ := st.FindDeadLetterPayloads(ctx, aggregator.DeadLetterFilter{})
	if len(dl) != 5 || dl[4].Size != len(withImage) || !bytes.Equal(dl[4].Payload, withImage) {
		t.Fatalf("dead letters: %d; the event with an image kept %d of %d bytes", len(dl), len(dl[4].Payload), len(withImage))
	}

	// The fix: the site is added to the configuration, the aggregator restarted — nine days
	// later, when the events are older than the window a new event must be in.
	fixed := append([]aggregator.Site{{ID: "new-sb", Name: "New St southbound", Kind: aggregator.Road, Cameras: []string{"cam-1"}}}, sites...)
	if err := st.UpsertSites(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return testNow().Add(9 * 24 * time.Hour) }
	g := New(st, &acks{}, cat, fixed, Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 16}, quiet, later)
	// Meanwhile the device sent n2 again (its outbox still held it), and it was recorded.
	resent := Message{Topic: topic, Payload: event("n2", "new-sb", wire.RedLightRunning), Received: at.Add(time.Minute)}
	submitAll(New(st, &acks{}, cat, fixed, Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 16}, quiet, testNow), []Message{resent})

	want := aggregator.Reprocessed{Examined: 5, Recorded: 2, Duplicates: 1, StillInvalid: 2, NewReason: 1}
	res, change, err := g.Reprocess(ctx, st, aggregator.DeadLetterFilter{}, "user:ada")
	if err != nil || res != want {
		t.Fatalf("reprocess: %+v %v, want %+v", res, err, want)
	}
	if change.Events != 1 || change.Counts != 1 || len(change.Sites) != 1 || change.Sites[0] != "new-sb" {
		t.Fatalf("change %+v", change)
	}
	check := func(when string) {
		t.Helper()
		sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: cat.Version, From: at.Add(-time.Hour), To: at.Add(time.Hour), MinRoadUsers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if sc[0].ID != "new-sb" || sc[0].Points != 50 || sc[0].Events[wire.RedLightRunning] != 2 || sc[0].RoadUsers != 7 {
			t.Fatalf("%s: %+v, want two red-light runners and 7 road users at new-sb", when, sc[0])
		}
		e, err := st.FindEvent(ctx, "edge-1", "n1")
		if err != nil || !bytes.Equal(e.Evidence, evidence) || !e.Received.Equal(testNow()) {
			t.Fatalf("%s: event n1 %v, evidence %d bytes, received %v", when, err, len(e.Evidence), e.Received)
		}
		left, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{})
		var reasons []string
		for _, d := range left {
			reasons = append(reasons, d.Reason)
		}
		if len(left) != 2 || !strings.Contains(reasons[1], `camera "cam-7" is not one of site "new-sb"'s cameras`) || !strings.Contains(reasons[0], "invalid") {
			t.Fatalf("%s: dead letters left %q", when, reasons)
		}
	}
	check("after reprocessing")
	again, change, err := g.Reprocess(ctx, st, aggregator.DeadLetterFilter{}, "user:ada")
	if err != nil || again != (aggregator.Reprocessed{Examined: 2, StillInvalid: 2}) || !change.Empty() {
		t.Fatalf("reprocessing again: %+v %+v %v", again, change, err)
	}
	check("after reprocessing twice")
	audit, _ := st.FindAudit(ctx, 10, 0)
	n := 0
	for _, e := range audit {
		if e.Action == "dead_letters.reprocess" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d reprocess audit entries, want 1 (the second run changed nothing)", n)
	}
}

// A status report is not applied again (a newer one replaced it), and a payload kept only in
// part cannot be validated again: both stay as they are.
func TestReprocessSkipsStatusAndCutPayloads(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st.UpsertSites(ctx, sites)
	status, _ := wire.Encode(wire.Status{V: 1, Device: "edge-2", Online: true, Time: testNow()})
	msgs := []Message{
		{Topic: wire.Topic("edge-1", wire.KindStatus), Payload: status, Received: testNow()},                              // another device's status
		{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: []byte(strings.Repeat("x", 10<<10)), Received: testNow()}, // junk, cut
	}
	g := New(st, &acks{}, cat, sites, Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 16}, quiet, testNow)
	submitAll(g, msgs)
	before, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{})
	if len(before) != 2 {
		t.Fatalf("dead letters %+v", before)
	}
	res, change, err := g.Reprocess(ctx, st, aggregator.DeadLetterFilter{}, "user:ada")
	if err != nil || res != (aggregator.Reprocessed{Examined: 2, Skipped: 1, Incomplete: 1}) || !change.Empty() {
		t.Fatalf("reprocess: %+v %+v %v", res, change, err)
	}
	after, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{})
	if len(after) != 2 || after[0].Reason != before[0].Reason || after[1].Reason != before[1].Reason {
		t.Fatalf("dead letters changed: %+v, were %+v", after, before)
	}
	if d, _ := st.FindDevices(ctx); len(d) != 0 {
		t.Fatalf("a dead status was applied: %+v", d)
	}
}
