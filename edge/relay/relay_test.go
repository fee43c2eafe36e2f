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

	"github.com/crosswatch/crosswatch/edge"
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
		if err := ob.Append(context.Background(), edge.Message{ID: id, Topic: "t", Payload: []byte(id)}); err != nil {
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
	r.Ack([]string{"m0", "m1"})
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
	r.Ack([]string{"m0", "m1"})
	waitFor(t, "drain", func() bool { return rows(t, ob) == 0 })
	if s := r.Stats(); s.Acked != 2 || s.Resent < 1 {
		t.Fatalf("stats %+v", s)
	}
}

// The wall clock jumps an hour back, then an hour forward: nothing is lost, everything is
// eventually acknowledged and deleted, and resends stay bounded.
func TestClockJumps(t *testing.T) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	jump := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	pub := &fakePub{connected: true}
	r := New(ob, pub, Config{Window: 8, ResendAfter: time.Minute, Poll: 5 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	add := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("m%d", i)
			ob.Append(context.Background(), edge.Message{ID: id, Topic: "t", Payload: []byte(id)})
		}
		r.Notify()
	}
	add(0, 8)
	waitFor(t, "first window", func() bool { return pub.count("m7") == 1 })
	jump(-time.Hour) // back: in-flight messages look sent in the future; they are resent once, not lost
	waitFor(t, "resend after the clock went back", func() bool { return pub.count("m0") >= 2 })
	time.Sleep(30 * time.Millisecond)
	if n := pub.count("m0"); n > 3 {
		t.Fatalf("m0 sent %d times: resends not bounded after the jump", n)
	}
	jump(2 * time.Hour) // forward: everything in flight is due again
	waitFor(t, "resend after the clock went forward", func() bool { return pub.count("m0") >= 3 })
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%d", i)
	}
	r.Ack(ids)
	add(8, 12)
	waitFor(t, "the rest sent", func() bool { return pub.count("m11") >= 1 })
	r.Ack([]string{"m8", "m9", "m10", "m11"})
	waitFor(t, "drain", func() bool { return rows(t, ob) == 0 })
}
