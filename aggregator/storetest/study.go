package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// testSiteTimeZone: a site's time zone is stored, changed by a new configuration, and shown
// with its score.
func testSiteTimeZone(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	s, err := st.FindSite(ctx, "a")
	if err != nil || s.TimeZone != "" || len(s.Cameras) != 2 {
		t.Fatalf("site a %+v, %v", s, err)
	}
	next := append([]aggregator.Site{}, sites...)
	next[0].TimeZone = "Europe/Vienna"
	if err := st.UpsertSites(ctx, next); err != nil {
		t.Fatal(err)
	}
	if s, err := st.FindSite(ctx, "a"); err != nil || s.TimeZone != "Europe/Vienna" {
		t.Errorf("after the change: %+v, %v", s, err)
	}
	all, err := st.FindSites(ctx)
	if err != nil || len(all) != 2 || all[0].TimeZone != "Europe/Vienna" || all[1].TimeZone != "" {
		t.Errorf("sites %+v, %v", all, err)
	}
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v1", From: now.Add(-time.Hour), To: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range sc {
		if x.ID == "a" && x.TimeZone != "Europe/Vienna" {
			t.Errorf("score of a has time zone %q", x.TimeZone)
		}
	}
	if _, err := st.FindSite(ctx, "zz"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("unknown site: %v", err)
	}
}

// testStudyRecords: events per type and road users in UTC buckets, raw count records by zone,
// and events filtered by type.
func testStudyRecords(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	b := &aggregator.Batch{}
	at := []time.Duration{0, 14 * time.Minute, 15 * time.Minute, 59 * time.Minute, 61 * time.Minute}
	for i, d := range at {
		e := event(string(rune('a'+i)), "a", now.Add(d), v1)
		if i == 1 {
			e.Type = "jaywalking"
		}
		b.Events = append(b.Events, e)
	}
	b.Events = append(b.Events, event("other", "b", now, v1))
	b.Counts = []aggregator.Counts{
		{Device: "d", ID: "c1", Camera: "c", Site: "a", Zone: "nb", Start: now, PeriodS: 60, Counts: map[string]int{"car": 3, "bus": 1},
			Movements: map[string]map[string]int{"south>north": {"car": 2}, "south>east": {"car": 1, "bus": 1}}},
		{Device: "d", ID: "c2", Camera: "c", Site: "a", Zone: "xw", Start: now.Add(20 * time.Minute), PeriodS: 60, Counts: map[string]int{"person": 5}},
		{Device: "d", ID: "c3", Camera: "c", Site: "a", Zone: "nb", Start: now.Add(2 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": 9}},
		{Device: "d", ID: "c4", Camera: "c", Site: "b", Zone: "nb", Start: now, PeriodS: 60, Counts: map[string]int{"car": 100}},
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	f := aggregator.BucketFilter{Site: "a", From: now, To: now.Add(time.Hour), Grain: 15 * time.Minute}
	ev, err := st.FindEventBuckets(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []aggregator.Bucket{{Start: now, Type: "jaywalking", N: 1}, {Start: now, Type: "red_light_running", N: 1},
		{Start: now.Add(15 * time.Minute), Type: "red_light_running", N: 1}, {Start: now.Add(45 * time.Minute), Type: "red_light_running", N: 1}}
	if len(ev) != len(want) {
		t.Fatalf("event buckets %v, want %v", ev, want)
	}
	for i := range want {
		if !ev[i].Start.Equal(want[i].Start) || ev[i].Type != want[i].Type || ev[i].N != want[i].N {
			t.Errorf("bucket %d = %v, want %v", i, ev[i], want[i])
		}
	}
	f.Types = []string{"jaywalking"}
	if ev, err := st.FindEventBuckets(ctx, f); err != nil || len(ev) != 1 || ev[0].Type != "jaywalking" {
		t.Errorf("jaywalking only: %v, %v", ev, err)
	}
	ru, err := st.FindRoadUserBuckets(ctx, aggregator.BucketFilter{Site: "a", From: now, To: now.Add(3 * time.Hour), Grain: 15 * time.Minute})
	if err != nil || len(ru) != 3 || ru[0].N != 4 || !ru[1].Start.Equal(now.Add(15*time.Minute)) || ru[1].N != 5 || ru[2].N != 9 {
		t.Errorf("road user buckets %v, %v", ru, err)
	}
	if _, err := st.FindEventBuckets(ctx, aggregator.BucketFilter{Site: "a", From: now, To: now.Add(time.Hour), Grain: 7 * time.Minute}); err == nil {
		t.Error("a 7-minute grain accepted")
	}
	if _, err := st.FindEventBuckets(ctx, aggregator.BucketFilter{Site: "zz", From: now, To: now.Add(time.Hour), Grain: time.Hour}); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("unknown site: %v", err)
	}
	c, err := st.FindCounts(ctx, aggregator.CountFilter{Site: "a", From: now, To: now.Add(time.Hour)})
	if err != nil || len(c) != 2 || c[0].Zone != "nb" || c[0].Counts["car"] != 3 || c[0].Counts["bus"] != 1 || c[1].Counts["person"] != 5 || !c[1].Start.Equal(now.Add(20*time.Minute)) {
		t.Errorf("counts %+v, %v", c, err)
	}
	if len(c) == 2 && (c[0].Movements["south>east"]["bus"] != 1 || c[0].Movements["south>north"]["car"] != 2 || c[1].Movements != nil) {
		t.Errorf("movements %v, %v", c[0].Movements, c[1].Movements)
	}
	if c, err := st.FindCounts(ctx, aggregator.CountFilter{Site: "a", Zone: "nb", From: now, To: now.Add(3 * time.Hour)}); err != nil || len(c) != 2 || c[1].Counts["car"] != 9 {
		t.Errorf("zone nb counts %+v, %v", c, err)
	}
	e, err := st.FindEvents(ctx, aggregator.EventFilter{Site: "a", From: now, To: now.Add(2 * time.Hour), Types: []string{"jaywalking"}})
	if err != nil || len(e) != 1 || e[0].Type != "jaywalking" {
		t.Errorf("jaywalking events %+v, %v", e, err)
	}
	if e, err := st.FindEvents(ctx, aggregator.EventFilter{From: now, To: now.Add(2 * time.Hour), Types: []string{"red_light_running", "jaywalking"}}); err != nil || len(e) != 6 {
		t.Errorf("%d events of both types, %v", len(e), err)
	}
}

// testLedgerPeriod: a ledger read for a period keeps the rows of events inside it.
func testLedgerPeriod(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	b := &aggregator.Batch{}
	for i, d := range []time.Duration{-2 * time.Hour, -time.Hour, 0} {
		b.Events = append(b.Events, event(string(rune('p'+i)), "a", now.Add(d), v1))
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1", From: now.Add(-time.Hour), To: now})
	if err != nil || len(l) != 1 || l[0].EventID != "q" {
		t.Errorf("ledger of the hour before now: %+v, %v", l, err)
	}
	if l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1", Newest: 5, From: now.Add(-time.Hour)}); err != nil || len(l) != 2 || l[0].EventID != "r" {
		t.Errorf("newest from an hour before now: %+v, %v", l, err)
	}
	if l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1"}); err != nil || len(l) != 3 {
		t.Errorf("whole ledger: %d rows, %v", len(l), err)
	}
}
