// Package api serves the aggregator's HTTP API as JSON: sites ranked worst first, each site's
// ledger, devices, dead letters and the catalog, plus health endpoints.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Store is what the API reads.
type Store interface {
	FindSiteScores(ctx context.Context) ([]aggregator.SiteScore, error)
	// FindLedger returns ErrNotFound for an unknown site.
	FindLedger(ctx context.Context, site string) ([]aggregator.LedgerEntry, error)
	FindDevices(ctx context.Context) ([]aggregator.Device, error)
	FindDeadLetters(ctx context.Context, limit int) ([]aggregator.DeadLetter, error)
	FindGaps(ctx context.Context, limit int) ([]aggregator.Gap, error)
	Ping(ctx context.Context) error
}

// Handler returns the API's routes.
func Handler(st Store, cat *aggregator.Catalog, ready func() bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request) {
		s, err := st.FindSiteScores(r.Context())
		reply(w, log, s, err)
	})
	mux.HandleFunc("GET /api/v1/sites/{id}/ledger", func(w http.ResponseWriter, r *http.Request) {
		l, err := st.FindLedger(r.Context(), r.PathValue("id"))
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
