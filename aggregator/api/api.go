// Package api serves the aggregator's HTTP API as JSON: sites ranked worst first, each site's
// ledger, devices, dead letters and the catalog, plus health endpoints.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Store is what the API reads.
type Store interface {
	FindSiteScores(ctx context.Context, q aggregator.ScoreQuery) ([]aggregator.SiteScore, error)
	// FindLedger returns a site's ledger under a catalog version ("" for all); ErrNotFound for
	// an unknown site.
	FindLedger(ctx context.Context, site, version string) ([]aggregator.LedgerEntry, error)
	FindDevices(ctx context.Context) ([]aggregator.Device, error)
	FindDeadLetters(ctx context.Context, limit int) ([]aggregator.DeadLetter, error)
	FindGaps(ctx context.Context, limit int) ([]aggregator.Gap, error)
	Ping(ctx context.Context) error
}

// Scoring says how scores are computed: the rolling window and the exposure needed for rates.
type Scoring struct {
	Window       time.Duration
	MinRoadUsers int
	Now          func() time.Time
}

// Handler returns the API's routes. Scores use the catalog's version and sc's window; a request
// may ask for another with ?version= and ?window= (a Go duration such as 24h).
func Handler(st Store, cat *aggregator.Catalog, sc Scoring, ready func() bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request) {
		q := aggregator.ScoreQuery{CatalogVersion: cat.Version, To: sc.Now(), MinRoadUsers: sc.MinRoadUsers}
		window := sc.Window
		if v := r.URL.Query().Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				badRequest(w, "window: a positive duration such as 24h or 720h")
				return
			}
			window = d
		}
		if v := r.URL.Query().Get("version"); v != "" {
			q.CatalogVersion = v
		}
		q.From = q.To.Add(-window)
		s, err := st.FindSiteScores(r.Context(), q)
		reply(w, log, s, err)
	})
	mux.HandleFunc("GET /api/v1/sites/{id}/ledger", func(w http.ResponseWriter, r *http.Request) {
		version := r.URL.Query().Get("version")
		switch version {
		case "":
			version = cat.Version
		case "all":
			version = ""
		}
		l, err := st.FindLedger(r.Context(), r.PathValue("id"), version)
		reply(w, log, l, err)
	})
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		d, err := st.FindDevices(r.Context())
		reply(w, log, d, err)
	})
	mux.HandleFunc("GET /api/v1/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		d, err := st.FindDeadLetters(r.Context(), 500)
		reply(w, log, d, err)
	})
	mux.HandleFunc("GET /api/v1/gaps", func(w http.ResponseWriter, r *http.Request) {
		g, err := st.FindGaps(r.Context(), 500)
		reply(w, log, g, err)
	})
	mux.HandleFunc("GET /api/v1/catalog", func(w http.ResponseWriter, r *http.Request) {
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
	return mux
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
