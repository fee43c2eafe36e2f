package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// testRankedWorstFirst: sites come back ranked by the low end of their risk interval, ties by
// id, and the sites with too little exposure after them, unranked, by id. The fixture's worst
// site is neither first by id nor first by insertion (nor last), so a store that returns its
// rows in table or primary-key order cannot pass by accident; and the site with the highest
// rate (z, 2 events among 100) is not the worst, so ranking by the rate fails too.
func testRankedWorstFirst(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	// Inserted in this order (a and b by setup); by id: a, b, c, m, t, z.
	more := []aggregator.Site{
		{ID: "t", Name: "T", Kind: aggregator.Road}, // 1 event among 50: insufficient
		{ID: "z", Name: "Z", Kind: aggregator.Road}, // 2 among 100: 500 points per 1,000, low end 60.6
		{ID: "m", Name: "M", Kind: aggregator.Road}, // 30 among 3,000: 250 per 1,000, low end 168.7
		{ID: "c", Name: "C", Kind: aggregator.Road}, // 0 among 300: ties with b (0 among 500)
	}
	if err := st.UpsertSites(ctx, more); err != nil {
		t.Fatal(err)
	}
	v1 := catalog("v1", 25)
	if _, err := st.EnsureCatalog(ctx, v1, map[string]aggregator.SiteKind{"a": aggregator.Road, "b": aggregator.Road, "c": aggregator.Road, "m": aggregator.Road, "t": aggregator.Road, "z": aggregator.Road}); err != nil {
		t.Fatal(err)
	}
	b := &aggregator.Batch{}
	for site, n := range map[string]int{"t": 1, "z": 2, "m": 30} {
		for range n {
			b.Events = append(b.Events, event(fmt.Sprint("r", len(b.Events)), site, now.Add(-time.Duration(len(b.Events)+1)*time.Minute), v1))
		}
	}
	for site, n := range map[string]int{"t": 50, "z": 100, "m": 3000, "c": 300, "b": 500} { // a: none
		b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: "k" + site, Camera: "c", Site: site, Zone: "z", Start: now.Add(-time.Hour), PeriodS: 60, Counts: map[string]int{"car": n}})
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v1", From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sc {
		got = append(got, fmt.Sprintf("%s#%d", s.ID, s.Rank))
	}
	want := []string{"m#1", "z#2", "b#3", "c#4", "a#0", "t#0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ranking\n got %v\nwant %v (low end of the risk interval, ties by id, insufficient data last)", got, want)
	}
	if m, z := sc[0], sc[1]; m.Risk.PerThousand != 250 || z.Risk.PerThousand != 500 || m.Risk.Low < 168.6 || m.Risk.Low > 168.8 || z.Risk.Low < 60.5 || z.Risk.Low > 60.6 {
		t.Fatalf("risk m %+v z %+v", m.Risk, z.Risk)
	}
}

// testScoreDetails: a site with exactly min_road_users road users has rates; a site lists its
// cameras, and one with none an empty list, not null.
func testScoreDetails(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	b := &aggregator.Batch{Events: []aggregator.PricedEvent{event("e1", "a", now.Add(-time.Hour), v1)},
		Counts: []aggregator.Counts{{Device: "d", ID: "k1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-2 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": 150, "bus": 50}}}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v1", From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		switch s.ID {
		case "a":
			if s.RoadUsers != 200 || s.Status != aggregator.StatusOK || s.Rates["red_light_running"].Events != 1 {
				t.Errorf("site a with exactly min_road_users (200): %+v", s)
			}
			if fmt.Sprint(s.Cameras) != "[c spare]" {
				t.Errorf("site a cameras %v, want [c spare]", s.Cameras)
			}
		case "b":
			if s.Cameras == nil || len(s.Cameras) != 0 {
				t.Errorf("site b without cameras: cameras %#v, want an empty list", s.Cameras)
			}
		}
	}
}

// testSeriesBins: bins start at from (truncated to the bin) plus i bins; at most 10,000 bins,
// and a bin must be positive.
func testSeriesBins(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	from := now.Add(-time.Hour)
	bins, err := st.FindSeries(ctx, "a", from, now, 15*time.Minute)
	if err != nil || len(bins) != 4 {
		t.Fatalf("%d bins, %v", len(bins), err)
	}
	for i, b := range bins {
		if want := from.Add(time.Duration(i) * 15 * time.Minute); !b.Start.Equal(want) {
			t.Errorf("bin %d starts %v, want %v", i, b.Start, want)
		}
	}
	if _, err := st.FindSeries(ctx, "a", now.Add(-10000*time.Minute), now, time.Minute); err != nil {
		t.Errorf("10,000 bins: %v", err)
	}
	if _, err := st.FindSeries(ctx, "a", now.Add(-10001*time.Minute), now, time.Minute); err == nil {
		t.Error("10,001 bins accepted")
	}
	if _, err := st.FindSeries(ctx, "a", from, now, 0); err == nil {
		t.Error("a zero bin accepted")
	}
}

// testFullInsertChunk: a batch of exactly one INSERT's worth of events (64) and of two
// (128) is stored whole: no empty statement after the last chunk.
func testFullInsertChunk(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 1)
	for _, n := range []int{64, 128} {
		b := &aggregator.Batch{}
		for i := range n {
			b.Events = append(b.Events, event(fmt.Sprintf("c%d-%d", n, i), "a", now.Add(-time.Duration(i+1)*time.Second), v1))
		}
		got, err := st.Commit(ctx, b)
		if err != nil || got != n {
			t.Fatalf("batch of %d: inserted %d, %v", n, got, err)
		}
	}
}
