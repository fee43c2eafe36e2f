package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/aggregator/storetest"
)

// The conformance suite on SQLite, here as well as in aggregator/sqlite, so that 'make mutate'
// (which runs a mutated package's own tests) sees the store's tests. PostgreSQL runs the same
// suite in aggregator/postgres.
func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.Store {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
