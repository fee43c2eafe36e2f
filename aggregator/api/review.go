package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// ReviewStore is what the review and dead-letter routes read and write.
type ReviewStore interface {
	// ReviewEvent stores a review and audits it in one transaction and returns the event's
	// site; ErrNotFound, changing nothing, for an event not stored.
	ReviewEvent(ctx context.Context, r aggregator.Review) (site string, err error)
	// FindReview returns ErrNotFound for an event without a review.
	FindReview(ctx context.Context, device, id string) (aggregator.Review, error)
	FindReviewQueue(ctx context.Context, f aggregator.ReviewFilter) ([]aggregator.ReviewItem, error)
	FindReviews(ctx context.Context, site string, from, to time.Time) ([]aggregator.Review, error)
	FindPrecision(ctx context.Context) ([]aggregator.Precision, error)
	FindDeadLettersBy(ctx context.Context, f aggregator.DeadLetterFilter) ([]aggregator.DeadLetter, error)
	FindDeadLetterGroups(ctx context.Context) ([]aggregator.DeadLetterGroup, error)
}

// Reprocess re-validates the dead letters f selects, as actor (ingest.Ingester.Reprocess with
// its store), and returns what it did and what changed for live views.
type Reprocess func(ctx context.Context, f aggregator.DeadLetterFilter, actor string) (aggregator.Reprocessed, aggregator.Change, error)

// Option configures Handler.
type Option func(*options)

type options struct {
	reprocess    Reprocess
	registry     RegistryHooks
	requestFrame RequestFrame
}

// WithReprocess serves POST /api/v1/dead-letters/reprocess with f. Without it the route
// answers 503: this process does not ingest.
func WithReprocess(f Reprocess) Option { return func(o *options) { o.reprocess = f } }

// MaxReviewQueue is the largest page of the review queue.
const MaxReviewQueue = 500

// reviews serves the review workflow and the dead letters: reviewers confirm or dismiss
// events, admins list dead letters and reprocess them.
type reviews struct {
	st     ReviewStore
	events interface {
		FindEvent(ctx context.Context, device, id string) (aggregator.Event, error)
	}
	live *Live // nil: none
	o    options
	log  *slog.Logger
}

func (v *reviews) register(handle func(string, aggregator.Role, http.HandlerFunc)) {
	handle("GET /api/v1/dead-letters", aggregator.Admin, v.deadLetters)
	handle("GET /api/v1/dead-letters/groups", aggregator.Admin, v.deadLetterGroups)
	handle("POST /api/v1/dead-letters/reprocess", aggregator.Admin, v.reprocessDeadLetters)
	handle("GET /api/v1/reviews", aggregator.Viewer, v.queue)
	handle("GET /api/v1/precision", aggregator.Viewer, v.precision)
	handle("GET /api/v1/events/{device}/{id}/review", aggregator.Viewer, v.findReview)
	handle("POST /api/v1/events/{device}/{id}/review", aggregator.Reviewer, v.review)
}

func (v *reviews) publish(c aggregator.Change) {
	if v.live != nil && !c.Empty() {
		v.live.Publish(c)
	}
}

// deadLetters is GET /api/v1/dead-letters?reason=&device=&limit=&before=: newest first.
func (v *reviews) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit, ok := count(w, r, "limit", 100, MaxDeadLettersPage)
	if !ok {
		return
	}
	before, ok := cursor(w, r, "before")
	if !ok {
		return
	}
	q := r.URL.Query()
	d, err := v.st.FindDeadLettersBy(r.Context(), aggregator.DeadLetterFilter{Reason: q.Get("reason"), Device: q.Get("device"), Limit: limit, Before: before})
	reply(w, v.log, d, err)
}

func (v *reviews) deadLetterGroups(w http.ResponseWriter, r *http.Request) {
	g, err := v.st.FindDeadLetterGroups(r.Context())
	reply(w, v.log, g, err)
}

// readJSON decodes a small JSON body into dst, refusing unknown fields; it answers the error
// itself and returns false then.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		errorJSON(w, http.StatusUnsupportedMediaType, "Content-Type: must be application/json")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		badRequest(w, "body: "+err.Error())
		return false
	}
	return true
}

// reprocessDeadLetters is POST /api/v1/dead-letters/reprocess {"seq", "reason", "device"}:
// every field optional, none selects every dead letter.
func (v *reviews) reprocessDeadLetters(w http.ResponseWriter, r *http.Request) {
	if v.o.reprocess == nil {
		errorJSON(w, http.StatusServiceUnavailable, "this aggregator does not ingest, so it cannot reprocess dead letters")
		return
	}
	var body struct {
		Seq    int64  `json:"seq"`
		Reason string `json:"reason"`
		Device string `json:"device"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Seq < 0 {
		badRequest(w, "seq: a dead letter's sequence number (a whole number from 1), or 0 for all that reason and device select")
		return
	}
	f := aggregator.DeadLetterFilter{Seq: body.Seq, Reason: body.Reason, Device: body.Device}
	if f.Seq > 0 {
		one, err := v.st.FindDeadLettersBy(r.Context(), aggregator.DeadLetterFilter{Seq: f.Seq, Limit: 1})
		if err == nil && len(one) == 0 {
			err = fmt.Errorf("dead letter %d (already reprocessed, or aged out): %w", f.Seq, aggregator.ErrNotFound)
		}
		if err != nil {
			reply(w, v.log, nil, err)
			return
		}
	}
	res, change, err := v.o.reprocess(r.Context(), f, PrincipalFrom(r.Context()).Actor())
	if err != nil {
		reply(w, v.log, nil, err)
		return
	}
	change.DeadLetters = res.Recorded + res.Duplicates + res.NewReason
	v.publish(change)
	reply(w, v.log, res, nil)
}

// queue is GET /api/v1/reviews?site=&unreviewed=true&limit=: unreviewed first, newest first.
func (v *reviews) queue(w http.ResponseWriter, r *http.Request) {
	limit, ok := count(w, r, "limit", 100, MaxReviewQueue)
	if !ok {
		return
	}
	f := aggregator.ReviewFilter{Site: r.URL.Query().Get("site"), Limit: limit}
	if u := r.URL.Query().Get("unreviewed"); u != "" {
		b, err := strconv.ParseBool(u)
		if err != nil {
			badRequest(w, "unreviewed: true or false")
			return
		}
		f.Unreviewed = b
	}
	q, err := v.st.FindReviewQueue(r.Context(), f)
	reply(w, v.log, q, err)
}

func (v *reviews) precision(w http.ResponseWriter, r *http.Request) {
	p, err := v.st.FindPrecision(r.Context())
	reply(w, v.log, p, err)
}

// findReview is GET /api/v1/events/{device}/{id}/review: the review, null for an event nobody
// has reviewed, 404 for an event not stored.
func (v *reviews) findReview(w http.ResponseWriter, r *http.Request) {
	device, id := r.PathValue("device"), r.PathValue("id")
	rv, err := v.st.FindReview(r.Context(), device, id)
	if errors.Is(err, aggregator.ErrNotFound) {
		if _, err := v.events.FindEvent(r.Context(), device, id); err != nil {
			reply(w, v.log, nil, err)
			return
		}
		reply(w, v.log, nil, nil)
		return
	}
	reply(w, v.log, rv, err)
}

// review is POST /api/v1/events/{device}/{id}/review {"verdict", "reason", "note"}.
func (v *reviews) review(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Verdict aggregator.Verdict `json:"verdict"`
		Reason  string             `json:"reason"`
		Note    string             `json:"note"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	rv := aggregator.Review{Device: r.PathValue("device"), EventID: r.PathValue("id"), Verdict: body.Verdict, Reason: body.Reason, Note: body.Note,
		Reviewer: PrincipalFrom(r.Context()).Actor(), Time: time.Now().UTC().Truncate(time.Millisecond)}
	if err := rv.Validate(); err != nil {
		badRequest(w, err.Error())
		return
	}
	site, err := v.st.ReviewEvent(r.Context(), rv)
	if errors.Is(err, aggregator.ErrNotFound) {
		errorJSON(w, http.StatusNotFound, fmt.Sprintf("no event %s/%s is stored: nothing was reviewed", rv.Device, rv.EventID))
		return
	}
	if err != nil {
		reply(w, v.log, nil, err)
		return
	}
	v.publish(aggregator.Change{Reviews: 1, Sites: []string{site}})
	reply(w, v.log, rv, nil)
}

// reviewColumns are the events export's columns for each event's review.
var reviewColumns = []string{"review", "review_reason", "review_note", "reviewed_by", "reviewed_at"}

// reviewCells returns the review columns of the event (device, id) from byKey.
func reviewCells(byKey map[[2]string]aggregator.Review, device, id string) []string {
	rv, ok := byKey[[2]string{device, id}]
	if !ok {
		return []string{"", "", "", "", ""}
	}
	return []string{string(rv.Verdict), rv.Reason, rv.Note, rv.Reviewer, rv.Time.Format(time.RFC3339)}
}
