package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/aggregator/storetest"
)

// A database made before the rollup watermarks gains them when it is opened.
func TestRollupsMigrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RollupsMigrated(t, st, func(t *testing.T) *sqlstore.Store {
		st.Close()
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DELETE FROM rollup_state WHERE name LIKE 'sealed_%'`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st, err = Open(path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// A database made before the registry keeps its sites: they come back at version 1, owned by the
// configuration, so the next start's seeding may update them and an API edit is checked against
// version 1.
func TestRegistryMigratesOldSites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, lat REAL, lon REAL, cameras TEXT NOT NULL DEFAULT '[]', time_zone TEXT NOT NULL DEFAULT '');
		INSERT INTO sites (id, name, kind, lat, lon, cameras) VALUES ('old', 'Old St', 'road', 48.2, 16.3, '["c1"]')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r, err := st.FindSiteRecord(ctx, "old")
	if err != nil || r.Version != 1 || r.UpdatedBy != aggregator.ConfigActor || r.Name != "Old St" || len(r.Cameras) != 1 {
		t.Fatalf("old site after the migration: %+v %v", r, err)
	}
	if _, err := st.UpdateSite(ctx, aggregator.Site{ID: "old", Name: "Old Street", Kind: aggregator.Road, Cameras: []string{"c1"}}, 1, "user:ann"); err != nil {
		t.Fatal(err)
	}
	if c, err := st.FindCamera(ctx, "c1"); err != nil || c.SceneVersion != 0 {
		t.Fatalf("the old site's camera: %+v %v", c, err)
	}
}
