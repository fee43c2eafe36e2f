package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics counts and times the requests the aggregator serves, by route: the pattern the
// request matched as registered (GET /api/v1/sites/{id}/ledger), never its raw path, so that
// the series stay bounded whatever paths clients send. A request that matches no route is
// counted under route "unmatched".
type HTTPMetrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
}

// NewHTTPMetrics registers crosswatch_http_requests_total{route,code} and
// crosswatch_http_request_seconds{route} with reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_http_requests_total",
			Help: "HTTP requests answered, by route (the registered pattern, such as \"GET /api/v1/sites/{id}/ledger\") and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crosswatch_http_request_seconds",
			Help:    "Time to answer an HTTP request, by route (an event stream counts until it ends).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// routeKey carries a *string through the request's context: the innermost ServeMux that
// routes a request writes its pattern there (routed), because muxes nested behind
// middleware that copies the request (WithContext) set Pattern only on their copy.
type routeKey struct{}

// Wrap returns h instrumented: it counts and times every request h answers.
func (m *HTTPMetrics) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		route := new(string)
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, route))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			rt := *route
			if rt == "" {
				rt = r.Pattern // h is a ServeMux itself
			}
			if rt == "" {
				rt = "unmatched"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(rt, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(rt).Observe(time.Since(began).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// routed serves r with mux and records the pattern mux matched for HTTPMetrics.Wrap.
func routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if p, ok := r.Context().Value(routeKey{}).(*string); ok && r.Pattern != "" {
			*p = r.Pattern
		}
	})
}

// statusWriter remembers the status code; Unwrap lets http.ResponseController (the event
// stream's flushes and deadlines) reach the connection.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush implements http.Flusher for handlers that assert it rather than use a ResponseController.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
