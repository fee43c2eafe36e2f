package sender

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/relay"
)

// newSender is a sender of a fresh outbox holding msgs, to a broker that is not there: the
// relay never acknowledges anything, so only the test's deletes empty the outbox.
func newSender(t *testing.T, msgs ...string) (*Sender, *Watched) {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	for _, id := range msgs {
		if err := ob.Append(t.Context(), edge.Message{ID: id, Topic: "t", Payload: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWatched(ob)
	s, err := Dial(t.Context(), w, Config{Broker: "tcp://127.0.0.1:1", Device: "d", Software: Software, Relay: relay.DefaultConfig(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// Drain returns as soon as the last message is deleted (woken by the delete, not by a poll),
// and with ctx's error and what is left when ctx ends first.
func TestDrain(t *testing.T) {
	s, w := newSender(t, "a", "b")
	stop := s.Start(t.Context())
	defer stop()

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	st, err := s.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || st.Rows != 2 {
		t.Fatalf("undrained outbox: %d rows, %v; want 2 and the deadline", st.Rows, err)
	}

	go func() {
		w.Delete(context.Background(), []string{"a"})
		time.Sleep(20 * time.Millisecond)
		w.Delete(context.Background(), []string{"b"})
	}()
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	began := time.Now()
	st, err = s.Drain(ctx)
	if err != nil || st.Rows != 0 {
		t.Fatalf("after the deletes: %d rows, %v", st.Rows, err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("Drain took %v after the last delete", d)
	}
}

// Start's stop ends Run's goroutines and returns (the relay and the status reports, waited for).
func TestStartStop(t *testing.T) {
	s, _ := newSender(t)
	stop := s.Start(t.Context())
	done := make(chan error, 1)
	go func() { done <- stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return")
	}
}

// Watched remembers the last append's error until an append succeeds.
func TestWatchedAppendErr(t *testing.T) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	w := NewWatched(ob)
	ctx := t.Context()
	if err := w.Append(ctx, edge.Message{ID: "a", Topic: "t", Payload: []byte("a")}); err != nil || w.LastAppendErr() != nil {
		t.Fatalf("first append: %v, last %v", err, w.LastAppendErr())
	}
	w.Outbox.Close()
	if err := w.Append(ctx, edge.Message{ID: "b", Topic: "t", Payload: []byte("b")}); err == nil || w.LastAppendErr() == nil {
		t.Fatalf("append to a closed outbox: %v, last %v", err, w.LastAppendErr())
	}
}

// The identity's errors name the fields as the caller calls them: flags here.
func TestIdentityFlagsNameTheFlags(t *testing.T) {
	t.Setenv(TokenEnv, "")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	id := IdentityFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	_, err := id("tcp://127.0.0.1:1883", "edge-1", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--token-file") || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("no identity: %v", err)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	id = IdentityFlags(fs)
	fs.Parse([]string{"--insecure"})
	if _, err := id("tcp://127.0.0.1:1883", "edge-1", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("--insecure on loopback: %v", err)
	}
}
