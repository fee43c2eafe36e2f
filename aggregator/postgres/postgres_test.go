package postgres

import (
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/aggregator/storetest"
	"github.com/crosswatch/crosswatch/internal/pgtest"
)

var (
	cluster *pgtest.Cluster
	skipWhy error
)

// TestMain starts a throwaway PostgreSQL cluster on a free loopback port for the package.
func TestMain(m *testing.M) {
	cluster, skipWhy = pgtest.Start()
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}

func freshDB(t *testing.T) string {
	t.Helper()
	if skipWhy != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL: %v", skipWhy)
		}
		t.Skipf("PostgreSQL: %v", skipWhy)
	}
	return cluster.FreshDB(t)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		st, err := Open(freshDB(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// Several aggregator instances open one database at once: the schema is created once.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshDB(t)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			st, err := Open(dsn)
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Two aggregators on one PostgreSQL commit at once, each sealing the hours and a day as its
// clock passes them: the rollups still equal the stored rows (the watermarks' locks).
func TestRollupsSealedByTwo(t *testing.T) {
	dsn := freshDB(t)
	var st [2]*sqlstore.Store
	for i := range st {
		s, err := Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		st[i] = s
	}
	storetest.RollupsSealedByTwo(t, st[0], st[1])
}

// A database made before the rollup watermarks gains them when it is opened.
func TestRollupsMigrated(t *testing.T) {
	dsn := freshDB(t)
	st, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RollupsMigrated(t, st, func(t *testing.T) *sqlstore.Store {
		st.Close()
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DELETE FROM rollup_state WHERE name LIKE 'sealed_%'`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st, err = Open(dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestRollupCurve measures rankings, series and before/after on PostgreSQL from 100,000 events
// up (docs/BENCHMARKS.md): CROSSWATCH_ROLLUP_CURVE=100000,1000000,10000000 go test -run
// TestRollupCurve -timeout 3h ./aggregator/postgres/.
func TestRollupCurve(t *testing.T) {
	v := os.Getenv("CROSSWATCH_ROLLUP_CURVE")
	if v == "" {
		t.Skip("set CROSSWATCH_ROLLUP_CURVE=100000,1000000,… to measure the rollup curve")
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
			t.Fatalf("CROSSWATCH_ROLLUP_CURVE: ascending whole numbers, got %q", v)
		}
		sizes = append(sizes, n)
	}
	dsn := freshDB(t)
	st, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The server's work is in its processes: the postmaster (the parent of a backend) and its
	// children, from /proc, with this process's own.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var backend int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	postmaster := procStat(backend).ppid
	cpu := func() time.Duration {
		total := storetest.CPUTime()
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			if pid, err := strconv.Atoi(d.Name()); err == nil {
				if p := procStat(pid); pid == postmaster || p.ppid == postmaster {
					total += p.cpu
				}
			}
		}
		return total
	}
	storetest.RunCurve(t, st, "postgres", cpu, sizes)
}

type proc struct {
	ppid int
	cpu  time.Duration
}

// procStat reads a process's parent and CPU time (user + system) from /proc/PID/stat.
func procStat(pid int) proc {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}
	}
	// After the command's ")": state ppid … utime (14th field) stime (15th).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return proc{}
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return proc{ppid, time.Duration(ut+st) * 10 * time.Millisecond} // CLK_TCK is 100 on Linux
}

// The rollups' (width, bin) indexes carry the columns a ranking sums, so PostgreSQL reads a
// span of every site's bins from the index alone; a database made with the narrower indexes
// gets the covering ones when opened, and loses the old.
func TestRollupIndexesCover(t *testing.T) {
	dsn := freshDB(t)
	st, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// As a database made before: the (width, bin) indexes without the sums.
	for _, q := range []string{`DROP INDEX rollup_events_cover, rollup_ledger_cover, rollup_counts_cover`,
		`CREATE INDEX rollup_events_bin ON rollup_events (width_ms, bin_ms)`,
		`CREATE INDEX rollup_ledger_bin ON rollup_ledger (catalog_version, width_ms, bin_ms)`,
		`CREATE INDEX rollup_counts_bin ON rollup_counts (width_ms, bin_ms)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if st, err = Open(dsn); err != nil {
		t.Fatal(err)
	}
	// Two days of 50 sites' bins (LoadSynthetic ends with VACUUM ANALYZE, as autovacuum would).
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var sites []string
	for i := range 50 {
		sites = append(sites, "site-"+strconv.Itoa(i))
	}
	if err := st.LoadSynthetic(t.Context(), sqlstore.SyntheticLoad{Events: 30000, Sites: sites, From: from, To: from.Add(48 * time.Hour),
		CatalogVersion: "v1", Points: [2]int{25, 5}, Counts: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	indexes := map[string]string{}
	rows, err := db.Query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'rollup%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		indexes[name] = def
	}
	rows.Close()
	for _, old := range []string{"rollup_events_bin", "rollup_ledger_bin", "rollup_counts_bin"} {
		if def, ok := indexes[old]; ok {
			t.Errorf("old index kept: %s", def)
		}
	}
	// A span as a ranking reads it, planned on one connection with the table scans priced out
	// (the test's tables are nearly empty): answered by an index-only scan of the new index.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lo, hi := strconv.FormatInt(from.UnixMilli(), 10), strconv.FormatInt(from.Add(2*time.Hour).UnixMilli(), 10)
	for _, c := range []struct{ index, query string }{
		{"rollup_events_cover", `SELECT site, type, sum(n) FROM rollup_events WHERE width_ms = 3600000 AND bin_ms >= ` + lo + ` AND bin_ms < ` + hi + ` GROUP BY site, type`},
		{"rollup_ledger_cover", `SELECT site, type, sum(n), sum(points), sum(points2) FROM rollup_ledger WHERE catalog_version = 'v1' AND width_ms = 3600000 AND bin_ms >= ` + lo + ` AND bin_ms < ` + hi + ` GROUP BY site, type`},
		{"rollup_counts_cover", `SELECT site, sum(road_users) FROM rollup_counts WHERE width_ms = 3600000 AND bin_ms >= ` + lo + ` AND bin_ms < ` + hi + ` GROUP BY site`},
	} {
		if _, ok := indexes[c.index]; !ok {
			t.Errorf("no index %s: %v", c.index, indexes)
			continue
		}
		var plan strings.Builder
		err := func() error {
			if _, err := conn.ExecContext(t.Context(), `SET enable_seqscan = off`); err != nil {
				return err
			}
			if _, err := conn.ExecContext(t.Context(), `SET enable_bitmapscan = off`); err != nil {
				return err
			}
			rows, err := conn.QueryContext(t.Context(), `EXPLAIN `+c.query)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				plan.WriteString(line + "\n")
			}
			return rows.Err()
		}()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan.String(), "Index Only Scan using "+c.index) {
			t.Errorf("%s: not an index-only scan of %s:\n%s", c.query, c.index, plan.String())
		}
	}
}
