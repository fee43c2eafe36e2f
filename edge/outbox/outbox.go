// Package outbox is the edge's store-and-forward queue: an SQLite database in WAL mode with
// synchronous=FULL, so a message that Append returned for survives power loss. Rows leave only
// when the aggregator acknowledges that it committed them.
package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // SQLite driver
	sqlite3 "github.com/mattn/go-sqlite3"
)

// ErrFull means the disk is full; the message was not stored. Not retryable until space is freed.
var ErrFull = errors.New("outbox: disk full")

// Message is one payload waiting for the aggregator's acknowledgement.
type Message struct {
	Seq     int64 // insertion order, assigned by Append
	ID      string
	Topic   string
	Payload []byte
	Created time.Time
}

// Stats describes the backlog.
type Stats struct {
	Rows   int
	Bytes  int64
	Oldest time.Time // zero when empty
}

// Outbox is the SQLite queue. Safe for concurrent use.
type Outbox struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens or creates the outbox at path.
func Open(path string, now func() time.Time) (*Outbox, error) {
	if now == nil {
		now = time.Now
	}
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	// One connection: one writer, and reads see every committed write.
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS outbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		topic TEXT NOT NULL,
		payload BLOB NOT NULL,
		created_ms INTEGER NOT NULL)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, classify(err))
	}
	return &Outbox{db: db, now: now}, nil
}

// Append stores messages in one transaction. A message whose id is already queued is skipped,
// so appending the same event twice queues it once.
func (o *Outbox) Append(ctx context.Context, msgs ...Message) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO outbox (id, topic, payload, created_ms) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	defer st.Close()
	now := o.now().UnixMilli()
	for _, m := range msgs {
		if _, err := st.ExecContext(ctx, m.ID, m.Topic, m.Payload, now); err != nil {
			return fmt.Errorf("append %s: %w", m.ID, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	return nil
}

// Pending returns up to limit messages with Seq > after, oldest first, appended to dst[:0].
func (o *Outbox) Pending(ctx context.Context, after int64, limit int, dst []Message) ([]Message, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT seq, id, topic, payload, created_ms FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return dst[:0], fmt.Errorf("pending: %w", classify(err))
	}
	defer rows.Close()
	dst = dst[:0]
	for rows.Next() {
		var m Message
		var ms int64
		if err := rows.Scan(&m.Seq, &m.ID, &m.Topic, &m.Payload, &ms); err != nil {
			return dst, fmt.Errorf("pending: %w", err)
		}
		m.Created = time.UnixMilli(ms)
		dst = append(dst, m)
	}
	return dst, rows.Err()
}

// Delete removes acknowledged messages by id and returns how many were queued.
func (o *Outbox) Delete(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("delete: %w", classify(err))
	}
	defer tx.Rollback()
	n := 0
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return 0, fmt.Errorf("delete: %w", classify(err))
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete: %w", classify(err))
	}
	return n, nil
}

// Stats returns the backlog's size and age.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	var oldest sql.NullInt64
	err := o.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(payload)), 0), min(created_ms) FROM outbox`).Scan(&s.Rows, &s.Bytes, &oldest)
	if err != nil {
		return s, fmt.Errorf("stats: %w", classify(err))
	}
	if oldest.Valid {
		s.Oldest = time.UnixMilli(oldest.Int64)
	}
	return s, nil
}

// Close closes the database; committed messages stay on disk.
func (o *Outbox) Close() error { return o.db.Close() }

func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrFull {
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}
