package ingest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"strings"
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
	return New(st, &acks{}, shippedCatalog(t), sites, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
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

// recordStore keeps the batches' events and reports inserted as it is told (0: all duplicates).
type recordStore struct {
	mu       sync.Mutex
	events   []aggregator.PricedEvent
	inserted func(n int) int
}

func (s *recordStore) Commit(_ context.Context, b *aggregator.Batch) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, b.Events...)
	return s.inserted(len(b.Events)), nil
}

// The store is told which events carry an evidence image.
func TestHasEvidencePassedToStore(t *testing.T) {
	st := &recordStore{inserted: func(n int) int { return n }}
	with, _ := wire.Encode(wire.Event{V: 1, ID: "w", Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Type: wire.RedLightRunning,
		Time: t0, Class: "car", Confidence: 0.9, Evidence: tinyJPEG(t)})
	runCatalog(t, st, shippedCatalog(t), []Message{{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: with}, events(1)[0]})
	if len(st.events) != 2 || !st.events[0].HasEvidence || st.events[1].HasEvidence {
		t.Fatalf("events %+v: want the first with evidence, the second without", st.events)
	}
}

// A commit of duplicates only changes no site: the live views are not told to redraw one.
func TestDuplicatesChangeNoSite(t *testing.T) {
	st := &recordStore{inserted: func(int) int { return 0 }}
	g := New(st, &acks{}, shippedCatalog(t), sites, Config{MaxBatch: 3, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	var mu sync.Mutex
	var changes []aggregator.Change
	g.SetOnCommit(func(c aggregator.Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() })
	submitAll(g, events(2))
	mu.Lock()
	defer mu.Unlock()
	for _, c := range changes {
		if len(c.Sites) != 0 || c.Events != 0 {
			t.Fatalf("a commit of duplicates changed %+v", c)
		}
	}
}

// A malformed payload of exactly the size limit still names its id in the rejection, so the
// device stops resending it.
func TestMalformedAtSizeLimitNamesID(t *testing.T) {
	head := `{"v":1,"id":"x1","oops":"`
	pad := wire.MaxEventBytes - len(head) - 2
	payload := []byte(head + strings.Repeat("a", pad) + `"}`)
	if len(payload) != wire.MaxEventBytes {
		t.Fatalf("payload %d bytes", len(payload))
	}
	a := runCatalog(t, openStore(t), shippedCatalog(t), []Message{{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: payload}})
	if _, r := a.all("edge-1"); len(r) != 1 || r[0].ID != "x1" {
		t.Fatalf("rejections %+v, want x1", r)
	}
}

type failingAcker struct{}

func (failingAcker) Ack(string, wire.Ack) error { return fmt.Errorf("broker gone") }

// An ack that cannot be sent is logged (the device will resend and be acknowledged then); a
// sent one is not.
func TestAckFailureLogged(t *testing.T) {
	for _, fail := range []bool{true, false} {
		var logs strings.Builder
		var ack Acker = &acks{}
		if fail {
			ack = failingAcker{}
		}
		g := New(&batchStore{}, ack, shippedCatalog(t), sites, Config{MaxBatch: 3, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(&logs, nil)), testNow)
		submitAll(g, events(1))
		if got := strings.Contains(logs.String(), "send ack"); got != fail {
			t.Errorf("ack failing %v: logged %v:\n%s", fail, got, logs.String())
		}
	}
}

// tinyJPEG is a real 8×8 JPEG: the ingester decodes an event's evidence before it keeps it.
func tinyJPEG(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
