package sqlite

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/aggregator/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		st, err := Open(filepath.Join(t.TempDir(), "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestRate(t *testing.T) { storetest.TestRate(t) }

// TestRollupCurve measures rankings, series and before/after on SQLite from 100,000 events up
// (docs/BENCHMARKS.md): CROSSWATCH_ROLLUP_CURVE=100000,1000000,10000000 go test -run
// TestRollupCurve -timeout 2h ./aggregator/sqlite/. The database goes in $CROSSWATCH_CURVE_DIR
// (default a temporary directory; 10,000,000 events take about 3 GB).
func TestRollupCurve(t *testing.T) {
	sizes := curveSizes(t)
	dir := os.Getenv("CROSSWATCH_CURVE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "curve.db")
	os.Remove(path)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); os.Remove(path); os.Remove(path + "-wal"); os.Remove(path + "-shm") })
	storetest.RunCurve(t, st, "sqlite", storetest.CPUTime, sizes)
}

func curveSizes(t *testing.T) []int {
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
	return sizes
}
