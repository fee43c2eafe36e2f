package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// FindSiteScores returns every site with its events, points and exposure under q's catalog
// version and window, its rates, risk and score, ranked by aggregator.RankSites (q.RankBy).
// The sums come from the rollups.
func (s *Store) FindSiteScores(ctx context.Context, q aggregator.ScoreQuery) ([]aggregator.SiteScore, error) {
	// The most one event could cost per site kind under the version (a version not stored:
	// the most one did cost, below).
	maxPoints := map[aggregator.SiteKind]int{}
	cat, err := s.FindCatalog(ctx, q.CatalogVersion)
	switch {
	case err == nil:
		for _, e := range cat.Entries {
			for _, k := range e.SiteKinds {
				maxPoints[k] = max(maxPoints[k], e.Points)
			}
		}
	case !errors.Is(err, aggregator.ErrNotFound):
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, kind, lat, lon, cameras, time_zone FROM sites`)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	defer rows.Close()
	out := []aggregator.SiteScore{}
	idx := map[string]int{}
	for rows.Next() {
		sc := aggregator.SiteScore{CatalogVersion: q.CatalogVersion, From: q.From.UTC(), To: q.To.UTC(),
			Events: map[string]int{}, Rates: map[string]aggregator.Rate{}}
		var cams string
		if err := rows.Scan(&sc.ID, &sc.Name, &sc.Kind, &sc.Lat, &sc.Lon, &cams, &sc.TimeZone); err != nil {
			return nil, fmt.Errorf("find site scores: %w", err)
		}
		json.Unmarshal([]byte(cams), &sc.Cameras)
		if sc.Cameras == nil {
			sc.Cameras = []string{}
		}
		sc.MaxPoints = maxPoints[sc.Kind]
		idx[sc.ID] = len(out)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	rows.Close()
	events, err := s.sums(ctx, eventSource, "", "", q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	for k, v := range events {
		if i, ok := idx[k.site]; ok && v.n > 0 {
			out[i].Events[k.typ] = int(v.n)
		}
	}
	ledger, err := s.sums(ctx, ledgerSource, "", q.CatalogVersion, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	for k, v := range ledger {
		if i, ok := idx[k.site]; ok {
			sc := &out[i]
			sc.Points += int(v.points)
			sc.PointsSq += v.points2
			sc.Deductions += int(v.n)
			if cat == nil && v.n > 0 {
				sc.MaxPoints = max(sc.MaxPoints, int(v.points/v.n))
			}
		}
	}
	counts, err := s.sums(ctx, countSource, "", "", q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	for k, v := range counts {
		if i, ok := idx[k.site]; ok {
			out[i].RoadUsers += int(v.n)
		}
	}
	aggregator.RankSites(out, q.RankBy, q.MinRoadUsers)
	return out, nil
}

// FindCatalog returns a stored catalog version; ErrNotFound if it was never loaded.
func (s *Store) FindCatalog(ctx context.Context, version string) (*aggregator.Catalog, error) {
	var body string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT entries FROM catalogs WHERE version = ?`), version).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("catalog version %q: %w", version, aggregator.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("find catalog %s: %w", version, err)
	}
	cat := &aggregator.Catalog{Version: version}
	if err := json.Unmarshal([]byte(body), &cat.Entries); err != nil {
		return nil, fmt.Errorf("find catalog %s: %w", version, err)
	}
	return cat, nil
}

// FindCatalogVersions returns every stored catalog version, oldest first.
func (s *Store) FindCatalogVersions(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM catalogs ORDER BY loaded_ms, version`)
	if err != nil {
		return nil, fmt.Errorf("find catalog versions: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("find catalog versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// siteExists returns ErrNotFound for an unknown site.
func (s *Store) siteExists(ctx context.Context, site string) error {
	var one int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM sites WHERE id = ?`), site).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("site %q: %w", site, aggregator.ErrNotFound)
	}
	return err
}

// FindTally returns what a site saw over [from, to): events per type and road users, from the
// rollups. It returns ErrNotFound for an unknown site.
func (s *Store) FindTally(ctx context.Context, site string, from, to time.Time) (aggregator.Tally, error) {
	t := aggregator.Tally{From: from.UTC(), To: to.UTC(), Events: map[string]int{}}
	if err := s.siteExists(ctx, site); err != nil {
		return t, err
	}
	events, err := s.sums(ctx, eventSource, site, "", from, to)
	if err != nil {
		return t, fmt.Errorf("find tally: %w", err)
	}
	for k, v := range events {
		if v.n > 0 {
			t.Events[k.typ] += int(v.n)
		}
	}
	counts, err := s.sums(ctx, countSource, site, "", from, to)
	if err != nil {
		return t, fmt.Errorf("find tally: %w", err)
	}
	for _, v := range counts {
		t.RoadUsers += int(v.n)
	}
	return t, nil
}

// FindSeries returns a site's events per type and counted road users in bins of width bin
// over [from, to), every bin present (empty ones too), oldest first. Bins that are whole
// multiples of a rollup width are summed from that rollup, and only a last partial rollup bin
// from the raw rows.
func (s *Store) FindSeries(ctx context.Context, site string, from, to time.Time, bin time.Duration) ([]aggregator.Bin, error) {
	if bin <= 0 || to.Sub(from)/bin > 10000 {
		return nil, fmt.Errorf("find series: %v bins of %v: too many", to.Sub(from)/max(bin, 1), bin)
	}
	if err := s.siteExists(ctx, site); err != nil {
		return nil, err
	}
	from = from.Truncate(bin)
	n := int((to.Sub(from) + bin - 1) / bin)
	out := make([]aggregator.Bin, n)
	for i := range out {
		out[i] = aggregator.Bin{Start: from.Add(time.Duration(i) * bin).UTC(), Events: map[string]int{}}
	}
	ms, f, t := bin.Milliseconds(), from.UnixMilli(), to.UnixMilli()
	// The widest rollup that divides the bin and lines up with from, up to its watermark; the
	// 5-minute rows from there (the open hour or day); the raw rows for the ragged end.
	marks, err := s.readSealed(ctx, s.db, "")
	if err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	level := -1
	for i, w := range rollupWidths {
		if ms%w == 0 && floorDiv(f, w)*w == f {
			level = i
		}
	}
	type segment struct{ width, lo, hi int64 }
	var segs []segment
	rawFrom := f
	if level >= 0 {
		w := rollupWidths[level]
		rawFrom = max(f, floorDiv(t, w)*w)
		if cut := min(rawFrom, max(f, marks[level])); level > 0 && cut < rawFrom {
			fine := rollupWidths[0]
			segs = append(segs, segment{w, f, cut}, segment{fine, cut, max(cut, floorDiv(t, fine)*fine)})
			rawFrom = segs[1].hi
		} else {
			segs = append(segs, segment{w, f, rawFrom})
		}
	}
	add := func(q string, events bool, args ...any) error {
		rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i, k int
			var typ string
			dest := []any{&i, &k}
			if events {
				dest = []any{&i, &typ, &k}
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if i < 0 || i >= n {
				continue
			}
			if events {
				out[i].Events[typ] += k
			} else {
				out[i].RoadUsers += k
			}
		}
		return rows.Err()
	}
	var qs []struct {
		q      string
		events bool
		args   []any
	}
	for _, sg := range segs {
		if sg.hi <= sg.lo {
			continue
		}
		qs = append(qs, struct {
			q      string
			events bool
			args   []any
		}{`SELECT (bin_ms - ?) / ?, type, sum(n) FROM rollup_events WHERE site = ? AND width_ms = ? AND bin_ms >= ? AND bin_ms < ? GROUP BY 1, 2`, true,
			[]any{f, ms, site, sg.width, sg.lo, sg.hi}}, struct {
			q      string
			events bool
			args   []any
		}{`SELECT (bin_ms - ?) / ?, sum(road_users) FROM rollup_counts WHERE site = ? AND width_ms = ? AND bin_ms >= ? AND bin_ms < ? GROUP BY 1`, false,
			[]any{f, ms, site, sg.width, sg.lo, sg.hi}})
	}
	qs = append(qs, struct {
		q      string
		events bool
		args   []any
	}{`SELECT (time_ms - ?) / ?, type, count(*) FROM events WHERE site = ? AND time_ms >= ? AND time_ms < ? AND ` + notDismissed("events.device", "events.id") + ` GROUP BY 1, 2`, true,
		[]any{f, ms, site, rawFrom, t}}, struct {
		q      string
		events bool
		args   []any
	}{`SELECT (start_ms - ?) / ?, sum(total) FROM counts WHERE site = ? AND start_ms >= ? AND start_ms < ? GROUP BY 1`, false,
		[]any{f, ms, site, rawFrom, t}})
	for _, q := range qs {
		if err := add(q.q, q.events, q.args...); err != nil {
			return nil, fmt.Errorf("find series: %w", err)
		}
	}
	return out, nil
}

// CreateSiteChange records a change at a site, with an audit entry, and returns it with its id.
// It returns ErrNotFound for an unknown site.
func (s *Store) CreateSiteChange(ctx context.Context, c aggregator.SiteChange) (aggregator.SiteChange, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return c, fmt.Errorf("create site change: %w", err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM sites WHERE id = ?`), c.Site).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("site %q: %w", c.Site, aggregator.ErrNotFound)
	} else if err != nil {
		return c, fmt.Errorf("create site change: %w", err)
	}
	if err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO site_changes (site, time_ms, description, actor, created_ms) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		c.Site, c.Time.UnixMilli(), c.Description, c.Actor, c.Created.UnixMilli()).Scan(&c.ID); err != nil {
		return c, fmt.Errorf("create site change: %w", err)
	}
	detail := fmt.Sprintf("%s #%d at %s: %s", c.Site, c.ID, c.Time.UTC().Format(time.RFC3339), c.Description)
	if err := s.audit(ctx, tx, c.Created, c.Actor, "site.change_recorded", detail); err != nil {
		return c, err
	}
	if err := tx.Commit(); err != nil {
		return c, fmt.Errorf("create site change: %w", err)
	}
	c.Time, c.Created = c.Time.UTC(), c.Created.UTC()
	return c, nil
}

// FindSiteChanges returns a site's recorded changes, oldest first; ErrNotFound for an unknown
// site.
func (s *Store) FindSiteChanges(ctx context.Context, site string) ([]aggregator.SiteChange, error) {
	if err := s.siteExists(ctx, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, site, time_ms, description, actor, created_ms FROM site_changes WHERE site = ? ORDER BY time_ms, id`), site)
	if err != nil {
		return nil, fmt.Errorf("find site changes: %w", err)
	}
	defer rows.Close()
	out := []aggregator.SiteChange{}
	for rows.Next() {
		var c aggregator.SiteChange
		var t, cr int64
		if err := rows.Scan(&c.ID, &c.Site, &t, &c.Description, &c.Actor, &cr); err != nil {
			return nil, fmt.Errorf("find site changes: %w", err)
		}
		c.Time, c.Created = time.UnixMilli(t).UTC(), time.UnixMilli(cr).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// siteChangeSchema is the table of recorded site changes.
const siteChangeSchema = `CREATE TABLE IF NOT EXISTS site_changes (id {SERIAL}, site TEXT NOT NULL, time_ms {INT} NOT NULL,
	description TEXT NOT NULL, actor TEXT NOT NULL, created_ms {INT} NOT NULL);
CREATE INDEX IF NOT EXISTS site_changes_site ON site_changes (site, time_ms);`
