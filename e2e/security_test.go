package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Devices and MQTT (docs/SECURITY.md): these tests run the shipped Mosquitto configurations and
// the embedded broker's TLS listener with real processes on loopback.

// secDir is a folder Mosquitto, which drops to its own user, can read.
func secDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "crosswatch-sec")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// makeCerts runs 'crosswatch-aggregator certs' into dir/certs for clients and gives the folder
// and the broker's files to Mosquitto's user (they stay 0600).
func makeCerts(t *testing.T, dir string, clients ...string) string {
	t.Helper()
	certs := filepath.Join(dir, "certs")
	args := []string{"certs", "--out", certs}
	for _, c := range clients {
		if strings.HasPrefix(c, "crosswatch-aggregator") {
			args = append(args, "--client", c)
		} else {
			args = append(args, "--device", c)
		}
	}
	if out, err := exec.Command(aggBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	os.Chmod(certs, 0o755)
	// certs writes every file 0600 (certificates too): Mosquitto needs its own.
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem"} {
		if err := chownToMosquitto(filepath.Join(certs, f)); err != nil {
			t.Fatal(err)
		}
	}
	return certs
}

// shippedMosquitto starts Mosquitto from configs/mosquitto/name with the test's ports and files
// in place of /etc/mosquitto's; it returns the plaintext (loopback) and TLS URLs.
func shippedMosquitto(t *testing.T, name, dir, certs, passwd string) (plain, tlsURL string) {
	t.Helper()
	b, err := os.ReadFile("../configs/mosquitto/" + name)
	if err != nil {
		t.Fatal(err)
	}
	acl, _ := os.ReadFile("../configs/mosquitto/acl")
	os.WriteFile(filepath.Join(dir, "acl"), acl, 0o644)
	p1, p2 := freePort(t), freePort(t)
	conf := strings.NewReplacer(
		"listener 1883 127.0.0.1", fmt.Sprintf("listener %d 127.0.0.1", p1),
		"listener 8883\n", fmt.Sprintf("listener %d 127.0.0.1\n", p2),
		"/etc/mosquitto/certs/", certs+"/",
		"/etc/mosquitto/crosswatch.passwd", passwd,
		"/etc/mosquitto/crosswatch.acl", filepath.Join(dir, "acl"),
		"persistence true", "persistence false",
	).Replace(string(b))
	if regexp.MustCompile(`(?m)^[^#\n]*/etc/mosquitto`).MatchString(conf) || !strings.Contains(conf, fmt.Sprint(p2)) {
		t.Fatalf("%s: a path or listener the test does not replace:\n%s", name, conf)
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(cf, []byte(conf+"log_dest stderr\nlog_type all\n"), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "mosquitto.log"))
	logFiles.Store(logf.Name(), true)
	t.Cleanup(func() { logFiles.Delete(logf.Name()) })
	m := &Mosquitto{Port: p1, bin: mosquittoBin(), conf: cf, log: logf}
	if _, err := os.Stat(m.bin); err != nil {
		t.Skip("mosquitto is not installed; run 'make deps'")
	}
	m.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("mosquitto log:\n%s", b)
		}
	})
	waitPort(t, p2)
	t.Cleanup(func() { m.Kill(); logf.Close() })
	return fmt.Sprintf("tcp://127.0.0.1:%d", p1), fmt.Sprintf("ssl://127.0.0.1:%d", p2)
}

// addMosquittoUser adds user with password to a password file with mosquitto_passwd, so the
// file is shared by 'crosswatch-aggregator device add' and Mosquitto's own tool.
func addMosquittoUser(t *testing.T, file, user, pass string) {
	t.Helper()
	args := []string{"-b", file, user, pass}
	if _, err := os.Stat(file); err != nil {
		args = append([]string{"-c"}, args...)
	}
	if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
}

// deviceAdd runs 'crosswatch-aggregator device add' and returns the token it printed.
func deviceAdd(t *testing.T, file, id string) string {
	t.Helper()
	out, err := exec.Command(aggBin, "device", "add", id, "--tokens", file).Output()
	if err != nil {
		t.Fatalf("device add %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// burstCmd is a burst of n events from device with its own flags (identity, TLS), draining.
func burstCmd(t *testing.T, brokerURL, device string, n int, extra ...string) *exec.Cmd {
	args := append([]string{"burst", "--broker", brokerURL, "--device", device, "--outbox", filepath.Join(t.TempDir(), "o.db"),
		"--to", fmt.Sprint(n), "--id-prefix", device + "-", "--drain", "--drain-timeout", "30s"}, extra...)
	cmd := exec.Command(edgeBin, args...)
	cmd.Env = append(os.Environ(), "CROSSWATCH_DEVICE_TOKEN=")
	return cmd
}

func privateFile(t *testing.T, dir, name, body string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func countEvents(t *testing.T, db, device string) int {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM events WHERE device = ?`, device).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func refused(t *testing.T, o *paho.ClientOptions) bool {
	t.Helper()
	c := paho.NewClient(o.SetConnectTimeout(3 * time.Second).SetAutoReconnect(false))
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return true
	}
	c.Disconnect(50)
	return false
}

func aggLogHas(t *testing.T, agg *Aggregator, s string) bool {
	b, _ := os.ReadFile(agg.DB + ".log")
	return strings.Contains(string(b), s)
}

// The shipped Mosquitto configuration with tokens: a device added with 'crosswatch-aggregator
// device add' (the aggregator's own login added with mosquitto_passwd: one file) sends its events
// over TLS; no password, a wrong token, or another device's token is refused; a device that asks
// for the aggregator's client id does not disconnect it; a 2 MB publish is refused.
func TestShippedMosquittoConfig(t *testing.T) {
	dir := secDir(t)
	certs := makeCerts(t, dir)
	passwd := filepath.Join(dir, "crosswatch.passwd")
	tok := deviceAdd(t, passwd, "tls-edge")
	other := deviceAdd(t, passwd, "tls-other")
	aggPass, _ := os.ReadFile(creds.aggPassword)
	addMosquittoUser(t, passwd, "crosswatch-aggregator", strings.TrimSpace(string(aggPass)))
	chownToMosquitto(passwd)
	plain, tlsURL := shippedMosquitto(t, "crosswatch.conf", dir, certs, passwd)
	agg := StartAggregator(t, aggBin, plain, filepath.Join(t.TempDir(), "agg.db"))

	ca := filepath.Join(certs, "ca.pem")
	tokFile := privateFile(t, dir, "tls-edge.token", tok+"\n")
	if out, err := burstCmd(t, tlsURL, "tls-edge", 50, "--token-file", tokFile, "--ca", ca).CombinedOutput(); err != nil {
		t.Fatalf("burst over TLS: %v\n%s", err, out)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool}
	for name, o := range map[string]*paho.ClientOptions{
		"no password":          paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(tc).SetUsername("tls-edge"),
		"a wrong token":        paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(tc).SetUsername("tls-edge").SetPassword(tok + "x"),
		"another device's":     paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(tc).SetUsername("tls-edge").SetPassword(other),
		"plaintext, no login":  paho.NewClientOptions().AddBroker(plain).SetUsername("good-1"),
		"an unknown device id": paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(tc).SetUsername("good-1").SetPassword(tok),
	} {
		if !refused(t, o) {
			t.Errorf("admitted with %s", name)
		}
	}
	// The aggregator's client id, asked for by a device with a valid token.
	thief := paho.NewClient(paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(tc).SetUsername("tls-edge").SetPassword(tok).
		SetClientID("crosswatch-aggregator").SetAutoReconnect(false))
	if tk := thief.Connect(); tk.Wait() && tk.Error() != nil {
		t.Fatalf("a device with its token, asking for the aggregator's client id: %v", tk.Error())
	}
	// Admitted as itself (Mosquitto makes the username its client id). A 2 MB publish is refused
	// on its header: Mosquitto drops the connection.
	big, _ := wire.Encode(wire.Event{V: 1, ID: "big-1", Device: "tls-edge", Camera: "synth-cam-1", Site: "synth-main-nb", Zone: "z",
		Type: wire.RedLightRunning, Time: time.Now().UTC(), Class: "car", Confidence: 0.9, Evidence: bytes.Repeat([]byte{0xFF}, 2<<20)})
	thief.Publish(wire.Topic("tls-edge", wire.KindEvents), 1, false, big).WaitTimeout(3 * time.Second)
	waitUntil(t, 5*time.Second, "Mosquitto to drop the 2 MB publisher", func() bool { return !thief.IsConnectionOpen() })
	time.Sleep(time.Second)
	resp, err := http.Get(agg.API + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("aggregator not ready after a device asked for its client id: %v %v", resp, err)
	}
	if aggLogHas(t, agg, "connection lost") {
		t.Error("the aggregator lost its connection to the broker")
	}
	agg.Stop()
	if n := countEvents(t, agg.DB, "tls-edge"); n != 50 {
		t.Fatalf("%d events of tls-edge recorded, want the burst's 50 (the 2 MB one refused)", n)
	}
}

// The shipped mTLS configuration: the device's certificate is its identity (its CN becomes its
// username), the aggregator too connects with a client certificate over TLS. No certificate, an
// expired one or one from another CA is refused; a device using another device's certificate is
// that other device and cannot publish as the first.
func TestShippedMosquittoMTLS(t *testing.T) {
	dir := secDir(t)
	certs := makeCerts(t, dir, "tls-edge", "tls-other", "crosswatch-aggregator")
	passwd := filepath.Join(dir, "crosswatch.passwd")
	aggPass, _ := os.ReadFile(creds.aggPassword)
	addMosquittoUser(t, passwd, "crosswatch-aggregator", strings.TrimSpace(string(aggPass)))
	chownToMosquitto(passwd)
	_, tlsURL := shippedMosquitto(t, "crosswatch-mtls.conf", dir, certs, passwd)
	c := func(n string) string { return filepath.Join(certs, n) }
	cfg := writeConfig(t, fmt.Sprintf("tls: {ca: %s, cert: %s, key: %s}", c("ca.pem"), c("crosswatch-aggregator.pem"), c("crosswatch-aggregator-key.pem")))
	agg := StartAggregator(t, aggBin, tlsURL, filepath.Join(t.TempDir(), "agg.db"), "--config", cfg)
	if out, err := burstCmd(t, tlsURL, "tls-edge", 40, "--ca", c("ca.pem"), "--cert", c("tls-edge.pem"), "--key", c("tls-edge-key.pem")).CombinedOutput(); err != nil {
		t.Fatalf("burst over mTLS: %v\n%s", err, out)
	}
	// The edge itself refuses a certificate that is not its device's.
	if out, err := burstCmd(t, tlsURL, "tls-edge", 1, "--ca", c("ca.pem"), "--cert", c("tls-other.pem"), "--key", c("tls-other-key.pem")).CombinedOutput(); err == nil || !strings.Contains(string(out), "subject CN") {
		t.Errorf("burst with another device's certificate: %v\n%s", err, out)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(c("ca.pem"))
	pool.AppendCertsFromPEM(pem)
	load := func(name string) tls.Certificate {
		p, err := tls.LoadX509KeyPair(c(name+".pem"), c(name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	foreign, _ := broker.NewCA("another CA", time.Hour)
	now := time.Now()
	fromOther, _ := foreign.IssueClient("tls-edge", now.Add(-time.Minute), now.Add(time.Hour))
	otherPair, _ := tls.X509KeyPair(fromOther.CertPEM, fromOther.KeyPEM)
	caKey, _ := os.ReadFile(c("ca-key.pem"))
	expiredPair := expiredCert(t, pem, caKey, "tls-edge")
	for name, cert := range map[string][]tls.Certificate{"no certificate": nil, "a certificate of another CA": {otherPair}, "an expired certificate": {expiredPair}} {
		if !refused(t, paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: cert}).SetUsername("tls-edge")) {
			t.Errorf("admitted with %s", name)
		}
	}
	// tls-other's certificate, claiming to be tls-edge: it is tls-other, and its forged event
	// under tls-edge's topic is not recorded.
	spoof := paho.NewClient(paho.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{load("tls-other")}}).
		SetUsername("tls-edge").SetClientID("crosswatch-edge-tls-edge"))
	if tk := spoof.Connect(); tk.Wait() && tk.Error() == nil {
		ev, _ := wire.Encode(wire.Event{V: 1, ID: "forged-1", Device: "tls-edge", Camera: "synth-cam-1", Site: "synth-main-nb", Zone: "z",
			Type: wire.RedLightRunning, Time: time.Now().UTC(), Class: "car", Confidence: 0.9})
		spoof.Publish(wire.Topic("tls-edge", wire.KindEvents), 1, false, ev).WaitTimeout(3 * time.Second)
		spoof.Disconnect(50)
	}
	time.Sleep(500 * time.Millisecond)
	agg.Stop()
	if n := countEvents(t, agg.DB, "tls-edge"); n != 40 {
		t.Fatalf("%d events of tls-edge recorded, want the burst's 40 and not the forged one", n)
	}
}

// expiredCert signs a client certificate for id that expired an hour ago, with the CA's files.
func expiredCert(t *testing.T, caPEM, caKeyPEM []byte, id string) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(caPEM, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	ca := &broker.CA{Cert: cert, Key: pair.PrivateKey.(*ecdsa.PrivateKey)}
	now := time.Now()
	is, err := ca.IssueClient(id, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	return p
}

var tlsLine = regexp.MustCompile(`mqtt_tls=(ssl://\S+)`)

// The whole path over mTLS on the embedded broker: burst (outbox, relay, MQTT client) over the
// TLS listener with the device's certificate from 'crosswatch-aggregator certs', and no token
// anywhere; a device without a certificate or token is refused.
func TestEmbeddedMTLS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command(aggBin, "certs", "--out", certs, "--device", "tls-edge").CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	c := func(n string) string { return filepath.Join(certs, n) }
	cfg := writeConfig(t, fmt.Sprintf("tls_listen: 127.0.0.1:0\n  tls: {ca: %s, cert: %s, key: %s}\n  device_tokens_file: \"\"", c("ca.pem"), c("server.pem"), c("server-key.pem")))
	// No --device-tokens: the certificates are the only identity.
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte("device_tokens_file: devices.passwd"), nil, 1), 0o644)
	db := filepath.Join(t.TempDir(), "agg.db")
	cmd := exec.Command(aggBin, "serve", "--config", cfg, "--http", "127.0.0.1:0", "--db", db, "--mqtt-listen", "127.0.0.1:0")
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	var url string
	waitUntil(t, 20*time.Second, "the aggregator's TLS listener", func() bool {
		if m := tlsLine.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	if o, err := burstCmd(t, url, "tls-edge", 30, "--ca", c("ca.pem"), "--cert", c("tls-edge.pem"), "--key", c("tls-edge-key.pem")).CombinedOutput(); err != nil {
		t.Fatalf("burst over mTLS: %v\n%s\naggregator: %s", err, o, errb.String())
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(c("ca.pem"))
	pool.AppendCertsFromPEM(pem)
	if !refused(t, paho.NewClientOptions().AddBroker(url).SetTLSConfig(&tls.Config{RootCAs: pool}).SetUsername("tls-edge").SetClientID("crosswatch-edge-tls-edge")) {
		t.Error("a device without certificate or token admitted")
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if n := countEvents(t, db, "tls-edge"); n != 30 {
		t.Fatalf("%d events recorded over mTLS, want 30", n)
	}
}

// Without identity the aggregator does not start; with insecure: true it starts and warns.
func TestInsecureIsExplicit(t *testing.T) {
	cfg := writeConfig(t, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte("device_tokens_file: devices.passwd"), nil, 1), 0o644)
	out, err := exec.Command(aggBin, "serve", "--config", cfg, "--http", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "a.db")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mqtt.device_tokens_file: devices must prove who they are") {
		t.Fatalf("started without identity: %v\n%s", err, out)
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"), "--config", cfg, "--insecure")
	if !aggLogHas(t, agg, "level=WARN msg=\"mqtt.insecure is true") {
		t.Fatal("no warning at the start of an insecure aggregator")
	}
	// The edge, too, needs its identity or --insecure.
	o, err := burstCmd(t, agg.Broker, "lab-edge", 1).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "has no identity") {
		t.Fatalf("burst without identity: %v\n%s", err, o)
	}
	// A device the token file does not list is taken at its word; a listed one still needs its token.
	if o, err := burstCmd(t, agg.Broker, "lab-edge", 5, "--insecure").CombinedOutput(); err != nil || !strings.Contains(string(o), "--insecure") {
		t.Fatalf("burst --insecure: %v\n%s", err, o)
	}
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Issue 16's takeover on the embedded broker: a device with a valid token asking for the
// aggregator's client id (or another device's) is refused, and the aggregator stays connected
// and keeps recording.
func TestEmbeddedClientIDTakeover(t *testing.T) {
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	for _, id := range []string{"crosswatch-aggregator", "crosswatch-edge-fault-edge"} {
		if !refused(t, login(agg.Broker, "attacker").SetClientID(id)) {
			t.Errorf("attacker admitted with client id %s", id)
		}
	}
	if refused(t, login(agg.Broker, "attacker")) {
		t.Fatal("attacker refused with its own client id and token")
	}
	b := startBurst(t, "--broker", agg.Broker, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", "20", "--drain", "--drain-timeout", "30s")
	b.wait(t, time.Minute)
	if aggLogHas(t, agg, "connection lost") {
		t.Error("the aggregator lost its broker connection")
	}
	agg.Stop()
	reconcile(t, agg.DB, 20, 0)
}
