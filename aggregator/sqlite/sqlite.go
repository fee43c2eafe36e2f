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

// Open opens or creates the database at path.
func Open(path string) (*Store, error) {
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}, "_foreign_keys": {"1"}}
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
