// Package sender carries an edge outbox to the aggregator: the watched outbox the pipelines
// append to, the relay and the MQTT connection with its status reports, and the device identity
// and outbox bounds the edge's commands configure them with.
package sender

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/relay"
)

// Software names the one-run commands (replay, burst) in their status messages.
const Software = "crosswatch-edge 0.1"

// StatusEvery is how often the sender reports the device's status.
const StatusEvery = 5 * time.Second

// Config is how a Sender connects and sends.
type Config struct {
	Broker, Device string
	Software       string // in the status messages
	Relay          relay.Config
	Log            *slog.Logger
}

// Sender carries one outbox to the aggregator: the relay and the MQTT connection, with the
// device's status reports. Dial makes it, Run sends until its ctx ends, Close ends the
// connection with a last status report.
type Sender struct {
	Relay  *relay.Relay
	Client *mqtt.Client
	// Rejections counts what the aggregator refused (and the edge deleted) since Dial.
	Rejections *Rejections
	store      *Watched
}

// Dial makes the sender of store and starts connecting (in the background: a broker that is not
// there yet is not an error). Each of opts sets more of the MQTT options (identity, callbacks).
// ctx bounds the outbox reads of the status reports; the caller closes the sender.
func Dial(ctx context.Context, store *Watched, cfg Config, opts ...func(*mqtt.Options)) (*Sender, error) {
	s := &Sender{store: store, Rejections: NewRejections(nil)}
	mo := mqtt.Options{Broker: cfg.Broker, Device: cfg.Device, Software: cfg.Software, Log: cfg.Log,
		OnAck:        func(ids []string) { s.Relay.Ack(ids) },
		OnAckPayload: s.Rejections.Add,
		Backlog:      func() (int, time.Duration) { return backlog(context.WithoutCancel(ctx), store) }}
	for _, f := range opts {
		f(&mo)
	}
	client, err := mqtt.Dial(mo)
	if err != nil {
		return nil, err
	}
	s.Client = client
	s.Relay = relay.New(store, client, cfg.Relay, cfg.Log, nil)
	return s, nil
}

// backlog is what the status reports of the outbox: its rows and the age of the oldest.
// ctx is not the sender's: the last status, as the sender stops, still reads the outbox.
func backlog(ctx context.Context, store *Watched) (int, time.Duration) {
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := store.Stats(qctx)
	if err != nil || st.Oldest.IsZero() {
		return st.Rows, 0
	}
	return st.Rows, time.Since(st.Oldest)
}

// Run sends until ctx ends: the relay and the status reports, each in a goroutine it waits for.
func (s *Sender) Run(ctx context.Context) error {
	var g errgroup.Group
	g.Go(func() error { return s.Relay.Run(ctx) })
	g.Go(func() error { s.Client.RunStatus(ctx, StatusEvery); return nil })
	return g.Wait()
}

// Start runs Run in the background until stop, which waits for it and closes the sender. The
// sender outlives ctx's cancellation (what was committed last is still sent); stop ends it.
func (s *Sender) Start(ctx context.Context) (stop func() error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { return s.Run(rctx) })
	return func() error {
		cancel()
		err := g.Wait()
		s.Close()
		return err
	}
}

// Notify tells the relay that the outbox has new messages.
func (s *Sender) Notify() { s.Relay.Notify() }

// Drain waits until the outbox is empty or ctx ends, woken by each acknowledged delete (no
// polling). It returns the outbox's stats at the end, and ctx's error if it ended first.
func (s *Sender) Drain(ctx context.Context) (outbox.Stats, error) {
	s.Relay.Notify()
	for {
		changed := s.store.Changed() // before reading the rows: a delete after it wakes us
		st, err := s.store.Stats(context.WithoutCancel(ctx))
		if err == nil && st.Rows == 0 {
			return st, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// Close ends the MQTT connection, with a last status report when connected.
func (s *Sender) Close() error {
	s.Client.Close()
	return nil
}

// OutboxFlags declares the outbox's bounds; past them the on-full policy evicts the lowest
// severity, oldest first, and reports a gap. It returns a function that builds the options.
func OutboxFlags(fs *flag.FlagSet) func(device string) outbox.Options {
	rows := fs.Int("outbox-max-rows", 2_000_000, "outbox bound in messages (0: none)")
	bytes := fs.Int64("outbox-max-bytes", 1<<30, "outbox bound in payload bytes (0: none)")
	reserve := fs.Int64("outbox-reserve", 4<<20, "bytes kept free beside the outbox for the disk-full policy")
	return func(device string) outbox.Options {
		return outbox.Options{MaxRows: *rows, MaxBytes: *bytes, ReserveBytes: *reserve, Gap: edge.GapBuilder(device)}
	}
}
