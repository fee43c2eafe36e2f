// Package storetest is the conformance suite every aggregator store passes: SQLite and
// PostgreSQL run the same tests against the same statements.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

var sites = []aggregator.Site{{ID: "a", Name: "A", Kind: aggregator.Road, Cameras: []string{"c", "spare"}}, {ID: "b", Name: "B", Kind: aggregator.Road}}

var kinds = map[string]aggregator.SiteKind{"a": aggregator.Road, "b": aggregator.Road}

func catalog(version string, points int) *aggregator.Catalog {
	return &aggregator.Catalog{Version: version, Entries: []aggregator.CatalogEntry{
		{Type: "red_light_running", Points: points, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
}

// Opener returns a new, empty store for one test.
type Opener func(t *testing.T) *sqlstore.Store

// Run runs the conformance suite against stores from open.
func Run(t *testing.T, open Opener) {
	setup := func(t *testing.T) *sqlstore.Store {
		st := open(t)
		if err := st.UpsertSites(context.Background(), sites); err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("NewCatalogVersionReprices", func(t *testing.T) { testNewCatalogVersionReprices(t, setup(t)) })
	t.Run("WindowAndRates", func(t *testing.T) { testWindowAndRates(t, setup(t)) })
	t.Run("ExactlyOnce", func(t *testing.T) { testExactlyOnce(t, setup(t)) })
	t.Run("SeriesAndEvents", func(t *testing.T) { testSeriesAndEvents(t, setup(t)) })
	t.Run("DevicesGapsDeadLetters", func(t *testing.T) { testDevicesGapsDeadLetters(t, setup(t)) })
	t.Run("DeviceCameras", func(t *testing.T) { testDeviceCameras(t, setup(t)) })
	t.Run("EventAndEvidence", func(t *testing.T) { testEventAndEvidence(t, setup(t)) })
	t.Run("NewestLedgerRows", func(t *testing.T) { testNewestLedgerRows(t, setup(t)) })
	t.Run("SiteCameras", func(t *testing.T) { testSiteCameras(t, setup(t)) })
	t.Run("UsersTokensSessions", func(t *testing.T) { testUsersTokensSessions(t, setup(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, setup(t)) })
	t.Run("DeadLetterPages", func(t *testing.T) { testDeadLetterPages(t, setup(t)) })
	t.Run("PruneKeepsEvents", func(t *testing.T) { testPruneKeepsEvents(t, setup(t)) })
	t.Run("RankedWorstFirst", func(t *testing.T) { testRankedWorstFirst(t, setup(t)) })
	t.Run("ScoreDetails", func(t *testing.T) { testScoreDetails(t, setup(t)) })
	t.Run("SeriesBins", func(t *testing.T) { testSeriesBins(t, setup(t)) })
	t.Run("FullInsertChunk", func(t *testing.T) { testFullInsertChunk(t, setup(t)) })
	runReviews(t, setup)
	t.Run("SiteTimeZone", func(t *testing.T) { testSiteTimeZone(t, setup(t)) })
	t.Run("StudyRecords", func(t *testing.T) { testStudyRecords(t, setup(t)) })
	t.Run("LedgerPeriod", func(t *testing.T) { testLedgerPeriod(t, setup(t)) })
	t.Run("RollupsMatchRaw", func(t *testing.T) { testRollupsMatchRaw(t, setup(t)) })
	t.Run("RollupsSealed", func(t *testing.T) { testRollupsSealed(t, setup(t)) })
	t.Run("SiteChanges", func(t *testing.T) { testSiteChanges(t, setup(t)) })
	t.Run("RegistrySites", func(t *testing.T) { testRegistrySites(t, setup(t)) })
	t.Run("RegistryCameras", func(t *testing.T) { testRegistryCameras(t, setup(t)) })
	t.Run("Frames", func(t *testing.T) { testFrames(t, setup(t)) })
	t.Run("SyntheticLoad", func(t *testing.T) { testSyntheticLoad(t, setup(t)) })
}

// The dashboard shows a site's newest deductions without loading its whole ledger.
func testNewestLedgerRows(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	b := &aggregator.Batch{}
	for i := range 5 {
		b.Events = append(b.Events, event(fmt.Sprint("e", i), "a", now.Add(-time.Duration(5-i)*time.Minute), v1))
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1", Newest: 2})
	if err != nil || len(l) != 2 || l[0].EventID != "e4" || l[1].EventID != "e3" {
		t.Fatalf("newest 2: %+v %v", l, err)
	}
	all, _ := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a"})
	if len(all) != 5 || all[0].EventID != "e0" {
		t.Fatalf("whole ledger, oldest first: %+v", all)
	}
	page, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", After: all[1].Seq, Limit: 2})
	if err != nil || len(page) != 2 || page[0].EventID != "e2" || page[1].EventID != "e3" {
		t.Fatalf("2 rows after %d: %+v %v", all[1].Seq, page, err)
	}
}

// A site's cameras: those it lists (even silent ones) and every device that reported from one.
func testSiteCameras(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	e1, e2 := event("e1", "a", now.Add(-time.Hour), v1), event("e2", "a", now.Add(-time.Minute), v1)
	e3 := event("e3", "a", now.Add(-2*time.Minute), v1)
	e3.Device = "d2"
	b := &aggregator.Batch{Events: []aggregator.PricedEvent{e1, e2, e3},
		Counts: []aggregator.Counts{{Device: "d3", ID: "k1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-10 * time.Minute), PeriodS: 60, Counts: map[string]int{"car": 3}}}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindSiteCameras(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := []aggregator.CameraDevice{
		{Camera: "c", Device: "d", LastRecord: now.Add(-time.Minute), Events: 2},
		{Camera: "c", Device: "d2", LastRecord: now.Add(-2 * time.Minute), Events: 1},
		{Camera: "c", Device: "d3", LastRecord: now.Add(-9 * time.Minute), Events: 0},
		{Camera: "spare"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cameras\n got %v\nwant %v", got, want)
	}
	if _, err := st.FindSiteCameras(ctx, "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
}

// TestRate is not per store: the rate arithmetic.
func TestRate(t *testing.T) { testNewRate(t) }

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func event(id, site string, at time.Time, cat *aggregator.Catalog) aggregator.PricedEvent {
	p, ok := cat.Price("red_light_running", aggregator.Road, 0.9)
	return aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: id, Camera: "c", Site: site, Zone: "z",
		Type: "red_light_running", Class: "car", Time: at, Received: at, Confidence: 0.9}, Points: p, Priced: ok, CatalogVersion: cat.Version}
}

// A new catalog version re-prices every stored event; the old version's rows stay, so any
// score can be explained under either version.
func testNewCatalogVersionReprices(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
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
		points  int
	}{{"v1", 50}, {"v2", 80}} {
		q.CatalogVersion = c.version
		sc, err := st.FindSiteScores(ctx, q)
		if err != nil || sc[0].ID != "a" || sc[0].Points != c.points || sc[0].Deductions != 2 {
			t.Fatalf("%s: %+v %v", c.version, sc, err)
		}
	}
	l, _ := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v2"})
	if len(l) != 2 || l[0].Points != 40 || l[0].CatalogVersion != "v2" {
		t.Fatalf("v2 ledger %+v", l)
	}
	all, _ := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: ""})
	if len(all) != 4 {
		t.Fatalf("ledger across versions: %d rows", len(all))
	}
	// The same version with other prices is refused: the ledger would no longer explain the score.
	if _, err := st.EnsureCatalog(ctx, catalog("v2", 41), kinds); !errors.Is(err, sqlstore.ErrCatalogChanged) {
		t.Fatalf("changed catalog under an old version: %v", err)
	}
}

// Deductions leave the score when they leave the rolling window: a fixed site recovers.
// Rates need exposure, and say so when there is too little.
func testWindowAndRates(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
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
	// 25 points among 300 road users: 83.3 points per 1,000, a score of 917.
	if a.ID != "a" || a.Points != 25 || a.Score == nil || *a.Score != 917 || a.Events["red_light_running"] != 1 || a.RoadUsers != 300 {
		t.Fatalf("site a %+v: the 40-day-old event must have left the 30-day window", a)
	}
	r := a.Rates["red_light_running"]
	if a.Status != aggregator.StatusOK || r.Events != 1 || r.PerThousand < 3.33 || r.PerThousand > 3.34 || r.Low >= r.PerThousand || r.High <= r.PerThousand {
		t.Fatalf("rate %+v status %s", r, a.Status)
	}
	if bSite.Status != aggregator.StatusInsufficientData || len(bSite.Rates) != 0 || bSite.Score != nil || bSite.Rank != 0 || a.Rank != 1 {
		t.Fatalf("site b with 20 road users: %+v", bSite)
	}
	q.From = now.Add(-60 * 24 * time.Hour)
	sc, _ = st.FindSiteScores(ctx, q)
	if sc[0].Points != 50 {
		t.Fatalf("60-day window: %+v", sc[0])
	}
}

func testNewRate(t *testing.T) {
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

// Concurrent commits of the same events (several aggregators, re-deliveries) record each once.
func testExactlyOnce(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	st.EnsureCatalog(ctx, v1, kinds)
	var b aggregator.Batch
	for i := 0; i < 200; i++ {
		b.Events = append(b.Events, event(fmt.Sprintf("e%d", i), "a", now.Add(-time.Duration(i)*time.Second), v1))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each its own copy of the batch: Commit marks the events it stored New in it.
			mine := b
			mine.Events = slices.Clone(b.Events)
			n, err := st.Commit(ctx, &mine)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			inserted += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if inserted != 200 {
		t.Fatalf("4 concurrent commits of 200 events inserted %d", inserted)
	}
	l, _ := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1"})
	if len(l) != 200 {
		t.Fatalf("%d ledger rows for 200 events", len(l))
	}

	// A batch of several row sets mixing events already stored, events repeated within the
	// batch and new ones (some unpriced): only the new ones count, each with one ledger row
	// when priced.
	var mixed aggregator.Batch
	want, wantLedger := 0, 0
	for i := 150; i < 350; i++ {
		e := event(fmt.Sprintf("e%d", i), "a", now.Add(-time.Duration(i)*time.Second), v1)
		if i >= 200 {
			want++
			if i%7 == 0 {
				e.Priced = false
			} else {
				wantLedger++
			}
		}
		mixed.Events = append(mixed.Events, e)
		if i%3 == 0 {
			mixed.Events = append(mixed.Events, e) // a resend queued behind the first
		}
	}
	n, err := st.Commit(ctx, &mixed)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("mixed batch of %d: %d inserted, want %d", len(mixed.Events), n, want)
	}
	// Commit marks exactly the inserted events New (what /metrics counts), the first of two
	// copies in one batch, never a resend.
	marked := 0
	for i, e := range mixed.Events {
		if e.New {
			marked++
			if i > 0 && mixed.Events[i-1].ID == e.ID {
				t.Fatalf("the second copy of %s in the batch is marked New", e.ID)
			}
		}
	}
	if marked != want {
		t.Fatalf("mixed batch: %d events marked New, %d inserted", marked, want)
	}
	l, _ = st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: "v1"})
	if len(l) != 200+wantLedger {
		t.Fatalf("%d ledger rows after the mixed batch, want %d", len(l), 200+wantLedger)
	}
	if n, err := st.Commit(ctx, &mixed); err != nil || n != 0 {
		t.Fatalf("the mixed batch again: %d inserted (%v), want 0", n, err)
	}
	for _, e := range mixed.Events {
		if e.New {
			t.Fatalf("the mixed batch again: %s still marked New", e.ID)
		}
	}
}

func testSeriesAndEvents(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	st.EnsureCatalog(ctx, v1, kinds)
	b := aggregator.Batch{Events: []aggregator.PricedEvent{event("x1", "a", now.Add(-10*time.Minute), v1), event("x2", "a", now.Add(-50*time.Minute), v1), event("x3", "b", now.Add(-5*time.Minute), v1)},
		Counts: []aggregator.Counts{{Device: "d", ID: "c1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-30 * time.Minute), PeriodS: 60, Counts: map[string]int{"car": 7}}}}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	bins, err := st.FindSeries(ctx, "a", now.Add(-time.Hour), now, 15*time.Minute)
	if err != nil || len(bins) != 4 || bins[0].Events["red_light_running"] != 1 || bins[3].Events["red_light_running"] != 1 || bins[2].RoadUsers != 7 {
		t.Fatalf("series %+v %v", bins, err)
	}
	if _, err := st.FindSeries(ctx, "zz", now.Add(-time.Hour), now, time.Hour); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
	ev, err := st.FindEvents(ctx, aggregator.EventFilter{Site: "a", From: now.Add(-time.Hour), To: now})
	if err != nil || len(ev) != 2 || ev[0].ID != "x1" {
		t.Fatalf("events %+v %v", ev, err)
	}
	all, _ := st.FindEvents(ctx, aggregator.EventFilter{From: now.Add(-time.Hour), To: now})
	if len(all) != 3 {
		t.Fatalf("all events %d", len(all))
	}
}

func testDevicesGapsDeadLetters(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	b := aggregator.Batch{
		Devices: []aggregator.Device{{ID: "d", Online: true, LastSeen: now, Backlog: 3, SignalDisagreements: 2, ViewChanges: 1, LastViewChange: now.Add(-time.Minute),
			ViewMismatchSince: now.Add(-time.Minute)}},
		Gaps: []aggregator.Gap{{Device: "d", ID: "g1", Time: now, Reason: "disk_full", Evicted: map[string]int{"counts": 4}, Oldest: now, Newest: now}},
		DeadLetters: []aggregator.DeadLetter{{Received: now, Topic: "t", Device: "d", PayloadID: "p", Reason: "bad", Payload: []byte("x")},
			{Received: now, Topic: "t", Device: "d", PayloadID: "p", Reason: "bad", Payload: []byte("x")}},
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// An older status does not move last_seen back.
	st.Commit(ctx, &aggregator.Batch{Devices: []aggregator.Device{{ID: "d", Online: false, LastSeen: now.Add(-time.Hour), SignalDisagreements: 5}}})
	d, err := st.FindDevices(ctx)
	if err != nil || len(d) != 1 || d[0].Online || !d[0].LastSeen.Equal(now) || d[0].SignalDisagreements != 5 {
		t.Fatalf("devices %+v %v", d, err)
	}
	// An offline status with no counters (the broker's will) lowers none, and the last view
	// change is kept.
	if d[0].ViewChanges != 1 || !d[0].LastViewChange.Equal(now.Add(-time.Minute)) {
		t.Fatalf("view changes %d, last %v: want 1 and the last one kept", d[0].ViewChanges, d[0].LastViewChange)
	}
	// The camera's view mismatch is an online status's to clear; the will keeps it.
	if !d[0].ViewMismatchSince.Equal(now.Add(-time.Minute)) {
		t.Fatalf("view mismatch since %v after an offline status: want %v kept", d[0].ViewMismatchSince, now.Add(-time.Minute))
	}
	// The last status of a clean stop (offline) that carries a mismatch sets it.
	later := now.Add(30 * time.Second)
	st.Commit(ctx, &aggregator.Batch{Devices: []aggregator.Device{{ID: "d", Online: false, LastSeen: now, ViewChanges: 2, LastViewChange: later, ViewMismatchSince: later}}})
	if d, _ = st.FindDevices(ctx); !d[0].ViewMismatchSince.Equal(later) {
		t.Fatalf("view mismatch since %v after a clean stop's status, want %v", d[0].ViewMismatchSince, later)
	}
	// A restarted device starts its counters again; the last view change stays.
	st.Commit(ctx, &aggregator.Batch{Devices: []aggregator.Device{{ID: "d", Online: true, LastSeen: now.Add(time.Minute), SignalDisagreements: 0}}})
	d, _ = st.FindDevices(ctx)
	if d[0].ViewChanges != 0 || d[0].SignalDisagreements != 0 || !d[0].LastViewChange.Equal(later) || !d[0].ViewMismatchSince.IsZero() {
		t.Fatalf("after a restart (its view matching): %+v", d[0])
	}
	g, err := st.FindGaps(ctx, 10)
	if err != nil || len(g) != 1 || g[0].Evicted["counts"] != 4 {
		t.Fatalf("gaps %+v %v", g, err)
	}
	dl, err := st.FindDeadLetters(ctx, 10, 0)
	if err != nil || len(dl) != 1 || string(dl[0].Payload) != "x" || dl[0].Size != 1 {
		t.Fatalf("dead letters (the same payload twice is kept once) %+v %v", dl, err)
	}
}

// A device's cameras are kept as its last status gave them: an offline status without
// cameras (the will, a clean stop) keeps the last known; any other replaces them.
func testDeviceCameras(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	cams := []aggregator.CameraStatus{
		{ID: "c1", State: "up", DecodedFPS: 25, AnalysedFPS: 12.5, LastFrame: now.Add(-time.Second), Reconnects: 2, ViewChanges: 1, ViewMismatch: true,
			Signals: []aggregator.SignalState{{ID: "north", State: "green", Source: "feed"}}},
		{ID: "c2", State: "reconnecting", LastFrame: now.Add(-time.Minute), Error: `source "x" dropped; reconnecting`},
	}
	commit := func(d aggregator.Device) []aggregator.Device {
		t.Helper()
		if _, err := st.Commit(ctx, &aggregator.Batch{Devices: []aggregator.Device{d}}); err != nil {
			t.Fatal(err)
		}
		got, err := st.FindDevices(ctx)
		if err != nil || len(got) != 2 {
			t.Fatalf("devices %+v %v", got, err)
		}
		return got
	}
	// A device that reports no cameras.
	if _, err := st.Commit(ctx, &aggregator.Batch{Devices: []aggregator.Device{{ID: "quiet", Online: true, LastSeen: now}}}); err != nil {
		t.Fatal(err)
	}
	got := commit(aggregator.Device{ID: "box", Online: true, LastSeen: now, Cameras: cams})
	if !reflect.DeepEqual(got[0].Cameras, cams) {
		t.Fatalf("cameras\n got %+v\nwant %+v", got[0].Cameras, cams)
	}
	if got[1].Cameras == nil || len(got[1].Cameras) != 0 {
		t.Fatalf("a device without cameras: %#v, want []", got[1].Cameras)
	}
	got = commit(aggregator.Device{ID: "box", Online: false, LastSeen: now})
	if got[0].Online || !reflect.DeepEqual(got[0].Cameras, cams) {
		t.Fatalf("after the will: %+v, want offline with the cameras last known", got[0])
	}
	got = commit(aggregator.Device{ID: "box", Online: false, LastSeen: now, Cameras: cams[1:]})
	if !reflect.DeepEqual(got[0].Cameras, cams[1:]) {
		t.Fatalf("an offline status with cameras: %+v", got[0].Cameras)
	}
	got = commit(aggregator.Device{ID: "box", Online: true, LastSeen: now})
	if len(got[0].Cameras) != 0 {
		t.Fatalf("an online status without cameras: %+v, want none", got[0].Cameras)
	}
}

func testEventAndEvidence(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	with := event("ev1", "a", now.Add(-time.Minute), v1)
	with.Evidence = []byte{0xFF, 0xD8, 0xFF, 0xDB, 0, 1, 2}
	without := event("ev2", "a", now.Add(-time.Minute), v1)
	if _, err := st.Commit(ctx, &aggregator.Batch{Events: []aggregator.PricedEvent{with, without}}); err != nil {
		t.Fatal(err)
	}
	e, err := st.FindEvent(ctx, "d", "ev1")
	if err != nil || !e.HasEvidence || string(e.Evidence) != string(with.Evidence) || e.Site != "a" {
		t.Fatalf("%+v %v", e, err)
	}
	if e, _ := st.FindEvent(ctx, "d", "ev2"); e.HasEvidence {
		t.Fatal("evidence on an event without")
	}
	if _, err := st.FindEvent(ctx, "d", "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown event: %v", err)
	}
	list, _ := st.FindEvents(ctx, aggregator.EventFilter{Site: "a", From: now.Add(-time.Hour), To: now})
	n := 0
	for _, x := range list {
		if x.HasEvidence {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d events listed with evidence, want 1", n)
	}
}
