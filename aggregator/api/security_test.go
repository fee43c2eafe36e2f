package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// Every data route needs a role: without credentials, or with a forged token, nothing is
// read; a viewer reads what viewers may but not dead letters or the audit log.
func TestRoutesNeedARole(t *testing.T) {
	srv := server(t)
	viewerRoutes := []string{"/api/v1/sites", "/api/v1/sites/a/ledger", "/api/v1/sites/a/series", "/api/v1/sites/a/events",
		"/api/v1/sites/a/cameras", "/api/v1/events", "/api/v1/events/d/e0", "/api/v1/events/d/e0/evidence.jpg",
		"/api/v1/export/sites.csv", "/api/v1/export/sites.geojson", "/api/v1/export/events.csv", "/api/v1/devices",
		"/api/v1/gaps", "/api/v1/catalog", "/api/v1/reviews", "/api/v1/precision", "/api/v1/sites/a/changes", "/api/v1/sites/a/compare?change=2026-11-24",
		"/api/v1/registry/sites", "/api/v1/registry/sites/a", "/api/v1/registry/cameras", "/api/v1/registry/cameras/c", "/api/v1/registry/cameras/c/scene.json"}
	adminRoutes := []string{"/api/v1/dead-letters", "/api/v1/dead-letters/groups", "/api/v1/audit"}
	for _, path := range append(append([]string{"/api/v1/stream"}, viewerRoutes...), adminRoutes...) {
		for _, tok := range []string{"", "cw_forged", testTokens[aggregator.Viewer] + "x"} {
			if code, _, body := getAs(t, tok, srv.URL+path); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d %s, want 401", path, tok, code, body)
			}
		}
	}
	for _, path := range viewerRoutes {
		if code, _, body := getAs(t, testTokens[aggregator.Viewer], srv.URL+path); code != 200 {
			t.Errorf("%s as viewer: %d %s", path, code, body)
		}
	}
	for _, path := range adminRoutes {
		for _, role := range []aggregator.Role{aggregator.Viewer, aggregator.Reviewer} {
			if code, _, _ := getAs(t, testTokens[role], srv.URL+path); code != http.StatusForbidden {
				t.Errorf("%s as %s: %d, want 403", path, role, code)
			}
		}
		if code, _, body := getAs(t, testTokens[aggregator.Admin], srv.URL+path); code != 200 {
			t.Errorf("%s as admin: %d %s", path, code, body)
		}
	}
	// A camera's reference frame: viewers read it (c has none yet: 404), only admins ask the box.
	frame, request := srv.URL+"/api/v1/registry/cameras/c/frame.jpg", srv.URL+"/api/v1/registry/cameras/c/frame-request"
	for _, tok := range []string{"", "cw_forged", testTokens[aggregator.Viewer] + "x"} {
		if code, _, body := getAs(t, tok, frame); code != http.StatusUnauthorized {
			t.Errorf("frame.jpg with token %q: %d %s, want 401", tok, code, body)
		}
		if code, _, _ := call(t, http.MethodPost, request, tok, ""); code != http.StatusUnauthorized {
			t.Errorf("frame-request with token %q: %d, want 401", tok, code)
		}
	}
	if code, _, body := getAs(t, testTokens[aggregator.Viewer], frame); code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("frame.jpg as viewer, no frame: %d %s, want 404 JSON", code, body)
	}
	for _, role := range []aggregator.Role{aggregator.Viewer, aggregator.Reviewer} {
		if code, _, _ := call(t, http.MethodPost, request, testTokens[role], ""); code != http.StatusForbidden {
			t.Errorf("frame-request as %s: %d, want 403", role, code)
		}
	}
	if code, _, _ := call(t, http.MethodPost, request, testTokens[aggregator.Admin], ""); code == http.StatusUnauthorized || code == http.StatusForbidden {
		t.Errorf("frame-request as admin: %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		for _, tok := range []string{"", "cw_forged"} {
			if code, _, _ := getAs(t, tok, srv.URL+path); code != 200 {
				t.Errorf("%s with token %q: %d, want 200 (probes stay open)", path, tok, code)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/sites", nil)
	req.Header.Set("Authorization", "Basic YTpi")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("basic auth: %v %v, want 401", resp.Status, err)
	}
}

// authServer serves the API over a store with one user, ana (admin, password "correct horse").
func authServer(t *testing.T, o AccessOptions) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, _ := HashPassword("correct horse")
	if err := st.CreateUser(context.Background(), aggregator.User{Name: "ana", Role: aggregator.Admin, PasswordHash: h, Created: now}); err != nil {
		t.Fatal(err)
	}
	cat := &aggregator.Catalog{Version: "v1"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(Handler(st, NewAccess(st, o, log), cat, Scoring{Window: time.Hour, MinRoadUsers: 1, Now: time.Now}, func() bool { return true }, nil, log))
	t.Cleanup(srv.Close)
	return srv, st
}

func post(t *testing.T, url, ctype, body string, header map[string]string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func getCookie(t *testing.T, url string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Signing in: a wrong password or a cross-site attempt is refused; the session cookie is
// HttpOnly and SameSite=Strict; a change (sign out) needs the session's CSRF token; sign-in
// and sign-out are in the audit log.
func TestLoginSessionCSRFAndAudit(t *testing.T) {
	srv, st := authServer(t, AccessOptions{})
	login := srv.URL + "/api/v1/login"
	for _, c := range []struct {
		name, ctype, body string
		header            map[string]string
		want              int
	}{
		{"wrong password", "application/json", `{"name":"ana","password":"wrong"}`, nil, 401},
		{"unknown user", "application/json", `{"name":"bob","password":"correct horse"}`, nil, 401},
		{"a form from another site", "application/x-www-form-urlencoded", `name=ana&password=correct+horse`, nil, 415},
		{"another origin", "application/json", `{"name":"ana","password":"correct horse"}`, map[string]string{"Origin": "https://evil.example"}, 403},
		{"cross-site fetch", "application/json", `{"name":"ana","password":"correct horse"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"no password", "application/json", `{"name":"ana"}`, nil, 400},
	} {
		if resp := post(t, login, c.ctype, c.body, c.header, nil); resp.StatusCode != c.want || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %d with %d cookies, want %d and none", c.name, resp.StatusCode, len(resp.Cookies()), c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, login, strings.NewReader(`{"name":"ana","password":"correct horse"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p Principal
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 200 || p.Name != "ana" || p.Role != aggregator.Admin || len(p.CSRF) < 20 {
		t.Fatalf("sign-in: %s %+v", resp.Status, p)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != "crosswatch_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || len(c.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, path /, not Secure over plain HTTP", c)
	}
	if code := getCookie(t, srv.URL+"/api/v1/sites", c); code != 200 {
		t.Fatalf("sites with the session: %d", code)
	}
	if code := getCookie(t, srv.URL+"/api/v1/audit", c); code != 200 {
		t.Fatalf("audit as admin: %d", code)
	}
	// The cookie's value is not what is stored: a copy of the database opens no session.
	if _, err := st.FindSession(context.Background(), []byte(c.Value), time.Now()); err == nil {
		t.Fatal("the session is stored under its cookie value")
	}
	if resp := post(t, srv.URL+"/api/v1/logout", "", "", nil, c); resp.StatusCode != 403 {
		t.Fatalf("sign-out without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp := post(t, srv.URL+"/api/v1/logout", "", "", map[string]string{"X-CSRF-Token": "guess"}, c); resp.StatusCode != 403 {
		t.Fatalf("sign-out with a wrong CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp := post(t, srv.URL+"/api/v1/logout", "", "", map[string]string{"X-CSRF-Token": p.CSRF}, c); resp.StatusCode != 204 {
		t.Fatalf("sign-out: %d, want 204", resp.StatusCode)
	}
	if code := getCookie(t, srv.URL+"/api/v1/sites", c); code != 401 {
		t.Fatalf("sites after sign-out: %d, want 401", code)
	}
	a, err := st.FindAudit(context.Background(), 10, 0)
	if err != nil || len(a) != 2 || a[0].Action != "logout" || a[1].Action != "login" || a[0].Actor != "user:ana" || a[1].Time.IsZero() {
		t.Fatalf("audit log %+v %v: want login then logout by user:ana", a, err)
	}
}

// Over TLS the cookie is Secure and __Host- prefixed, so a browser never sends it in clear.
func TestSecureCookieOverTLS(t *testing.T) {
	srv, _ := authServer(t, AccessOptions{SecureCookies: true})
	resp := post(t, srv.URL+"/api/v1/login", "application/json", `{"name":"ana","password":"correct horse"}`, nil, nil)
	if len(resp.Cookies()) != 1 {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	if c := resp.Cookies()[0]; !c.Secure || c.Name != "__Host-crosswatch" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want Secure, __Host-crosswatch, HttpOnly, SameSite=Strict", c)
	}
}

// With insecure on, everything is open, as an admin; sign-in says there is nothing to sign in to.
func TestInsecureOpensEverything(t *testing.T) {
	srv, _ := authServer(t, AccessOptions{Insecure: true})
	if code, _, _ := getAs(t, "", srv.URL+"/api/v1/dead-letters"); code != 200 {
		t.Fatalf("dead letters with insecure: %d", code)
	}
	if resp := post(t, srv.URL+"/api/v1/login", "application/json", `{"name":"ana","password":"correct horse"}`, nil, nil); resp.StatusCode != 409 {
		t.Fatalf("sign-in with insecure: %d, want 409", resp.StatusCode)
	}
}

func stream(base string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[aggregator.Viewer])
	return http.DefaultClient.Do(req)
}

// Streams are capped: the next is refused with 503 and Retry-After, and a place that frees
// up can be taken again.
func TestStreamCap(t *testing.T) {
	srv, live := serverLive(t)
	live.MaxStreams = 3
	var open []*http.Response
	for i := range 3 {
		resp, err := stream(srv.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, resp.Status, err)
		}
		open = append(open, resp)
	}
	resp, err := stream(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a stream over the cap: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	open[0].Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for live.Subscribers() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	resp, err = stream(srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a stream after one closed: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	for _, r := range open[1:] {
		r.Body.Close()
	}
}

// A stream outlives the server's read and write timeouts (the write timeout would cut its
// connection): it sets its own deadline before every write, so it also outlives its own.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.CreateToken(context.Background(), aggregator.Token{Name: "v", Role: aggregator.Viewer, Hash: HashSecret(testTokens[aggregator.Viewer]), Created: now})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	live := NewLive()
	live.Every = 10 * time.Millisecond
	live.WriteTimeout = 250 * time.Millisecond
	h := Handler(st, NewAccess(st, AccessOptions{}, log), &aggregator.Catalog{Version: "v1"}, Scoring{Window: time.Hour, Now: time.Now}, func() bool { return true }, live, log)
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer(h, Limits{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, IdleTimeout: time.Second})
	srv.Config.RegisterOnShutdown(live.Close)
	srv.Start()
	defer srv.Close()
	resp, err := stream(srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent(t, r) // ready
	for i := range 3 {
		time.Sleep(400 * time.Millisecond) // past every timeout of the server's and the stream's
		live.Publish(aggregator.Change{Events: 1})
		if name, _ := readEvent(t, r); name != "change" {
			t.Fatalf("change %d, after the timeouts: %q", i, name)
		}
	}
}

// manyEvents answers every events query with as many events as asked for, each new, as the
// store does; it counts the queries.
type manyEvents struct {
	Store
	calls atomic.Int32
}

func (m *manyEvents) FindEvents(ctx context.Context, f aggregator.EventFilter) ([]aggregator.Event, error) {
	out := make([]aggregator.Event, f.Limit)
	for i := range out {
		out[i] = aggregator.Event{Device: "dev-0001", ID: fmt.Sprintf("dev-0001-%012d", i), Camera: "cam-1", Site: "a", Zone: "stop-line-north",
			Type: "red_light_running", Class: "car", Time: now, Received: now, Confidence: 0.91, SignalSource: "camera", TimeIntoRedS: 1.25}
	}
	m.calls.Add(1)
	return out, nil
}

// Twenty clients that ask for the largest page and never read the answer hold a bounded
// amount of the aggregator's memory. (The attack, events?limit=100000 from 20
// clients, held 600 MB.)
func TestSlowReadersHoldBoundedMemory(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok := testTokens[aggregator.Viewer]
	st.CreateToken(context.Background(), aggregator.Token{Name: "v", Role: aggregator.Viewer, Hash: HashSecret(tok), Created: now})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fake := &manyEvents{Store: st}
	h := Handler(fake, NewAccess(st, AccessOptions{}, log), &aggregator.Catalog{Version: "v1"}, Scoring{Window: time.Hour, Now: func() time.Time { return now }}, func() bool { return true }, nil, log)
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code, _, _ := getAs(t, tok, srv.URL+"/api/v1/events?limit=100000"); code != 400 {
		t.Fatalf("limit=100000: %d, want 400 (more than a page)", code)
	}
	fake.calls.Store(0)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	base := heap()
	const clients = 20
	for range clients {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10) // the kernel holds little for us: the server's writes block
		}
		fmt.Fprintf(c, "GET /api/v1/events?limit=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", MaxEventsPage, tok)
	}
	deadline := time.Now().Add(20 * time.Second)
	for fake.calls.Load() < clients && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := fake.calls.Load(); n < clients {
		t.Fatalf("only %d of %d requests reached the store", n, clients)
	}
	// Each handler now holds its page (encoded, blocked in a write); take the highest reading.
	var peak uint64
	for range 10 {
		peak = max(peak, heap())
		time.Sleep(50 * time.Millisecond)
	}
	const bound = 48 << 20
	if grew := int64(peak) - int64(base); grew > bound {
		t.Fatalf("20 slow readers grew the heap by %d MiB, bound %d MiB", grew>>20, bound>>20)
	} else {
		t.Logf("20 slow readers of %d events each: heap grew %.1f MiB (bound %d MiB)", MaxEventsPage, float64(grew)/(1<<20), bound>>20)
	}
}
