package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"strings"
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

// WaitConnected wakes at the connection, says false while the broker is gone, and wakes again
// at the reconnection to a broker back on the same address.
func TestWaitConnectedAcrossALoss(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acl := func() *broker.ACL {
		return &broker.ACL{AggregatorUser: "agg", AggregatorSecret: "s", AggregatorClientID: "agg", Insecure: true}
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0"}, acl(), log)
	if err != nil {
		t.Fatal(err)
	}
	url := b.URL()
	cl, err := Dial(Options{Broker: url, Device: "edge-1", Log: log, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wait := func(d time.Duration) bool {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return cl.WaitConnected(ctx)
	}
	if !wait(5 * time.Second) {
		t.Fatal("not connected to the broker")
	}
	b.Close()
	for end := time.Now().Add(5 * time.Second); cl.Connected() && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	if wait(100 * time.Millisecond) {
		t.Fatal("WaitConnected says connected with the broker gone")
	}
	b, err = broker.Start(broker.Config{Listen: strings.TrimPrefix(url, "tcp://")}, acl(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !wait(10 * time.Second) {
		t.Fatal("not woken at the reconnection")
	}
}

// The status goes out every period, and soon after a kick, but kicks never make statuses
// come closer together than the gap: a flapping camera sends one a gap, not one per flap.
func TestStatusLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kick := make(chan struct{}, 1)
	sent := make(chan time.Time, 100)
	done := make(chan struct{})
	const gap = 200 * time.Millisecond
	go func() {
		statusLoop(ctx, time.Hour, gap, kick, func() { sent <- time.Now() })
		close(done)
	}()
	// The first kick publishes at once: nothing was sent before.
	began := time.Now()
	kick <- struct{}{}
	first := <-sent
	if d := first.Sub(began); d > gap/2 {
		t.Fatalf("the first kicked status took %v", d)
	}
	// Kicks in a burst: one more status, a gap after the first, and no other.
	// (The burst ends well before the gap does, however slowly the machine sleeps: a kick after
	// the second status would rightly ask for a third.)
	for i := 0; i < 20 && time.Since(first) < gap/2; i++ {
		select {
		case kick <- struct{}{}:
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := <-sent
	if d := second.Sub(first); d < gap || d > 3*gap {
		t.Fatalf("the second status %v after the first, want about %v", d, gap)
	}
	select {
	case s := <-sent:
		t.Fatalf("a third status %v after the second, from a burst already answered", s.Sub(second))
	case <-time.After(2 * gap):
	}
	// The period alone publishes too.
	cancel()
	<-done
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go statusLoop(ctx, 30*time.Millisecond, gap, make(chan struct{}), func() { sent <- time.Now() })
	for range 3 {
		select {
		case <-sent:
		case <-time.After(time.Second):
			t.Fatal("no periodic status")
		}
	}
}
