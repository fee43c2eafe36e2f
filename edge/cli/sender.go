package cli

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/relay"
)

// The sender of the lab commands (replay, burst): one outbox, its relay and MQTT client for one
// run. The daemon (run) wires its own in OpenDaemon and Daemon.Run.

// startSender wires the MQTT client and the relay for an outbox, and returns a stop function
// that stops both, in order.
func startSender(ctx context.Context, ob *watchedOutbox, broker, device string, resend time.Duration, window int, log *slog.Logger, extra ...func(*mqtt.Options)) (*relay.Relay, *mqtt.Client, func(), error) {
	var rl *relay.Relay
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	opts := mqtt.Options{Broker: broker, Device: device, Software: Software, Log: log,
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
