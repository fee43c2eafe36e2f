// Package outbox is the edge's store-and-forward queue: an SQLite database in WAL mode with
// synchronous=FULL, so a message that Append accepted survives a crash or power loss. Rows leave
// only when the aggregator acknowledges that it committed them, or by the declared on-full
// policy — lowest severity first, oldest first — which always writes a gap record in the same
// transaction, so no loss is silent.
package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// ErrFull means the disk is full and nothing could be evicted to make room: the messages were
// not accepted. They are counted and reported in a gap record once space returns.
var ErrFull = errors.New("outbox: disk full")

// ErrClosed means the outbox is closed.
var ErrClosed = errors.New("outbox: closed")

func gapInfo(reason string, lost []edge.Lost, now time.Time) edge.GapInfo {
	g := edge.GapInfo{Reason: reason, Lost: lost, Now: now}
	for i, l := range lost {
		if i == 0 || l.Created.Before(g.Oldest) {
			g.Oldest = l.Created
		}
		if l.Created.After(g.Newest) {
			g.Newest = l.Created
		}
	}
	return g
}

// Options configure an Outbox.
type Options struct {
	MaxRows  int   // 0: unbounded
	MaxBytes int64 // payload bytes; 0: unbounded
	// ReserveBytes is the size of a file kept beside the database and deleted when the disk
	// fills, so that a checkpoint, the eviction and the gap record can still be written. It
	// should be at least 256 KiB. 0: 4 MiB; <0: none.
	ReserveBytes int64
	// Gap builds the record of lost messages. It must return a message with a unique id.
	// Required when the outbox is bounded; without it a full disk loses nothing accepted but
	// cannot report what it could not accept.
	Gap func(edge.GapInfo) edge.Message
	Now func() time.Time
}

// Stats describes the backlog and what the policy did.
type Stats struct {
	Rows        int
	Bytes       int64
	Oldest      time.Time // zero when empty
	Evicted     int64     // since Open
	NotAccepted int64     // since Open
}

type appendReq struct {
	msgs []edge.Message
	done chan error
}

var _ edge.Outbox = (*Outbox)(nil)

// Outbox is the SQLite queue of edge.Message. Safe for concurrent use; one goroutine writes
// (group commit).
type Outbox struct {
	db      *sql.DB
	opts    Options
	reserve string
	reqs    chan appendReq
	quit    chan struct{}
	stopped chan struct{} // closed when the writer has exited

	// owned by the writer goroutine
	dir         string
	commits     int
	reserveGone bool
	wg          sync.WaitGroup

	mu          sync.Mutex // guards the counters below
	rows        int
	bytes       int64
	evicted     int64
	notAccepted int64
	pendingLoss int // not-accepted messages still to report in a gap record
	lossFirst   time.Time
	lossLast    time.Time
}

// Open opens or creates the outbox at path. A new outbox is created 0600 (SQLite gives its -wal
// and -shm files the same mode), and one that others can read is made 0600: it holds
// evidence images until the aggregator has them.
func Open(path string, opts Options) (*Outbox, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReserveBytes == 0 {
		opts.ReserveBytes = 4 << 20
	}
	if (opts.MaxRows > 0 || opts.MaxBytes > 0) && opts.Gap == nil {
		return nil, errors.New("open outbox: a bounded outbox needs Options.Gap")
	}
	if err := secfile.PrivateDatabase(path); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, classify(err))
	}
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	// Keep the WAL small (checkpoint every 32 pages, 128 KiB) and never truncate it, so that its
	// file space is reused after each checkpoint instead of being allocated again.
	db.Exec(`PRAGMA wal_autocheckpoint = 32; PRAGMA journal_size_limit = -1`)
	// One connection: one writer, and reads see every committed write.
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS outbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		topic TEXT NOT NULL,
		payload BLOB NOT NULL,
		severity INTEGER NOT NULL DEFAULT 0,
		created_ms INTEGER NOT NULL);
	CREATE INDEX IF NOT EXISTS outbox_evict ON outbox (severity, seq);`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, classify(err))
	}
	o := &Outbox{db: db, opts: opts, dir: filepath.Dir(path), reqs: make(chan appendReq, 64), quit: make(chan struct{}), stopped: make(chan struct{})}
	if err := db.QueryRow(`SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox`).Scan(&o.rows, &o.bytes); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, classify(err))
	}
	if opts.ReserveBytes > 0 {
		o.reserve = path + ".reserve"
		o.ensureReserve()
	}
	o.wg.Add(1)
	go o.writer()
	return o, nil
}

// ensureReserve creates the reserve file if it is missing; failure only means no reserve yet.
func (o *Outbox) ensureReserve() {
	if o.reserve == "" {
		return
	}
	if st, err := os.Stat(o.reserve); err == nil && st.Size() == o.opts.ReserveBytes {
		return
	}
	f, err := os.OpenFile(o.reserve, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, err = f.Write(make([]byte, o.opts.ReserveBytes))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		os.Remove(o.reserve) // a partial reserve would hide the disk's real state
	}
}

// Append stores messages durably. When it returns nil they survive a crash. A message whose id
// is already queued is skipped, so appending the same event twice queues it once. It returns
// ErrFull when the disk is full and the on-full policy could not make room.
func (o *Outbox) Append(ctx context.Context, msgs ...edge.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	r := appendReq{msgs: msgs, done: make(chan error, 1)}
	select {
	case o.reqs <- r:
	case <-o.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the outcome: returning early could claim a loss that did not happen.
	select {
	case err := <-r.done:
		return err
	case <-o.stopped:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (o *Outbox) writer() {
	defer o.wg.Done()
	defer close(o.stopped)
	var batch []appendReq
	var msgs []edge.Message
	for {
		select {
		case <-o.quit:
			return
		case r := <-o.reqs:
			batch = append(batch[:0], r)
		}
		// Group commit: everything that queued up while the last commit ran goes in one transaction.
	more:
		for len(batch) < 256 {
			select {
			case r := <-o.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		msgs = msgs[:0]
		for _, r := range batch {
			msgs = append(msgs, r.msgs...)
		}
		err := o.commit(msgs)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (o *Outbox) commit(msgs []edge.Message) error {
	if o.lowOnDisk() {
		o.roomInFile(msgs)
	}
	err := o.insert(msgs)
	if err == nil {
		o.commits++
		if o.reserveGone && o.commits%64 == 0 {
			o.ensureReserve()
			_, statErr := os.Stat(o.reserve)
			o.reserveGone = statErr != nil
		}
		return nil
	}
	if !errors.Is(err, ErrFull) {
		return err
	}
	// Disk full: free the reserve, let the WAL restart at its beginning (its file is already
	// allocated), evict by policy at least as much as we need, and try once more.
	if o.reserve != "" {
		os.Remove(o.reserve)
		o.reserveGone = true
	}
	o.db.Exec(`PRAGMA wal_checkpoint(RESTART)`)
	// Free a margin, not just this batch: freed pages stay inside the database file, so the
	// next inserts reuse them and the file need not grow again on a full disk.
	var need int64 = 4096
	for _, m := range msgs {
		need += int64(len(m.Payload)) + 64
	}
	o.mu.Lock()
	need = max(need, o.opts.ReserveBytes, o.bytes/50)
	o.mu.Unlock()
	if eerr := o.evictForDisk(len(msgs)+1, need, 16); eerr == nil {
		o.db.Exec(`PRAGMA wal_checkpoint(RESTART)`)
		err = o.insert(msgs)
	}
	if err != nil {
		o.mu.Lock()
		now := o.opts.Now()
		if o.pendingLoss == 0 {
			o.lossFirst = now
		}
		o.pendingLoss += len(msgs)
		o.lossLast = now
		o.notAccepted += int64(len(msgs))
		o.mu.Unlock()
	}
	return err
}

func (o *Outbox) insert(msgs []edge.Message) error {
	if testHookInsert != nil {
		if err := testHookInsert(msgs); err != nil {
			return err
		}
	}
	tx, err := o.db.Begin()
	if err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT OR IGNORE INTO outbox (id, topic, payload, severity, created_ms) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	defer st.Close()
	now := o.opts.Now()
	addRows, addBytes := 0, int64(0)
	for _, m := range msgs {
		res, err := st.Exec(m.ID, m.Topic, m.Payload, m.Severity, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("append %s: %w", m.ID, classify(err))
		}
		if n, _ := res.RowsAffected(); n > 0 {
			addRows++
			addBytes += int64(len(m.Payload))
		}
	}
	o.mu.Lock()
	// A snapshot for the bound check only: the counters change by deltas after the commit, since
	// a Delete may commit between this transaction's commit and the counters' update.
	rows, bytes := o.rows+addRows, o.bytes+addBytes
	loss, lossFirst, lossLast := o.pendingLoss, o.lossFirst, o.lossLast
	o.mu.Unlock()
	gapRows, gapBytes := 0, int64(0)
	if loss > 0 && o.opts.Gap != nil {
		// Space is back: report what could not be accepted while the disk was full.
		g := o.opts.Gap(edge.GapInfo{Reason: gapDiskFull, NotAccepted: loss, Oldest: lossFirst, Newest: lossLast, Now: now})
		g.Created = now
		r, b, err := o.insertGap(tx, g)
		if err != nil {
			return err
		}
		rows, bytes = rows+r, bytes+b
		gapRows, gapBytes = r, b
	}
	evRows, evBytes, evN, err := o.evictOverLimit(tx, rows, bytes, now)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append: %w", classify(err))
	}
	if testHookAfterInsertCommit != nil {
		testHookAfterInsertCommit()
	}
	o.mu.Lock()
	o.rows += addRows + gapRows - evRows
	o.bytes += addBytes + gapBytes - evBytes
	o.evicted += int64(evN)
	if o.opts.Gap != nil {
		o.pendingLoss -= loss
	}
	o.mu.Unlock()
	return nil
}

// testHookInsert, when set, runs before each insert transaction on the writer's goroutine; an
// error it returns is the insert's (tests only: a full disk on demand, to pin what the on-full
// path evicts and reports).
var testHookInsert func([]edge.Message) error

// testHookAfterInsertCommit runs between an insert's commit and its counter update (tests only).
var testHookAfterInsertCommit func()

// Gap reasons, as in the wire contract (kept here so the outbox has no dependencies).
const (
	gapOutboxFull = "outbox_full"
	gapDiskFull   = "disk_full"
)

func (o *Outbox) insertGap(tx *sql.Tx, g edge.Message) (int, int64, error) {
	res, err := tx.Exec(`INSERT OR IGNORE INTO outbox (id, topic, payload, severity, created_ms) VALUES (?, ?, ?, ?, ?)`,
		g.ID, g.Topic, g.Payload, edge.GapSeverity, g.Created.UnixMilli())
	if err != nil {
		return 0, 0, fmt.Errorf("append gap record: %w", classify(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, 0, nil
	}
	return 1, int64(len(g.Payload)), nil
}

// evictOverLimit applies the on-full policy inside tx until rows and bytes are within limits,
// adding the gap record. It returns the net rows and bytes removed and how many were evicted.
func (o *Outbox) evictOverLimit(tx *sql.Tx, rows int, bytes int64, now time.Time) (int, int64, int, error) {
	overRows := o.opts.MaxRows > 0 && rows > o.opts.MaxRows
	overBytes := o.opts.MaxBytes > 0 && bytes > o.opts.MaxBytes
	if !overRows && !overBytes {
		return 0, 0, 0, nil
	}
	needRows := 0
	if overRows {
		needRows = rows - o.opts.MaxRows + 1 // +1 for the gap record itself
	}
	var needBytes int64
	if overBytes {
		needBytes = bytes - o.opts.MaxBytes + 1024
	}
	lost, freedBytes, err := o.pickVictims(tx, needRows, needBytes, 1<<30)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(lost) == 0 {
		return 0, 0, 0, nil // nothing evictable (only gap records): stay over the limit rather than lose a gap
	}
	g := o.opts.Gap(gapInfo(gapOutboxFull, lost, now))
	g.Created = now
	gr, gb, err := o.insertGap(tx, g)
	if err != nil {
		return 0, 0, 0, err
	}
	return len(lost) - gr, freedBytes - gb, len(lost), nil
}

// pickVictims deletes the lowest-severity, oldest messages until at least needRows rows and
// needBytes bytes are freed, or maxRows rows are taken, and returns them.
func (o *Outbox) pickVictims(tx *sql.Tx, needRows int, needBytes int64, maxRows int) ([]edge.Lost, int64, error) {
	q, err := tx.Query(`SELECT seq, id, topic, severity, created_ms, length(payload) FROM outbox WHERE severity < ? ORDER BY severity, seq`, edge.GapSeverity)
	if err != nil {
		return nil, 0, fmt.Errorf("evict: %w", classify(err))
	}
	var lost []edge.Lost
	var seqs []any
	var freed int64
	for len(lost) < maxRows && q.Next() && (len(lost) < needRows || freed < needBytes) {
		var l edge.Lost
		var seq, ms, n int64
		if err := q.Scan(&seq, &l.ID, &l.Topic, &l.Severity, &ms, &n); err != nil {
			q.Close()
			return nil, 0, fmt.Errorf("evict: %w", err)
		}
		l.Created = time.UnixMilli(ms)
		lost = append(lost, l)
		seqs = append(seqs, seq)
		freed += n
	}
	q.Close()
	for start := 0; start < len(seqs); start += 500 {
		chunk := seqs[start:min(start+500, len(seqs))]
		if _, err := tx.Exec(`DELETE FROM outbox WHERE seq IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, chunk...); err != nil {
			return nil, 0, fmt.Errorf("evict: %w", classify(err))
		}
	}
	return lost, freed, nil
}

// lowWater is the free disk space below which the outbox stops growing its file.
func (o *Outbox) lowWater() int64 { return max(o.opts.ReserveBytes, 1<<20) }

// lowOnDisk reports whether the filesystem holding the outbox is nearly full.
func (o *Outbox) lowOnDisk() bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(o.dir, &st); err != nil {
		return false
	}
	return int64(st.Bavail)*int64(st.Bsize) < o.lowWater()
}

// roomInFile makes sure the database file has enough free pages for msgs, evicting by policy
// if not, so that on a nearly full disk the file never has to grow: a file that cannot grow
// blocks the checkpoint, and then even an eviction cannot be written.
func (o *Outbox) roomInFile(msgs []edge.Message) {
	var freePages, pageSize int64
	o.db.QueryRow(`PRAGMA freelist_count`).Scan(&freePages)
	o.db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	var need int64 = 8 * pageSize
	for _, m := range msgs {
		need += int64(len(m.Payload))*5/4 + 128
	}
	if have := freePages * pageSize; have < need {
		// The disk still has a little room: one transaction, one gap record.
		o.evictForDisk(0, need-have+o.lowWater()/4, 1<<30)
	}
}

// evictForDisk evicts by policy for disk space until at least n messages and need bytes are
// freed, in transactions of at most chunk messages, each with its own gap record and followed
// by a checkpoint. On a disk that is already full, small chunks keep the WAL from growing.
func (o *Outbox) evictForDisk(n int, need int64, chunk int) error {
	var freedAll int64
	evictedAll := 0
	for evictedAll < n || freedAll < need {
		lost, freed, gr, gb, err := o.evictChunk(max(n-evictedAll, 1), need-freedAll, chunk)
		if err != nil || len(lost) == 0 {
			if evictedAll > 0 {
				return nil // some room was made; let the insert try
			}
			return errors.Join(err, ErrFull)
		}
		o.mu.Lock()
		o.rows -= len(lost) - gr
		o.bytes -= freed - gb
		o.evicted += int64(len(lost))
		o.mu.Unlock()
		evictedAll += len(lost)
		freedAll += freed
		o.db.Exec(`PRAGMA wal_checkpoint(RESTART)`)
	}
	return nil
}

// evictChunk evicts, in one transaction with its gap record, at least n messages and need
// bytes, but at most maxRows messages.
func (o *Outbox) evictChunk(n int, need int64, maxRows int) (lost []edge.Lost, freed int64, gapRows int, gapBytes int64, err error) {
	tx, err := o.db.Begin()
	if err != nil {
		return nil, 0, 0, 0, classify(err)
	}
	defer tx.Rollback()
	lost, freed, err = o.pickVictims(tx, n, need, maxRows)
	if err != nil || len(lost) == 0 {
		return nil, 0, 0, 0, err
	}
	if o.opts.Gap != nil {
		g := o.opts.Gap(gapInfo(gapDiskFull, lost, o.opts.Now()))
		g.Created = o.opts.Now()
		if gapRows, gapBytes, err = o.insertGap(tx, g); err != nil {
			return nil, 0, 0, 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, 0, 0, classify(err)
	}
	return lost, freed, gapRows, gapBytes, nil
}

// Pending returns up to limit messages with Seq > after, oldest first, appended to dst[:0].
func (o *Outbox) Pending(ctx context.Context, after int64, limit int, dst []edge.Message) ([]edge.Message, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT seq, id, topic, payload, severity, created_ms FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return dst[:0], fmt.Errorf("pending: %w", classify(err))
	}
	defer rows.Close()
	dst = dst[:0]
	for rows.Next() {
		var m edge.Message
		var ms int64
		if err := rows.Scan(&m.Seq, &m.ID, &m.Topic, &m.Payload, &m.Severity, &ms); err != nil {
			return dst, fmt.Errorf("pending: %w", err)
		}
		m.Created = time.UnixMilli(ms)
		dst = append(dst, m)
	}
	return dst, rows.Err()
}

// Delete removes acknowledged messages by id and returns how many were queued. On a full disk
// it lets the WAL restart and tries once more; if that fails the ids stay and are sent again.
func (o *Outbox) Delete(ctx context.Context, ids []string) (int, error) {
	n, err := o.delete(ctx, ids)
	if errors.Is(err, ErrFull) {
		o.db.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`)
		n, err = o.delete(ctx, ids)
	}
	return n, err
}

func (o *Outbox) delete(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("delete: %w", classify(err))
	}
	defer tx.Rollback()
	n := 0
	var freed int64
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		in := `(?` + strings.Repeat(",?", len(chunk)-1) + `)`
		var b int64
		var k int
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox WHERE id IN `+in, args...).Scan(&k, &b); err != nil {
			return 0, fmt.Errorf("delete: %w", classify(err))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN `+in, args...); err != nil {
			return 0, fmt.Errorf("delete: %w", classify(err))
		}
		n += k
		freed += b
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete: %w", classify(err))
	}
	o.mu.Lock()
	o.rows -= n
	o.bytes -= freed
	o.mu.Unlock()
	return n, nil
}

// Stats returns the backlog's size and age and what the policy did.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	o.mu.Lock()
	s := Stats{Rows: o.rows, Bytes: o.bytes, Evicted: o.evicted, NotAccepted: o.notAccepted}
	o.mu.Unlock()
	var ms int64
	err := o.db.QueryRowContext(ctx, `SELECT created_ms FROM outbox ORDER BY seq LIMIT 1`).Scan(&ms)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return s, fmt.Errorf("stats: %w", classify(err))
	default:
		s.Oldest = time.UnixMilli(ms)
	}
	return s, nil
}

// Close stops the writer and closes the database; committed messages stay on disk.
func (o *Outbox) Close() error {
	select {
	case <-o.quit:
		return nil
	default:
	}
	close(o.quit)
	o.wg.Wait()
	return o.db.Close()
}

func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrIoErr && strings.Contains(strings.ToLower(se.Error()), "full")) {
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}
