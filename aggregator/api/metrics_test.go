package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
)

// HTTP requests are counted and timed by the pattern they matched, through the API's own
// router behind authentication, never by their raw path: requests for a thousand sites make one
// series.
func TestHTTPMetricsByRoute(t *testing.T) {
	h, _ := handlerLive(t)
	reg := prometheus.NewRegistry()
	m := NewHTTPMetrics(reg)
	outer := http.NewServeMux() // as crosswatch-aggregator serve mounts the API
	outer.Handle("/api/", h)
	outer.Handle("/healthz", h)
	outer.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("# nothing\n")) }))
	srv := httptest.NewServer(m.Wrap(outer))
	defer srv.Close()
	for _, c := range []struct {
		path, token string
		code        int
	}{
		{"/api/v1/sites/a/ledger", testTokens[aggregator.Viewer], 200},
		{"/api/v1/sites/b/ledger", testTokens[aggregator.Viewer], 200},
		{"/api/v1/sites/nowhere/ledger", testTokens[aggregator.Viewer], 404},
		{"/api/v1/sites", testTokens[aggregator.Viewer], 200},
		{"/api/v1/sites", "", 401},
		{"/api/v1/dead-letters", testTokens[aggregator.Viewer], 403},
		{"/healthz", "", 200},
		{"/metrics", "", 200},
		{"/api/v1/no/such/route/x1", testTokens[aggregator.Viewer], 404},
		{"/nothing-here", "", 404},
	} {
		if code, _, body := getAs(t, c.token, srv.URL+c.path); code != c.code {
			t.Fatalf("GET %s: %d %s, want %d", c.path, code, body, c.code)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	timed := map[string]uint64{}
	for _, mf := range mfs {
		for _, x := range mf.Metric {
			var ls []string
			for _, l := range x.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			switch mf.GetName() {
			case "crosswatch_http_requests_total":
				got[strings.Join(ls, ",")] = x.Counter.GetValue()
			case "crosswatch_http_request_seconds":
				timed[strings.Join(ls, ",")] = x.Histogram.GetSampleCount()
			}
		}
	}
	want := map[string]float64{
		"code=200,route=GET /api/v1/sites/{id}/ledger": 2,
		"code=404,route=GET /api/v1/sites/{id}/ledger": 1,
		"code=200,route=GET /api/v1/sites":             1,
		"code=401,route=GET /api/v1/sites":             1,
		"code=403,route=GET /api/v1/dead-letters":      1,
		"code=200,route=GET /healthz":                  1,
		"code=200,route=/metrics":                      1,
		"code=404,route=/api/":                         1, // no API route matched: the mount point
		"code=404,route=unmatched":                     1,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("crosswatch_http_requests_total{%s} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if timed["route=GET /api/v1/sites/{id}/ledger"] != 3 || timed["route=GET /healthz"] != 1 {
		t.Errorf("crosswatch_http_request_seconds sample counts %v", timed)
	}
}

// The event stream still streams behind the HTTP metrics (its flushes reach the connection)
// and is counted under its route once it ends.
func TestHTTPMetricsStream(t *testing.T) {
	h, live := handlerLive(t)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewHTTPMetrics(reg).Wrap(h))
	defer srv.Close()
	// Without flushes nothing would arrive: the deadline turns a hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[aggregator.Viewer])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the stream through the metrics wrapper: %v", err)
	}
	if name, _ := readEvent(t, bufio.NewReader(resp.Body)); name != "ready" {
		t.Fatalf("first event %q through the metrics wrapper", name)
	}
	resp.Body.Close()
	live.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if mf.GetName() == "crosswatch_http_requests_total" && l.GetValue() == "GET /api/v1/stream" {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended stream was not counted under route GET /api/v1/stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
