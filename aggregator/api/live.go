package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Live fans ingest changes out to server-sent-event streams. Each subscriber has one pending
// Change that publications merge into, so a slow browser costs a bounded amount of memory and
// never slows ingest: it receives the merged change when it catches up. Safe for concurrent use.
type Live struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	// Every is the least time between two messages on one stream (default 250 ms); changes
	// in between are merged.
	Every time.Duration
	// Heartbeat is how often an idle stream gets a comment line, so proxies keep it open.
	Heartbeat time.Duration
	// MaxStreams caps the open streams; the next is refused with 503 (default 64).
	MaxStreams int
	// WriteTimeout bounds each write to a stream (default 30 s): a client that stops reading
	// is cut off instead of holding its connection. It replaces the server's WriteTimeout,
	// which a stream, open for hours, would otherwise hit.
	WriteTimeout time.Duration
}

type subscriber struct {
	pending aggregator.Change // guarded by Live.mu
	wake    chan struct{}     // one slot: "pending has something"
	done    chan struct{}     // closed by Close
}

// NewLive returns a Live with no subscribers.
func NewLive() *Live {
	return &Live{subs: map[*subscriber]struct{}{}, Every: 250 * time.Millisecond, Heartbeat: 15 * time.Second, MaxStreams: 64, WriteTimeout: 30 * time.Second}
}

// Publish merges c into every subscriber's pending change. It never blocks.
func (l *Live) Publish(c aggregator.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs {
		s.pending.Merge(c)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Close ends every stream; later subscriptions end at once. Register it with the HTTP server's
// RegisterOnShutdown, because Shutdown waits for handlers and a stream never ends by itself.
func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for s := range l.subs {
		close(s.done)
		delete(l.subs, s)
	}
}

// Subscribers returns how many streams are open.
func (l *Live) Subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// subscribe returns nil when MaxStreams are open.
func (l *Live) subscribe() *subscriber {
	s := &subscriber{wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.MaxStreams > 0 && len(l.subs) >= l.MaxStreams {
		return nil
	}
	if l.closed {
		close(s.done)
		return s
	}
	l.subs[s] = struct{}{}
	return s
}

func (l *Live) unsubscribe(s *subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[s]; ok {
		delete(l.subs, s)
		close(s.done)
	}
}

// take returns and clears s's pending change.
func (l *Live) take(s *subscriber) aggregator.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := s.pending
	s.pending = aggregator.Change{}
	return c
}

// ServeHTTP streams changes as server-sent events: "event: change" with a Change as its data.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	s := l.subscribe()
	if s == nil {
		w.Header().Set("Retry-After", "10")
		errorJSON(w, http.StatusServiceUnavailable, fmt.Sprintf("%d event streams are open, the most this aggregator serves; try again later", l.MaxStreams))
		return
	}
	defer l.unsubscribe(s)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	// Before each write after the first (which the server's own deadline covers).
	deadline := func() {
		if l.WriteTimeout > 0 {
			rc.SetWriteDeadline(time.Now().Add(l.WriteTimeout))
		}
	}
	// retry: how long a browser waits before reconnecting; "ready" lets a page know it is live.
	fmt.Fprint(w, "retry: 2000\nevent: ready\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := time.NewTicker(l.Heartbeat)
	defer heartbeat.Stop()
	var last time.Time
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-s.wake:
			// Merge what arrives within Every of the last message into one.
			if wait := l.Every - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				case <-s.done:
					t.Stop()
					return
				}
			}
			c := l.take(s)
			if c.Empty() {
				continue
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
			last = time.Now()
		}
		deadline()
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
