// Package sqlite opens the aggregator's store on SQLite (WAL, synchronous=FULL): the default
// for one box.
package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "github.com/mattn/go-sqlite3" // SQLite driver

	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// Store is the SQL store, opened on SQLite.
type Store = sqlstore.Store

// Open opens or creates the database at path. A new database is created 0600 (SQLite gives
// its -wal and -shm files the same mode), and an existing one that others can read is made
// 0600: it holds evidence images and password hashes. Deleted rows are overwritten with
// zeros (secure_delete), so an image aged out is gone from the file too.
func Open(path string) (*Store, error) {
	if err := secfile.PrivateDatabase(path); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}, "_foreign_keys": {"1"},
		"_secure_delete": {"on"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s, err := sqlstore.New(db, sqlstore.SQLite)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}
