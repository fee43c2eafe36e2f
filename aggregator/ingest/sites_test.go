package ingest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// countingSource counts the registry reads, to show that validation does not query per message.
type countingSource struct {
	SiteSource
	finds int
}

func (c *countingSource) FindSites(ctx context.Context) ([]aggregator.Site, error) {
	c.finds++
	return c.SiteSource.FindSites(ctx)
}

// A site created through the registry is accepted as soon as the ingester refreshes, without a
// restart; the events dead-lettered before it existed are recorded by reprocessing; a site
// deleted from the registry is refused again. Nothing changed: no second read.
func TestSitesFromTheRegistry(t *testing.T) {
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
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	src := &countingSource{SiteSource: st}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := New(st, &acks{}, cat, nil, Config{MaxBatch: 8, MaxWait: time.Millisecond, Queue: 16}, quiet, testNow)
	if changed, err := g.RefreshSites(ctx, src); err != nil || !changed || src.finds != 1 {
		t.Fatalf("first refresh: changed %v, %d reads, %v", changed, src.finds, err)
	}
	if changed, _ := g.RefreshSites(ctx, src); changed || src.finds != 1 {
		t.Fatalf("refresh with nothing changed: changed %v, %d reads, want 1", changed, src.finds)
	}
	topic := wire.Topic("edge-1", wire.KindEvents)
	submitAll(g, []Message{{Topic: topic, Payload: event("x1", "new-sb", wire.RedLightRunning), Received: testNow()}})
	if dl, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{}); len(dl) != 1 {
		t.Fatalf("before the site exists: %d dead letters for an unknown site, want 1", len(dl))
	}

	if _, err := st.CreateSite(ctx, aggregator.Site{ID: "new-sb", Name: "New St southbound", Kind: aggregator.Road}, "user:ada"); err != nil {
		t.Fatal(err)
	}
	if changed, err := g.RefreshSites(ctx, src); err != nil || !changed {
		t.Fatalf("refresh after a site was created: %v %v", changed, err)
	}
	a := &acks{}
	g.acker = a
	submitAll(g, []Message{{Topic: topic, Payload: event("x2", "new-sb", wire.RedLightRunning), Received: testNow()}})
	if committed, rejected := a.all("edge-1"); len(committed) != 1 || len(rejected) != 0 {
		t.Fatalf("after the site was created: committed %v rejected %v", committed, rejected)
	}
	res, _, err := g.Reprocess(ctx, st, aggregator.DeadLetterFilter{}, "user:ada")
	if err != nil || res.Recorded != 1 || res.StillInvalid != 0 {
		t.Fatalf("reprocess the unknown-site dead letter: %+v %v", res, err)
	}
	if _, err := st.FindEvent(ctx, "edge-1", "x1"); err != nil {
		t.Fatalf("reprocessed event: %v", err)
	}

	if _, err := st.CreateSite(ctx, aggregator.Site{ID: "gone", Name: "Gone", Kind: aggregator.Road}, "user:ada"); err != nil {
		t.Fatal(err)
	}
	g.RefreshSites(ctx, src)
	if err := st.DeleteSite(ctx, "gone", 1, "user:ada"); err != nil {
		t.Fatal(err)
	}
	if changed, _ := g.RefreshSites(ctx, src); !changed {
		t.Fatal("a deleted site did not change the sites")
	}
	a = &acks{}
	g.acker = a
	submitAll(g, []Message{{Topic: topic, Payload: event("x3", "gone", wire.RedLightRunning), Received: testNow()}})
	if _, rejected := a.all("edge-1"); len(rejected) != 1 {
		t.Fatalf("an event for a deleted site: rejected %v, want 1", rejected)
	}
}
