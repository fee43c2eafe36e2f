package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SyntheticLoad describes events to bulk-load for capacity measurements (docs/BENCHMARKS.md,
// "Rollups"): Events events numbered from First, spread over [From, To) and over sites
// Sites[0..], two red-light runs (Points[0]) to each jaywalker (Points[1]), every one priced
// under CatalogVersion; and, when Counts is set, one count record of 25 road users per site
// per 15 minutes over the same span (load them once: their ids repeat).
type SyntheticLoad struct {
	First, Events  int
	Sites          []string
	From, To       time.Time
	CatalogVersion string
	Points         [2]int
	Counts         bool
}

// LoadSynthetic inserts l's events, their ledger rows and counts in one transaction, generated
// inside the database (a recursive CTE on SQLite, generate_series on PostgreSQL), and adds them
// to the rollups in the same transaction, as ingest would (RebuildRollups gives the same sums;
// storetest checks it). It is not an ingest path: nothing is validated, and the rows are made
// for benchmarks, under device "synthetic".
func (s *Store) LoadSynthetic(ctx context.Context, l SyntheticLoad) error {
	if len(l.Sites) == 0 || l.Events < 0 || !l.From.Before(l.To) {
		return fmt.Errorf("load synthetic: need sites, a count and a span")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load synthetic: %w", err)
	}
	defer tx.Rollback()
	// It writes every width of the bins it loads, the open ones too (complete, and replaced by
	// their seal when they close; see RebuildRollups), and takes the watermarks' lock first as
	// a commit does.
	if _, err := s.lockRollups(ctx, tx, time.Time{}); err != nil {
		return fmt.Errorf("load synthetic: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS synthetic_sites (n INTEGER PRIMARY KEY, id TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("load synthetic: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM synthetic_sites`); err != nil {
		return fmt.Errorf("load synthetic: %w", err)
	}
	for i, id := range l.Sites {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO synthetic_sites (n, id) VALUES (?, ?)`), i, id); err != nil {
			return fmt.Errorf("load synthetic: %w", err)
		}
	}
	from, span, nsites := l.From.UnixMilli(), l.To.Sub(l.From).Milliseconds(), len(l.Sites)
	// Event i of a load: site i mod S, type by i mod 3, times in order over the span (as a
	// stream arrives; each load spans it again) with a few hundred milliseconds of jitter.
	series := func(lo, hi int) string {
		if s.dialect == Postgres.Name {
			return fmt.Sprintf(`generate_series(%d::bigint, %d::bigint) AS g(i)`, lo, hi-1)
		}
		return fmt.Sprintf(`(WITH RECURSIVE r(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM r WHERE i < %d) SELECT i FROM r) AS g`, lo, hi-1)
	}
	gen := fmt.Sprintf(`SELECT 'b' || g.i AS id, ss.id AS site, CASE WHEN g.i %% 3 = 2 THEN 'jaywalking' ELSE 'red_light_running' END AS type,
		%d + (g.i - %d) * %d / %d + (g.i * 7919) %% 500 AS time_ms
		FROM %s JOIN synthetic_sites ss ON ss.n = g.i %% %d`, from, l.First, span-500, max(l.Events, 1), series(l.First, l.First+l.Events), nsites)
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (`+eventColumns+`) SELECT 'synthetic', id, 'cam', site, 'z', type, 'car', time_ms, time_ms, 0.9, 'camera', 0, NULL FROM (`+gen+`) AS e`); err != nil {
		return fmt.Errorf("load synthetic events: %w", err)
	}
	points := fmt.Sprintf(`CASE WHEN type = 'jaywalking' THEN %d ELSE %d END`, l.Points[1], l.Points[0])
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO ledger (`+ledgerColumns+`) SELECT site, 'synthetic', id, type, `+points+`, ?, time_ms FROM (`+gen+`) AS e`),
		l.CatalogVersion); err != nil {
		return fmt.Errorf("load synthetic ledger: %w", err)
	}
	if l.Counts {
		const quarter = 15 * 60 * 1000
		n := int(span / quarter)
		q := fmt.Sprintf(`INSERT INTO counts (device, id, camera, site, zone, start_ms, period_s, counts, total)
			SELECT 'synthetic', 'k' || ss.n || '-' || g.i, 'cam', ss.id, 'z', %d + g.i * %d, 900, '{"car":25}', 25
			FROM %s CROSS JOIN synthetic_sites ss`, from, quarter, series(0, n))
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("load synthetic counts: %w", err)
		}
	}
	// The rollups of what was just loaded (WHERE true: SQLite's upsert after a SELECT needs one).
	for _, w := range rollupWidths {
		for _, q := range []string{
			`INSERT INTO rollup_events (width_ms, bin_ms, site, type, n) SELECT {W}, (time_ms / {W}) * {W}, site, type, count(*) FROM (` + gen + `) AS e
				WHERE true GROUP BY 2, site, type ON CONFLICT (width_ms, bin_ms, site, type) DO UPDATE SET n = rollup_events.n + excluded.n`,
			`INSERT INTO rollup_ledger (catalog_version, width_ms, bin_ms, site, type, n, points, points2)
				SELECT {V}, {W}, (time_ms / {W}) * {W}, site, type, count(*), sum(` + points + `), sum((` + points + `) * (` + points + `)) FROM (` + gen + `) AS e
				WHERE true GROUP BY 3, site, type ON CONFLICT (catalog_version, width_ms, bin_ms, site, type) DO UPDATE SET n = rollup_ledger.n + excluded.n,
				points = rollup_ledger.points + excluded.points, points2 = rollup_ledger.points2 + excluded.points2`,
		} {
			r := strings.NewReplacer("{W}", strconv.FormatInt(w, 10), "{V}", "'"+strings.ReplaceAll(l.CatalogVersion, "'", "''")+"'")
			if _, err := tx.ExecContext(ctx, r.Replace(q)); err != nil {
				return fmt.Errorf("load synthetic rollups: %w", err)
			}
		}
		if l.Counts {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO rollup_counts (width_ms, bin_ms, site, road_users)
				SELECT %[1]d, (start_ms / %[1]d) * %[1]d, site, sum(total) FROM counts WHERE device = 'synthetic' GROUP BY 2, site
				ON CONFLICT (width_ms, bin_ms, site) DO UPDATE SET road_users = rollup_counts.road_users + excluded.road_users`, w)); err != nil {
				return fmt.Errorf("load synthetic rollups: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load synthetic: %w", err)
	}
	if s.dialect == Postgres.Name {
		// What autovacuum would do soon after a load this size (planner statistics, the
		// visibility map), done now so that it does not run during a measurement.
		if _, err := s.db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			return fmt.Errorf("load synthetic: vacuum: %w", err)
		}
	}
	return nil
}
