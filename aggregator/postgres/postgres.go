// Package postgres opens the aggregator's store on PostgreSQL, for aggregators that outgrow
// one box: several instances share one database (and the stream, through MQTT shared
// subscriptions); exactly-once holds by the database's unique keys.
package postgres

import (
	"database/sql"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver

	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// Open connects to the database at dsn (postgres://user@host:port/db?sslmode=…) and creates
// the schema if it is missing.
func Open(dsn string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	// Several instances may start at once: serialise schema creation with an advisory lock.
	if _, err := db.Exec(`SELECT pg_advisory_lock(7411)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s, err := sqlstore.New(db, sqlstore.Postgres)
	db.Exec(`SELECT pg_advisory_unlock(7411)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}
