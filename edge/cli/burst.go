package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// runBurst is the fault and soak harness: it appends synthetic events burst-{i} for i in
// [from, to) to the outbox, through the same outbox, relay and MQTT client as replay, and prints
// "accepted N" after each commit (N is the last i committed) or "refused A B" for a batch the
// full disk refused, so a test can reconcile what the edge accepted against what the aggregator
// recorded.
func runBurst(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("burst")
	device := fs.String("device", "burst-edge", "this device's id")
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	obPath := fs.String("outbox", "burst-outbox.db", "outbox database")
	site := fs.String("site", "synth-main-nb", "site of the events")
	cam := fs.String("camera", "synth-cam-1", "camera of the events")
	stampNow := fs.Bool("now", false, "stamp each event with the wall-clock time of its append (for delivery latency)")
	from := fs.Int("from", 0, "first event number")
	to := fs.Int("to", 1000, "one past the last event number")
	batch := fs.Int("batch", 100, "events per outbox transaction")
	rate := fs.Float64("rate", 0, "events per second (0: as fast as the outbox takes them)")
	resend := fs.Duration("resend-after", 2*time.Second, "resend an unacknowledged message after this long")
	drain := fs.Bool("drain", false, "after the last event, wait until the aggregator acknowledged everything")
	drainTimeout := fs.Duration("drain-timeout", 5*time.Minute, "how long --drain waits")
	outboxOpts := outboxFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := wire.CheckName("device", *device); err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if *from < 0 || *to < *from || *batch < 1 {
		return errors.New("--from, --to and --batch: need 0 <= from <= to and batch >= 1")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ob, err := outbox.Open(*obPath, outboxOpts(*device))
	if err != nil {
		return err
	}
	defer ob.Close()
	rl, client, stop, err := startSender(ctx, ob, *broker, *device, *resend, log)
	if err != nil {
		return err
	}
	defer stop()

	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]outbox.Message, 0, *batch)
	began := time.Now()
	for i := *from; i < *to && ctx.Err() == nil; {
		msgs = msgs[:0]
		for ; i < *to && len(msgs) < *batch; i++ {
			id := "burst-" + strconv.Itoa(i)
			at := epoch.Add(time.Duration(i) * time.Millisecond)
			if *stampNow {
				at = time.Now().UTC()
			}
			e := wire.Event{V: wire.Version, ID: id, Device: *device, Camera: *cam, Site: *site, Zone: "z",
				Type: wire.RedLightRunning, Time: at, Class: "car", Confidence: 0.9}
			b, _ := wire.Encode(e)
			msgs = append(msgs, outbox.Message{ID: id, Topic: wire.Topic(*device, wire.KindEvents), Payload: b, Severity: pipeline.Severity(e.Type)})
		}
		if err := ob.Append(ctx, msgs...); err != nil {
			if errors.Is(err, outbox.ErrFull) {
				// Not accepted: the outbox counts it and reports it in a gap record later.
				fmt.Fprintf(stdout, "refused %d %d\n", i-len(msgs), i-1)
				continue
			}
			return err
		}
		fmt.Fprintf(stdout, "accepted %d\n", i-1)
		rl.Notify()
		if *rate > 0 {
			if ahead := time.Duration(float64(i-*from)/(*rate)*float64(time.Second)) - time.Since(began); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	if !*drain {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, *drainTimeout)
	defer cancel()
	client.WaitConnected(dctx)
	for dctx.Err() == nil {
		st, err := ob.Stats(dctx)
		if err == nil && st.Rows == 0 {
			fmt.Fprintf(stdout, "drained in %.2f s\n", time.Since(began).Seconds())
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := ob.Stats(context.Background())
	return fmt.Errorf("not drained: %d messages still in the outbox after %v", st.Rows, *drainTimeout)
}

// startSender wires the MQTT client and the relay for an outbox, and returns a stop function
// that stops both, in order.
func startSender(ctx context.Context, ob *outbox.Outbox, broker, device string, resend time.Duration, log *slog.Logger) (*relay.Relay, *mqtt.Client, func(), error) {
	var rl *relay.Relay
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	client, err := mqtt.Dial(mqtt.Options{Broker: broker, Device: device, Password: os.Getenv("CROSSWATCH_DEVICE_TOKEN"), Software: Software, Log: log,
		OnAck: func(ids []string) { rl.Ack(ids) },
		Backlog: func() (int, time.Duration) {
			st, err := ob.Stats(rctx)
			if err != nil || st.Oldest.IsZero() {
				return st.Rows, 0
			}
			return st.Rows, time.Since(st.Oldest)
		}})
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	cfg := relay.DefaultConfig()
	cfg.ResendAfter = resend
	rl = relay.New(ob, client, cfg, log, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rl.Run(rctx) }()
	go func() { defer wg.Done(); client.RunStatus(rctx, 5*time.Second) }()
	return rl, client, func() { cancel(); wg.Wait(); client.Close() }, nil
}
