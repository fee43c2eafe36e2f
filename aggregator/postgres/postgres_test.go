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
