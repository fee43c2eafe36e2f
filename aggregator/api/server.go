package api

import (
	"net/http"
	"time"
)

// Limits bound what one HTTP client can hold of the aggregator. Streams (/api/v1/stream) set
// their own deadlines per write (Live.WriteTimeout) and are capped by Live.MaxStreams.
type Limits struct {
	ReadTimeout  time.Duration // the whole request, body included (default 30 s)
	WriteTimeout time.Duration // from the end of the request to the end of the response (default 60 s)
	IdleTimeout  time.Duration // a keep-alive connection with no request (default 120 s)
}

// DefaultLimits are the limits when the configuration sets none.
func DefaultLimits() Limits {
	return Limits{ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
}

// NewServer returns an HTTP server for h with l's timeouts, a 10 s limit on the request
// header (slowloris) and 64 KiB on its size.
func NewServer(h http.Handler, l Limits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout,
		IdleTimeout: l.IdleTimeout, MaxHeaderBytes: 64 << 10}
}
