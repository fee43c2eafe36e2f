package cli

import (
	"bytes"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/aggregator/mbtiles/mbtilestest"
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
		{"time zone", "time_zone: Europe/Vienna", "time_zone: Europe/Viena", `sites[0].time_zone: "Europe/Viena" is not an IANA time zone`},
		{"local time zone", "time_zone: Europe/Vienna", "time_zone: Local", `sites[0].time_zone: "Local" is not an IANA time zone`},
		{"broker", "broker: embedded", "broker: localhost", "mqtt.broker"},
		{"listen", "listen: 127.0.0.1:8080", "listen: nowhere", "http.listen"},
		{"driver", "driver: sqlite", "driver: oracle", "store.driver"},
		{"unknown key", "store:", "stor:", "field stor not found"},
		{"catalog missing", "catalog: catalog.yaml", "catalog: nope.yaml", "nope.yaml"},
		{"no identity", "device_tokens_file: devices.passwd", `device_tokens_file: ""`, "mqtt.device_tokens_file: devices must prove who they are"},
		{"plaintext on the network", "listen: 127.0.0.1:1883", "listen: 0.0.0.0:1883", "mqtt.listen: 0.0.0.0:1883: plaintext MQTT"},
		{"plaintext to another machine", "broker: embedded", "broker: tcp://10.0.0.5:1883\n  username: u\n  password_file: p", "mqtt.broker: tcp://10.0.0.5:1883: plaintext MQTT"},
		{"external without login", "broker: embedded", "broker: ssl://broker.example:8883", "mqtt.username: the aggregator must prove who it is"},
		{"username alone", "broker: embedded", "broker: ssl://broker.example:8883\n  username: u", "mqtt.password_file: missing"},
		{"tls listener without a certificate", "# tls_listen: 0.0.0.0:8883", "tls_listen: 0.0.0.0:8883", "mqtt.tls.cert: the TLS listener needs"},
		{"packet size", "max_packet_size: 1048576", "max_packet_size: 100", "mqtt.max_packet_size: must be within"},
		{"connections", "max_connections: 10000", "max_connections: 0", "mqtt.max_connections"},
		{"a device's client id", "client_id: crosswatch-aggregator", "client_id: crosswatch-edge-1", "mqtt.client_id"},
		{"plain HTTP on the network", "listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080", "http.listen: 0.0.0.0:8080 is not a loopback address"},
		{"cert without key", "# tls_cert: server.crt", "tls_cert: server.crt", "http.tls_cert: http.tls_cert and http.tls_key go together"},
		{"read timeout", "read_timeout: 30s", "read_timeout: 0s", "http.read_timeout: must be within 1s..1h"},
		{"max streams", "max_streams: 64", "max_streams: 0", "http.max_streams"},
		{"event age", "max_event_age: 168h", "max_event_age: 1m", "ingest.max_event_age"},
		{"clock ahead", "max_clock_ahead: 5m", "max_clock_ahead: 48h", "ingest.max_clock_ahead"},
		{"dead letter bytes", "dead_letter_bytes: 4096", "dead_letter_bytes: -1", "ingest.dead_letter_bytes"},
		{"evidence retention", "evidence: 720h", "evidence: 1m", "retention.evidence"},
		{"max sites", "max_sites: 100", "max_sites: -1", "metrics.max_sites: must be within 0..10000"},
		{"a site named other", "id: example-platform-5", "id: other", `sites[2].id: "other" names the sites past metrics.max_sites`},
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

// insecure: true is the explicit way to run without identity, or with plaintext on the network.
func TestConfigInsecure(t *testing.T) {
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	dir := t.TempDir()
	cat, _ := os.ReadFile("../../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	b := strings.NewReplacer("device_tokens_file: devices.passwd", "", "listen: 127.0.0.1:1883", "listen: 0.0.0.0:1883", "insecure: false", "insecure: true").Replace(string(good))
	p := filepath.Join(dir, "agg.yaml")
	os.WriteFile(p, []byte(b), 0o644)
	var out bytes.Buffer
	if code := Main([]string{"check-config", "--config", p}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
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

// hashLine is a device token file line for id with token.
func hashLine(id, token string) string { return id + ":" + broker.HashToken(token) + "\n" }

func TestDeviceTokensFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok")
	os.WriteFile(good, []byte("# device:hash\n"+hashLine("edge-1", "0123456789abcdef0123")+"\n"+hashLine("edge-2", "fedcba9876543210fedc")), 0o600)
	m, err := loadDeviceHashes(good, "crosswatch-aggregator")
	if err != nil || len(m) != 2 || !m["edge-2"].Verify("fedcba9876543210fedc") || m["edge-2"].Verify("0123456789abcdef0123") {
		t.Fatalf("%v %v", m, err)
	}
	h := broker.HashToken("0123456789abcdef0123")
	for body, want := range map[string]string{
		"edge-1 0123456789abcdef0123\n":     "plaintext tokens are not accepted",
		"edge-1:0123456789abcdef0123\n":     "plaintext tokens are not accepted",
		"edge/1:" + h + "\n":                ":1:",
		"a:" + h + "\na:" + h + "\n":        "listed twice",
		"crosswatch-aggregator:" + h + "\n": "is the aggregator's",
		"crosswatch-edge-x:" + h + "\n":     "client id prefix",
		"edge-1:$7$101$AAAA$short\n":        ":1: device edge-1: not a",
	} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadDeviceHashes(p, "crosswatch-aggregator"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// A token file that group or others can read is refused, naming the file and its mode.
func TestCredentialFilesMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "devices.passwd")
	os.WriteFile(p, []byte(hashLine("edge-1", "0123456789abcdef0123")), 0o640)
	if _, err := loadDeviceHashes(p, "x"); err == nil || !strings.Contains(err.Error(), p+" is mode 0640") {
		t.Errorf("device tokens 0640: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "c"), []byte("spat x edge-1\n"), 0o604)
	if _, err := loadControllers(filepath.Join(dir, "c"), "x", nil); err == nil || !strings.Contains(err.Error(), "mode 0604") {
		t.Errorf("controllers 0604: %v", err)
	}
}

func TestControllersFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok")
	h1, h2 := broker.HashToken("0123456789abcdef0123"), broker.HashToken("fedcba9876543210fedc")
	os.WriteFile(good, []byte("# controller hash devices\nspat-main "+h1+" edge-1,edge-2\n\ndoors-p5 "+h2+" edge-3\n"), 0o600)
	m, err := loadControllers(good, "crosswatch-aggregator", nil)
	if err != nil || len(m) != 2 || !m["spat-main"].Devices["edge-2"] || !m["doors-p5"].Hash.Verify("fedcba9876543210fedc") || m["doors-p5"].Devices["edge-1"] {
		t.Fatalf("%v %v", m, err)
	}
	for body, want := range map[string]string{
		"spat " + h1 + "\n":                                ":1: want",
		"spat 0123456789abcdef0123 edge-1\n":               "plaintext tokens are not accepted",
		"spat/1 " + h1 + " edge-1\n":                       ":1:",
		"spat " + h1 + " edge-1,edge/2\n":                  ":1:",
		"spat " + h1 + " edge-1\nspat " + h2 + " edge-2\n": ":2: controller spat listed twice",
		"edge-9 " + h1 + " edge-1\n":                       "is a device id",
		"crosswatch-edge-edge-1 " + h1 + " edge-1\n":       "client id prefix",
	} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadControllers(p, "crosswatch-aggregator", map[string]broker.Hash{"edge-9": {}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	if _, err := loadDeviceHashes(filepath.Join(dir, "missing"), "x"); err == nil || !strings.Contains(err.Error(), "does not exist; 'crosswatch-aggregator device add") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := loadControllers(filepath.Join(dir, "missing"), "x", nil); err == nil || !strings.Contains(err.Error(), "mqtt.controllers_file") {
		t.Errorf("missing file: %v", err)
	}
}

// A site without a time zone is UTC, and check-config says so.
func TestConfigTimeZoneNote(t *testing.T) {
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	dir := t.TempDir()
	cat, _ := os.ReadFile("../../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	tokens, _ := os.ReadFile("../../configs/devices.passwd")
	os.WriteFile(filepath.Join(dir, "devices.passwd"), tokens, 0o600)
	p := filepath.Join(dir, "agg.yaml")
	for _, c := range []struct {
		yaml string
		note bool
	}{{string(good), false}, {strings.Replace(string(good), ", time_zone: Europe/Vienna}", "}", 1), true}} {
		os.WriteFile(p, []byte(c.yaml), 0o644)
		var out bytes.Buffer
		code := Main([]string{"check-config", "--config", p}, &out, &out)
		has := strings.Contains(out.String(), "note: sites[0].time_zone not set: site synth-main-nb bins and exports its times in UTC")
		if code != 0 || has != c.note {
			t.Errorf("exit %d, output %q; want the note: %v", code, out.String(), c.note)
		}
	}
}

// dashboard.tiles names an MBTiles file relative to the config; check-config and serve open it
// and refuse one that is missing or not raster tiles, naming the field.
func TestConfigTiles(t *testing.T) {
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	dir := t.TempDir()
	cat, _ := os.ReadFile("../../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	b := strings.NewReplacer("device_tokens_file: devices.passwd", "", "insecure: false", "insecure: true").Replace(string(good))
	p := filepath.Join(dir, "agg.yaml")
	os.WriteFile(p, []byte(b+"dashboard:\n  tiles: maps/town.mbtiles\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "maps"), 0o755)
	tiles := filepath.Join(dir, "maps", "town.mbtiles")

	check := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := Main(append(args, "--config", p), &out, &out)
		return code, out.String()
	}
	if code, out := check("check-config"); code == 0 || !strings.Contains(out, "dashboard.tiles: stat "+tiles+": no such file") {
		t.Errorf("missing file: exit %d, %q", code, out)
	}
	os.WriteFile(tiles, []byte(strings.Repeat("a photo, not a map\n", 64)), 0o644)
	if code, out := check("check-config"); code == 0 || !strings.Contains(out, "dashboard.tiles: "+tiles+": not an MBTiles file") {
		t.Errorf("not a database: exit %d, %q", code, out)
	}
	// serve refuses it at start, before opening the store or the broker.
	if code, out := check("serve", "--db", filepath.Join(dir, "a.db"), "--http", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"); code == 0 || !strings.Contains(out, "dashboard.tiles: ") {
		t.Errorf("serve with a bad tiles file: exit %d, %q", code, out)
	}
	os.Remove(tiles)
	if err := mbtilestest.Write(tiles, map[string]string{"format": "png", "minzoom": "12", "maxzoom": "13"},
		[]mbtilestest.Tile{{Z: 12, X: 2234, Y: 1420, Data: mbtilestest.PNG(color.White)}}); err != nil {
		t.Fatal(err)
	}
	if code, out := check("check-config"); code != 0 || !strings.Contains(out, "map tiles "+tiles+" (png, zoom 12..13)") {
		t.Errorf("good file: exit %d, %q", code, out)
	}
}
