// Package api serves the aggregator's HTTP API as JSON: sites ranked worst first, each site's
// ledger, devices, dead letters and the catalog, plus health endpoints.
package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Store is what the API reads.
type Store interface {
	FindSiteScores(ctx context.Context, q aggregator.ScoreQuery) ([]aggregator.SiteScore, error)
	// FindLedger returns a site's ledger rows; ErrNotFound for an unknown site.
	FindLedger(ctx context.Context, f aggregator.LedgerFilter) ([]aggregator.LedgerEntry, error)
	// FindSiteCameras returns ErrNotFound for an unknown site.
	FindSiteCameras(ctx context.Context, site string) ([]aggregator.CameraDevice, error)
	FindDevices(ctx context.Context) ([]aggregator.Device, error)
	// FindDeadLetters returns the newest first, at most limit, those below seq before if positive.
	FindDeadLetters(ctx context.Context, limit int, before int64) ([]aggregator.DeadLetter, error)
	FindGaps(ctx context.Context, limit int) ([]aggregator.Gap, error)
	FindEvents(ctx context.Context, f aggregator.EventFilter) ([]aggregator.Event, error)
	// FindEvent returns ErrNotFound for an unknown event.
	FindEvent(ctx context.Context, device, id string) (aggregator.Event, error)
	// FindSeries returns ErrNotFound for an unknown site.
	FindSeries(ctx context.Context, site string, from, to time.Time, bin time.Duration) ([]aggregator.Bin, error)
	Ping(ctx context.Context) error
	StudyStore
	RiskStore
}

// Scoring says how scores are computed: the rolling window and the exposure needed for rates.
type Scoring struct {
	Window       time.Duration
	MinRoadUsers int
	Now          func() time.Time
}

// Page sizes: a request may ask for at most this many rows at once (more is a 400), so that
// no request makes the aggregator hold an unbounded response for a client that reads slowly.
const (
	MaxEventsPage      = 2000 // /events, /sites/{id}/events, /export/events.csv; default 500
	MaxLedgerPage      = 5000 // /sites/{id}/ledger (?newest= or ?limit= with ?after=); default 5000
	MaxDeadLettersPage = 500  // /dead-letters; default 100
	MaxAuditPage       = 500  // /audit; default 100
)

// Handler returns the API's routes behind acc: /healthz and /readyz are open, /api/v1/login
// needs no credentials, dead letters and the audit log need admin, every other route viewer.
// Scores use the catalog's version and sc's window; a request may ask for another with
// ?version= and ?window= (a Go duration such as 24h). live, if not nil, serves
// /api/v1/stream.
//
// When st is also a ReviewStore, the review workflow and the dead-letter routes are served
// too (review.go): reviewers confirm or dismiss events, admins list and reprocess dead letters.
func Handler(st Store, acc *Access, cat *aggregator.Catalog, sc Scoring, ready func() bool, live *Live, log *slog.Logger, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, role aggregator.Role, f http.HandlerFunc) { mux.Handle(pattern, Need(role, f)) }
	var o options
	for _, f := range opts {
		f(&o)
	}
	rs, _ := st.(ReviewStore)
	if rs != nil {
		(&reviews{st: rs, events: st, live: live, o: o, log: log}).register(handle)
	}
	if gs, ok := st.(RegistryStore); ok {
		(&registry{st: gs, live: live, hooks: o.registry, log: log}).register(handle) // registry.go
		if fs, ok := st.(FrameStore); ok {
			(&frames{st: fs, cameras: gs, request: o.requestFrame, log: log}).register(handle) // frame.go
		}
	}
	if live != nil {
		mux.Handle("GET /api/v1/stream", Need(aggregator.Viewer, live))
	}
	mux.HandleFunc("POST /api/v1/login", acc.login)
	mux.HandleFunc("POST /api/v1/logout", acc.logout)
	mux.HandleFunc("GET /api/v1/session", acc.session)
	handle("GET /api/v1/audit", aggregator.Admin, func(w http.ResponseWriter, r *http.Request) {
		limit, ok := count(w, r, "limit", 100, MaxAuditPage)
		if !ok {
			return
		}
		before, ok := cursor(w, r, "before")
		if !ok {
			return
		}
		a, err := acc.store.FindAudit(r.Context(), limit, before)
		reply(w, log, a, err)
	})
	// scoreQuery reads ?window=, ?version= and ?rank=; ok is false when it already answered 400.
	scoreQuery := func(w http.ResponseWriter, r *http.Request) (aggregator.ScoreQuery, bool) {
		q := aggregator.ScoreQuery{CatalogVersion: cat.Version, MinRoadUsers: sc.MinRoadUsers}
		// Sites differ in time zone: a from or to without an offset is UTC here.
		from, to, ok := period(w, r, time.UTC, sc.Window, sc.Now())
		if !ok {
			return q, false
		}
		if q.RankBy, ok = rankBy(w, r, cat); !ok {
			return q, false
		}
		if q.CatalogVersion, ok = catalogVersion(w, r, st, log, cat.Version, false); !ok {
			return q, false
		}
		q.From, q.To = from, to
		return q, true
	}
	compareRoutes(handle, st, sc, log)
	// sites answers the error itself; ok is false then.
	sites := func(w http.ResponseWriter, r *http.Request) ([]aggregator.SiteScore, bool) {
		q, ok := scoreQuery(w, r)
		if !ok {
			return nil, false
		}
		s, err := st.FindSiteScores(r.Context(), q)
		if err != nil {
			reply(w, log, nil, err)
			return nil, false
		}
		return s, true
	}
	handle("GET /api/v1/sites", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		if s, ok := sites(w, r); ok {
			reply(w, log, s, nil)
		}
	})
	studyRoutes(handle, st, cat, sc, log)
	// events reads a site's events (every site's for site ""), in the site's time zone, or UTC
	// for every site.
	events := func(w http.ResponseWriter, r *http.Request, site string) ([]aggregator.Event, bool) {
		loc := time.UTC
		if site != "" {
			s, err := st.FindSite(r.Context(), site)
			if err != nil {
				reply(w, log, nil, err)
				return nil, false
			}
			loc = s.Location()
		}
		from, to, ok := period(w, r, loc, sc.Window, sc.Now())
		if !ok {
			return nil, false
		}
		limit, ok := count(w, r, "limit", 500, MaxEventsPage)
		if !ok {
			return nil, false
		}
		typ, ok := types(w, r, cat)
		if !ok {
			return nil, false
		}
		e, err := st.FindEvents(r.Context(), aggregator.EventFilter{Site: site, From: from, To: to, Types: typ, Limit: limit})
		if err != nil {
			reply(w, log, nil, err)
			return nil, false
		}
		return e, true
	}
	handle("GET /api/v1/sites/{id}/events", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		if e, ok := events(w, r, r.PathValue("id")); ok {
			reply(w, log, e, nil)
		}
	})
	handle("GET /api/v1/events", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		if e, ok := events(w, r, ""); ok {
			reply(w, log, e, nil)
		}
	})
	handle("GET /api/v1/events/{device}/{id}", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		e, err := st.FindEvent(r.Context(), r.PathValue("device"), r.PathValue("id"))
		reply(w, log, e, err)
	})
	handle("GET /api/v1/events/{device}/{id}/evidence.jpg", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		e, err := st.FindEvent(r.Context(), r.PathValue("device"), r.PathValue("id"))
		if err == nil && !e.HasEvidence {
			err = fmt.Errorf("event %s has no evidence image: %w", e.ID, aggregator.ErrNotFound)
		}
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "private, max-age=3600")
		w.Write(e.Evidence)
	})
	handle("GET /api/v1/export/events.csv", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		e, ok := events(w, r, r.URL.Query().Get("site"))
		if !ok {
			return
		}
		// Each event's review, so that a camera's accuracy can be audited from the export.
		byKey := map[[2]string]aggregator.Review{}
		if rs != nil && len(e) > 0 {
			rv, err := rs.FindReviews(r.Context(), "", e[len(e)-1].Time, e[0].Time.Add(time.Millisecond))
			if err != nil {
				reply(w, log, nil, err)
				return
			}
			for _, x := range rv {
				byKey[[2]string{x.Device, x.EventID}] = x
			}
		}
		zones, err := siteZones(r.Context(), st)
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		// Each event's time is in its site's time zone, with the offset, at millisecond precision.
		cw.Write(append([]string{"time", "site", "zone", "type", "class", "confidence", "signal_source", "time_into_red_s", "device", "camera", "id"}, reviewColumns...))
		for _, x := range e {
			cw.Write(append([]string{x.Time.In(zones.of(x.Site)).Format(CSVTime), x.Site, x.Zone, x.Type, x.Class, strconv.FormatFloat(x.Confidence, 'f', 3, 64),
				x.SignalSource, strconv.FormatFloat(x.TimeIntoRedS, 'f', 2, 64), x.Device, x.Camera, x.ID}, reviewCells(byKey, x.Device, x.ID)...))
		}
		cw.Flush()
	})
	handle("GET /api/v1/export/sites.csv", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		s, ok := sites(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		head := []string{"rank", "site", "name", "kind", "lat", "lon", "time_zone", "score", "catalog_version", "from", "to", "events", "road_users", "status",
			"points", "risk_per_1000", "risk_low", "risk_high"}
		cw.Write(append(head, rateColumns(cat)...))
		blankZero := func(n int) string { // no rank: insufficient data
			if n == 0 {
				return ""
			}
			return strconv.Itoa(n)
		}
		for _, x := range s {
			total := 0
			for _, n := range x.Events {
				total += n
			}
			loc := x.Location()
			score, risk := "", []string{"", "", ""}
			if x.Score != nil {
				score = strconv.Itoa(*x.Score)
			}
			if x.Risk != nil {
				risk = []string{strconv.FormatFloat(x.Risk.PerThousand, 'f', 3, 64), strconv.FormatFloat(x.Risk.Low, 'f', 3, 64), strconv.FormatFloat(x.Risk.High, 'f', 3, 64)}
			}
			row := append([]string{blankZero(x.Rank), x.ID, x.Name, string(x.Kind), strconv.FormatFloat(x.Lat, 'f', 6, 64), strconv.FormatFloat(x.Lon, 'f', 6, 64), loc.String(),
				score, x.CatalogVersion, x.From.In(loc).Format(CSVTime), x.To.In(loc).Format(CSVTime), strconv.Itoa(total), strconv.Itoa(x.RoadUsers), x.Status,
				strconv.Itoa(x.Points)}, risk...)
			cw.Write(append(row, rateCells(cat, x)...))
		}
		cw.Flush()
	})
	handle("GET /api/v1/export/sites.geojson", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		s, ok := sites(w, r)
		if !ok {
			return
		}
		type feature struct {
			Type       string `json:"type"`
			Geometry   any    `json:"geometry"`
			Properties any    `json:"properties"`
		}
		fc := struct {
			Type     string    `json:"type"`
			Features []feature `json:"features"`
		}{Type: "FeatureCollection", Features: []feature{}}
		for _, x := range s {
			fc.Features = append(fc.Features, feature{Type: "Feature",
				Geometry:   map[string]any{"type": "Point", "coordinates": []float64{x.Lon, x.Lat}},
				Properties: x})
		}
		w.Header().Set("Content-Type", "application/geo+json")
		json.NewEncoder(w).Encode(fc)
	})
	handle("GET /api/v1/sites/{id}/ledger", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		version, ok := catalogVersion(w, r, st, log, cat.Version, true)
		if !ok {
			return
		}
		if version == "all" {
			version = ""
		}
		newest, ok := count(w, r, "newest", 0, MaxLedgerPage)
		if !ok {
			return
		}
		limit, ok := count(w, r, "limit", MaxLedgerPage, MaxLedgerPage)
		if !ok {
			return
		}
		after, ok := cursor(w, r, "after")
		if !ok {
			return
		}
		f := aggregator.LedgerFilter{Site: r.PathValue("id"), Version: version, Newest: newest, After: after, Limit: limit}
		if q := r.URL.Query(); q.Get("from") != "" || q.Get("to") != "" {
			s, err := st.FindSite(r.Context(), f.Site)
			if err != nil {
				reply(w, log, nil, err)
				return
			}
			// The whole ledger unless a period is asked for; a from alone runs to now.
			if f.From, f.To, ok = period(w, r, s.Location(), 10*365*24*time.Hour, sc.Now()); !ok {
				return
			}
		}
		l, err := st.FindLedger(r.Context(), f)
		reply(w, log, l, err)
	})
	handle("GET /api/v1/sites/{id}/cameras", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		c, err := st.FindSiteCameras(r.Context(), r.PathValue("id"))
		reply(w, log, c, err)
	})
	handle("GET /api/v1/devices", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		d, err := st.FindDevices(r.Context())
		reply(w, log, d, err)
	})
	handle("GET /api/v1/gaps", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		g, err := st.FindGaps(r.Context(), 500)
		reply(w, log, g, err)
	})
	handle("GET /api/v1/catalog", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		reply(w, log, cat, nil)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(r.Context()); err != nil || !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	// The probes answer whatever credentials a prober sends, even bad ones.
	routes := routed(mux) // HTTPMetrics labels requests with the pattern they matched
	authed := acc.Authenticate(routes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			routes.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
}

// cursor reads a positive sequence number from the query, or 0; it answers 400 if malformed.
func cursor(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		badRequest(w, name+": a sequence number (a whole number from 1)")
		return 0, false
	}
	return n, true
}

// duration reads a positive Go duration from the query, or def; it answers 400 if malformed.
func duration(w http.ResponseWriter, r *http.Request, name string, def time.Duration) (time.Duration, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		badRequest(w, name+": a positive duration such as 15m, 24h or 720h")
		return 0, false
	}
	return d, true
}

// count reads a whole number in [1, max] from the query, or def; it answers 400 if malformed.
func count(w http.ResponseWriter, r *http.Request, name string, def, max int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		badRequest(w, fmt.Sprintf("%s: a whole number from 1 to %d", name, max))
		return 0, false
	}
	return n, true
}

func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func reply(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case errors.Is(err, aggregator.ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	case err != nil:
		log.Error("api", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"error": "internal error"})
		return
	}
	json.NewEncoder(w).Encode(v)
}
