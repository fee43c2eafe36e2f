// Package sqlstore stores the aggregator's records in SQL, the same statements on SQLite and
// PostgreSQL: events exactly once by (device, id), the versioned ledger, counts, gaps, devices
// and dead letters. The sqlite and postgres packages open it for their engine.
package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Store is the store. Safe for concurrent use, also from several processes on one PostgreSQL.
type Store struct {
	db     *sql.DB
	rebind func(string) string
}

// Dialect is what differs between engines: the schema and the placeholder style.
type Dialect struct {
	Name   string
	Schema string
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered bool
}

// New wraps an open database and creates the schema.
func New(db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, rebind: func(q string) string { return q }}
	if d.Numbered {
		s.rebind = numbered
	}
	if _, err := db.Exec(d.Schema); err != nil {
		return nil, fmt.Errorf("create %s schema: %w", d.Name, err)
	}
	// Databases made before sites had cameras gain the column.
	if _, err := db.Exec(`SELECT cameras FROM sites LIMIT 0`); err != nil {
		if _, err := db.Exec(`ALTER TABLE sites ADD COLUMN cameras TEXT NOT NULL DEFAULT '[]'`); err != nil {
			return nil, fmt.Errorf("migrate %s schema: %w", d.Name, err)
		}
	}
	return s, nil
}

// numbered turns ? placeholders into $1, $2, …
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// UpsertSites creates or updates sites.
func (s *Store) UpsertSites(ctx context.Context, sites []aggregator.Site) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("upsert sites: %w", err)
	}
	defer tx.Rollback()
	for _, st := range sites {
		cams, _ := json.Marshal(append([]string{}, st.Cameras...))
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO sites (id, name, kind, lat, lon, cameras) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, lat = excluded.lat, lon = excluded.lon, cameras = excluded.cameras`),
			st.ID, st.Name, string(st.Kind), st.Lat, st.Lon, string(cams))
		if err != nil {
			return fmt.Errorf("upsert site %s: %w", st.ID, err)
		}
	}
	return tx.Commit()
}

// Commit stores a batch in one transaction. An event already stored is skipped with its ledger
// row, so a re-delivery changes nothing. It returns how many events were new.
func (s *Store) Commit(ctx context.Context, b *aggregator.Batch) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("commit batch: %w", err)
	}
	defer tx.Rollback()
	inserted := 0
	for _, e := range b.Events {
		res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO events (device, id, camera, site, zone, type, class, time_ms, received_ms,
			confidence, signal_source, time_into_red) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			e.Device, e.ID, e.Camera, e.Site, e.Zone, e.Type, e.Class, e.Time.UnixMilli(), e.Received.UnixMilli(),
			e.Confidence, e.SignalSource, e.TimeIntoRedS)
		if err != nil {
			return 0, fmt.Errorf("insert event %s/%s: %w", e.Device, e.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // already stored: exactly once
		}
		inserted++
		if !e.Priced {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO ledger (site, device, event_id, type, points, catalog_version, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			e.Site, e.Device, e.ID, e.Type, e.Points, e.CatalogVersion, e.Time.UnixMilli()); err != nil {
			return 0, fmt.Errorf("insert ledger row for %s/%s: %w", e.Device, e.ID, err)
		}
	}
	for _, c := range b.Counts {
		cj, _ := json.Marshal(c.Counts)
		total := 0
		for _, n := range c.Counts {
			total += n
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO counts (device, id, camera, site, zone, start_ms, period_s, counts, total)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), c.Device, c.ID, c.Camera, c.Site, c.Zone, c.Start.UnixMilli(), c.PeriodS, string(cj), total); err != nil {
			return 0, fmt.Errorf("insert counts %s/%s: %w", c.Device, c.ID, err)
		}
	}
	for _, g := range b.Gaps {
		ej, _ := json.Marshal(g.Evicted)
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO gaps (device, id, time_ms, reason, evicted, not_accepted, oldest_ms, newest_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), g.Device, g.ID, g.Time.UnixMilli(), g.Reason, string(ej), g.NotAccepted,
			g.Oldest.UnixMilli(), g.Newest.UnixMilli()); err != nil {
			return 0, fmt.Errorf("insert gap %s/%s: %w", g.Device, g.ID, err)
		}
	}
	for _, d := range b.DeadLetters {
		digest := sha256.Sum256(append([]byte(d.Topic+"\x00"+d.Reason+"\x00"), d.Payload...))
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO dead_letters (received_ms, topic, device, payload_id, reason, payload, digest)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), d.Received.UnixMilli(), d.Topic, d.Device, d.PayloadID, d.Reason, d.Payload, digest[:]); err != nil {
			return 0, fmt.Errorf("insert dead letter: %w", err)
		}
	}
	for _, d := range b.Devices {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO devices (id, online, last_seen_ms, backlog, oldest_pending_s, software) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET online = excluded.online,
			last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END,
			backlog = excluded.backlog, oldest_pending_s = excluded.oldest_pending_s, software = excluded.software`),
			d.ID, d.Online, d.LastSeen.UnixMilli(), d.Backlog, d.OldestPendingS, d.Software); err != nil {
			return 0, fmt.Errorf("upsert device %s: %w", d.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit batch: %w", err)
	}
	return inserted, nil
}

// ErrCatalogChanged means a catalog version is already stored with other entries.
var ErrCatalogChanged = errors.New("catalog changed without a new version")

// EnsureCatalog stores a catalog version the first time it is seen and re-prices every stored
// event under it (ledger replay), in one transaction, so each ledger row names the version that
// priced it and scores can be explained under any version. kinds gives each site's kind.
// It returns how many ledger rows the replay wrote. A version stored with other entries is
// ErrCatalogChanged: a changed catalog needs a new version.
func (s *Store) EnsureCatalog(ctx context.Context, cat *aggregator.Catalog, kinds map[string]aggregator.SiteKind) (int, error) {
	body, _ := json.Marshal(cat.Entries)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ensure catalog: %w", err)
	}
	defer tx.Rollback()
	var stored string
	switch err := tx.QueryRowContext(ctx, s.rebind(`SELECT entries FROM catalogs WHERE version = ?`), cat.Version).Scan(&stored); {
	case err == nil:
		if stored != string(body) {
			return 0, fmt.Errorf("catalog version %s: %w", cat.Version, ErrCatalogChanged)
		}
		return 0, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("ensure catalog: %w", err)
	}
	res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO catalogs (version, entries, loaded_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), cat.Version, string(body), time.Now().UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("ensure catalog: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Another instance stored this version meanwhile and re-priced under it.
		tx.Rollback()
		return s.EnsureCatalog(ctx, cat, kinds)
	}
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT device, id, site, type, confidence, time_ms FROM events`))
	if err != nil {
		return 0, fmt.Errorf("reprice: %w", err)
	}
	type priced struct {
		device, id, site, typ string
		points                int
		ms                    int64
	}
	var out []priced
	for rows.Next() {
		var p priced
		var conf float64
		if err := rows.Scan(&p.device, &p.id, &p.site, &p.typ, &conf, &p.ms); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reprice: %w", err)
		}
		kind, ok := kinds[p.site]
		if !ok {
			continue // a site no longer configured keeps its old ledger rows only
		}
		if p.points, ok = cat.Price(p.typ, kind, conf); ok {
			out = append(out, p)
		}
	}
	rows.Close()
	for _, p := range out {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO ledger (site, device, event_id, type, points, catalog_version, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			p.site, p.device, p.id, p.typ, p.points, cat.Version, p.ms); err != nil {
			return 0, fmt.Errorf("reprice %s/%s: %w", p.device, p.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("reprice: %w", err)
	}
	return len(out), nil
}

// FindSiteScores returns every site with its score under q's catalog version and window,
// its events and exposure in the window and its rates, worst first.
func (s *Store) FindSiteScores(ctx context.Context, q aggregator.ScoreQuery) ([]aggregator.SiteScore, error) {
	from, to := q.From.UnixMilli(), q.To.UnixMilli()
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT s.id, s.name, s.kind, s.lat, s.lon, s.cameras,
		coalesce((SELECT sum(points) FROM ledger l WHERE l.site = s.id AND l.catalog_version = ? AND l.time_ms >= ? AND l.time_ms < ?), 0),
		coalesce((SELECT count(*) FROM ledger l WHERE l.site = s.id AND l.catalog_version = ? AND l.time_ms >= ? AND l.time_ms < ?), 0),
		coalesce((SELECT sum(total) FROM counts c WHERE c.site = s.id AND c.start_ms >= ? AND c.start_ms < ?), 0)
		FROM sites s`), q.CatalogVersion, from, to, q.CatalogVersion, from, to, from, to)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	defer rows.Close()
	out := []aggregator.SiteScore{}
	idx := map[string]int{}
	for rows.Next() {
		sc := aggregator.SiteScore{CatalogVersion: q.CatalogVersion, From: q.From.UTC(), To: q.To.UTC(),
			Events: map[string]int{}, Rates: map[string]aggregator.Rate{}}
		var points int
		var cams string
		if err := rows.Scan(&sc.ID, &sc.Name, &sc.Kind, &sc.Lat, &sc.Lon, &cams, &points, &sc.Deductions, &sc.RoadUsers); err != nil {
			return nil, fmt.Errorf("find site scores: %w", err)
		}
		json.Unmarshal([]byte(cams), &sc.Cameras)
		if sc.Cameras == nil {
			sc.Cameras = []string{}
		}
		sc.Score = aggregator.StartScore - points
		idx[sc.ID] = len(out)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	er, err := s.db.QueryContext(ctx, s.rebind(`SELECT site, type, count(*) FROM events WHERE time_ms >= ? AND time_ms < ? GROUP BY site, type`), from, to)
	if err != nil {
		return nil, fmt.Errorf("find site scores: %w", err)
	}
	defer er.Close()
	for er.Next() {
		var site, typ string
		var n int
		if err := er.Scan(&site, &typ, &n); err != nil {
			return nil, fmt.Errorf("find site scores: %w", err)
		}
		if i, ok := idx[site]; ok {
			out[i].Events[typ] = n
		}
	}
	for i := range out {
		sc := &out[i]
		sc.Status = aggregator.StatusOK
		if sc.RoadUsers < max(q.MinRoadUsers, 1) {
			sc.Status = aggregator.StatusInsufficientData
			continue
		}
		for typ, k := range sc.Events {
			if r, ok := aggregator.NewRate(k, sc.RoadUsers); ok {
				sc.Rates[typ] = r
			} else {
				sc.Status = aggregator.StatusInsufficientData
			}
		}
	}
	sortScores(out)
	return out, er.Err()
}

func sortScores(s []aggregator.SiteScore) {
	for i := 1; i < len(s); i++ { // insertion sort: few sites, stable, no closure
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func less(a, b aggregator.SiteScore) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID < b.ID
}

// FindLedger returns a site's ledger under a catalog version ("" for every version), oldest
// first. It returns ErrNotFound for an unknown site.
func (s *Store) FindLedger(ctx context.Context, site, version string) ([]aggregator.LedgerEntry, error) {
	var one int
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM sites WHERE id = ?`), site).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("site %q: %w", site, aggregator.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("find ledger: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT seq, site, device, event_id, type, points, catalog_version, time_ms FROM ledger
		WHERE site = ? AND (? = '' OR catalog_version = ?) ORDER BY seq`), site, version, version)
	if err != nil {
		return nil, fmt.Errorf("find ledger: %w", err)
	}
	defer rows.Close()
	out := []aggregator.LedgerEntry{}
	for rows.Next() {
		var e aggregator.LedgerEntry
		var ms int64
		if err := rows.Scan(&e.Seq, &e.Site, &e.Device, &e.EventID, &e.Type, &e.Points, &e.CatalogVersion, &ms); err != nil {
			return nil, fmt.Errorf("find ledger: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// FindDevices returns every device's last status.
func (s *Store) FindDevices(ctx context.Context) ([]aggregator.Device, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, online, last_seen_ms, backlog, oldest_pending_s, software FROM devices ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("find devices: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Device{}
	for rows.Next() {
		var d aggregator.Device
		var ms int64
		if err := rows.Scan(&d.ID, &d.Online, &ms, &d.Backlog, &d.OldestPendingS, &d.Software); err != nil {
			return nil, fmt.Errorf("find devices: %w", err)
		}
		d.LastSeen = time.UnixMilli(ms).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// FindDeadLetters returns the newest dead letters first, at most limit.
func (s *Store) FindDeadLetters(ctx context.Context, limit int) ([]aggregator.DeadLetter, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT seq, received_ms, topic, device, payload_id, reason, payload FROM dead_letters ORDER BY seq DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("find dead letters: %w", err)
	}
	defer rows.Close()
	out := []aggregator.DeadLetter{}
	for rows.Next() {
		var d aggregator.DeadLetter
		var ms int64
		if err := rows.Scan(&d.Seq, &ms, &d.Topic, &d.Device, &d.PayloadID, &d.Reason, &d.Payload); err != nil {
			return nil, fmt.Errorf("find dead letters: %w", err)
		}
		d.Received = time.UnixMilli(ms).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// FindGaps returns the gap records, newest first, at most limit.
func (s *Store) FindGaps(ctx context.Context, limit int) ([]aggregator.Gap, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT device, id, time_ms, reason, evicted, not_accepted, oldest_ms, newest_ms FROM gaps ORDER BY time_ms DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("find gaps: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Gap{}
	for rows.Next() {
		var g aggregator.Gap
		var t, o, n int64
		var ej string
		if err := rows.Scan(&g.Device, &g.ID, &t, &g.Reason, &ej, &g.NotAccepted, &o, &n); err != nil {
			return nil, fmt.Errorf("find gaps: %w", err)
		}
		json.Unmarshal([]byte(ej), &g.Evicted)
		g.Time, g.Oldest, g.Newest = time.UnixMilli(t).UTC(), time.UnixMilli(o).UTC(), time.UnixMilli(n).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// FindEvents returns events matching f, newest first.
func (s *Store) FindEvents(ctx context.Context, f aggregator.EventFilter) ([]aggregator.Event, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT device, id, camera, site, zone, type, class, time_ms, received_ms, confidence, signal_source, time_into_red
		FROM events WHERE (? = '' OR site = ?) AND time_ms >= ? AND time_ms < ? ORDER BY time_ms DESC LIMIT ?`),
		f.Site, f.Site, f.From.UnixMilli(), f.To.UnixMilli(), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Event{}
	for rows.Next() {
		var e aggregator.Event
		var t, r int64
		if err := rows.Scan(&e.Device, &e.ID, &e.Camera, &e.Site, &e.Zone, &e.Type, &e.Class, &t, &r, &e.Confidence, &e.SignalSource, &e.TimeIntoRedS); err != nil {
			return nil, fmt.Errorf("find events: %w", err)
		}
		e.Time, e.Received = time.UnixMilli(t).UTC(), time.UnixMilli(r).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// FindSeries returns a site's events per type and counted road users in bins of width bin
// over [from, to), every bin present (empty ones too), oldest first.
func (s *Store) FindSeries(ctx context.Context, site string, from, to time.Time, bin time.Duration) ([]aggregator.Bin, error) {
	if bin <= 0 || to.Sub(from)/bin > 10000 {
		return nil, fmt.Errorf("find series: %v bins of %v: too many", to.Sub(from)/max(bin, 1), bin)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM sites WHERE id = ?`), site).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("site %q: %w", site, aggregator.ErrNotFound)
	}
	from = from.Truncate(bin)
	n := int((to.Sub(from) + bin - 1) / bin)
	out := make([]aggregator.Bin, n)
	for i := range out {
		out[i] = aggregator.Bin{Start: from.Add(time.Duration(i) * bin).UTC(), Events: map[string]int{}}
	}
	ms := bin.Milliseconds()
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT (time_ms - ?) / ?, type, count(*) FROM events WHERE site = ? AND time_ms >= ? AND time_ms < ? GROUP BY 1, 2`),
		from.UnixMilli(), ms, site, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	for rows.Next() {
		var i, k int
		var typ string
		if err := rows.Scan(&i, &typ, &k); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find series: %w", err)
		}
		if i >= 0 && i < n {
			out[i].Events[typ] = k
		}
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, s.rebind(`SELECT (start_ms - ?) / ?, sum(total) FROM counts WHERE site = ? AND start_ms >= ? AND start_ms < ? GROUP BY 1`),
		from.UnixMilli(), ms, site, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, k int
		if err := rows.Scan(&i, &k); err != nil {
			return nil, fmt.Errorf("find series: %w", err)
		}
		if i >= 0 && i < n {
			out[i].RoadUsers = k
		}
	}
	return out, rows.Err()
}

// FindEvent returns one event; ErrNotFound if it is not stored.
func (s *Store) FindEvent(ctx context.Context, device, id string) (aggregator.Event, error) {
	var e aggregator.Event
	var t, r int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT device, id, camera, site, zone, type, class, time_ms, received_ms, confidence, signal_source, time_into_red
		FROM events WHERE device = ? AND id = ?`), device, id).Scan(&e.Device, &e.ID, &e.Camera, &e.Site, &e.Zone, &e.Type, &e.Class, &t, &r, &e.Confidence, &e.SignalSource, &e.TimeIntoRedS)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %s/%s: %w", device, id, aggregator.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("find event: %w", err)
	}
	e.Time, e.Received = time.UnixMilli(t).UTC(), time.UnixMilli(r).UTC()
	return e, nil
}
