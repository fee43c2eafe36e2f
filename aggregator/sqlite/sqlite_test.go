package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

var sites = []aggregator.Site{{ID: "a", Name: "A", Kind: aggregator.Road}, {ID: "b", Name: "B", Kind: aggregator.Road}}

var kinds = map[string]aggregator.SiteKind{"a": aggregator.Road, "b": aggregator.Road}

func catalog(version string, points int) *aggregator.Catalog {
	return &aggregator.Catalog{Version: version, Entries: []aggregator.CatalogEntry{
		{Type: "red_light_running", Points: points, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
}

func open(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.UpsertSites(context.Background(), sites); err != nil {
		t.Fatal(err)
	}
	return st
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func event(id, site string, at time.Time, cat *aggregator.Catalog) aggregator.PricedEvent {
	p, ok := cat.Price("red_light_running", aggregator.Road, 0.9)
	return aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: id, Camera: "c", Site: site, Zone: "z",
		Type: "red_light_running", Class: "car", Time: at, Received: at, Confidence: 0.9}, Points: p, Priced: ok, CatalogVersion: cat.Version}
}

// A new catalog version re-prices every stored event; the old version's rows stay, so any
// score can be explained under either version.
func TestNewCatalogVersionReprices(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	v1 := catalog("v1", 25)
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	b := &aggregator.Batch{Events: []aggregator.PricedEvent{event("e1", "a", now.Add(-time.Hour), v1), event("e2", "a", now.Add(-2*time.Hour), v1)}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	v2 := catalog("v2", 40)
	n, err := st.EnsureCatalog(ctx, v2, kinds)
	if err != nil || n != 2 {
		t.Fatalf("repriced %d, %v", n, err)
	}
	if n, _ := st.EnsureCatalog(ctx, v2, kinds); n != 0 {
		t.Fatalf("the same version re-priced again: %d", n)
	}
	q := aggregator.ScoreQuery{From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 1}
	for _, c := range []struct {
		version string
		score   int
	}{{"v1", 950}, {"v2", 920}} {
		q.CatalogVersion = c.version
		sc, err := st.FindSiteScores(ctx, q)
		if err != nil || sc[0].ID != "a" || sc[0].Score != c.score {
			t.Fatalf("%s: %+v %v", c.version, sc, err)
		}
	}
	l, _ := st.FindLedger(ctx, "a", "v2")
	if len(l) != 2 || l[0].Points != 40 || l[0].CatalogVersion != "v2" {
		t.Fatalf("v2 ledger %+v", l)
	}
	all, _ := st.FindLedger(ctx, "a", "")
	if len(all) != 4 {
		t.Fatalf("ledger across versions: %d rows", len(all))
	}
	// The same version with other prices is refused: the ledger would no longer explain the score.
	if _, err := st.EnsureCatalog(ctx, catalog("v2", 41), kinds); !errors.Is(err, ErrCatalogChanged) {
		t.Fatalf("changed catalog under an old version: %v", err)
	}
}

// Deductions leave the score when they leave the rolling window: a fixed site recovers.
// Rates need exposure, and say so when there is too little.
func TestWindowAndRates(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	v1 := catalog("v1", 25)
	st.EnsureCatalog(ctx, v1, kinds)
	b := &aggregator.Batch{
		Events: []aggregator.PricedEvent{event("old", "a", now.Add(-40*24*time.Hour), v1), event("new", "a", now.Add(-time.Hour), v1)},
		Counts: []aggregator.Counts{
			{Device: "d", ID: "c1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-2 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": 300}},
			{Device: "d", ID: "c2", Camera: "c", Site: "b", Zone: "z", Start: now.Add(-2 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": 20}},
		},
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	q := aggregator.ScoreQuery{CatalogVersion: "v1", From: now.Add(-30 * 24 * time.Hour), To: now, MinRoadUsers: 200}
	sc, err := st.FindSiteScores(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	a, bSite := sc[0], sc[1]
	if a.ID != "a" || a.Score != 975 || a.Events["red_light_running"] != 1 || a.RoadUsers != 300 {
		t.Fatalf("site a %+v: the 40-day-old event must have left the 30-day window", a)
	}
	r := a.Rates["red_light_running"]
	if a.Status != aggregator.StatusOK || r.Events != 1 || r.PerThousand < 3.33 || r.PerThousand > 3.34 || r.Low >= r.PerThousand || r.High <= r.PerThousand {
		t.Fatalf("rate %+v status %s", r, a.Status)
	}
	if bSite.Status != aggregator.StatusInsufficientData || len(bSite.Rates) != 0 {
		t.Fatalf("site b with 20 road users: %+v", bSite)
	}
	q.From = now.Add(-60 * 24 * time.Hour)
	sc, _ = st.FindSiteScores(ctx, q)
	if sc[0].Score != 950 {
		t.Fatalf("60-day window: %+v", sc[0])
	}
}

func TestNewRate(t *testing.T) {
	r, ok := aggregator.NewRate(5, 1000)
	// Wilson 95 % interval for 5/1000: 2.14 .. 11.65 per 1,000.
	if !ok || r.PerThousand != 5 || r.Low < 2.1 || r.Low > 2.2 || r.High < 11.6 || r.High > 11.7 {
		t.Fatalf("%+v", r)
	}
	if _, ok := aggregator.NewRate(3, 0); ok {
		t.Fatal("a rate with no exposure")
	}
	if _, ok := aggregator.NewRate(30, 10); ok {
		t.Fatal("more events than road users")
	}
	if r, _ := aggregator.NewRate(0, 500); r.Low != 0 || r.High <= 0 {
		t.Fatalf("zero events: %+v", r)
	}
}
