package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and returns a pool that
// trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crosswatch-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// With http.tls_cert and tls_key the API and dashboard are HTTPS only, the session cookie is
// Secure, and 'sites --ca' reads the table over it.
func TestHTTPSEndToEnd(t *testing.T) {
	cfg := writeConfig(t, "")
	crt, _, pool := selfSigned(t, filepath.Dir(cfg))
	b, _ := os.ReadFile(cfg)
	s := strings.Replace(string(b), "  # tls_cert: server.crt\n  # tls_key: server.key", "  tls_cert: server.crt\n  tls_key: server.key", 1)
	if s == string(b) {
		t.Fatal("no tls lines in the config")
	}
	os.WriteFile(cfg, []byte(s), 0o644)
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"), "--config", cfg)
	if !strings.HasPrefix(agg.API, "https://127.0.0.1:") {
		t.Fatalf("api %s, want https", agg.API)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	if resp, err := client.Get(agg.API + "/healthz"); err != nil || resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over TLS: %v %v (want 200 with Strict-Transport-Security)", resp, err)
	}
	if resp, err := client.Get(agg.API + "/api/v1/sites"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("sites over TLS without a token: %v %v", resp, err)
	}
	if resp, err := http.Get(strings.Replace(agg.API, "https://", "http://", 1) + "/api/v1/sites"); err == nil && resp.StatusCode == 200 {
		t.Fatal("the API answered plain HTTP")
	}
	password := agg.AddUser(t, "ana", "viewer")
	resp, err := client.Post(agg.API+"/api/v1/login", "application/json", strings.NewReader(`{"name":"ana","password":"`+password+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign-in over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	if c := resp.Cookies(); len(c) != 1 || !c[0].Secure || c[0].Name != "__Host-crosswatch" || !c[0].HttpOnly {
		t.Fatalf("cookie over TLS %+v: want Secure __Host-crosswatch, HttpOnly", c)
	}
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte(agg.Token), 0o600)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cb, _ := os.ReadFile(crt)
	os.WriteFile(caFile, cb, 0o644)
	out, err := exec.Command(aggBin, "sites", "--api", agg.API, "--token-file", tf, "--ca", caFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "synth-main-nb") {
		t.Fatalf("sites over TLS: %v\n%s", err, out)
	}
}

// http.insecure opens the API without credentials, and the aggregator says so at every start.
func TestInsecureWarnsAtEveryStart(t *testing.T) {
	cfg := writeConfig(t, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "  # insecure: true", "  insecure: true", 1)), 0o644)
	db := filepath.Join(t.TempDir(), "agg.db")
	for round := range 2 {
		agg := StartAggregator(t, aggBin, "embedded", db, "--config", cfg)
		resp, err := http.Get(agg.API + "/api/v1/dead-letters")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("round %d: dead letters with insecure: %v %v", round, resp, err)
		}
		agg.Stop()
		log, _ := os.ReadFile(db + ".log")
		if n := strings.Count(string(log), "http.insecure is true"); n != 1 {
			t.Fatalf("round %d: %d warnings in the log, want 1:\n%s", round, n, log)
		}
	}
}

// The retention job: restarted after a burst spread over three days, the aggregator deletes
// the images of events older than retention.evidence and keeps every event and ledger row.
func TestEvidenceRetentionEndToEnd(t *testing.T) {
	cfg := writeConfig(t, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "  evidence: 720h", "  evidence: 24h", 1)), 0o644)
	db := filepath.Join(t.TempDir(), "agg.db")
	agg := StartAggregator(t, aggBin, "embedded", db, "--config", cfg)
	dir := t.TempDir()
	jpg := filepath.Join(dir, "e.jpg")
	writeEvidenceJPEG(t, jpg)
	if out, err := edgeCmd("burst", "--broker", agg.Broker, "--device", "ret-edge", "--outbox", filepath.Join(dir, "o.db"),
		"--from", "0", "--to", "10", "--span", "72h", "--evidence", jpg, "--drain", "--drain-timeout", "1m").CombinedOutput(); err != nil {
		t.Fatalf("burst: %v\n%s", err, out)
	}
	count := func() (old, oldWith, recent, recentWith, ledger int) {
		var events []aggregator.Event
		getJSON(t, agg.API+"/api/v1/events?window=100h", &events)
		for _, e := range events {
			if time.Since(e.Time) > 25*time.Hour {
				old++
				if e.HasEvidence {
					oldWith++
				}
			} else if time.Since(e.Time) < 23*time.Hour {
				recent++
				if e.HasEvidence {
					recentWith++
				}
			}
		}
		var sites []aggregator.SiteScore
		getJSON(t, agg.API+"/api/v1/sites?window=100h", &sites)
		for _, s := range sites {
			ledger += s.Deductions
		}
		return
	}
	o, ow, r, rw, l := count()
	if o == 0 || ow != o || r == 0 || rw != r {
		t.Fatalf("before the job: %d old events (%d with images), %d recent (%d)", o, ow, r, rw)
	}
	agg.Stop()
	agg = StartAggregator(t, aggBin, "embedded", db, "--config", cfg) // the job runs at start, then hourly
	deadline := time.Now().Add(10 * time.Second)
	for {
		o2, ow2, r2, rw2, l2 := count()
		if ow2 == 0 {
			if o2 != o || r2 != r || rw2 != r || l2 != l {
				t.Fatalf("after the job: %d old events (was %d), %d recent with %d images (was %d), %d ledger rows (was %d)", o2, o, r2, rw2, r, l2, l)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the job: %d of %d old events still have their image", ow2, o2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
