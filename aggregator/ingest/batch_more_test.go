package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// batchStore records the size of each batch it commits.
type batchStore struct {
	mu    sync.Mutex
	sizes []int
}

func (s *batchStore) Commit(_ context.Context, b *aggregator.Batch) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(b.Events)+len(b.DeadLetters))
	return len(b.Events), nil
}

func (s *batchStore) got() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

func newBatchIngester(t *testing.T, st Store, cfg Config) *Ingester {
	t.Helper()
	return New(st, &acks{}, shippedCatalog(t), sites, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
}

func events(n int) []Message {
	var m []Message
	for i := range n {
		m = append(m, Message{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: event(fmt.Sprint("b", i), "main-nb", wire.RedLightRunning), Received: t0})
	}
	return m
}

// A batch holds at most MaxBatch messages, in the running loop and in the graceful stop alike,
// and no empty batch is ever committed.
func TestBatchesAtMostMaxBatch(t *testing.T) {
	for _, queued := range []bool{false, true} {
		t.Run(fmt.Sprint("queued before the stop: ", queued), func(t *testing.T) {
			st := &batchStore{}
			g := newBatchIngester(t, st, Config{MaxBatch: 3, MaxWait: time.Hour, Queue: 16})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if queued {
				// Everything waits in the queue when the stop comes: the graceful stop batches it.
				for _, m := range events(7) {
					g.TrySubmit(m)
				}
				cancel()
				go func() { g.Run(ctx); close(done) }()
			} else {
				go func() { g.Run(ctx); close(done) }()
				for _, m := range events(7) {
					g.TrySubmit(m)
				}
				// Two full batches go at once; the seventh waits for MaxWait (an hour) or the stop.
				for end := time.Now().Add(5 * time.Second); len(st.got()) < 2 && time.Now().Before(end); time.Sleep(time.Millisecond) {
				}
				cancel()
			}
			<-done
			if got := fmt.Sprint(st.got()); got != "[3 3 1]" {
				t.Fatalf("batches %s, want [3 3 1]", got)
			}
			if s := g.Stats(); s.Batches != 3 || s.Committed != 7 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// A batch that does not fill goes after MaxWait, without waiting for more messages or a stop.
func TestBatchGoesAfterMaxWait(t *testing.T) {
	st := &batchStore{}
	g := newBatchIngester(t, st, Config{MaxBatch: 100, MaxWait: 20 * time.Millisecond, Queue: 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	g.TrySubmit(events(1)[0])
	for end := time.Now().Add(5 * time.Second); len(st.got()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("a lone message was not committed within 5 s (MaxWait 20 ms)")
		}
	}
	// A second lone message later: the timer starts again for it.
	g.TrySubmit(events(2)[1])
	for end := time.Now().Add(5 * time.Second); len(st.got()) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the second lone message was not committed: batches %v", st.got())
		}
	}
}

// An event with no evidence image is stored as having none.
func TestNoEvidenceStoredAsNone(t *testing.T) {
	st := openStore(t)
	runCatalog(t, st, shippedCatalog(t), events(1))
	ev, err := st.FindEvents(context.Background(), aggregator.EventFilter{From: t0.Add(-24 * time.Hour), To: t0.Add(24 * time.Hour)})
	if err != nil || len(ev) != 1 {
		t.Fatalf("%+v %v", ev, err)
	}
	if ev[0].HasEvidence {
		t.Fatalf("event without evidence stored with has_evidence: %+v", ev[0])
	}
}

// A stop with nothing pending commits nothing more.
func TestStopCommitsNoEmptyBatch(t *testing.T) {
	st := &batchStore{}
	g := newBatchIngester(t, st, Config{MaxBatch: 3, MaxWait: time.Hour, Queue: 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	for _, m := range events(3) {
		g.TrySubmit(m)
	}
	for end := time.Now().Add(5 * time.Second); len(st.got()) < 1 && time.Now().Before(end); time.Sleep(time.Millisecond) {
	}
	cancel()
	<-done
	if got := fmt.Sprint(st.got()); got != "[3]" {
		t.Fatalf("batches %s, want [3]", got)
	}
}
