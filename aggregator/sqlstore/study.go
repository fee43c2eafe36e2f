package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// inList returns " AND col IN (?, …)" and its arguments for a non-empty list, else nothing.
func inList(col string, vals []string) (string, []any) {
	if len(vals) == 0 {
		return "", nil
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return " AND " + col + " IN (?" + strings.Repeat(", ?", len(vals)-1) + ")", args
}

// FindSite returns one site; ErrNotFound if it is not configured.
func (s *Store) FindSite(ctx context.Context, id string) (aggregator.Site, error) {
	var st aggregator.Site
	var cams string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT id, name, kind, lat, lon, cameras, time_zone FROM sites WHERE id = ?`), id).
		Scan(&st.ID, &st.Name, &st.Kind, &st.Lat, &st.Lon, &cams, &st.TimeZone)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("site %q: %w", id, aggregator.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("find site %s: %w", id, err)
	}
	json.Unmarshal([]byte(cams), &st.Cameras)
	return st, nil
}

// FindSites returns every site, by id.
func (s *Store) FindSites(ctx context.Context) ([]aggregator.Site, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, kind, lat, lon, cameras, time_zone FROM sites ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find sites: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Site{}
	for rows.Next() {
		var st aggregator.Site
		var cams string
		if err := rows.Scan(&st.ID, &st.Name, &st.Kind, &st.Lat, &st.Lon, &cams, &st.TimeZone); err != nil {
			return nil, fmt.Errorf("find sites: %w", err)
		}
		json.Unmarshal([]byte(cams), &st.Cameras)
		out = append(out, st)
	}
	return out, rows.Err()
}

// grainMS checks f and returns its grain in milliseconds.
func grainMS(f aggregator.BucketFilter) (int64, error) {
	g := f.Grain.Milliseconds()
	if g <= 0 || (60*60*1000)%g != 0 {
		return 0, fmt.Errorf("grain %v: must divide an hour", f.Grain)
	}
	return g, nil
}

// FindEventBuckets returns a site's events per type in UTC buckets of f.Grain (each bucket's
// start a multiple of the grain since the Unix epoch) over [f.From, f.To), oldest first, only
// the buckets with events. It returns ErrNotFound for an unknown site.
func (s *Store) FindEventBuckets(ctx context.Context, f aggregator.BucketFilter) ([]aggregator.Bucket, error) {
	g, err := grainMS(f)
	if err != nil {
		return nil, err
	}
	if _, err := s.FindSite(ctx, f.Site); err != nil {
		return nil, err
	}
	typeIn, typeArgs := inList("type", f.Types)
	args := append([]any{g, g, f.Site, f.From.UnixMilli(), f.To.UnixMilli()}, typeArgs...)
	return s.buckets(ctx, `SELECT (time_ms / ?) * ?, type, count(*) FROM events WHERE site = ? AND time_ms >= ? AND time_ms < ?`+typeIn+` AND `+notDismissed("events.device", "events.id")+` GROUP BY 1, 2 ORDER BY 1, 2`, args)
}

// FindRoadUserBuckets returns the road users counted at a site (every zone, every class) in UTC
// buckets of f.Grain by the start of their count period over [f.From, f.To), oldest first; the
// buckets' Type is "". f.Types is ignored. It returns ErrNotFound for an unknown site.
func (s *Store) FindRoadUserBuckets(ctx context.Context, f aggregator.BucketFilter) ([]aggregator.Bucket, error) {
	g, err := grainMS(f)
	if err != nil {
		return nil, err
	}
	if _, err := s.FindSite(ctx, f.Site); err != nil {
		return nil, err
	}
	return s.buckets(ctx, `SELECT (start_ms / ?) * ?, '', sum(total) FROM counts WHERE site = ? AND start_ms >= ? AND start_ms < ? GROUP BY 1 ORDER BY 1`,
		[]any{g, g, f.Site, f.From.UnixMilli(), f.To.UnixMilli()})
}

func (s *Store) buckets(ctx context.Context, q string, args []any) ([]aggregator.Bucket, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("find buckets: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Bucket{}
	for rows.Next() {
		var b aggregator.Bucket
		var ms int64
		if err := rows.Scan(&ms, &b.Type, &b.N); err != nil {
			return nil, fmt.Errorf("find buckets: %w", err)
		}
		b.Start = time.UnixMilli(ms).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// MaxCountRecords bounds the count records one study reads (a year of one record a minute for
// each of eight zones is 4.2 million): more is an error, not an answer held in memory.
const MaxCountRecords = 5_000_000

// FindCounts returns a site's count records selected by f, oldest first. It returns
// ErrNotFound for an unknown site.
func (s *Store) FindCounts(ctx context.Context, f aggregator.CountFilter) ([]aggregator.Counts, error) {
	if _, err := s.FindSite(ctx, f.Site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT device, id, camera, site, zone, start_ms, period_s, counts, movements FROM counts
		WHERE site = ? AND (? = '' OR zone = ?) AND start_ms >= ? AND start_ms < ? ORDER BY start_ms, zone, device, id LIMIT ?`),
		f.Site, f.Zone, f.Zone, f.From.UnixMilli(), f.To.UnixMilli(), MaxCountRecords+1)
	if err != nil {
		return nil, fmt.Errorf("find counts: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Counts{}
	for rows.Next() {
		var c aggregator.Counts
		var ms int64
		var cj, mj string
		if err := rows.Scan(&c.Device, &c.ID, &c.Camera, &c.Site, &c.Zone, &ms, &c.PeriodS, &cj, &mj); err != nil {
			return nil, fmt.Errorf("find counts: %w", err)
		}
		if err := json.Unmarshal([]byte(cj), &c.Counts); err != nil {
			return nil, fmt.Errorf("find counts %s/%s: %w", c.Device, c.ID, err)
		}
		if mj != "" {
			if err := json.Unmarshal([]byte(mj), &c.Movements); err != nil {
				return nil, fmt.Errorf("find counts %s/%s movements: %w", c.Device, c.ID, err)
			}
		}
		c.Start = time.UnixMilli(ms).UTC()
		out = append(out, c)
		if len(out) > MaxCountRecords {
			return nil, fmt.Errorf("find counts: more than %d records in the period; choose a shorter one", MaxCountRecords)
		}
	}
	return out, rows.Err()
}
