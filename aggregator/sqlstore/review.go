package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// notDismissed is a condition that holds unless the event (device, id) has been dismissed by
// a review: dismissed events leave scores, rates and the charts, their ledger rows stay.
func notDismissed(device, id string) string {
	return `NOT EXISTS (SELECT 1 FROM reviews dr WHERE dr.device = ` + device + ` AND dr.event_id = ` + id + ` AND dr.verdict = 'dismissed')`
}

// reviewColumns are a review's columns from a LEFT JOIN of reviews as r; reviewScan reads them.
const reviewColumns = `r.verdict, r.reason, r.note, r.reviewer, r.time_ms`

type reviewScan struct {
	verdict, reason, note, reviewer sql.NullString
	ms                              sql.NullInt64
}

func (v *reviewScan) dest() []any {
	return []any{&v.verdict, &v.reason, &v.note, &v.reviewer, &v.ms}
}

// review returns the scanned review, or nil when the join found none.
func (v *reviewScan) review(device, id string) *aggregator.Review {
	if !v.verdict.Valid {
		return nil
	}
	return &aggregator.Review{Device: device, EventID: id, Verdict: aggregator.Verdict(v.verdict.String), Reason: v.reason.String,
		Note: v.note.String, Reviewer: v.reviewer.String, Time: time.UnixMilli(v.ms.Int64).UTC()}
}

// deadLetterDigest identifies a dead letter's content, so a payload resent and refused again
// for the same reason is stored once.
func deadLetterDigest(d aggregator.DeadLetter) []byte {
	size := max(d.Size, len(d.Payload))
	h := sha256.Sum256(append([]byte(d.Topic+"\x00"+d.Reason+"\x00"+strconv.Itoa(size)+"\x00"), d.Payload...))
	return h[:]
}

// ReviewEvent stores r as the event's latest review and records it in the audit log, in one
// transaction, and returns the event's site. It returns ErrNotFound, and changes nothing, when
// the event is not stored. The caller validates r (Review.Validate) and sets Reviewer and Time.
func (s *Store) ReviewEvent(ctx context.Context, r aggregator.Review) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("review event: %w", err)
	}
	defer tx.Rollback()
	var site, typ string
	var ms int64
	switch err := tx.QueryRowContext(ctx, s.rebind(`SELECT site, type, time_ms FROM events WHERE device = ? AND id = ?`), r.Device, r.EventID).Scan(&site, &typ, &ms); {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("event %s/%s is not stored, so it cannot be reviewed: %w", r.Device, r.EventID, aggregator.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
	}
	var was string
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT verdict FROM reviews WHERE device = ? AND event_id = ?`), r.Device, r.EventID).Scan(&was); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
	}
	// A dismissed event leaves the rollups (rankings, series, before and after) in the same
	// transaction; a dismissal undone puts it back.
	{
		sign := int64(0)
		switch {
		case r.Verdict == aggregator.Dismissed && was != string(aggregator.Dismissed):
			sign = -1
		case r.Verdict != aggregator.Dismissed && was == string(aggregator.Dismissed):
			sign = 1
		}
		if sign != 0 {
			ledger := map[string]int64{}
			rows, err := tx.QueryContext(ctx, s.rebind(`SELECT catalog_version, points FROM ledger WHERE device = ? AND event_id = ?`), r.Device, r.EventID)
			if err != nil {
				return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
			}
			for rows.Next() {
				var v string
				var p int64
				if err := rows.Scan(&v, &p); err != nil {
					rows.Close()
					return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
				}
				ledger[v] = p
			}
			rows.Close()
			marks, err := s.lockRollups(ctx, tx, r.Time)
			if err != nil {
				return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
			}
			roll := newTally()
			roll.review(site, typ, ms, sign, ledger)
			if err := roll.write(ctx, s, tx, marks); err != nil {
				return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO reviews (device, event_id, verdict, reason, note, reviewer, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device, event_id) DO UPDATE SET verdict = excluded.verdict, reason = excluded.reason, note = excluded.note,
		reviewer = excluded.reviewer, time_ms = excluded.time_ms`),
		r.Device, r.EventID, string(r.Verdict), r.Reason, r.Note, r.Reviewer, r.Time.UnixMilli()); err != nil {
		return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
	}
	detail := fmt.Sprintf("%s/%s at site %s: %s", r.Device, r.EventID, site, r.Verdict)
	if r.Reason != "" {
		detail += " (" + r.Reason + ")"
	}
	if r.Note != "" {
		detail += ": " + strconv.Quote(r.Note)
	}
	if err := s.audit(ctx, tx, r.Time, r.Reviewer, "event.review", detail); err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("review event %s/%s: %w", r.Device, r.EventID, err)
	}
	return site, nil
}

// FindReview returns an event's latest review; ErrNotFound if it has none.
func (s *Store) FindReview(ctx context.Context, device, id string) (aggregator.Review, error) {
	r := aggregator.Review{Device: device, EventID: id}
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT verdict, reason, note, reviewer, time_ms FROM reviews WHERE device = ? AND event_id = ?`), device, id).
		Scan(&r.Verdict, &r.Reason, &r.Note, &r.Reviewer, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("review of event %s/%s: %w", device, id, aggregator.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("find review: %w", err)
	}
	r.Time = time.UnixMilli(ms).UTC()
	return r, nil
}

// FindReviewQueue returns events to review: those nobody has reviewed first, newest first
// within each part, at most f.Limit (default 100). Two queries, so that each walks the events
// newest first instead of sorting every stored event.
func (s *Store) FindReviewQueue(ctx context.Context, f aggregator.ReviewFilter) ([]aggregator.ReviewItem, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	const cols = `e.device, e.id, e.camera, e.site, e.zone, e.type, e.class, e.time_ms, e.received_ms, e.confidence,
		e.signal_source, e.time_into_red, e.evidence IS NOT NULL, ` + reviewColumns
	out, err := s.reviewItems(ctx, nil, `SELECT `+cols+` FROM events e LEFT JOIN reviews r ON r.device = e.device AND r.event_id = e.id
		WHERE (? = '' OR e.site = ?) AND r.verdict IS NULL ORDER BY e.time_ms DESC, e.device, e.id LIMIT ?`, f.Site, f.Site, f.Limit)
	if err != nil || f.Unreviewed || len(out) >= f.Limit {
		return out, err
	}
	return s.reviewItems(ctx, out, `SELECT `+cols+` FROM events e JOIN reviews r ON r.device = e.device AND r.event_id = e.id
		WHERE (? = '' OR e.site = ?) ORDER BY e.time_ms DESC, e.device, e.id LIMIT ?`, f.Site, f.Site, f.Limit-len(out))
}

// reviewItems appends the queue items q selects to out.
func (s *Store) reviewItems(ctx context.Context, out []aggregator.ReviewItem, q string, args ...any) ([]aggregator.ReviewItem, error) {
	if out == nil {
		out = []aggregator.ReviewItem{}
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("find review queue: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it aggregator.ReviewItem
		e := &it.Event
		var t, r int64
		var rv reviewScan
		if err := rows.Scan(append([]any{&e.Device, &e.ID, &e.Camera, &e.Site, &e.Zone, &e.Type, &e.Class, &t, &r, &e.Confidence,
			&e.SignalSource, &e.TimeIntoRedS, &e.HasEvidence}, rv.dest()...)...); err != nil {
			return nil, fmt.Errorf("find review queue: %w", err)
		}
		e.Time, e.Received = time.UnixMilli(t).UTC(), time.UnixMilli(r).UTC()
		it.Review = rv.review(e.Device, e.ID)
		out = append(out, it)
	}
	return out, rows.Err()
}

// FindReviews returns the reviews of the events of site ("" for all) whose time is in
// [from, to), for exports.
func (s *Store) FindReviews(ctx context.Context, site string, from, to time.Time) ([]aggregator.Review, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT r.device, r.event_id, `+reviewColumns+` FROM reviews r
		JOIN events e ON e.device = r.device AND e.id = r.event_id WHERE (? = '' OR e.site = ?) AND e.time_ms >= ? AND e.time_ms < ?`),
		site, site, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("find reviews: %w", err)
	}
	defer rows.Close()
	out := []aggregator.Review{}
	for rows.Next() {
		var device, id string
		var rv reviewScan
		if err := rows.Scan(append([]any{&device, &id}, rv.dest()...)...); err != nil {
			return nil, fmt.Errorf("find reviews: %w", err)
		}
		out = append(out, *rv.review(device, id))
	}
	return out, rows.Err()
}

// FindPrecision returns what reviews measured, per site (Camera "") and per camera of each
// site, over every reviewed event, sorted by site and camera. Every stored site is in it, with
// n = 0 and a nil precision when none of its events was reviewed.
func (s *Store) FindPrecision(ctx context.Context) ([]aggregator.Precision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.site, e.camera,
		sum(CASE WHEN r.verdict = 'confirmed' THEN 1 ELSE 0 END), sum(CASE WHEN r.verdict = 'dismissed' THEN 1 ELSE 0 END)
		FROM reviews r JOIN events e ON e.device = r.device AND e.id = r.event_id GROUP BY e.site, e.camera ORDER BY e.site, e.camera`)
	if err != nil {
		return nil, fmt.Errorf("find precision: %w", err)
	}
	defer rows.Close()
	type tally struct{ c, d int }
	sites := map[string]*tally{}
	var cams []aggregator.Precision
	for rows.Next() {
		var site, camera string
		var c, d int
		if err := rows.Scan(&site, &camera, &c, &d); err != nil {
			return nil, fmt.Errorf("find precision: %w", err)
		}
		if sites[site] == nil {
			sites[site] = &tally{}
		}
		sites[site].c += c
		sites[site].d += d
		cams = append(cams, aggregator.NewPrecision(site, camera, c, d))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find precision: %w", err)
	}
	ids, err := s.db.QueryContext(ctx, `SELECT id FROM sites ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find precision: %w", err)
	}
	defer ids.Close()
	out := []aggregator.Precision{}
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			return nil, fmt.Errorf("find precision: %w", err)
		}
		t := sites[id]
		if t == nil {
			t = &tally{}
		}
		out = append(out, aggregator.NewPrecision(id, "", t.c, t.d))
		for _, c := range cams {
			if c.Site == id {
				out = append(out, c)
			}
		}
	}
	return out, ids.Err()
}

// DeadLetterPreviewBytes is how much of each payload a list of dead letters returns: a
// reprocessable payload is kept whole (up to an event with its image), and 500 of those would
// make one page hundreds of megabytes.
const DeadLetterPreviewBytes = 4 << 10

// FindDeadLettersBy returns the dead letters f selects, newest first, each with at most
// DeadLetterPreviewBytes of its payload (Size says how long it was).
func (s *Store) FindDeadLettersBy(ctx context.Context, f aggregator.DeadLetterFilter) ([]aggregator.DeadLetter, error) {
	return s.findDeadLetters(ctx, f, `substr(payload, 1, `+strconv.Itoa(DeadLetterPreviewBytes)+`)`)
}

// FindDeadLetterPayloads is FindDeadLettersBy with each payload as stored, for reprocessing.
func (s *Store) FindDeadLetterPayloads(ctx context.Context, f aggregator.DeadLetterFilter) ([]aggregator.DeadLetter, error) {
	return s.findDeadLetters(ctx, f, `payload`)
}

func (s *Store) findDeadLetters(ctx context.Context, f aggregator.DeadLetterFilter, payload string) ([]aggregator.DeadLetter, error) {
	if f.Before <= 0 {
		f.Before = math.MaxInt64
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT seq, received_ms, topic, device, payload_id, reason, `+payload+`, size FROM dead_letters
		WHERE seq < ? AND (? = 0 OR seq = ?) AND (? = '' OR reason = ?) AND (? = '' OR device = ?) ORDER BY seq DESC LIMIT ?`),
		f.Before, f.Seq, f.Seq, f.Reason, f.Reason, f.Device, f.Device, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("find dead letters: %w", err)
	}
	defer rows.Close()
	out := []aggregator.DeadLetter{}
	for rows.Next() {
		var d aggregator.DeadLetter
		var ms int64
		if err := rows.Scan(&d.Seq, &ms, &d.Topic, &d.Device, &d.PayloadID, &d.Reason, &d.Payload, &d.Size); err != nil {
			return nil, fmt.Errorf("find dead letters: %w", err)
		}
		d.Received = time.UnixMilli(ms).UTC()
		d.Size = max(d.Size, len(d.Payload))
		out = append(out, d)
	}
	return out, rows.Err()
}

// FindDeadLetterGroups counts the dead letters by reason and device, the largest group first.
func (s *Store) FindDeadLetterGroups(ctx context.Context) ([]aggregator.DeadLetterGroup, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT reason, device, count(*) FROM dead_letters GROUP BY reason, device ORDER BY count(*) DESC, reason, device LIMIT 1000`)
	if err != nil {
		return nil, fmt.Errorf("find dead letter groups: %w", err)
	}
	defer rows.Close()
	out := []aggregator.DeadLetterGroup{}
	for rows.Next() {
		var g aggregator.DeadLetterGroup
		if err := rows.Scan(&g.Reason, &g.Device, &g.Count); err != nil {
			return nil, fmt.Errorf("find dead letter groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ResolveDeadLetters applies r in one transaction: the records are stored exactly once (an
// event already stored is skipped with its ledger row), the resolved dead letters removed, the
// renamed ones given their new reason, and an audit entry written. It returns how many events
// were new.
func (s *Store) ResolveDeadLetters(ctx context.Context, r aggregator.DeadLetterResolution) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("resolve dead letters: %w", err)
	}
	defer tx.Rollback()
	b := r.Records
	b.DeadLetters, b.Devices = nil, nil
	inserted, err := s.commitTx(ctx, tx, &b)
	if err != nil {
		return 0, err
	}
	for _, seq := range r.Resolved {
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM dead_letters WHERE seq = ?`), seq); err != nil {
			return 0, fmt.Errorf("resolve dead letter %d: %w", seq, err)
		}
	}
	for _, d := range r.Renamed {
		digest := deadLetterDigest(d)
		var other int64
		switch err := tx.QueryRowContext(ctx, s.rebind(`SELECT seq FROM dead_letters WHERE digest = ?`), digest).Scan(&other); {
		case err == nil && other != d.Seq:
			// The same payload is already a dead letter for this reason: keep one.
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM dead_letters WHERE seq = ?`), d.Seq); err != nil {
				return 0, fmt.Errorf("resolve dead letter %d: %w", d.Seq, err)
			}
		case err == nil: // unchanged
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE dead_letters SET reason = ?, payload_id = ?, digest = ? WHERE seq = ?`),
				d.Reason, d.PayloadID, digest, d.Seq); err != nil {
				return 0, fmt.Errorf("resolve dead letter %d: %w", d.Seq, err)
			}
		default:
			return 0, fmt.Errorf("resolve dead letter %d: %w", d.Seq, err)
		}
	}
	if r.Detail != "" {
		if err := s.audit(ctx, tx, time.Now(), r.Actor, "dead_letters.reprocess", r.Detail); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("resolve dead letters: %w", err)
	}
	return inserted, nil
}
