package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv, _ := serverLive(t)
	return srv
}

func serverLive(t *testing.T) (*httptest.Server, *Live) {
	t.Helper()
	srv, live, _ := serverStore(t)
	return srv, live
}

// serverStore is serverLive with the handler's options, and its store.
func serverStore(t *testing.T, opts ...Option) (*httptest.Server, *Live, *sqlite.Store) {
	t.Helper()
	h, live, st := handlerStore(t, opts...)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(live.Close)
	srv.Start()
	t.Cleanup(func() { live.Close(); srv.Close() })
	return srv, live, st
}

// handlerLive returns the API's handler over a store with four events of site a, and its live
// stream.
func handlerLive(t *testing.T) (http.Handler, *Live) {
	h, live, _ := handlerStore(t)
	return h, live
}

// handlerStore is handlerLive with the handler's options, and its store.
func handlerStore(t *testing.T, opts ...Option) (http.Handler, *Live, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	sites := []aggregator.Site{{ID: "a", Name: "Main & 1st", Kind: aggregator.Road, Lat: 48.2, Lon: 16.37, Cameras: []string{"c"}}, {ID: "b", Name: "Platform 5", Kind: aggregator.Rail, Lat: 48.21, Lon: 16.38}}
	st.UpsertSites(ctx, sites)
	cat := &aggregator.Catalog{Version: "v1", Entries: []aggregator.CatalogEntry{{Type: "red_light_running", Points: 25, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
	st.EnsureCatalog(ctx, cat, map[string]aggregator.SiteKind{"a": aggregator.Road, "b": aggregator.Rail})
	var b aggregator.Batch
	for i, ago := range []time.Duration{10 * time.Minute, 20 * time.Minute, 50 * time.Minute, 3 * time.Hour} {
		b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: "e" + string(rune('0'+i)), Camera: "c", Site: "a", Zone: "z",
			Type: "red_light_running", Class: "car", Time: now.Add(-ago), Received: now, Confidence: 0.9}, Points: 25, Priced: true, CatalogVersion: "v1"})
	}
	b.Events[0].Evidence = jpegBytes
	b.Counts = []aggregator.Counts{{Device: "d", ID: "c1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-30 * time.Minute), PeriodS: 60, Counts: map[string]int{"car": 400}}}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for role, secret := range testTokens {
		if err := st.CreateToken(ctx, aggregator.Token{Name: string(role), Role: role, Hash: HashSecret(secret), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	live := NewLive()
	live.Every = 50 * time.Millisecond
	acc := NewAccess(st, AccessOptions{Now: func() time.Time { return now }}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := Handler(st, acc, cat, Scoring{Window: 30 * 24 * time.Hour, MinRoadUsers: 200, Now: func() time.Time { return now }}, func() bool { return true },
		live, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	t.Cleanup(live.Close)
	return h, live, st
}

// testTokens are the API tokens serverLive stores, one per role.
var testTokens = map[aggregator.Role]string{aggregator.Viewer: "cw_viewer-token", aggregator.Reviewer: "cw_reviewer-token", aggregator.Admin: "cw_admin-token"}

// get fetches url as an admin.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	return getAs(t, testTokens[aggregator.Admin], url)
}

// getAs fetches url with token ("" for none).
func getAs(t *testing.T, token, url string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestSitesRankedWithRates(t *testing.T) {
	srv := server(t)
	_, _, body := get(t, srv.URL+"/api/v1/sites")
	var s []aggregator.SiteScore
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	// 4 events at 25 points among 400 road users: 250 points per 1,000, a score of 750.
	if s[0].ID != "a" || s[0].Score == nil || *s[0].Score != 750 || s[0].Points != 100 || s[0].Rank != 1 || s[0].Status != aggregator.StatusOK ||
		s[0].Rates["red_light_running"].PerThousand != 10 || s[0].Risk == nil || s[0].Risk.PerThousand != 250 {
		t.Fatalf("%+v", s[0])
	}
	if s[1].ID != "b" || s[1].Status != aggregator.StatusInsufficientData {
		t.Fatalf("%+v", s[1])
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites?window=1h")
	json.Unmarshal([]byte(body), &s)
	if s[0].Points != 75 || *s[0].Score != 813 { // 187.5 points per 1,000
		t.Fatalf("1 h window: %+v", s[0])
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/sites?window=yesterday"); code != 400 {
		t.Fatalf("bad window: %d", code)
	}
	// An unknown catalog version is not "everything is safe": it is a 400 naming the parameter.
	for _, u := range []string{"/api/v1/sites?version=nope", "/api/v1/sites/a/ledger?version=nope", "/api/v1/export/sites.csv?version=nope"} {
		if code, _, body := get(t, srv.URL+u); code != 400 || !strings.Contains(body, "version") || !strings.Contains(body, "v1") {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	if code, _, body := get(t, srv.URL+"/api/v1/sites?version=v1"); code != 200 {
		t.Errorf("the stored version: %d %s", code, body)
	}
	if code, _, body := get(t, srv.URL+"/api/v1/sites/a/ledger?version=all"); code != 200 {
		t.Errorf("ledger of all versions: %d %s", code, body)
	}
}

func TestSeries(t *testing.T) {
	srv := server(t)
	for _, c := range []struct {
		bin  string
		bins int
	}{{"5m", 12}, {"15m", 4}, {"60m", 1}} {
		_, _, body := get(t, srv.URL+"/api/v1/sites/a/series?window=1h&bin="+c.bin)
		var bins []aggregator.Bin
		if err := json.Unmarshal([]byte(body), &bins); err != nil {
			t.Fatalf("%s: %v %s", c.bin, err, body)
		}
		total, users := 0, 0
		for _, b := range bins {
			total += b.Events["red_light_running"]
			users += b.RoadUsers
		}
		if len(bins) != c.bins || total != 3 || users != 400 {
			t.Fatalf("bin %s: %d bins, %d events, %d road users", c.bin, len(bins), total, users)
		}
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/sites/a/series?bin=7m"); code != 400 {
		t.Fatalf("bin 7m: %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/sites/zz/series"); code != 404 {
		t.Fatalf("unknown site: %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/sites/zz/ledger"); code != 404 {
		t.Fatalf("unknown site ledger: %d", code)
	}
}

func TestExports(t *testing.T) {
	srv := server(t)
	_, ct, body := get(t, srv.URL+"/api/v1/export/sites.csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || !strings.HasPrefix(ct, "text/csv") || len(rows) != 3 || rows[1][1] != "a" || rows[1][7] != "750" || rows[1][15] != "250.000" || rows[2][0] != "" || rows[2][7] != "" {
		t.Fatalf("sites.csv %q %v %q", ct, err, body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/export/events.csv?window=1h")
	rows, _ = csv.NewReader(strings.NewReader(body)).ReadAll()
	if len(rows) != 4 || rows[0][0] != "time" {
		t.Fatalf("events.csv %q", body)
	}
	_, ct, body = get(t, srv.URL+"/api/v1/export/sites.geojson")
	var fc struct {
		Type     string
		Features []struct {
			Geometry struct {
				Type        string
				Coordinates []float64
			}
			Properties struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(body), &fc); err != nil || ct != "application/geo+json" || fc.Type != "FeatureCollection" || len(fc.Features) != 2 ||
		fc.Features[0].Geometry.Coordinates[0] != 16.37 || fc.Features[0].Properties.ID != "a" {
		t.Fatalf("geojson %v %s", err, body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/a/events?window=1h")
	var ev []aggregator.Event
	if json.Unmarshal([]byte(body), &ev); len(ev) != 3 || !ev[0].Time.After(ev[1].Time) {
		t.Fatalf("events %s", body)
	}
}

// Every route the handler serves is described in docs/openapi.yaml, and every documented path is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("api.go")
	for _, f := range []string{"review.go", "compare.go", "registry.go", "frame.go"} {
		more, _ := os.ReadFile(f)
		src = append(src, more...)
	}
	study, _ := os.ReadFile("study.go")
	src = append(src, study...)
	routes := regexp.MustCompile(`[Hh]andle(?:Func)?\("(?:GET|POST|PUT|DELETE) (/[^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 10 {
		t.Fatalf("found %d routes", len(routes))
	}
	for _, r := range routes {
		if !strings.Contains(string(doc), "\n  "+r[1]+":") {
			t.Errorf("route %s is not in docs/openapi.yaml", r[1])
		}
	}
	srv := server(t)
	for _, m := range regexp.MustCompile(`\n  (/[^:]+):`).FindAllStringSubmatch(string(doc), -1) {
		path := strings.ReplaceAll(m[1], "{id}", "a")
		switch m[1] {
		case "/api/v1/events/{device}/{id}":
			path = "/api/v1/events/d/e0"
		case "/api/v1/events/{device}/{id}/evidence.jpg":
			path = "/api/v1/events/d/e0/evidence.jpg"
		case "/api/v1/registry/cameras/{id}":
			path = "/api/v1/registry/cameras/c"
		case "/api/v1/registry/cameras/{id}/scene.json":
			path = "/api/v1/registry/cameras/c/scene.json"
		case "/api/v1/events/{device}/{id}/review":
			path = "/api/v1/events/d/e0/review"
		}
		if m[1] == "/api/v1/sites/{id}/compare" {
			path += "?change=2026-11-24"
		}
		if path == "/metrics" {
			continue // served by the command, next to this handler
		}
		if path == "/api/v1/stream" {
			continue // never ends; TestLiveStream reads it
		}
		if path == "/api/v1/login" || path == "/api/v1/logout" || path == "/api/v1/session" {
			continue // POST, or a session's; TestLogin covers them
		}
		if path == "/api/v1/dead-letters/reprocess" {
			continue // POST; TestReprocessRoute
		}
		if strings.HasPrefix(m[1], "/api/v1/registry/cameras/{id}/frame") {
			continue // 404 without a frame, and a POST; TestCameraFrame
		}
		if code, _, _ := get(t, srv.URL+path); code != 200 {
			t.Errorf("documented %s answers %d", m[1], code)
		}
	}
}

var jpegBytes = []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9}

func TestEvidence(t *testing.T) {
	srv := server(t)
	code, ct, body := get(t, srv.URL+"/api/v1/events/d/e0/evidence.jpg")
	if code != 200 || ct != "image/jpeg" || body != string(jpegBytes) {
		t.Fatalf("%d %q %q", code, ct, body)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/events/d/e1/evidence.jpg"); code != 404 {
		t.Fatalf("an event without evidence: %d", code)
	}
	_, _, body = get(t, srv.URL+"/api/v1/events/d/e0")
	var e aggregator.Event
	if json.Unmarshal([]byte(body), &e); !e.HasEvidence {
		t.Fatalf("has_evidence false: %s", body)
	}
}

func TestLedgerNewestAndCameras(t *testing.T) {
	srv := server(t)
	_, _, body := get(t, srv.URL+"/api/v1/sites/a/ledger?newest=2")
	var l []aggregator.LedgerEntry
	if err := json.Unmarshal([]byte(body), &l); err != nil || len(l) != 2 || l[0].EventID != "e0" || l[1].EventID != "e1" {
		t.Fatalf("newest 2, newest first: %v %s", err, body)
	}
	for _, q := range []string{"ledger?newest=0", "ledger?newest=x", "events?limit=-1", "events?limit=2001", "ledger?limit=5001", "ledger?after=0"} {
		if code, _, _ := get(t, srv.URL+"/api/v1/sites/a/"+q); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/a/events?limit=1")
	var ev []aggregator.Event
	if json.Unmarshal([]byte(body), &ev); len(ev) != 1 || ev[0].ID != "e0" {
		t.Fatalf("limit 1: %s", body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/a/cameras")
	var c []aggregator.CameraDevice
	if json.Unmarshal([]byte(body), &c); len(c) != 1 || c[0].Camera != "c" || c[0].Device != "d" || c[0].Events != 4 {
		t.Fatalf("cameras: %s", body)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/sites/zz/cameras"); code != 404 {
		t.Fatalf("unknown site's cameras: %d", code)
	}
}

// readEvent reads one server-sent event: its name and data.
func readEvent(t *testing.T, r *bufio.Reader) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

func TestLiveStream(t *testing.T) {
	srv, live := serverLive(t)
	resp, err := stream(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	if name, _ := readEvent(t, r); name != "ready" {
		t.Fatalf("first event %q", name)
	}
	// Changes published close together arrive merged, in one message.
	live.Publish(aggregator.Change{Events: 2, Sites: []string{"a"}})
	live.Publish(aggregator.Change{Events: 3, Sites: []string{"a", "b"}, Devices: []string{"d"}})
	live.Publish(aggregator.Change{}) // nothing: no message of its own
	name, data := readEvent(t, r)
	var c aggregator.Change
	if err := json.Unmarshal([]byte(data), &c); err != nil || name != "change" {
		t.Fatalf("%q %q %v", name, data, err)
	}
	// The first change may be sent before the second is merged; read on until 5 are seen.
	total := c.Events
	for total < 5 {
		_, data = readEvent(t, r)
		var more aggregator.Change
		json.Unmarshal([]byte(data), &more)
		c.Merge(more)
		total = c.Events
	}
	if total != 5 || strings.Join(c.Sites, ",") != "a,b" || strings.Join(c.Devices, ",") != "d" {
		t.Fatalf("merged change %+v", c)
	}
	if live.Subscribers() != 1 {
		t.Fatalf("%d subscribers", live.Subscribers())
	}
	// Shutdown ends the stream instead of waiting for the browser to leave.
	live.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for live.Subscribers() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := live.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after close", n)
	}
}
