// Package relay sends the outbox to the aggregator at least once: a bounded window of messages
// in flight, resent after a timeout or a reconnect, and deleted only when the aggregator
// acknowledges that it committed them (a broker's PUBACK proves nothing about the aggregator).
package relay

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosswatch/crosswatch/edge"
)

// Store is the outbox as the relay uses it.
type Store interface {
	// Pending returns up to limit messages with Seq > after, oldest first, appended to dst[:0].
	Pending(ctx context.Context, after int64, limit int, dst []edge.Message) ([]edge.Message, error)
	// Delete removes messages by id; unknown ids are ignored.
	Delete(ctx context.Context, ids []string) (int, error)
}

// Publisher hands payloads to the transport.
type Publisher interface {
	// Publish sends payload at QoS 1 without waiting for delivery. A nil error means only that
	// the transport took it.
	Publish(topic string, payload []byte) error
	// Connected reports whether the transport is connected now.
	Connected() bool
}

// Config tunes the relay.
type Config struct {
	Window      int           // messages in flight at most
	ResendAfter time.Duration // an unacknowledged message is sent again after this long
	Poll        time.Duration // how often to look for new rows without a Notify
}

// DefaultConfig is for a roadside uplink.
func DefaultConfig() Config {
	return Config{Window: 2048, ResendAfter: 10 * time.Second, Poll: 200 * time.Millisecond}
}

// Stats counts what the relay did. Read with Relay.Stats.
type Stats struct {
	Published, Resent, Acked int64
	// InFlight is how many messages are sent and not yet acknowledged, now.
	InFlight int64
}

type inflight struct {
	msg  edge.Message
	sent time.Time
}

// Relay moves messages from the outbox to the publisher.
type Relay struct {
	store Store
	pub   Publisher
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	wake  chan struct{}

	ackMu   sync.Mutex
	acked   []string // ids acknowledged and not yet deleted
	ackWake chan struct{}

	published, resent, nacked atomic.Int64
	inflight                  atomic.Int64 // len(live) in Run, for Stats
}

// New returns a relay; call Run to start it.
func New(store Store, pub Publisher, cfg Config, log *slog.Logger, now func() time.Time) *Relay {
	if now == nil {
		now = time.Now
	}
	return &Relay{store: store, pub: pub, cfg: cfg, log: log, now: now,
		wake: make(chan struct{}, 1), ackWake: make(chan struct{}, 1)}
}

// Ack reports ids the aggregator committed. It never blocks (it runs on the transport's
// delivery goroutine, which must not stall). Safe for concurrent use.
func (r *Relay) Ack(ids []string) {
	r.ackMu.Lock()
	r.acked = append(r.acked, ids...)
	r.ackMu.Unlock()
	select {
	case r.ackWake <- struct{}{}:
	default:
	}
}

// takeAcks swaps out the acknowledged ids gathered so far.
func (r *Relay) takeAcks(buf []string) []string {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	out := r.acked
	r.acked = buf[:0]
	return out
}

// Notify tells the relay that new rows were appended. Never blocks. Safe for concurrent use.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters so far. Safe for concurrent use.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Resent: r.resent.Load(), Acked: r.nacked.Load(), InFlight: r.inflight.Load()}
}

// Run sends until ctx ends. It returns nil on cancellation; store errors are logged and retried.
func (r *Relay) Run(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	live := make(map[string]*inflight, r.cfg.Window)
	var cursor int64
	var buf []edge.Message
	connected := false
	var acked, spare []string
	lastAck := r.now()
	var lastWarn time.Time
	defer r.inflight.Store(0)
	for {
		r.inflight.Store(int64(len(live)))
		select {
		case <-ctx.Done():
			return nil
		case <-r.ackWake:
			acked, spare = r.takeAcks(spare), acked
			if len(acked) == 0 {
				continue
			}
			if _, err := r.store.Delete(ctx, acked); err != nil {
				r.log.Error("delete acknowledged messages; they will be sent again", "n", len(acked), "err", err)
				continue
			}
			for _, id := range acked {
				delete(live, id)
			}
			r.nacked.Add(int64(len(acked)))
			lastAck = r.now()
		case <-r.wake:
		case <-tick.C:
		}
		now := r.now()
		if len(live) > 0 && now.Sub(lastAck) > 30*time.Second && now.Sub(lastWarn) > 30*time.Second {
			// Acknowledgements stopped while messages wait: the aggregator or the path back is down.
			lastWarn = now
			st := r.Stats()
			r.log.Warn("no acknowledgement from the aggregator for 30 s", "in_flight", len(live), "connected", r.pub.Connected(),
				"published", st.Published, "resent", st.Resent, "acked", st.Acked, "cursor", cursor)
		}
		if !r.pub.Connected() {
			connected = false
			continue
		}
		if !connected {
			// A new session: whatever was in flight may have died with the old one.
			connected = true
			for _, f := range live {
				r.send(f, now, true)
			}
		}
		for _, f := range live {
			if d := now.Sub(f.sent); d >= r.cfg.ResendAfter || d < 0 { // d < 0: the clock went back
				r.send(f, now, true)
			}
		}
		free := r.cfg.Window - len(live)
		if free <= 0 {
			continue
		}
		var err error
		buf, err = r.store.Pending(ctx, cursor, free, buf)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("read outbox", "err", err)
			}
			continue
		}
		for _, m := range buf {
			cursor = m.Seq
			if _, dup := live[m.ID]; dup {
				continue
			}
			f := &inflight{msg: m}
			live[m.ID] = f
			r.send(f, now, false)
		}
		if len(buf) == free {
			r.Notify() // more rows wait; come back without waiting for the tick
		}
	}
}

func (r *Relay) send(f *inflight, now time.Time, again bool) {
	f.sent = now
	if err := r.pub.Publish(f.msg.Topic, f.msg.Payload); err != nil {
		r.log.Debug("publish; will resend", "id", f.msg.ID, "err", err)
		return
	}
	if again {
		r.resent.Add(1)
	} else {
		r.published.Add(1)
	}
}
