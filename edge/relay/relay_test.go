package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/outbox"
)

type fakePub struct {
	mu        sync.Mutex
	connected bool
	sent      []string
}

func (p *fakePub) Publish(topic string, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.connected {
		return fmt.Errorf("not connected")
	}
	p.sent = append(p.sent, string(payload))
	return nil
}

func (p *fakePub) Connected() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.connected }
func (p *fakePub) set(c bool)      { p.mu.Lock(); p.connected = c; p.mu.Unlock() }
func (p *fakePub) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.sent {
		if s == id {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func setup(t *testing.T, n int, cfg Config) (*outbox.Outbox, *fakePub, *Relay, context.CancelFunc, *sync.WaitGroup) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m%d", i)
		if err := ob.Append(context.Background(), outbox.Message{ID: id, Topic: "t", Payload: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	pub := &fakePub{connected: true}
	r := New(ob, pub, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ob, pub, r, cancel, &wg
}

func rows(t *testing.T, ob *outbox.Outbox) int {
	s, err := ob.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Rows
}

// Published is not delivered: rows stay until acknowledged, and a reconnect sends them again.
func TestDeleteOnlyOnAckAndResendOnReconnect(t *testing.T) {
	cfg := Config{Window: 4, ResendAfter: time.Hour, Poll: 5 * time.Millisecond}
	ob, pub, r, _, _ := setup(t, 10, cfg)
	waitFor(t, "first window", func() bool { return pub.count("m3") == 1 })
	time.Sleep(30 * time.Millisecond)
	if pub.count("m4") != 0 {
		t.Fatal("sent beyond the window")
	}
	if rows(t, ob) != 10 {
		t.Fatal("rows deleted without an ack")
	}
	r.Ack(context.Background(), []string{"m0", "m1"})
	waitFor(t, "window to advance", func() bool { return pub.count("m5") == 1 })
	if n := rows(t, ob); n != 8 {
		t.Fatalf("rows %d, want 8", n)
	}
	pub.set(false)
	time.Sleep(20 * time.Millisecond)
	pub.set(true)
	waitFor(t, "resend after reconnect", func() bool { return pub.count("m2") == 2 && pub.count("m5") == 2 })
	if pub.count("m0") != 1 {
		t.Fatal("acknowledged message resent")
	}
}

func TestResendAfterTimeout(t *testing.T) {
	cfg := Config{Window: 8, ResendAfter: 30 * time.Millisecond, Poll: 5 * time.Millisecond}
	ob, pub, r, _, _ := setup(t, 2, cfg)
	waitFor(t, "resend", func() bool { return pub.count("m1") >= 2 })
	r.Ack(context.Background(), []string{"m0", "m1"})
	waitFor(t, "drain", func() bool { return rows(t, ob) == 0 })
	if s := r.Stats(); s.Acked != 2 || s.Resent < 1 {
		t.Fatalf("stats %+v", s)
	}
}
