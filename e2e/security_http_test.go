package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// The shipped configuration, end to end: nothing but the probes answers without a token,
// /metrics needs one, events stamped far in the past (burst's 2026-01-01) are dead letters
// with the reason, and the database on disk is 0600.
func TestHTTPAccessAndIngestWindowEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := os.ReadFile("../configs/aggregator.yaml")
	cat, _ := os.ReadFile("../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	os.WriteFile(filepath.Join(dir, "aggregator.yaml"), cfg, 0o644) // max_event_age 168h, as shipped
	db := filepath.Join(dir, "agg.db")
	agg := StartAggregator(t, aggBin, "embedded", db, "--config", filepath.Join(dir, "aggregator.yaml"))

	for _, path := range []string{"/api/v1/sites", "/api/v1/devices", "/api/v1/dead-letters", "/api/v1/events", "/api/v1/events/d/e/evidence.jpg", "/api/v1/stream", "/metrics", "/tiles/tilejson", "/tiles/1/1/0"} {
		resp, err := http.Get(agg.API + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %s, want 401", path, resp.Status)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, err := http.Get(agg.API + path); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v, want 200", path, resp, err)
		}
	}
	resp, err := authGet(agg.API + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics with a token: %v %v", resp, err)
	}
	resp.Body.Close()

	out, err := edgeCmd("burst", "--broker", agg.Broker, "--device", "old-edge", "--outbox", filepath.Join(dir, "o.db"),
		"--from", "0", "--to", "3", "--drain", "--drain-timeout", "1m").CombinedOutput()
	// Acknowledged as refused: the burst fails and says so (exit status 1, the reason's code).
	if err == nil || !strings.Contains(string(out), "refused 3 records") || !strings.Contains(string(out), ": clock (") {
		t.Fatalf("burst: %v, want it to fail naming the 3 refused for their clock\n%s", err, out)
	}
	var dl []aggregator.DeadLetter
	getJSON(t, agg.API+"/api/v1/dead-letters", &dl)
	if len(dl) != 3 {
		t.Fatalf("%d dead letters, want the 3 events stamped 2026-01-01: %+v", len(dl), dl)
	}
	for _, d := range dl {
		if !strings.Contains(d.Reason, "before the aggregator's clock") || d.Device != "old-edge" {
			t.Errorf("dead letter %+v: want the time window as the reason", d)
		}
	}
	var events []aggregator.Event
	getJSON(t, agg.API+"/api/v1/events?window=87600h", &events)
	if len(events) != 0 {
		t.Fatalf("%d events recorded from 2026-01-01", len(events))
	}
	st, err := os.Stat(db)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database %s: mode %v %v, want 0600", db, st.Mode().Perm(), err)
	}
	// The audit log holds the token the test made, by the command line.
	var audit []aggregator.AuditEntry
	getJSON(t, agg.API+"/api/v1/audit", &audit)
	if len(audit) == 0 || audit[len(audit)-1].Action != "token.add" || audit[len(audit)-1].Actor != "cli" {
		b, _ := json.Marshal(audit)
		t.Fatalf("audit log %s", b)
	}
	resp, _ = http.Get(agg.API + "/api/v1/sites")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Bearer") {
		t.Errorf("401 body %q does not say how to authenticate", body)
	}
}
