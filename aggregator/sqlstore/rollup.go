package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Rollups are sums kept at commit time, in the same transaction as the rows they sum, per site,
// event type (or catalog version and type, or site alone for counts) and bin, at three widths:
// 5 minutes, an hour and a UTC day. A query over [from, to) adds the whole days, hours and
// 5-minute bins inside it and reads only the ragged ends (under 5 minutes each) from the
// events, ledger and counts tables, so rankings, series and before/after comparisons cost the
// same with 100,000 or 10,000,000 events stored (docs/BENCHMARKS.md, "Rollups").
//
// A commit writes only the 5-minute rows of the bins it adds to, plus the hour and day rows of
// bins already sealed (a late event: an edge's backlog): a query reads a wider bin only when the
// whole bin lies before that width's watermark (rollup_state, "sealed_<width>"), so the open hour
// and day are read from finer rows anyway, and writing them on every batch was a new index entry
// per row and batch on PostgreSQL (the rows' sums are in its covering indexes) for rows no query
// reads. Once the ingester's clock has passed a watermark by a whole bin, a commit seals: it sets
// the wider rows of the closed bins to the sums of the next finer width's rows (replacing any
// row there, so it is idempotent and mends partial rows) and moves the watermark on
// (docs/BENCHMARKS.md, "Rollups"; seal, below).
//
// Events and counts are summed by their own time (an event's time, a count record's start), as
// the queries over the raw tables always did, so the answers do not change; ledger rollups are
// per catalog version, and a new version (EnsureCatalog) builds its own from the re-priced rows.
const rollupSchema = `
CREATE TABLE IF NOT EXISTS rollup_events (site TEXT NOT NULL, width_ms {INT} NOT NULL, bin_ms {INT} NOT NULL, type TEXT NOT NULL,
	n {INT} NOT NULL, PRIMARY KEY (site, width_ms, bin_ms, type)) {CLUSTERED};
CREATE TABLE IF NOT EXISTS rollup_ledger (catalog_version TEXT NOT NULL, site TEXT NOT NULL, width_ms {INT} NOT NULL, bin_ms {INT} NOT NULL,
	type TEXT NOT NULL, n {INT} NOT NULL, points {INT} NOT NULL, points2 {INT} NOT NULL, PRIMARY KEY (catalog_version, site, width_ms, bin_ms, type)) {CLUSTERED};
CREATE TABLE IF NOT EXISTS rollup_counts (site TEXT NOT NULL, width_ms {INT} NOT NULL, bin_ms {INT} NOT NULL,
	road_users {INT} NOT NULL, PRIMARY KEY (site, width_ms, bin_ms)) {CLUSTERED};
CREATE TABLE IF NOT EXISTS rollup_state (name TEXT PRIMARY KEY, built_ms {INT} NOT NULL);
`

// rollupBinIndexes serve PostgreSQL's rankings (below); SQLite's plans never read them, and
// each would be one more page written and synced per commit. Each carries the columns a
// ranking reads (INCLUDE), so PostgreSQL answers from the index alone (an index-only scan)
// and reads no table pages for the 60,000 rollup rows of a 30-day ranking of 200 sites. The
// (width, bin)-only indexes of databases made before are dropped once the covering ones exist.
const rollupBinIndexes = `
CREATE INDEX IF NOT EXISTS rollup_events_cover ON rollup_events (width_ms, bin_ms) INCLUDE (site, type, n);
CREATE INDEX IF NOT EXISTS rollup_ledger_cover ON rollup_ledger (catalog_version, width_ms, bin_ms) INCLUDE (site, type, n, points, points2);
CREATE INDEX IF NOT EXISTS rollup_counts_cover ON rollup_counts (width_ms, bin_ms) INCLUDE (site, road_users);
DROP INDEX IF EXISTS rollup_events_bin;
DROP INDEX IF EXISTS rollup_ledger_bin;
DROP INDEX IF EXISTS rollup_counts_bin;
`

// Each rollup table's key leads with the site (after the version for the ledger), and on SQLite
// the tables are WITHOUT ROWID ({CLUSTERED}): a site's series or tally reads its bins as a few
// ranges of the key, the rows on the key's own pages, and so does a ranking on SQLite, site by
// site. PostgreSQL plans 200 sites' probes dearly (120 ms of CPU for a ranking): there a
// ranking reads each span across all sites through a (width, bin) index, which costs a commit
// an entry per rollup row it adds to (the sums are in the index, so each update of a row is a
// new entry, not a heap-only one); SQLite has no such index.

// rollupWidths are the bin widths kept, finest first; each divides the next.
var rollupWidths = [...]int64{5 * 60 * 1000, 60 * 60 * 1000, 24 * 60 * 60 * 1000}

// ensureRollups creates the rollup tables and, the first time (a database made before they
// existed), fills them from the stored rows. The marker row is claimed first, so of several
// instances starting on one PostgreSQL only one fills them.
func (s *Store) ensureRollups(d Dialect) error {
	schema := rollupSchema + siteChangeSchema
	if d.Name == Postgres.Name {
		schema += rollupBinIndexes
	}
	if _, err := s.db.Exec(d.types.Replace(schema)); err != nil {
		return fmt.Errorf("create rollups: %w", err)
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("build rollups: %w", err)
	}
	defer tx.Rollback()
	// The watermarks, the first time: every width's rows are complete up to now, in a new
	// database (there is nothing) and in one made before them (every commit wrote every width).
	at := time.Now().UnixMilli()
	for _, w := range rollupWidths[1:] {
		if _, err := tx.Exec(s.rebind(`INSERT INTO rollup_state (name, built_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`), sealName(w), floorDiv(at, w)*w); err != nil {
			return fmt.Errorf("build rollups: %w", err)
		}
	}
	res, err := tx.Exec(s.rebind(`INSERT INTO rollup_state (name, built_ms) VALUES ('v1', ?) ON CONFLICT DO NOTHING`), at)
	if err != nil {
		return fmt.Errorf("build rollups: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tx.Commit()
	}
	if err := s.rebuildRollups(context.Background(), tx); err != nil {
		return err
	}
	return tx.Commit()
}

// RebuildRollups recomputes every rollup from the events, ledger and counts tables in one
// transaction. Ingest keeps them current; this is for bulk loads that bypass Commit (the
// rollup benchmark) and for repairs. It writes every width of every bin, the open ones too:
// complete now, and replaced by their seal when they close, so the watermarks stay as they are.
func (s *Store) RebuildRollups(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rebuild rollups: %w", err)
	}
	defer tx.Rollback()
	if _, err := s.lockRollups(ctx, tx, time.Time{}); err != nil { // no seal while it runs
		return fmt.Errorf("rebuild rollups: %w", err)
	}
	if err := s.rebuildRollups(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) rebuildRollups(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{`DELETE FROM rollup_events`, `DELETE FROM rollup_ledger`, `DELETE FROM rollup_counts`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rebuild rollups: %w", err)
		}
	}
	// The widths are constants written into the statements: PostgreSQL cannot type a
	// parameter in a SELECT list.
	for _, w := range rollupWidths {
		for _, q := range []string{
			`INSERT INTO rollup_events (width_ms, bin_ms, site, type, n) SELECT %[1]d, (time_ms / %[1]d) * %[1]d, site, type, count(*) FROM events
				WHERE ` + notDismissed("events.device", "events.id") + ` GROUP BY 2, site, type`,
			`INSERT INTO rollup_ledger (catalog_version, width_ms, bin_ms, site, type, n, points, points2)
				SELECT catalog_version, %[1]d, (time_ms / %[1]d) * %[1]d, site, type, count(*), sum(points), sum(points * points) FROM ledger
				WHERE ` + notDismissed("ledger.device", "ledger.event_id") + ` GROUP BY catalog_version, 3, site, type`,
			`INSERT INTO rollup_counts (width_ms, bin_ms, site, road_users) SELECT %[1]d, (start_ms / %[1]d) * %[1]d, site, sum(total) FROM counts GROUP BY 2, site`,
		} {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(q, w)); err != nil {
				return fmt.Errorf("rebuild rollups: %w", err)
			}
		}
	}
	return nil
}

// rebuildLedgerRollups recomputes one catalog version's ledger rollups inside tx, after the
// version's re-pricing.
func (s *Store) rebuildLedgerRollups(ctx context.Context, tx *sql.Tx, version string) error {
	if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM rollup_ledger WHERE catalog_version = ?`), version); err != nil {
		return fmt.Errorf("roll up ledger %s: %w", version, err)
	}
	for _, w := range rollupWidths {
		if _, err := tx.ExecContext(ctx, s.rebind(fmt.Sprintf(`INSERT INTO rollup_ledger (catalog_version, width_ms, bin_ms, site, type, n, points, points2)
			SELECT catalog_version, %[1]d, (time_ms / %[1]d) * %[1]d, site, type, count(*), sum(points), sum(points * points) FROM ledger
			WHERE catalog_version = ? AND `+notDismissed("ledger.device", "ledger.event_id")+` GROUP BY catalog_version, 3, site, type`, w)), version); err != nil {
			return fmt.Errorf("roll up ledger %s: %w", version, err)
		}
	}
	return nil
}

// rollKey is one rollup row: typ is the event type ("" for counts), version the catalog
// version (ledger rows only).
type rollKey struct {
	version, site, typ string
	width, bin         int64
}

// rollSum is what a rollup row adds up.
type rollSum struct{ n, points, points2 int64 }

// tally collects what one commit adds to the rollups.
type tally struct {
	events, ledger, counts map[rollKey]rollSum
}

func newTally() *tally {
	return &tally{events: map[rollKey]rollSum{}, ledger: map[rollKey]rollSum{}, counts: map[rollKey]rollSum{}}
}

// add adds to the finest bin only (one map update per record, on the ingest path); write
// derives the wider bins from it.
func (t *tally) add(m map[rollKey]rollSum, version, site, typ string, ms int64, n, points int64) {
	w := rollupWidths[0]
	k := rollKey{version, site, typ, w, floorDiv(ms, w) * w}
	v := m[k]
	v.n += n
	v.points += points
	v.points2 += points * points
	m[k] = v
}

// review adds to the rollups what a review changes: sign -1 takes an event out (dismissed),
// +1 puts it back (a dismissal undone), with its ledger row under each catalog version.
func (t *tally) review(site, typ string, ms int64, sign int64, ledger map[string]int64) {
	w := rollupWidths[0]
	k := rollKey{"", site, typ, w, floorDiv(ms, w) * w}
	v := t.events[k]
	v.n += sign
	t.events[k] = v
	for version, points := range ledger {
		k := rollKey{version, site, typ, w, floorDiv(ms, w) * w}
		v := t.ledger[k]
		v.n += sign
		v.points += sign * points
		v.points2 += sign * points * points
		t.ledger[k] = v
	}
}

// widen adds to m, for each of its finest-bin rows, the same sums in every wider bin that is
// sealed (ends at or before its width's watermark): a late record. The open wider bins are
// summed from the finest rows when they are sealed.
func widen(m map[rollKey]rollSum, marks sealed) {
	fine := make([]rollKey, 0, len(m))
	for k := range m {
		fine = append(fine, k)
	}
	for _, k := range fine {
		v := m[k]
		for i, w := range rollupWidths[1:] {
			wk := k
			wk.width, wk.bin = w, floorDiv(k.bin, w)*w
			if wk.bin+w > marks[i+1] {
				continue
			}
			o := m[wk]
			o.n, o.points, o.points2 = o.n+v.n, o.points+v.points, o.points2+v.points2
			m[wk] = o
		}
	}
}

func (t *tally) event(e *aggregator.PricedEvent) {
	ms := e.Time.UnixMilli()
	t.add(t.events, "", e.Site, e.Type, ms, 1, 0)
	if e.Priced {
		t.add(t.ledger, e.CatalogVersion, e.Site, e.Type, ms, 1, int64(e.Points))
	}
}

// floorDiv rounds towards minus infinity, as bins do for times before 1970.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// write adds the tally to the rollup tables inside tx: one multi-row upsert per table and
// chunk, in key order (so two instances on one PostgreSQL lock rows in the same order). marks
// are the watermarks lockRollups returned in tx.
func (t *tally) write(ctx context.Context, s *Store, tx *sql.Tx, marks sealed) error {
	type spec struct {
		m        map[rollKey]rollSum
		head     string
		cols     int
		row      func(k rollKey, v rollSum) []any
		conflict string
	}
	for _, sp := range []spec{
		{t.events, `INSERT INTO rollup_events (width_ms, bin_ms, site, type, n) VALUES `, 5,
			func(k rollKey, v rollSum) []any { return []any{k.width, k.bin, k.site, k.typ, v.n} },
			` ON CONFLICT (width_ms, bin_ms, site, type) DO UPDATE SET n = rollup_events.n + excluded.n`},
		{t.ledger, `INSERT INTO rollup_ledger (catalog_version, width_ms, bin_ms, site, type, n, points, points2) VALUES `, 8,
			func(k rollKey, v rollSum) []any {
				return []any{k.version, k.width, k.bin, k.site, k.typ, v.n, v.points, v.points2}
			},
			` ON CONFLICT (catalog_version, width_ms, bin_ms, site, type) DO UPDATE SET n = rollup_ledger.n + excluded.n,
				points = rollup_ledger.points + excluded.points, points2 = rollup_ledger.points2 + excluded.points2`},
		{t.counts, `INSERT INTO rollup_counts (width_ms, bin_ms, site, road_users) VALUES `, 4,
			func(k rollKey, v rollSum) []any { return []any{k.width, k.bin, k.site, v.n} },
			` ON CONFLICT (width_ms, bin_ms, site) DO UPDATE SET road_users = rollup_counts.road_users + excluded.road_users`},
	} {
		if len(sp.m) == 0 {
			continue
		}
		widen(sp.m, marks)
		keys := make([]rollKey, 0, len(sp.m))
		for k := range sp.m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if a.width != b.width {
				return a.width < b.width
			}
			if a.bin != b.bin {
				return a.bin < b.bin
			}
			if a.version != b.version {
				return a.version < b.version
			}
			if a.site != b.site {
				return a.site < b.site
			}
			return a.typ < b.typ
		})
		for start := 0; start < len(keys); start += rowsPerInsert {
			chunk := keys[start:min(start+rowsPerInsert, len(keys))]
			args := make([]any, 0, len(chunk)*sp.cols)
			for _, k := range chunk {
				args = append(args, sp.row(k, sp.m[k])...)
			}
			if _, err := tx.ExecContext(ctx, s.rebind(sp.head+rowsOf(sp.cols, len(chunk))+sp.conflict), args...); err != nil {
				return fmt.Errorf("update rollups: %w", err)
			}
		}
	}
	return nil
}

// sealed holds each width's watermark, indexed as rollupWidths: the rows of width
// rollupWidths[i] are complete for every bin that ends at or before sealed[i], and beyond it
// are absent or partial and never read. The finest rows are always complete (sealed[0] is the
// largest int64).
type sealed [len(rollupWidths)]int64

// sealName is the rollup_state row of a width's watermark.
func sealName(w int64) string { return "sealed_" + strconv.FormatInt(w, 10) }

// due is when the next seal is: the first wider bin after a watermark has ended.
func (m sealed) due() int64 {
	d := int64(math.MaxInt64)
	for i, w := range rollupWidths[1:] {
		d = min(d, m[i+1]+w)
	}
	return d
}

// RollupWatermarks returns, for each rollup width wider than the finest, the time up to which
// its rows are complete (sealed); a query reads finer rows beyond it.
func (s *Store) RollupWatermarks(ctx context.Context) (map[time.Duration]time.Time, error) {
	m, err := s.readSealed(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	out := map[time.Duration]time.Time{}
	for i, w := range rollupWidths[1:] {
		out[time.Duration(w)*time.Millisecond] = time.UnixMilli(m[i+1]).UTC()
	}
	return out, nil
}

// readSealed reads the watermarks; lock is "", " FOR SHARE" or " FOR UPDATE".
func (s *Store) readSealed(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, lock string) (sealed, error) {
	m := sealed{math.MaxInt64}
	found := map[string]int64{}
	rows, err := q.QueryContext(ctx, `SELECT name, built_ms FROM rollup_state WHERE name LIKE 'sealed_%' ORDER BY name`+lock)
	if err != nil {
		return m, fmt.Errorf("read rollup watermarks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var ms int64
		if err := rows.Scan(&name, &ms); err != nil {
			return m, fmt.Errorf("read rollup watermarks: %w", err)
		}
		found[name] = ms
	}
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("read rollup watermarks: %w", err)
	}
	for i, w := range rollupWidths[1:] {
		ms, ok := found[sealName(w)]
		if !ok {
			return m, fmt.Errorf("read rollup watermarks: rollup_state has no row %s", sealName(w))
		}
		m[i+1] = ms
	}
	return m, nil
}

// lockRollups is the first thing a transaction that writes rollups does: it locks and reads
// the watermarks and, when now (non-zero) has passed one by a whole bin, seals. On PostgreSQL
// the lock is FOR UPDATE when this transaction may seal, else FOR SHARE: many commits write
// rows at once, a seal waits for them and they for it, so a seal sums every finer row
// committed before it and no commit adds to a wider bin it has not seen sealed. Every
// transaction takes its one lock before any other, never upgrading it, so no deadlock comes of
// it. SQLite's single writer needs none.
func (s *Store) lockRollups(ctx context.Context, tx *sql.Tx, now time.Time) (sealed, error) {
	at := now.UnixMilli()
	seal := !now.IsZero() && at >= s.sealDue.Load() // the hint is never later than the truth
	lock := ""
	if s.dialect == Postgres.Name {
		lock = " FOR SHARE"
		if seal {
			lock = " FOR UPDATE"
		}
	}
	m, err := s.readSealed(ctx, tx, lock)
	if err != nil {
		return m, err
	}
	if seal {
		if m, err = s.seal(ctx, tx, m, at); err != nil {
			return m, err
		}
	}
	s.sealDue.Store(m.due())
	return m, nil
}

// seal closes, for each wider width in turn (the hours before the days, which are summed from
// them), the bins from its watermark to the last one that ended at or before now: their rows
// become the sums of the next finer width's rows, replacing what is there, and the watermark
// moves to their end. tx holds the watermarks FOR UPDATE (lockRollups).
func (s *Store) seal(ctx context.Context, tx *sql.Tx, m sealed, now int64) (sealed, error) {
	for i := 1; i < len(rollupWidths); i++ {
		w, f := rollupWidths[i], rollupWidths[i-1]
		from, to := m[i], min(floorDiv(now, w)*w, m[i-1])
		if to <= from {
			continue
		}
		if err := s.sealBins(ctx, tx, w, f, from, to); err != nil {
			return m, fmt.Errorf("seal %d ms rollups %d–%d: %w", w, from, to, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollup_state SET built_ms = ? WHERE name = ?`), to, sealName(w)); err != nil {
			return m, fmt.Errorf("seal %d ms rollups: %w", w, err)
		}
		m[i] = to
	}
	return m, nil
}

// sealBins sets the rows of width w in [from, to) to the sums of the rows of width f there.
// PostgreSQL reads the finer rows through the (width, bin) indexes; SQLite, whose keys lead
// with the site (and version), site by site, the sites found by skipping along the key (a
// recursive min), so neither reads more than the bins it seals.
func (s *Store) sealBins(ctx context.Context, tx *sql.Tx, w, f, from, to int64) error {
	skip := func(table, where string) string { // the distinct sites of table, as k(site)
		return `WITH RECURSIVE k(site) AS (SELECT min(site) FROM ` + table + ` WHERE ` + where + `
			UNION ALL SELECT (SELECT min(site) FROM ` + table + ` WHERE ` + where + ` AND site > k.site) FROM k WHERE k.site IS NOT NULL) `
	}
	pg := s.dialect == Postgres.Name
	r := strings.NewReplacer("{W}", strconv.FormatInt(w, 10), "{F}", strconv.FormatInt(f, 10))
	for _, table := range []struct{ name, cols, sums, group, set string }{
		{"rollup_events", "site, type, n", "r.site, r.type, sum(r.n)", "r.site, r.type", "n = excluded.n"},
		{"rollup_counts", "site, road_users", "r.site, sum(r.road_users)", "r.site", "road_users = excluded.road_users"},
	} {
		head, from1 := "", ` FROM `+table.name+` r WHERE `
		if !pg {
			head, from1 = skip(table.name, "true"), ` FROM k CROSS JOIN `+table.name+` r WHERE r.site = k.site AND `
		}
		key := "width_ms, bin_ms, site"
		if table.name == "rollup_events" {
			key += ", type"
		}
		q := head + `INSERT INTO ` + table.name + ` (width_ms, bin_ms, ` + table.cols + `) SELECT {W}, (r.bin_ms / {W}) * {W}, ` + table.sums +
			from1 + `r.width_ms = {F} AND r.bin_ms >= ? AND r.bin_ms < ? GROUP BY 2, ` + table.group +
			` ON CONFLICT (` + key + `) DO UPDATE SET ` + table.set
		if _, err := tx.ExecContext(ctx, s.rebind(r.Replace(q)), from, to); err != nil {
			return fmt.Errorf("%s: %w", table.name, err)
		}
	}
	// The ledger per catalog version (its key and PostgreSQL's index lead with it), the
	// versions found by skipping along the key.
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE v(version) AS (SELECT min(catalog_version) FROM rollup_ledger
		UNION ALL SELECT (SELECT min(catalog_version) FROM rollup_ledger WHERE catalog_version > v.version) FROM v WHERE v.version IS NOT NULL)
		SELECT version FROM v WHERE version IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("rollup_ledger: %w", err)
	}
	var versions []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("rollup_ledger: %w", err)
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollup_ledger: %w", err)
	}
	for _, v := range versions {
		head, from1, args := "", ` FROM rollup_ledger r WHERE r.catalog_version = ? AND `, []any{v, from, to}
		if !pg {
			head, from1 = skip("rollup_ledger", "catalog_version = ?"), ` FROM k CROSS JOIN rollup_ledger r WHERE r.catalog_version = ? AND r.site = k.site AND `
			args = []any{v, v, v, from, to}
		}
		q := head + `INSERT INTO rollup_ledger (catalog_version, width_ms, bin_ms, site, type, n, points, points2)
			SELECT r.catalog_version, {W}, (r.bin_ms / {W}) * {W}, r.site, r.type, sum(r.n), sum(r.points), sum(r.points2)` + from1 +
			`r.width_ms = {F} AND r.bin_ms >= ? AND r.bin_ms < ? GROUP BY r.catalog_version, 3, r.site, r.type
			ON CONFLICT (catalog_version, width_ms, bin_ms, site, type) DO UPDATE SET n = excluded.n, points = excluded.points, points2 = excluded.points2`
		if _, err := tx.ExecContext(ctx, s.rebind(r.Replace(q)), args...); err != nil {
			return fmt.Errorf("rollup_ledger %s: %w", v, err)
		}
	}
	return nil
}

// span is a half-open interval of milliseconds, read from the rollups of width (0: from the
// raw rows).
type span struct{ width, from, to int64 }

// cover splits [from, to) into the fewest spans: whole bins of the widest rollup that fits,
// narrower ones towards the ends and the raw rows for what is left (under the finest width at
// either end). A width's bins are used only up to its watermark in marks; beyond it, finer ones.
func cover(from, to int64, marks sealed) []span {
	var out []span
	var split func(lo, hi int64, level int)
	split = func(lo, hi int64, level int) {
		if lo >= hi {
			return
		}
		if level < 0 {
			out = append(out, span{0, lo, hi})
			return
		}
		w := rollupWidths[level]
		a, b := -floorDiv(-lo, w)*w, min(floorDiv(hi, w)*w, marks[level]) // lo rounded up, hi rounded down
		if a >= b {
			split(lo, hi, level-1)
			return
		}
		split(lo, a, level-1)
		out = append(out, span{w, a, b})
		split(b, hi, level-1)
	}
	split(from, to, len(rollupWidths)-1)
	return out
}

// source is one kind of rolled-up record: its rollup table and its raw table.
type source struct {
	rollup, rollupSums string // table and the sums it adds: n, points, points2
	raw, rawSums, time string // the raw table, the same sums over its rows, its time column
	typ                string // the type column ("" for counts)
	versioned          bool   // ledger: one catalog version
	// kept is the condition a raw row must meet to count, as the rollups count it: an event
	// a reviewer dismissed counts in neither ("" for counts).
	kept string
}

var (
	eventSource = source{"rollup_events", "sum(n) AS a, 0 AS b, 0 AS c", "events", "count(*) AS a, 0 AS b, 0 AS c", "time_ms", "type", false,
		notDismissed("r.device", "r.id")}
	ledgerSource = source{"rollup_ledger", "sum(n) AS a, sum(points) AS b, sum(points2) AS c", "ledger", "count(*) AS a, sum(points) AS b, sum(points * points) AS c", "time_ms", "type", true,
		notDismissed("r.device", "r.event_id")}
	countSource = source{"rollup_counts", "sum(road_users) AS a, 0 AS b, 0 AS c", "counts", "sum(total) AS a, 0 AS b, 0 AS c", "start_ms", "", false, ""}
)

// siteType keys a sum by site and type.
type siteType struct{ site, typ string }

// sums adds up src over [from, to) per site and type: for one site, or every configured site
// when site is "". version selects the catalog version of ledger sums.
func (s *Store) sums(ctx context.Context, src source, site, version string, from, to time.Time) (map[siteType]rollSum, error) {
	out := map[siteType]rollSum{}
	typ, group := "''", "r.site" // PostgreSQL refuses to group by a constant
	if src.typ != "" {
		typ, group = "r."+src.typ, "r.site, r."+src.typ
	}
	// Read once, without a lock: a watermark only moves on, and the rows below an older one
	// are still complete.
	marks, err := s.readSealed(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	var rolled []span
	var raw []span
	for _, sp := range cover(from.UnixMilli(), to.UnixMilli(), marks) {
		if sp.width == 0 {
			raw = append(raw, sp)
		} else {
			rolled = append(rolled, sp)
		}
	}
	scan := func(q string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k siteType
			var v rollSum
			if err := rows.Scan(&k.site, &k.typ, &v.n, &v.points, &v.points2); err != nil {
				return err
			}
			o := out[k]
			o.n, o.points, o.points2 = o.n+v.n, o.points+v.points, o.points2+v.points2
			out[k] = o
		}
		return rows.Err()
	}
	var where []string
	var args []any
	if src.versioned {
		where, args = append(where, "r.catalog_version = ?"), append(args, version)
	}
	if site != "" {
		where, args = append(where, "r.site = ?"), append(args, site)
	}
	// One statement for the source: a branch per span, each reading one range of a site's key
	// (SQLite would not use the key for an OR of ranges inside a join), site by site through
	// the sites table when every site is asked for (SQLite keeps a CROSS JOIN's order, and would
	// otherwise scan a whole index for a few minutes).
	from1 := func(table string) string {
		if site == "" && (table != src.rollup || s.dialect != Postgres.Name) {
			return ` FROM sites s CROSS JOIN ` + table + ` r WHERE r.site = s.id AND `
		}
		return ` FROM ` + table + ` r WHERE ` // every site's rows, sites not configured too: the caller drops them
	}
	var branches []string
	var all []any
	for _, sp := range rolled {
		all = append(append(all, args...), sp.width, sp.from, sp.to)
		w := append(append([]string{}, where...), "r.width_ms = ?", "r.bin_ms >= ?", "r.bin_ms < ?")
		branches = append(branches, `SELECT r.site AS site, `+typ+` AS typ, `+src.rollupSums+from1(src.rollup)+strings.Join(w, " AND ")+` GROUP BY `+group)
	}
	for _, sp := range raw {
		all = append(append(all, args...), sp.from, sp.to)
		w := append(append([]string{}, where...), "r."+src.time+" >= ?", "r."+src.time+" < ?")
		if src.kept != "" {
			w = append(w, src.kept)
		}
		branches = append(branches, `SELECT r.site AS site, `+typ+` AS typ, `+src.rawSums+from1(src.raw)+strings.Join(w, " AND ")+` GROUP BY `+group)
	}
	if len(branches) == 0 {
		return out, nil
	}
	if err := scan(`SELECT site, typ, sum(a), sum(b), sum(c) FROM (`+strings.Join(branches, " UNION ALL ")+`) AS u GROUP BY site, typ`, all...); err != nil {
		return nil, fmt.Errorf("sum %s: %w", src.rollup, err)
	}
	return out, nil
}
