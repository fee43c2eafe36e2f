package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedConfig(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"check-config", "--config", "../../configs/aggregator.yaml"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

func TestConfigRejects(t *testing.T) {
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	cases := []struct{ name, from, to, want string }{
		{"site kind", "kind: rail", "kind: tram", "sites[2].kind: must be road or rail"},
		{"duplicate site", "id: synth-main-sb", "id: synth-main-nb", `sites[1].id: duplicate site "synth-main-nb"`},
		{"lat", "lat: 48.2082", "lat: 98.2", "sites[0].lat"},
		{"broker", "broker: embedded", "broker: localhost", "mqtt.broker"},
		{"listen", "listen: 127.0.0.1:8080", "listen: nowhere", "http.listen"},
		{"driver", "driver: sqlite", "driver: oracle", "store.driver"},
		{"unknown key", "store:", "stor:", "field stor not found"},
		{"catalog missing", "catalog: catalog.yaml", "catalog: nope.yaml", "nope.yaml"},
		{"plain HTTP on the network", "listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080", "http.listen: 0.0.0.0:8080 is not a loopback address"},
		{"cert without key", "# tls_cert: server.crt", "tls_cert: server.crt", "http.tls_cert: http.tls_cert and http.tls_key go together"},
		{"read timeout", "read_timeout: 30s", "read_timeout: 0s", "http.read_timeout: must be within 1s..1h"},
		{"max streams", "max_streams: 64", "max_streams: 0", "http.max_streams"},
		{"event age", "max_event_age: 168h", "max_event_age: 1m", "ingest.max_event_age"},
		{"clock ahead", "max_clock_ahead: 5m", "max_clock_ahead: 48h", "ingest.max_clock_ahead"},
		{"dead letter bytes", "dead_letter_bytes: 4096", "dead_letter_bytes: -1", "ingest.dead_letter_bytes"},
		{"evidence retention", "evidence: 720h", "evidence: 1m", "retention.evidence"},
		{"tls files", "# tls_cert: server.crt\n  # tls_key: server.key", "tls_cert: server.crt\n  tls_key: server.key", "http.tls_cert, http.tls_key"},
	}
	dir := t.TempDir()
	// The catalog path is relative to the config file.
	cat, _ := os.ReadFile("../../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := strings.Replace(string(good), c.from, c.to, 1)
			if b == string(good) {
				t.Fatalf("%q not in the config", c.from)
			}
			p := filepath.Join(dir, "agg.yaml")
			os.WriteFile(p, []byte(b), 0o644)
			var out bytes.Buffer
			code := Main([]string{"check-config", "--config", p}, &out, &out)
			if code == 0 || !strings.Contains(out.String(), c.want) {
				t.Fatalf("exit %d, output %q, want %q", code, out.String(), c.want)
			}
		})
	}
}

func TestServeBadCatalog(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	os.WriteFile(filepath.Join(dir, "agg.yaml"), good, 0o644)
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte("version: \"1\"\nentries:\n  - {type: jaywalking, points: -3, site_kinds: [road], description: x}\n"), 0o644)
	var out bytes.Buffer
	code := Main([]string{"serve", "--config", filepath.Join(dir, "agg.yaml"), "--db", filepath.Join(dir, "a.db")}, &out, &out)
	if code == 0 || !strings.Contains(out.String(), "catalog.yaml: entries[0].points") {
		t.Fatalf("exit %d: %q", code, out.String())
	}
}

func TestDeviceTokensFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok")
	os.WriteFile(good, []byte("# device token\nedge-1 0123456789abcdef0123\n\nedge-2 fedcba9876543210fedc\n"), 0o600)
	m, err := loadDeviceTokens(good)
	if err != nil || len(m) != 2 || m["edge-2"] != "fedcba9876543210fedc" {
		t.Fatalf("%v %v", m, err)
	}
	for body, want := range map[string]string{
		"edge-1\n":                      ":1: want",
		"edge-1 short\n":                "shorter than 16",
		"edge/1 0123456789abcdef0123\n": ":1:",
		"a 0123456789abcdef0123\na 0123456789abcdef0124\n": "listed twice",
	} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadDeviceTokens(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func TestControllersFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok")
	os.WriteFile(good, []byte("# controller token devices\nspat-main 0123456789abcdef0123 edge-1,edge-2\n\ndoors-p5 fedcba9876543210fedc edge-3\n"), 0o600)
	m, err := loadControllers(good, nil)
	if err != nil || len(m) != 2 || !m["spat-main"].Devices["edge-2"] || m["doors-p5"].Token != "fedcba9876543210fedc" || m["doors-p5"].Devices["edge-1"] {
		t.Fatalf("%v %v", m, err)
	}
	for body, want := range map[string]string{
		"spat 0123456789abcdef0123\n":                                          ":1: want",
		"spat short edge-1\n":                                                  "shorter than 16",
		"spat/1 0123456789abcdef0123 edge-1\n":                                 ":1:",
		"spat 0123456789abcdef0123 edge-1,edge/2\n":                            ":1:",
		"spat 0123456789abcdef0123 edge-1\nspat 0123456789abcdef0124 edge-2\n": ":2: controller spat listed twice",
		"edge-9 0123456789abcdef0123 edge-1\n":                                 "is a device id",
	} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadControllers(p, map[string]string{"edge-9": "x"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	if _, err := loadControllers(filepath.Join(dir, "missing"), nil); err == nil || !strings.Contains(err.Error(), "mqtt.controllers_file") {
		t.Errorf("missing file: %v", err)
	}
}
