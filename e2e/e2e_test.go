// Package e2e runs the product end to end: a synthetic clip through crosswatch-edge replay, a
// real Mosquitto on loopback started by the test, crosswatch-aggregator and its HTTP API.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/synth"
)

var edgeBin, aggBin string

// modelsInstalled: 'make models' put the detectors in ../models/files, so replayed events
// carry evidence images.
var modelsInstalled = func() bool { _, err := os.Stat("../models/files/MANIFEST.tsv"); return err == nil }()

// TestMain builds both commands once for every test here.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crosswatch-e2e")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../edge/cmd/crosswatch-edge", "../aggregator/cmd/crosswatch-aggregator")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	edgeBin, aggBin = filepath.Join(dir, "crosswatch-edge"), filepath.Join(dir, "crosswatch-aggregator")
	if err := makeCreds(); err != nil {
		fmt.Fprintf(os.Stderr, "credentials: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.RemoveAll(creds.dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a real broker on loopback, stopped when the test ends.
type Mosquitto struct {
	URL  string
	Port int
	bin  string
	conf string
	log  *os.File
	cmd  *exec.Cmd
}

// StartMosquitto starts Mosquitto on a free loopback port; extra lines are added to its
// configuration.
func StartMosquitto(t *testing.T, extra ...string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("mosquitto is not installed; 'make test' installs it (scripts/deps.sh)")
			}
			t.Skip("mosquitto is not installed; run 'make deps'")
		}
	}
	conf := ""
	for _, l := range extra {
		conf += l + "\n"
	}
	return startMosquittoOn(t, bin, freePort(t), conf)
}

func mosquittoBin() string {
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	return "/usr/sbin/mosquitto"
}

// startMosquittoOn starts Mosquitto on port; extra is appended to its configuration.
func startMosquittoOn(t *testing.T, bin string, port int, extra string) *Mosquitto {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nuse_username_as_clientid true\npersistence false\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\nlog_type unsubscribe\n%s", port, creds.mosquittoFile, extra)), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "mosquitto.log"))
	logFiles.Store(filepath.Join(dir, "mosquitto.log"), true)
	t.Cleanup(func() { logFiles.Delete(filepath.Join(dir, "mosquitto.log")) })
	m := &Mosquitto{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), Port: port, bin: bin, conf: conf, log: logf}
	m.Start(t)
	t.Cleanup(func() { m.Kill(); logf.Close() })
	return m
}

// Start (re)starts the broker on its port.
func (m *Mosquitto) Start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitPort(t, m.Port)
}

// Kill stops the broker with SIGKILL: with persistence off, whatever it held is gone.
func (m *Mosquitto) Kill() {
	if m.cmd != nil && m.cmd.ProcessState == nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on port %d", port)
}

// Aggregator is a running crosswatch-aggregator serve.
type Aggregator struct {
	API    string
	Broker string // the broker it uses; the embedded one's address when it runs one
	DB     string
	Token  string   // an admin API token (getJSON and authGet send it)
	store  []string // the flags that name its config and store, for 'user add'
	cmd    *exec.Cmd
}

// Kill stops the aggregator with SIGKILL, mid-whatever it was doing.
func (a *Aggregator) Kill() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

var readyLine = regexp.MustCompile(`ready dashboard=\S+ api=(\S+)/api/v1/sites broker=(\S+)`)

// StartAggregator runs the aggregator against broker with its database at db; extra flags follow.
// It creates an admin API token first, in the aggregator's store, so the tests read the API
// as a client must: with credentials.
func StartAggregator(t *testing.T, bin, broker, db string, extra ...string) *Aggregator {
	t.Helper()
	args := []string{"serve", "--config", writeConfig(t, ""), "--http", "127.0.0.1:0", "--db", db}
	if broker == "embedded" {
		args = append(args, "--mqtt-listen", "127.0.0.1:0", "--device-tokens", creds.devicesFile)
	} else {
		// Mosquitto takes the username as client id: each instance logs in as its client id.
		user := "crosswatch-aggregator"
		for i, a := range extra {
			if a == "--client-id" && i+1 < len(extra) {
				user = extra[i+1]
			}
		}
		args = append(args, "--broker", broker, "--mqtt-user", user, "--mqtt-password-file", creds.aggPassword)
	}
	args = append(args, extra...)
	var store []string // the last --config, --db and --postgres win, as in serve
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--config" || args[i] == "--db" || args[i] == "--postgres" {
			store = append(store, args[i], args[i+1])
		}
	}
	token := credential(t, bin, "token", fmt.Sprintf("e2e-%d", tokenSeq.Add(1)), "admin", store)
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	logf, _ := os.Create(db + ".log")
	logFiles.Store(db+".log", true)
	t.Cleanup(func() { logFiles.Delete(db + ".log") })
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &Aggregator{cmd: cmd, DB: db, Token: token, store: store}
	aggProcs.Store(cmd, db+".log")
	t.Cleanup(func() { aggProcs.Delete(cmd); a.Stop(); logf.Close() })
	lines := bufio.NewScanner(out)
	ready := make(chan []string, 1)
	go func() {
		for lines.Scan() {
			if m := readyLine.FindStringSubmatch(lines.Text()); m != nil {
				ready <- m
			}
		}
	}()
	select {
	case m := <-ready:
		a.API, a.Broker = m[1], m[2]
		apiTokens.Store(a.API, token)
	case <-time.After(20 * time.Second):
		b, _ := os.ReadFile(db + ".log")
		t.Fatalf("aggregator not ready:\n%s", b)
	}
	return a
}

// Stop interrupts the aggregator and waits for its graceful shutdown.
func (a *Aggregator) Stop() {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
}

var (
	tokenSeq  atomic.Int64
	apiTokens sync.Map // API base URL → an admin token of that aggregator
)

// credential runs 'crosswatch-aggregator user|token add NAME --role ROLE' on the store named
// by the flags in store and returns the secret it prints.
func credential(t *testing.T, bin, kind, name, role string, store []string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{kind, "add", name, "--role", role}, store...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s add %s: %v\n%s", kind, name, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// AddUser creates a dashboard user and returns its password.
func (a *Aggregator) AddUser(t *testing.T, name, role string) string {
	t.Helper()
	return credential(t, aggBin, "user", name, role, a.store)
}

// authGet is http.Get with the admin token of the aggregator whose API url is under.
func authGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	apiTokens.Range(func(k, v any) bool {
		if strings.HasPrefix(url, k.(string)+"/") {
			req.Header.Set("Authorization", "Bearer "+v.(string))
			return false
		}
		return true
	})
	return http.DefaultClient.Do(req)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := authGet(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func replay(t *testing.T, edgeBin, dir, broker, outbox string) string {
	t.Helper()
	cmd := edgeCmd("replay", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
		"--broker", broker, "--device", "e2e-edge", "--outbox", outbox, "--drain-timeout", "30s", "--models", "../models/files")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	return string(out)
}

// TestClipToLedger: every violation in the ground truth becomes one priced ledger row at its
// site, and replaying the same clip again adds nothing.
func TestClipToLedger(t *testing.T) {
	mq := StartMosquitto(t)
	dir := t.TempDir()
	out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	var truth synth.Truth
	b, _ := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, v := range truth.Violations {
		want[v.Site+"/"+v.Type]++
	}
	if len(truth.Violations) < 3 || len(want) < 2 {
		t.Fatalf("seed 7 should render violations at both sites; truth %+v", truth.Violations)
	}
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	var cat aggregator.Catalog
	getJSON(t, agg.API+"/api/v1/catalog", &cat)
	price := map[string]int{}
	for _, e := range cat.Entries {
		price[e.Type] = e.Points
	}

	check := func(round string) {
		var sites []aggregator.SiteScore
		getJSON(t, agg.API+"/api/v1/sites", &sites)
		got := map[string]int{}
		for _, s := range sites {
			var ledger []aggregator.LedgerEntry
			getJSON(t, agg.API+"/api/v1/sites/"+s.ID+"/ledger", &ledger)
			points := 0
			for _, l := range ledger {
				got[l.Site+"/"+l.Type]++
				points += l.Points
				if l.CatalogVersion == "" || l.EventID == "" || l.Device != "e2e-edge" {
					t.Errorf("%s: ledger row not traceable: %+v", round, l)
				}
				var ev aggregator.Event
				getJSON(t, agg.API+"/api/v1/events/"+l.Device+"/"+l.EventID, &ev)
				if ev.Site != l.Site || ev.Type != l.Type || !ev.Time.Equal(l.Time) {
					t.Errorf("%s: ledger row %+v traces to event %+v", round, l, ev)
				}
				if modelsInstalled && !ev.HasEvidence {
					t.Errorf("%s: event %s has no evidence image although the models are installed", round, ev.ID)
				}
			}
			if s.Points != points {
				t.Errorf("%s: site %s has %d points, its ledger deducts %d", round, s.ID, s.Points, points)
			}
			// The catalog's points for the truth's events at this site.
			wantPoints := 0
			for key, n := range want {
				if site, typ, _ := strings.Cut(key, "/"); site == s.ID {
					wantPoints += price[typ] * n
				}
			}
			if s.Points != wantPoints {
				t.Errorf("%s: site %s has %d points, want %d for the truth's events", round, s.ID, s.Points, wantPoints)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: ledger rows per site/type %v, truth %v", round, got, want)
		}
		// Ranked sites first (1, 2, …), then the unranked (insufficient data).
		for i, s := range sites {
			if (s.Rank != 0 && s.Rank != i+1) || (i > 0 && s.Rank != 0 && sites[i-1].Rank == 0) {
				t.Fatalf("%s: sites not ranked in order: %+v", round, sites)
			}
		}
	}
	o1 := replay(t, edgeBin, dir, mq.URL, filepath.Join(t.TempDir(), "outbox.db"))
	if !strings.Contains(o1, "0 pending (all acknowledged") {
		t.Fatalf("first replay left messages behind:\n%s", o1)
	}
	check("first replay")
	// The same clip again, with a fresh outbox: the same event ids, so nothing new is recorded.
	replay(t, edgeBin, dir, mq.URL, filepath.Join(t.TempDir(), "outbox.db"))
	check("second replay")
	resp, err := authGet(agg.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for outcome, n := range map[string]int{"committed": len(truth.Violations), "duplicate": len(truth.Violations)} {
		if want := fmt.Sprintf(`crosswatch_ingest_messages_total{outcome="%s"} %d`, outcome, n); !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Each event once by type, though every one was delivered twice; the device's gauges.
	byType := map[string]int{}
	for _, v := range truth.Violations {
		byType[v.Type]++
	}
	for typ, n := range byType {
		if want := fmt.Sprintf(`crosswatch_events_total{type="%s"} %d`, typ, n); !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, want := range []string{`crosswatch_device_backlog{device="e2e-edge"} 0`, `crosswatch_device_last_seen_timestamp_seconds{device="e2e-edge"}`, `crosswatch_build_info{`,
		// check's requests, by route pattern rather than by site id
		`crosswatch_http_requests_total{code="200",route="GET /api/v1/sites/{id}/ledger"}`, `crosswatch_http_request_seconds_count{route="GET /api/v1/sites"}`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var devices []aggregator.Device
	getJSON(t, agg.API+"/api/v1/devices", &devices)
	if len(devices) != 1 || devices[0].ID != "e2e-edge" {
		t.Fatalf("devices %+v", devices)
	}
}

// writeConfig writes a copy of configs/aggregator.yaml with mqttExtra added to its mqtt section.
func writeConfig(t *testing.T, mqttExtra string) string {
	t.Helper()
	b, err := os.ReadFile("../configs/aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cat, _ := os.ReadFile("../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	s := strings.Replace(string(b), "mqtt:\n", "mqtt:\n  "+mqttExtra+"\n", 1)
	// The synthetic streams here (burst, replayed clips, soak) are stamped from 2026-01-01 or a
	// month back: accept five years back. The window itself is tested in aggregator/ingest
	// and TestIngestWindowEndToEnd.
	s = strings.Replace(s, "max_event_age: 168h", "max_event_age: 43920h", 1)
	p := filepath.Join(dir, "aggregator.yaml")
	os.WriteFile(p, []byte(s), 0o644)
	return p
}

// The one-box default: the aggregator's embedded broker, with its device ACL, carries a replay.
func TestEmbeddedBroker(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "3", "--out", dir, "--duration", "30s").CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	if !strings.HasPrefix(agg.Broker, "tcp://127.0.0.1:") {
		t.Fatalf("broker %q", agg.Broker)
	}
	out := replay(t, edgeBin, dir, agg.Broker, filepath.Join(t.TempDir(), "outbox.db"))
	if !strings.Contains(out, "0 pending (all acknowledged") {
		t.Fatalf("replay through the embedded broker:\n%s", out)
	}
	var sites []aggregator.SiteScore
	getJSON(t, agg.API+"/api/v1/sites", &sites)
	points := 0
	for _, s := range sites {
		points += s.Points
	}
	if points == 0 {
		t.Fatalf("nothing priced: %+v", sites)
	}
}
