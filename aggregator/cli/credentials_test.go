package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// 'device add' prints a token once and keeps only its hash, in a 0600 file the broker loads.
func TestDeviceAdd(t *testing.T) {
	f := filepath.Join(t.TempDir(), "devices.passwd")
	add := func(id string) (string, int) {
		var out, errb bytes.Buffer
		code := Main([]string{"device", "add", id, "--tokens", f}, &out, &errb)
		if code != 0 {
			return errb.String(), code
		}
		return strings.TrimSpace(out.String()), 0
	}
	tok1, code := add("edge-1")
	if code != 0 || len(tok1) < 40 {
		t.Fatalf("exit %d: %q", code, tok1)
	}
	tok2, _ := add("edge-2")
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	b, _ := os.ReadFile(f)
	if strings.Contains(string(b), tok1) || strings.Contains(string(b), tok2) {
		t.Fatal("a token is stored in the clear")
	}
	m, err := loadDeviceHashes(f, "crosswatch-aggregator")
	if err != nil || !m["edge-1"].Verify(tok1) || !m["edge-2"].Verify(tok2) || m["edge-2"].Verify(tok1) {
		t.Fatalf("%v %v", m, err)
	}
	if msg, code := add("edge-1"); code == 0 || !strings.Contains(msg, "already in") {
		t.Errorf("a second add of edge-1: exit %d %q", code, msg)
	}
	for _, id := range []string{"crosswatch-aggregator", "crosswatch-edge-1", "a/b"} {
		if _, code := add(id); code == 0 {
			t.Errorf("device id %q accepted", id)
		}
	}
	os.Chmod(f, 0o644)
	if msg, code := add("edge-3"); code == 0 || !strings.Contains(msg, "mode 0644") {
		t.Errorf("add to a 0644 file: exit %d %q", code, msg)
	}
}

func TestControllerAdd(t *testing.T) {
	f := filepath.Join(t.TempDir(), "controllers.passwd")
	var out bytes.Buffer
	if code := Main([]string{"controller", "add", "spat-1", "--devices", "edge-1,edge-2", "--file", f}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	m, err := loadControllers(f, "crosswatch-aggregator", nil)
	if err != nil || !m["spat-1"].Hash.Verify(strings.TrimSpace(out.String())) || !m["spat-1"].Devices["edge-2"] {
		t.Fatalf("%v %v", m, err)
	}
}

// 'certs' makes a CA, a server certificate for loopback and the --host names, and a client
// certificate per device (CN = device id); every file is 0600.
func TestCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out bytes.Buffer
	if code := Main([]string{"certs", "--out", dir, "--device", "edge-1,edge-2", "--host", "broker.example"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	names := []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "edge-1.pem", "edge-1-key.pem", "edge-2.pem", "edge-2-key.pem"}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", n, fi, err)
		}
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	leaf := func(name string) *x509.Certificate {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(pair.Certificate[0])
		return c
	}
	srv := leaf("server")
	for _, h := range []string{"127.0.0.1", "localhost", "broker.example"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
			t.Errorf("server certificate for %s: %v", h, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("server certificate valid for a name it was not made for")
	}
	dev := leaf("edge-2")
	if _, err := dev.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || dev.Subject.CommonName != "edge-2" {
		t.Errorf("client certificate CN %q: %v", dev.Subject.CommonName, err)
	}
	if code := Main([]string{"certs", "--out", dir, "--device", "edge-3"}, &out, &out); code == 0 {
		t.Error("certs overwrote an existing CA")
	}
}

// check-config loads the token file as serve would: a file others can read fails it.
func TestCheckConfigLoadsCredentials(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	cat, _ := os.ReadFile("../../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	p := filepath.Join(dir, "agg.yaml")
	os.WriteFile(p, good, 0o644)
	check := func() string {
		var out bytes.Buffer
		Main([]string{"check-config", "--config", p}, &out, &out)
		return out.String()
	}
	if out := check(); !strings.Contains(out, "no device yet") {
		t.Errorf("without devices.passwd: %q", out)
	}
	var out bytes.Buffer
	Main([]string{"device", "add", "edge-1", "--tokens", filepath.Join(dir, "devices.passwd")}, &out, &out)
	if out := check(); !strings.Contains(out, "1 devices with tokens") {
		t.Errorf("with one device: %q", out)
	}
	os.Chmod(filepath.Join(dir, "devices.passwd"), 0o644)
	if out := check(); !strings.Contains(out, "mode 0644") {
		t.Errorf("with a 0644 token file: %q", out)
	}
}
