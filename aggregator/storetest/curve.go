package storetest

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// CPUTime is the CPU time this process has used, user and system.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// curveSites is how many sites the curve spreads its events over: a city's cameras.
const curveSites = 200

// curveEnd is the end of the curve's 30 days of events.
var curveEnd = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func curveCatalog() *aggregator.Catalog {
	return &aggregator.Catalog{Version: "curve-1", Entries: []aggregator.CatalogEntry{
		{Type: "red_light_running", Points: 25, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"},
		{Type: "jaywalking", Points: 5, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "y"}}}
}

// prepareCurve makes the curve's sites and catalog.
func prepareCurve(t testing.TB, st *sqlstore.Store) []string {
	ctx := context.Background()
	var sites []aggregator.Site
	var ids []string
	kinds := map[string]aggregator.SiteKind{}
	for i := range curveSites {
		id := fmt.Sprintf("site-%03d", i)
		sites = append(sites, aggregator.Site{ID: id, Name: id, Kind: aggregator.Road})
		ids = append(ids, id)
		kinds[id] = aggregator.Road
	}
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureCatalog(ctx, curveCatalog(), kinds); err != nil {
		t.Fatal(err)
	}
	return ids
}

// testSyntheticLoad: the bulk loader's rollups, and a rebuild's, have the sums of the rows.
func testSyntheticLoad(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	ids := prepareCurve(t, st)
	from := curveEnd.Add(-2 * 24 * time.Hour) // two days: 38,400 count records
	for _, l := range []sqlstore.SyntheticLoad{{First: 0, Events: 3000, Counts: true}, {First: 3000, Events: 2000}} {
		l.Sites, l.From, l.To, l.CatalogVersion, l.Points = ids, from, curveEnd, "curve-1", [2]int{25, 5}
		if err := st.LoadSynthetic(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, when := range []string{"loaded", "rebuilt"} {
		if when == "rebuilt" {
			if err := st.RebuildRollups(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkSyntheticSums(t, st, when, from)
	}
}

func checkSyntheticSums(t *testing.T, st *sqlstore.Store, when string, from time.Time) {
	ctx := context.Background()
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "curve-1", From: from, To: curveEnd, MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	events, points, roadUsers := 0, 0, 0
	for _, s := range sc {
		for _, n := range s.Events {
			events += n
		}
		points += s.Points
		roadUsers += s.RoadUsers
	}
	// Of 5,000: i mod 3 = 2 is a jaywalker, 1,666 of them at 5 points, 3,334 at 25.
	if events != 5000 || points != 3334*25+1666*5 || roadUsers != curveSites*2*96*25 {
		t.Fatalf("%s: %d events, %d points, %d road users", when, events, points, roadUsers)
	}
	if sc[0].Rank != 1 || sc[0].Status != aggregator.StatusOK {
		t.Fatalf("%s: first site %+v", when, sc[0])
	}
	// A ragged window (rollups and raw ends together): site 7's events in it, counted by hand.
	lo, hi := from.Add(26*time.Hour+7*time.Minute+3*time.Second), curveEnd.Add(-5*time.Hour-59*time.Second)
	tl, err := st.FindTally(ctx, "site-007", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	span := curveEnd.Sub(from).Milliseconds() - 500
	for _, l := range [][2]int{{0, 3000}, {3000, 2000}} {
		for i := l[0]; i < l[0]+l[1]; i++ {
			at := from.UnixMilli() + int64(i-l[0])*span/int64(l[1]) + int64(i)*7919%500
			if i%curveSites == 7 && at >= lo.UnixMilli() && at < hi.UnixMilli() {
				want[map[bool]string{true: "jaywalking", false: "red_light_running"}[i%3 == 2]]++
			}
		}
	}
	if fmt.Sprint(tl.Events) != fmt.Sprint(want) {
		t.Fatalf("%s: site-007 over %v–%v: %v, want %v", when, lo, hi, tl.Events, want)
	}
}

// RunCurve measures the rollup-backed queries at each total of events in sizes (ascending),
// loading the difference each time with its rollups (docs/BENCHMARKS.md, "Rollups"). Each
// figure is the median wall time of 15 runs and, in brackets, their mean CPU time as cpu
// measures it (this process's for SQLite; for PostgreSQL the server's processes' too): a
// machine shared with other work inflates wall times far more than CPU times. A query over
// 100 ms of CPU fails the test.
func RunCurve(t *testing.T, st *sqlstore.Store, engine string, cpu func() time.Duration, sizes []int) {
	ctx := context.Background()
	ids := prepareCurve(t, st)
	from := curveEnd.Add(-30 * 24 * time.Hour)
	// The queries end at a ragged time, as a rolling window ending now does.
	to := curveEnd.Add(-7*time.Minute - 13*time.Second)
	type cost struct{ wall, cpu time.Duration }
	median := func(f func() error) cost {
		var w []time.Duration
		c0 := cpu()
		for range 15 {
			t0 := time.Now()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			w = append(w, time.Since(t0))
		}
		c := (cpu() - c0) / 15 // a mean: /proc counts in 10 ms ticks
		sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
		return cost{w[len(w)/2], c}
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	show := func(c cost) string { return ms(c.wall) + " (" + ms(c.cpu) + ")" }
	unit := "ms wall (CPU)"
	fmt.Printf("| engine | events | load s | GET /sites (200 sites, 30 d) %[1]s | series 24 h / 15 min %[1]s | series 30 d / 1 h %[1]s | before/after 2 × 14 d %[1]s |\n", unit)
	fmt.Printf("|---|---|---|---|---|---|---|\n")
	loaded := 0
	for _, n := range sizes {
		t0 := time.Now()
		if err := st.LoadSynthetic(ctx, sqlstore.SyntheticLoad{First: loaded, Events: n - loaded, Sites: ids, From: from, To: curveEnd,
			CatalogVersion: "curve-1", Points: [2]int{25, 5}, Counts: loaded == 0}); err != nil {
			t.Fatal(err)
		}
		load := time.Since(t0)
		loaded = n
		rank := median(func() error {
			sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "curve-1", From: to.Add(-30 * 24 * time.Hour), To: to, MinRoadUsers: 200})
			if err == nil && len(sc) != curveSites {
				err = fmt.Errorf("%d sites", len(sc))
			}
			return err
		})
		day := median(func() error {
			_, err := st.FindSeries(ctx, ids[7], to.Add(-24*time.Hour), to, 15*time.Minute)
			return err
		})
		month := median(func() error {
			_, err := st.FindSeries(ctx, ids[7], to.Add(-30*24*time.Hour), to, time.Hour)
			return err
		})
		change := to.Add(-14 * 24 * time.Hour).Add(-3 * time.Hour)
		study := median(func() error {
			b, err := st.FindTally(ctx, ids[7], change.Add(-14*24*time.Hour), change)
			if err != nil {
				return err
			}
			a, err := st.FindTally(ctx, ids[7], change, to)
			aggregator.Compare(ids[7], b, a)
			return err
		})
		row := []string{engine, strconv.Itoa(n), strconv.FormatFloat(load.Seconds(), 'f', 1, 64), show(rank), show(day), show(month), show(study)}
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
		os.Stdout.Sync()
		for _, c := range []cost{rank, day, month, study} {
			if c.cpu > 100*time.Millisecond {
				t.Errorf("%d events: a query took %v of CPU, over 100 ms (wall %v)", n, c.cpu, c.wall)
			}
		}
	}
}
