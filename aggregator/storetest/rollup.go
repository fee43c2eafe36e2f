package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// testRollupsMatchRaw: rankings, tallies and series answered from the rollups equal sums
// over the stored rows, for windows that start and end anywhere (inside a 5-minute bin, on an
// hour, across days), with re-deliveries that must add nothing, and after a rebuild.
func testRollupsMatchRaw(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	v1.Entries = append(v1.Entries, aggregator.CatalogEntry{Type: "jaywalking", Points: 7, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "y"})
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 7))
	start := now.Add(-3 * 24 * time.Hour)
	span := int64(3 * 24 * time.Hour / time.Millisecond)
	var all []aggregator.PricedEvent
	var counts []aggregator.Counts
	for batch := range 6 {
		b := &aggregator.Batch{}
		for i := range 150 {
			typ := "red_light_running"
			if rng.IntN(3) == 0 {
				typ = "jaywalking"
			}
			at := start.Add(time.Duration(rng.Int64N(span)) * time.Millisecond)
			if rng.IntN(3) == 0 { // on a bin's edge, or a millisecond before it
				w := []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour}[rng.IntN(3)]
				at = at.Truncate(w).Add(-time.Duration(rng.IntN(2)) * time.Millisecond)
			}
			e := event(fmt.Sprintf("x%d-%d", batch, i), []string{"a", "b"}[rng.IntN(2)], at, v1)
			e.Type = typ
			e.Points, e.Priced = v1.Price(typ, aggregator.Road, 0.9)
			b.Events = append(b.Events, e)
		}
		for i := range 40 {
			b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: fmt.Sprintf("k%d-%d", batch, i), Camera: "c", Site: []string{"a", "b"}[rng.IntN(2)], Zone: "z",
				Start: start.Add(time.Duration(rng.Int64N(span)) * time.Millisecond), PeriodS: 60, Counts: map[string]int{"car": 1 + rng.IntN(30), "bus": rng.IntN(3)}})
		}
		if batch > 0 { // the previous batch again, in part: a relay resending
			b.Events = append(b.Events, all[len(all)-40:]...)
			b.Counts = append(b.Counts, counts[len(counts)-10:]...)
		}
		if _, err := st.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Events[:150]...)
		counts = append(counts, b.Counts[:40]...)
	}
	type want struct {
		events    map[string]int
		points    int
		roadUsers int
	}
	raw := func(site string, from, to time.Time) want {
		w := want{events: map[string]int{}}
		for _, e := range all {
			if e.Site == site && !e.Time.Before(from) && e.Time.Before(to) {
				w.events[e.Type]++
				w.points += e.Points
			}
		}
		for _, c := range counts {
			if c.Site == site && !c.Start.Before(from) && c.Start.Before(to) {
				for _, n := range c.Counts {
					w.roadUsers += n
				}
			}
		}
		return w
	}
	check := func(when string) {
		t.Helper()
		windows := [][2]time.Time{
			{start, now},                    // everything
			{now.Add(-24 * time.Hour), now}, // a day, on the hour
			{start.Add(7*time.Minute + 13*time.Second), now.Add(-26*time.Hour - 3*time.Millisecond)},                                   // ragged ends
			{now.Add(-30 * time.Hour).Truncate(24 * time.Hour), now.Add(-30 * time.Hour).Truncate(24 * time.Hour).Add(24 * time.Hour)}, // one UTC day
			{now.Add(-2*time.Hour - time.Minute), now.Add(-2*time.Hour + 2*time.Minute)},                                               // inside a 5-minute bin
		}
		for range 20 {
			a, b := rng.Int64N(span), rng.Int64N(span)
			if rng.IntN(2) == 0 { // ends on bin edges
				a, b = a/int64(5*time.Minute/time.Millisecond)*int64(5*time.Minute/time.Millisecond), b/int64(time.Hour/time.Millisecond)*int64(time.Hour/time.Millisecond)
			}
			windows = append(windows, [2]time.Time{start.Add(time.Duration(min(a, b)) * time.Millisecond), start.Add(time.Duration(max(a, b)+1) * time.Millisecond)})
		}
		for _, w := range windows {
			sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v1", From: w[0], To: w[1], MinRoadUsers: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sc {
				r := raw(s.ID, w[0], w[1])
				if fmt.Sprint(s.Events) != fmt.Sprint(r.events) || s.Points != r.points || s.RoadUsers != r.roadUsers {
					t.Fatalf("%s: site %s over %v–%v: events %v points %d road users %d; the stored rows say %v, %d, %d",
						when, s.ID, w[0], w[1], s.Events, s.Points, s.RoadUsers, r.events, r.points, r.roadUsers)
				}
				tl, err := st.FindTally(ctx, s.ID, w[0], w[1])
				if err != nil || fmt.Sprint(tl.Events) != fmt.Sprint(r.events) || tl.RoadUsers != r.roadUsers {
					t.Fatalf("%s: tally of %s over %v–%v: %+v %v; want %v, %d", when, s.ID, w[0], w[1], tl, err, r.events, r.roadUsers)
				}
			}
		}
		for _, bin := range []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, 7 * time.Minute} {
			for _, to := range []time.Time{now, now.Add(-3*time.Hour - 17*time.Minute - 5*time.Second)} {
				from := to.Add(-24 * time.Hour)
				bins, err := st.FindSeries(ctx, "a", from, to, bin)
				if err != nil {
					t.Fatal(err)
				}
				for i, b := range bins {
					end := b.Start.Add(bin)
					if end.After(to) {
						end = to
					}
					lo := b.Start
					if lo.Before(from.Truncate(bin)) {
						lo = from.Truncate(bin)
					}
					r := raw("a", lo, end)
					if fmt.Sprint(b.Events) != fmt.Sprint(r.events) || b.RoadUsers != r.roadUsers {
						t.Fatalf("%s: %v bin %d (%v) to %v: %v %d; want %v %d", when, bin, i, b.Start, to, b.Events, b.RoadUsers, r.events, r.roadUsers)
					}
				}
			}
		}
	}
	check("kept at commit")
	if err := st.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	// A new catalog version rolls up its re-priced ledger.
	v2 := catalog("v2", 40)
	if _, err := st.EnsureCatalog(ctx, v2, kinds); err != nil {
		t.Fatal(err)
	}
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v2", From: start, To: now, MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		if want := 40 * s.Events["red_light_running"]; s.Points != want || s.Deductions != s.Events["red_light_running"] {
			t.Fatalf("v2: site %s has %d points in %d deductions, want %d (40 per red-light run, jaywalking unpriced)", s.ID, s.Points, s.Deductions, want)
		}
	}
}

// testSiteChanges: changes are recorded per site, listed oldest first, and audited.
func testSiteChanges(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	for i, d := range []string{"signal retimed: 4 s all-red", "crossing moved 20 m north"} {
		c, err := st.CreateSiteChange(ctx, aggregator.SiteChange{Site: "a", Time: now.Add(-time.Duration(i) * 24 * time.Hour), Description: d, Actor: "user:eng", Created: now})
		if err != nil || c.ID == 0 {
			t.Fatalf("create: %+v %v", c, err)
		}
	}
	got, err := st.FindSiteChanges(ctx, "a")
	if err != nil || len(got) != 2 || got[0].Description != "crossing moved 20 m north" || !got[1].Time.Equal(now) || got[1].Actor != "user:eng" {
		t.Fatalf("changes %+v %v", got, err)
	}
	if none, err := st.FindSiteChanges(ctx, "b"); err != nil || len(none) != 0 || none == nil {
		t.Fatalf("site b: %#v %v, want an empty list", none, err)
	}
	if _, err := st.CreateSiteChange(ctx, aggregator.SiteChange{Site: "nope", Time: now, Description: "x", Created: now}); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
	if _, err := st.FindSiteChanges(ctx, "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
	a, _ := st.FindAudit(ctx, 10, 0)
	n := 0
	for _, e := range a {
		if e.Action == "site.change_recorded" && e.Actor == "user:eng" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("audit %+v: want 2 site.change_recorded entries", a)
	}
}
