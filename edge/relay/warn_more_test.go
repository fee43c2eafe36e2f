package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/outbox"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time        { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)       { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) after(d time.Duration) { c.set(t0.Add(d)) }

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// With messages in flight and no acknowledgement for more than 30 s, the relay warns, then at
// most once per 30 s; with nothing in flight it never does. Exactly 30 s is not "more than".
func TestWarnsWhenAcksStop(t *testing.T) {
	for _, n := range []int{1, 0} {
		t.Run(fmt.Sprint(n, " in flight"), func(t *testing.T) {
			ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			for i := 0; i < n; i++ {
				ob.Append(context.Background(), edge.Message{ID: fmt.Sprint("m", i), Topic: "t", Payload: []byte("x")})
			}
			logs := &lockedBuf{}
			clk := &clock{t: t0}
			pub := &fakePub{connected: true}
			r := New(ob, pub, Config{Window: 16, ResendAfter: time.Hour, Poll: 2 * time.Millisecond}, slog.New(slog.NewTextHandler(logs, nil)), clk.now)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { r.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if n > 0 {
				waitFor(t, "the first publish", func() bool { return pub.count("x") == 1 })
			}
			const warn = "no acknowledgement from the aggregator for 30 s"
			settle := func() { time.Sleep(60 * time.Millisecond) } // many polls
			step := func(d time.Duration, want int) {
				t.Helper()
				clk.after(d)
				if want > logs.count(warn) {
					waitFor(t, fmt.Sprintf("warning %d at %v", want, d), func() bool { return logs.count(warn) >= want })
				}
				settle()
				if got := logs.count(warn); got != want {
					t.Fatalf("at %v without acks: %d warnings, want %d", d, got, want)
				}
			}
			if n == 0 {
				settle() // Run has read the clock (its last acknowledgement "is" now) and polled
				step(5*time.Minute, 0)
				return
			}
			step(30*time.Second, 0)
			step(30*time.Second+time.Millisecond, 1)
			step(60*time.Second+time.Millisecond, 1) // exactly 30 s after the first warning
			step(60*time.Second+2*time.Millisecond, 2)
		})
	}
}

// An unacknowledged message is sent again once ResendAfter has passed, not before: at exactly
// ResendAfter it goes.
func TestResendExactlyAfter(t *testing.T) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ob.Append(context.Background(), edge.Message{ID: "m", Topic: "t", Payload: []byte("m")})
	clk := &clock{t: t0}
	pub := &fakePub{connected: true}
	r := New(ob, pub, Config{Window: 16, ResendAfter: 10 * time.Second, Poll: 2 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)), clk.now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first publish", func() bool { return pub.count("m") == 1 })
	clk.after(10*time.Second - time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	if n := pub.count("m"); n != 1 {
		t.Fatalf("sent %d times before ResendAfter", n)
	}
	clk.after(10 * time.Second)
	waitFor(t, "the resend at ResendAfter", func() bool { return pub.count("m") == 2 })
	if st := r.Stats(); st.Published != 1 || st.Resent != 1 {
		t.Fatalf("stats %+v", st)
	}
}

type failingStore struct{}

func (failingStore) Pending(context.Context, int64, int, []edge.Message) ([]edge.Message, error) {
	return nil, fmt.Errorf("disk I/O error")
}
func (failingStore) Delete(context.Context, []string) (int, error) { return 0, nil }

// A store that cannot be read is logged as an error and retried, not silently skipped.
func TestStoreErrorLogged(t *testing.T) {
	logs := &lockedBuf{}
	r := New(failingStore{}, &fakePub{connected: true}, Config{Window: 4, ResendAfter: time.Hour, Poll: 2 * time.Millisecond},
		slog.New(slog.NewTextHandler(logs, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the read error logged twice (retried)", func() bool { return logs.count("read outbox") >= 2 })
}
