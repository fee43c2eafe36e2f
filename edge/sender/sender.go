// Package sender carries an edge outbox to the aggregator: the watched outbox the pipelines
// append to, the relay and the MQTT connection, and the device identity and outbox bounds the
// edge's commands configure them with.
package sender

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
)

// Software names the one-run commands (replay, burst) in their status messages.
const Software = "crosswatch-edge 0.1"

// The sender of the one-run commands (replay, burst): one outbox, its relay and MQTT client for
// one run. The daemon (run) wires its own in OpenDaemon and Daemon.Run.

// Start wires the MQTT client and the relay for an outbox, and returns a stop function
// that stops both, in order.
func Start(ctx context.Context, ob *Watched, broker, device, software string, resend time.Duration, window int, log *slog.Logger, extra ...func(*mqtt.Options)) (*relay.Relay, *mqtt.Client, func(), error) {
	var rl *relay.Relay
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	opts := mqtt.Options{Broker: broker, Device: device, Software: software, Log: log,
		OnAck: func(ids []string) { rl.Ack(ids) },
		Backlog: func() (int, time.Duration) {
			// Not rctx: the last status, as the sender stops, still reads the outbox.
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			st, err := ob.Stats(qctx)
			if err != nil || st.Oldest.IsZero() {
				return st.Rows, 0
			}
			return st.Rows, time.Since(st.Oldest)
		}}
	for _, f := range extra {
		f(&opts)
	}
	client, err := mqtt.Dial(opts)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	cfg := relay.DefaultConfig()
	cfg.ResendAfter = resend
	if window > 0 {
		cfg.Window = window
	}
	rl = relay.New(ob, client, cfg, log, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rl.Run(rctx) }()
	go func() { defer wg.Done(); client.RunStatus(rctx, 5*time.Second) }()
	return rl, client, func() { cancel(); wg.Wait(); client.Close() }, nil
}

// OutboxFlags declares the outbox's bounds; past them the on-full policy evicts the lowest
// severity, oldest first, and reports a gap. It returns a function that builds the options.
func OutboxFlags(fs *flag.FlagSet) func(device string) outbox.Options {
	rows := fs.Int("outbox-max-rows", 2_000_000, "outbox bound in messages (0: none)")
	bytes := fs.Int64("outbox-max-bytes", 1<<30, "outbox bound in payload bytes (0: none)")
	reserve := fs.Int64("outbox-reserve", 4<<20, "bytes kept free beside the outbox for the disk-full policy")
	return func(device string) outbox.Options {
		return outbox.Options{MaxRows: *rows, MaxBytes: *bytes, ReserveBytes: *reserve, Gap: pipeline.GapBuilder(device)}
	}
}
