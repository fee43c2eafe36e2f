package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crosswatch/crosswatch/aggregator"
)

// RiskStore is what rankings and before/after studies read and record.
type RiskStore interface {
	// FindSite returns ErrNotFound for an unknown site.
	FindSite(ctx context.Context, id string) (aggregator.Site, error)
	// FindCatalogVersions returns every catalog version stored.
	FindCatalogVersions(ctx context.Context) ([]string, error)
	// FindTally returns a site's events and road users over [from, to); ErrNotFound for an
	// unknown site.
	FindTally(ctx context.Context, site string, from, to time.Time) (aggregator.Tally, error)
	// CreateSiteChange records a change; ErrNotFound for an unknown site.
	CreateSiteChange(ctx context.Context, c aggregator.SiteChange) (aggregator.SiteChange, error)
	// FindSiteChanges returns a site's changes, oldest first; ErrNotFound for an unknown site.
	FindSiteChanges(ctx context.Context, site string) ([]aggregator.SiteChange, error)
}

// MaxChangeDescription is the longest description of a site change, in characters.
const MaxChangeDescription = 500

// catalogVersion reads ?version= (def when absent; "all" too when allowAll) and answers 400 if
// it names a version never loaded. ok is false when it already answered.
func catalogVersion(w http.ResponseWriter, r *http.Request, st RiskStore, log *slog.Logger, def string, allowAll bool) (string, bool) {
	v := r.URL.Query().Get("version")
	if v == "" || v == def || (allowAll && v == "all") {
		return cmpOr(v, def), true
	}
	known, err := st.FindCatalogVersions(r.Context())
	if err != nil {
		reply(w, log, nil, err)
		return "", false
	}
	if !slices.Contains(known, v) {
		badRequest(w, fmt.Sprintf("version: no catalog version %q is stored (stored: %s)", v, strings.Join(known, ", ")))
		return "", false
	}
	return v, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rankBy reads ?rank=: "risk" (the default) or an event type of the catalog.
func rankBy(w http.ResponseWriter, r *http.Request, cat *aggregator.Catalog) (string, bool) {
	v := r.URL.Query().Get("rank")
	if v == "" || v == aggregator.RankByRisk {
		return aggregator.RankByRisk, true
	}
	if _, ok := cat.Entry(v); ok {
		return v, true
	}
	types := []string{aggregator.RankByRisk}
	for _, e := range cat.Entries {
		types = append(types, e.Type)
	}
	badRequest(w, fmt.Sprintf("rank: %q is neither risk nor an event type of catalog %s (%s)", v, cat.Version, strings.Join(types, ", ")))
	return "", false
}

// parseCompareTime reads a time of a change or a before/after period as every from and to of
// the API does (parseInstant): RFC 3339 with Z or an offset is that instant; a date-time without
// one, or a bare date (its midnight), is the site's wall clock in loc.
func parseCompareTime(v string, loc *time.Location) (time.Time, error) {
	return parseInstant(v, loc, false)
}

// comparePeriod reads "<from>/<to>" in loc. Both ends are instants, so a bare date at the end
// is that day's local midnight (the period ends as that day begins): before=…/2026-11-01 and
// after=2026-11-01/… meet at the change.
func comparePeriod(v string, loc *time.Location) (from, to time.Time, err error) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return from, to, fmt.Errorf("<from>/<to>, each a date (2026-11-01), a local date-time (2026-11-01T08:00) or an RFC 3339 time")
	}
	if from, err = parseCompareTime(a, loc); err != nil {
		return from, to, fmt.Errorf("from: %w", err)
	}
	if to, err = parseCompareTime(b, loc); err != nil {
		return from, to, fmt.Errorf("to: %w", err)
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("from %s is not before to %s", a, b)
	}
	return from, to, nil
}

// inZone returns the changes with their times on loc's clock, as the API writes every time of a
// site.
func inZone(changes []aggregator.SiteChange, loc *time.Location) []aggregator.SiteChange {
	for i := range changes {
		changes[i].Time = changes[i].Time.In(loc)
		if !changes[i].Created.IsZero() { // a change given by its date alone was never recorded
			changes[i].Created = changes[i].Created.In(loc)
		}
	}
	return changes
}

// compareRoutes adds the site changes and the before/after comparison.
func compareRoutes(handle func(string, aggregator.Role, http.HandlerFunc), st RiskStore, sc Scoring, log *slog.Logger) {
	// zone answers 404 itself for an unknown site; ok is false then.
	zone := func(w http.ResponseWriter, r *http.Request) (*time.Location, bool) {
		s, err := st.FindSite(r.Context(), r.PathValue("id"))
		if err != nil {
			reply(w, log, nil, err)
			return nil, false
		}
		return s.Location(), true
	}
	handle("GET /api/v1/sites/{id}/changes", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		loc, ok := zone(w, r)
		if !ok {
			return
		}
		c, err := st.FindSiteChanges(r.Context(), r.PathValue("id"))
		reply(w, log, inZone(c, loc), err)
	})
	handle("POST /api/v1/sites/{id}/changes", aggregator.Admin, func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Time        string `json:"time"`
			Description string `json:"description"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			badRequest(w, "body: a JSON object {\"time\": \"2026-11-01\", \"description\": \"…\"}: "+err.Error())
			return
		}
		loc, ok := zone(w, r)
		if !ok {
			return
		}
		at, err := parseCompareTime(in.Time, loc)
		if err != nil {
			badRequest(w, "time: when the change took effect, in the site's time zone unless it has an offset: "+err.Error())
			return
		}
		if now := sc.Now(); at.After(now.Add(366 * 24 * time.Hour)) {
			badRequest(w, "time: more than a year ahead")
			return
		}
		d := strings.TrimSpace(in.Description)
		if d == "" || utf8.RuneCountInString(d) > MaxChangeDescription || !utf8.ValidString(d) {
			badRequest(w, fmt.Sprintf("description: 1 to %d characters of text", MaxChangeDescription))
			return
		}
		c, err := st.CreateSiteChange(r.Context(), aggregator.SiteChange{Site: r.PathValue("id"), Time: at, Description: d,
			Actor: PrincipalFrom(r.Context()).Actor(), Created: sc.Now()})
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(inZone([]aggregator.SiteChange{c}, loc)[0])
	})
	handle("GET /api/v1/sites/{id}/compare", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		site, q := r.PathValue("id"), r.URL.Query()
		loc, ok := zone(w, r)
		if !ok {
			return
		}
		var change *aggregator.SiteChange
		var at time.Time
		if v := q.Get("change"); v != "" {
			if id, err := strconv.ParseInt(v, 10, 64); err == nil {
				changes, err := st.FindSiteChanges(r.Context(), site)
				if err != nil {
					reply(w, log, nil, err)
					return
				}
				for i := range changes {
					if changes[i].ID == id {
						change = &changes[i]
					}
				}
				if change == nil {
					badRequest(w, fmt.Sprintf("change: site %s has no recorded change %d", site, id))
					return
				}
				at = change.Time
			} else if at, err = parseCompareTime(v, loc); err != nil {
				badRequest(w, "change: a recorded change's id, or "+err.Error())
				return
			}
		}
		var p [2][2]time.Time
		var given [2]bool
		for i, name := range []string{"before", "after"} {
			if v := q.Get(name); v != "" {
				from, to, err := comparePeriod(v, loc)
				if err != nil {
					badRequest(w, name+": "+err.Error())
					return
				}
				p[i], given[i] = [2]time.Time{from, to}, true
			}
		}
		if !given[0] || !given[1] {
			if at.IsZero() {
				badRequest(w, "change: needed unless both before and after are given")
				return
			}
			// An absent period is as long as the other (or as from the change to now), on its side
			// of the change.
			switch {
			case given[0]:
				p[1] = [2]time.Time{at, at.Add(p[0][1].Sub(p[0][0]))}
			case given[1]:
				p[0] = [2]time.Time{at.Add(-p[1][1].Sub(p[1][0])), at}
			default:
				now := sc.Now()
				if !at.Before(now) {
					badRequest(w, "change: in the future, so there is no after period yet; give before and after")
					return
				}
				p[1] = [2]time.Time{at, now}
				p[0] = [2]time.Time{at.Add(-now.Sub(at)), at}
			}
		}
		if p[0][1].After(p[1][0]) {
			badRequest(w, "before: must end by the start of after")
			return
		}
		if !at.IsZero() && (p[0][1].After(at) || p[1][0].Before(at)) {
			badRequest(w, "change: must lie between the end of before and the start of after")
			return
		}
		before, err := st.FindTally(r.Context(), site, p[0][0], p[0][1])
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		after, err := st.FindTally(r.Context(), site, p[1][0], p[1][1])
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		c := aggregator.Compare(site, before, after)
		c.TimeZone = loc.String()
		c.Before.From, c.Before.To, c.After.From, c.After.To = c.Before.From.In(loc), c.Before.To.In(loc), c.After.From.In(loc), c.After.To.In(loc)
		if change == nil && !at.IsZero() {
			change = &aggregator.SiteChange{Site: site, Time: at}
		}
		if change != nil {
			change = &inZone([]aggregator.SiteChange{*change}, loc)[0]
		}
		c.Change = change
		reply(w, log, c, nil)
	})
}
