package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// sealTruth is what the rollups must add up to, kept beside the store: every event committed
// (once) with its points under each catalog version and whether it is dismissed, and every
// count record.
type sealTruth struct {
	mu     sync.Mutex
	events map[string]*sealEvent
	counts map[string]aggregator.Counts
}

type sealEvent struct {
	site, typ string
	at        time.Time
	points    map[string]int // by catalog version, priced ones only
	dismissed bool
}

func newSealTruth() *sealTruth {
	return &sealTruth{events: map[string]*sealEvent{}, counts: map[string]aggregator.Counts{}}
}

// sum is one site's figures over [from, to) under version.
func (tr *sealTruth) sum(site, version string, from, to time.Time) (events map[string]int, points, points2, deductions, roadUsers int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	events = map[string]int{}
	in := func(at time.Time) bool { return !at.Before(from) && at.Before(to) }
	for _, e := range tr.events {
		if e.site != site || e.dismissed || !in(e.at) {
			continue
		}
		events[e.typ]++
		if p, ok := e.points[version]; ok {
			points, points2, deductions = points+p, points2+p*p, deductions+1
		}
	}
	for _, c := range tr.counts {
		if c.Site == site && in(c.Start) {
			for _, n := range c.Counts {
				roadUsers += n
			}
		}
	}
	return events, points, points2, deductions, roadUsers
}

// nonZero drops the types counted zero: a rollup row whose only event was dismissed stays,
// at zero, where the raw rows have nothing.
func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// sealBatch makes a batch for clock c: most events just before c (live traffic, the open
// hour and day), some hours or days late (an edge's backlog: sealed bins), a few a little
// ahead; the same for counts; and part of prev again (a relay resending). The events are
// priced under cat.
func sealBatch(rng *rand.Rand, prefix string, c time.Time, cat *aggregator.Catalog, prev *aggregator.Batch) *aggregator.Batch {
	b := &aggregator.Batch{Now: c}
	at := func() time.Time {
		switch r := rng.IntN(10); {
		case r < 6:
			return c.Add(-time.Duration(rng.Int64N(int64(10 * time.Minute))))
		case r < 9:
			return c.Add(-time.Hour - time.Duration(rng.Int64N(int64(3*24*time.Hour))))
		default:
			return c.Add(time.Duration(rng.Int64N(int64(5 * time.Minute))))
		}
	}
	for i := range 60 {
		t := at()
		if rng.IntN(4) == 0 { // on a bin's edge, or a millisecond before it
			w := []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour}[rng.IntN(3)]
			t = t.Truncate(w).Add(-time.Duration(rng.IntN(2)) * time.Millisecond)
		}
		e := event(fmt.Sprintf("%s-%d", prefix, i), []string{"a", "b"}[rng.IntN(2)], t, cat)
		if rng.IntN(3) == 0 {
			e.Type = "jaywalking"
		}
		e.Points, e.Priced = cat.Price(e.Type, aggregator.Road, 0.9)
		b.Events = append(b.Events, e)
	}
	for i := range 15 {
		b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: fmt.Sprintf("%s-k%d", prefix, i), Camera: "c", Site: []string{"a", "b"}[rng.IntN(2)], Zone: "z",
			Start: at(), PeriodS: 60, Counts: map[string]int{"car": 1 + rng.IntN(30)}})
	}
	if prev != nil {
		b.Events = append(b.Events, prev.Events[:10]...)
		b.Counts = append(b.Counts, prev.Counts[:3]...)
	}
	return b
}

// commitSeal commits b to st and records what was new in tr.
func commitSeal(t *testing.T, st *sqlstore.Store, tr *sealTruth, b *aggregator.Batch) {
	t.Helper()
	if _, err := st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range b.Events {
		if _, ok := tr.events[e.ID]; ok {
			continue
		}
		se := &sealEvent{site: e.Site, typ: e.Type, at: e.Time, points: map[string]int{}}
		if e.Priced {
			se.points[e.CatalogVersion] = e.Points
		}
		tr.events[e.ID] = se
	}
	for _, c := range b.Counts {
		tr.counts[c.ID] = c
	}
}

// checkSeal compares rankings, tallies and series from st with tr for windows ending at,
// before and after the clock c, inside the open hour and day and across sealed ones.
func checkSeal(t *testing.T, st *sqlstore.Store, tr *sealTruth, rng *rand.Rand, when string, c time.Time, versions []string) {
	t.Helper()
	ctx := context.Background()
	windows := [][2]time.Time{
		{c.Add(-24 * time.Hour), c},
		{c.Add(-4 * 24 * time.Hour), c.Add(time.Hour)},
		{c.Truncate(time.Hour), c.Add(time.Minute)},                                  // the open hour
		{c.Truncate(24 * time.Hour), c.Truncate(24 * time.Hour).Add(24 * time.Hour)}, // the open day, whole
		{c.Add(-26*time.Hour - 7*time.Minute), c.Add(-3*time.Hour + 13*time.Second)},
	}
	for range 12 {
		span := int64(4 * 24 * time.Hour / time.Millisecond)
		a, b := rng.Int64N(span), rng.Int64N(span)
		if rng.IntN(2) == 0 {
			a, b = a/3600000*3600000, b/300000*300000
		}
		lo := c.Add(-4*24*time.Hour + time.Hour)
		windows = append(windows, [2]time.Time{lo.Add(time.Duration(min(a, b)) * time.Millisecond), lo.Add(time.Duration(max(a, b)+1) * time.Millisecond)})
	}
	for _, w := range windows {
		for _, v := range versions {
			sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: v, From: w[0], To: w[1], MinRoadUsers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(sc) != len(sites) {
				t.Fatalf("%s: %d sites scored, want %d", when, len(sc), len(sites))
			}
			for _, s := range sc {
				ev, p, p2, d, ru := tr.sum(s.ID, v, w[0], w[1])
				if fmt.Sprint(nonZero(s.Events)) != fmt.Sprint(ev) || s.Points != p || s.PointsSq != int64(p2) || s.Deductions != d || s.RoadUsers != ru {
					t.Fatalf("%s: %s site %s over %v–%v: events %v points %d (%d squared) in %d deductions, %d road users; the stored rows say %v, %d (%d), %d, %d",
						when, v, s.ID, w[0], w[1], s.Events, s.Points, s.PointsSq, s.Deductions, s.RoadUsers, ev, p, p2, d, ru)
				}
			}
		}
		for _, site := range []string{"a", "b"} {
			ev, _, _, _, ru := tr.sum(site, "", w[0], w[1])
			tl, err := st.FindTally(ctx, site, w[0], w[1])
			if err != nil || fmt.Sprint(nonZero(tl.Events)) != fmt.Sprint(ev) || tl.RoadUsers != ru {
				t.Fatalf("%s: tally of %s over %v–%v: %+v %v; want %v, %d", when, site, w[0], w[1], tl, err, ev, ru)
			}
		}
	}
	for _, bin := range []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour} {
		for _, to := range []time.Time{c, c.Add(2 * time.Hour), c.Add(-5*time.Hour - 3*time.Minute)} {
			from := to.Add(-72 * time.Hour)
			if bin == 5*time.Minute {
				from = to.Add(-6 * time.Hour)
			}
			bins, err := st.FindSeries(ctx, "a", from, to, bin)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range bins {
				lo, hi := b.Start, b.Start.Add(bin)
				if lo.Before(from.Truncate(bin)) {
					lo = from.Truncate(bin)
				}
				if hi.After(to) {
					hi = to
				}
				ev, _, _, _, ru := tr.sum("a", "", lo, hi)
				if fmt.Sprint(nonZero(b.Events)) != fmt.Sprint(ev) || b.RoadUsers != ru {
					t.Fatalf("%s: %v bin %d (%v) to %v: %v %d; want %v %d", when, bin, i, b.Start, to, b.Events, b.RoadUsers, ev, ru)
				}
			}
		}
	}
}

// testRollupsSealed: with the aggregator's clock moving on across hours and a day between
// commits (so the hour and day rollups are sealed from the finer ones), with late events into
// sealed bins, reviews of events in sealed and open bins, a new catalog version, re-deliveries
// and a rebuild, the rollups still equal sums over the stored rows.
func testRollupsSealed(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	v1.Entries = append(v1.Entries, aggregator.CatalogEntry{Type: "jaywalking", Points: 7, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "y"})
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 10))
	tr := newSealTruth()
	// The store set its watermarks to its own clock when it opened; the aggregator's runs on
	// from tomorrow evening, across midnight, then a long quiet spell.
	c := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 22*time.Hour + 30*time.Minute)
	steps := []time.Duration{0, 7 * time.Minute, 41 * time.Minute, 12 * time.Minute, 55 * time.Minute, 20 * time.Minute, 3 * time.Minute,
		2*time.Hour + 9*time.Minute, 30 * time.Minute, 26*time.Hour + 4*time.Minute, 5 * time.Minute, 61 * time.Minute}
	cat, versions := v1, []string{"v1"}
	var prev *aggregator.Batch
	var dismissed []string
	for i, step := range steps {
		c = c.Add(step)
		b := sealBatch(rng, fmt.Sprintf("s%d", i), c, cat, prev)
		commitSeal(t, st, tr, b)
		prev = b
		// Reviews: dismiss two events, one late (in a sealed bin) and one live, and undo an
		// earlier dismissal.
		for _, e := range []aggregator.PricedEvent{b.Events[rng.IntN(20)], b.Events[20+rng.IntN(30)]} {
			if _, err := st.ReviewEvent(ctx, aggregator.Review{Device: "d", EventID: e.ID, Verdict: aggregator.Dismissed, Reason: "duplicate", Reviewer: "user:r", Time: c}); err != nil {
				t.Fatal(err)
			}
			tr.events[e.ID].dismissed = true
			dismissed = append(dismissed, e.ID)
		}
		if i%3 == 2 {
			id := dismissed[rng.IntN(len(dismissed))]
			if _, err := st.ReviewEvent(ctx, aggregator.Review{Device: "d", EventID: id, Verdict: aggregator.Confirmed, Reviewer: "user:r", Time: c}); err != nil {
				t.Fatal(err)
			}
			tr.events[id].dismissed = false
		}
		switch i {
		case 4: // a new catalog version re-prices every stored event, and prices the new ones
			v2 := catalog("v2", 40)
			if _, err := st.EnsureCatalog(ctx, v2, kinds); err != nil {
				t.Fatal(err)
			}
			for _, e := range tr.events {
				if p, ok := v2.Price(e.typ, aggregator.Road, 0.9); ok {
					e.points["v2"] = p
				}
			}
			cat, versions = v2, []string{"v1", "v2"}
		case 8: // a repair mid-day: every width rebuilt, the open bins too
			if err := st.RebuildRollups(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkSeal(t, st, tr, rng, fmt.Sprintf("after commit %d at %v", i, c), c, versions)
		// The commit sealed what its clock had passed (so the checks above read sealed rows).
		marks, err := st.RollupWatermarks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h, d := marks[time.Hour], marks[24*time.Hour]; !h.Equal(c.Truncate(time.Hour)) || !d.Equal(c.Truncate(24*time.Hour)) {
			t.Fatalf("after commit %d at %v: watermarks %v", i, c, marks)
		}
	}
}

// RollupsSealedByTwo runs the seal test's traffic through two stores on one database at once
// (two aggregators on one PostgreSQL), their clocks a little apart, each committing and
// sealing as its clock passes the hours and a day, then checks the rollups against the rows.
func RollupsSealedByTwo(t *testing.T, a, b *sqlstore.Store) {
	ctx := context.Background()
	if err := a.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	v1 := catalog("v1", 25)
	if _, err := a.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	tr := newSealTruth()
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 21*time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	clocks := make([]time.Time, 2)
	for n, st := range []*sqlstore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(n), 18))
			c := start.Add(time.Duration(n) * 90 * time.Second)
			var prev *aggregator.Batch
			for i := range 40 {
				c = c.Add(time.Duration(3+rng.IntN(9)) * time.Minute)
				bt := sealBatch(rng, fmt.Sprintf("p%d-%d", n, i), c, v1, prev)
				if _, err := st.Commit(ctx, bt); err != nil {
					errs <- err
					return
				}
				prev, clocks[n] = bt, c
				tr.mu.Lock()
				for _, e := range bt.Events {
					if _, ok := tr.events[e.ID]; !ok {
						tr.events[e.ID] = &sealEvent{site: e.Site, typ: e.Type, at: e.Time, points: map[string]int{}}
						if e.Priced {
							tr.events[e.ID].points["v1"] = e.Points
						}
					}
				}
				for _, k := range bt.Counts {
					tr.counts[k.ID] = k
				}
				tr.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var last time.Time
	for _, e := range tr.events {
		if e.at.After(last) {
			last = e.at
		}
	}
	rng := rand.New(rand.NewPCG(2, 18))
	for _, st := range []*sqlstore.Store{a, b} {
		checkSeal(t, st, tr, rng, "after two writers", last, []string{"v1"})
	}
	// Sealed: the hours and the day before the later clock are answered from their own rows.
	marks, err := a.RollupWatermarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h, d := marks[time.Hour], marks[24*time.Hour]; h.Before(clocks[0].Truncate(time.Hour)) || d.Before(start.Truncate(24*time.Hour).Add(24*time.Hour)) {
		t.Fatalf("watermarks %v after clocks %v", marks, clocks)
	}
}

// RollupsMigrated: a database made before the watermarks, where every commit wrote every
// width (here: commits, then RebuildRollups, which writes every width of every bin, the open
// ones too), gains them when it is opened, at the store's clock, and the rollups stay equal
// to the rows as the clock then moves past the open hour and day. reopen closes the store,
// drops the watermark rows from its database (as a database of the old scheme has none) and
// opens it again.
func RollupsMigrated(t *testing.T, st *sqlstore.Store, reopen func(t *testing.T) *sqlstore.Store) {
	ctx := context.Background()
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	v1 := catalog("v1", 25)
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 11))
	tr := newSealTruth()
	c := time.Now().UTC()
	b := sealBatch(rng, "old", c, v1, nil)
	commitSeal(t, st, tr, b)
	if err := st.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	st = reopen(t)
	opened := time.Now().UTC()
	marks, err := st.RollupWatermarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
		if m := marks[w]; m.Before(c.Truncate(w)) || m.After(opened) {
			t.Fatalf("after the migration the %v watermark is %v, want the store's clock rounded down (%v–%v)", w, m, c.Truncate(w), opened)
		}
	}
	checkSeal(t, st, tr, rng, "migrated", c, []string{"v1"})
	for i, step := range []time.Duration{10 * time.Minute, time.Hour, 25 * time.Hour} {
		c = c.Add(step)
		b = sealBatch(rng, fmt.Sprintf("new%d", i), c, v1, b)
		commitSeal(t, st, tr, b)
		checkSeal(t, st, tr, rng, fmt.Sprintf("migrated, then commit %d at %v", i, c), c, []string{"v1"})
	}
}
