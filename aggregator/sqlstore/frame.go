package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// frameSchema holds each camera's latest reference frame: one row per camera, replaced by a
// newer frame (a database made before it gains the table when opened).
const frameSchema = `CREATE TABLE IF NOT EXISTS frames (camera TEXT PRIMARY KEY, device TEXT NOT NULL, time_ms {INT} NOT NULL,
	received_ms {INT} NOT NULL, reason TEXT NOT NULL, width {INT} NOT NULL, height {INT} NOT NULL, jpeg {BLOB} NOT NULL);`

// PutFrame stores f as its camera's latest frame unless the stored one is newer (a frame
// delivered late never replaces a later one). It reports whether f was stored.
func (s *Store) PutFrame(ctx context.Context, f aggregator.Frame) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO frames (camera, device, time_ms, received_ms, reason, width, height, jpeg)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (camera) DO UPDATE SET device = excluded.device, time_ms = excluded.time_ms, received_ms = excluded.received_ms,
			reason = excluded.reason, width = excluded.width, height = excluded.height, jpeg = excluded.jpeg
		WHERE frames.time_ms <= excluded.time_ms`),
		f.Camera, f.Device, f.Time.UnixMilli(), f.Received.UnixMilli(), f.Reason, f.Width, f.Height, f.JPEG)
	if err != nil {
		return false, fmt.Errorf("put frame of camera %s: %w", f.Camera, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("put frame of camera %s: %w", f.Camera, err)
	}
	return n > 0, nil
}

// FindFrame returns camera's latest frame with its JPEG; ErrNotFound if it has none.
func (s *Store) FindFrame(ctx context.Context, camera string) (aggregator.Frame, error) {
	f := aggregator.Frame{Camera: camera}
	var t, r int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT device, time_ms, received_ms, reason, width, height, jpeg FROM frames WHERE camera = ?`), camera).
		Scan(&f.Device, &t, &r, &f.Reason, &f.Width, &f.Height, &f.JPEG)
	if errors.Is(err, sql.ErrNoRows) {
		return aggregator.Frame{}, fmt.Errorf("frame of camera %q: %w", camera, aggregator.ErrNotFound)
	}
	if err != nil {
		return aggregator.Frame{}, fmt.Errorf("find frame of camera %s: %w", camera, err)
	}
	f.Time, f.Received = time.UnixMilli(t).UTC(), time.UnixMilli(r).UTC()
	return f, nil
}
