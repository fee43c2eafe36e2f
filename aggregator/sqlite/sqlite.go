// Package sqlite opens the aggregator's store on SQLite (WAL, synchronous=FULL): the default
// for one box.
package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "github.com/mattn/go-sqlite3" // SQLite driver

	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// Store is the SQL store, opened on SQLite.
type Store = sqlstore.Store

// ErrCatalogChanged: see sqlstore.ErrCatalogChanged.
var ErrCatalogChanged = sqlstore.ErrCatalogChanged

// schema is the SQLite schema.
const schema = `
CREATE TABLE IF NOT EXISTS catalogs (version TEXT PRIMARY KEY, entries TEXT NOT NULL, loaded_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, lat REAL, lon REAL, cameras TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS events (
	device TEXT NOT NULL, id TEXT NOT NULL, camera TEXT NOT NULL, site TEXT NOT NULL, zone TEXT NOT NULL,
	type TEXT NOT NULL, class TEXT NOT NULL, time_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
	confidence REAL NOT NULL, signal_source TEXT NOT NULL, time_into_red REAL NOT NULL,
	PRIMARY KEY (device, id));
CREATE INDEX IF NOT EXISTS events_site_time ON events (site, time_ms);
CREATE TABLE IF NOT EXISTS ledger (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, device TEXT NOT NULL, event_id TEXT NOT NULL,
	type TEXT NOT NULL, points INTEGER NOT NULL, catalog_version TEXT NOT NULL, time_ms INTEGER NOT NULL,
	UNIQUE (device, event_id, catalog_version));
CREATE INDEX IF NOT EXISTS ledger_site ON ledger (site, seq);
CREATE INDEX IF NOT EXISTS ledger_version_time ON ledger (catalog_version, site, time_ms);
CREATE TABLE IF NOT EXISTS counts (
	device TEXT NOT NULL, id TEXT NOT NULL, camera TEXT NOT NULL, site TEXT NOT NULL, zone TEXT NOT NULL,
	start_ms INTEGER NOT NULL, period_s INTEGER NOT NULL, counts TEXT NOT NULL, total INTEGER NOT NULL,
	PRIMARY KEY (device, id));
CREATE INDEX IF NOT EXISTS counts_site_time ON counts (site, start_ms);
CREATE TABLE IF NOT EXISTS gaps (
	device TEXT NOT NULL, id TEXT NOT NULL, time_ms INTEGER NOT NULL, reason TEXT NOT NULL, evicted TEXT NOT NULL,
	not_accepted INTEGER NOT NULL, oldest_ms INTEGER NOT NULL, newest_ms INTEGER NOT NULL, PRIMARY KEY (device, id));
CREATE TABLE IF NOT EXISTS devices (
	id TEXT PRIMARY KEY, online INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, backlog INTEGER NOT NULL,
	oldest_pending_s REAL NOT NULL, software TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, topic TEXT NOT NULL, device TEXT NOT NULL,
	payload_id TEXT NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL, digest BLOB NOT NULL UNIQUE);
`

// Open opens or creates the database at path.
func Open(path string) (*Store, error) {
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}, "_foreign_keys": {"1"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s, err := sqlstore.New(db, sqlstore.Dialect{Name: "sqlite", Schema: schema})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}
