package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator/broker"
)

// The edge's client connects over mTLS with its certificate and the client id the broker
// expects of a device; with another device's certificate it never connects.
func TestDialMutualTLS(t *testing.T) {
	ca, err := broker.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pair := func(is broker.Issued, err error) tls.Certificate {
		if err != nil {
			t.Fatal(err)
		}
		p, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := pair(ca.IssueServer([]string{"127.0.0.1"}, now.Add(-time.Minute), now.Add(time.Hour)))
	b, err := broker.Start(broker.Config{TLSListen: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{srv}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}},
		&broker.ACL{AggregatorUser: "agg", AggregatorSecret: "s", AggregatorClientID: "agg"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dial := func(cert tls.Certificate) bool {
		cl, err := Dial(Options{Broker: b.TLSURL(), Device: "edge-1", Log: log, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return cl.WaitConnected(ctx)
	}
	if !dial(pair(ca.IssueClient("edge-1", now.Add(-time.Minute), now.Add(time.Hour)))) {
		t.Fatal("edge-1 with its certificate did not connect")
	}
	if dial(pair(ca.IssueClient("edge-2", now.Add(-time.Minute), now.Add(time.Hour)))) {
		t.Fatal("edge-1 connected with edge-2's certificate")
	}
}
