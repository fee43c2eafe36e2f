package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/relay"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// burstFlags are the flags of `crosswatch-edge burst`.
type burstFlags struct {
	device, broker, outbox, site, cam, types, idPrefix, evidence string
	stampNow, drain                                              bool
	span, resend, drainTimeout                                   time.Duration
	roadUsers, from, to, batch, window                           int
	rate                                                         float64
	outboxOpts                                                   func(device string) outbox.Options
	identity                                                     func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error)
}

func parseBurst(args []string) (*burstFlags, error) {
	var f burstFlags
	fs := newFlags("burst")
	fs.StringVar(&f.device, "device", "burst-edge", "this device's id")
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fs.StringVar(&f.outbox, "outbox", "burst-outbox.db", "outbox database")
	fs.StringVar(&f.site, "site", "synth-main-nb", "site of the events")
	fs.StringVar(&f.cam, "camera", "synth-cam-1", "camera of the events")
	fs.BoolVar(&f.stampNow, "now", false, "stamp each event with the wall-clock time of its append (for delivery latency)")
	fs.DurationVar(&f.span, "span", 0, "spread the events evenly over this long before now (e.g. 720h); 0: one per millisecond from 2026-01-01")
	fs.StringVar(&f.types, "types", wire.RedLightRunning, "comma-separated event types, used in turn")
	fs.StringVar(&f.idPrefix, "id-prefix", "burst-", "event ids are this prefix and the event number")
	fs.IntVar(&f.roadUsers, "road-users", 0, "with --span: also send hourly count records that add up to this many road users over the span")
	fs.StringVar(&f.evidence, "evidence", "", "a JPEG to attach to every event as its evidence image (already anonymised)")
	fs.IntVar(&f.from, "from", 0, "first event number")
	fs.IntVar(&f.to, "to", 1000, "one past the last event number")
	fs.IntVar(&f.batch, "batch", 100, "events per outbox transaction")
	fs.Float64Var(&f.rate, "rate", 0, "events per second (0: as fast as the outbox takes them)")
	fs.DurationVar(&f.resend, "resend-after", 2*time.Second, "resend an unacknowledged message after this long")
	fs.IntVar(&f.window, "window", relay.DefaultConfig().Window, "messages in flight to the aggregator at most")
	fs.BoolVar(&f.drain, "drain", false, "after the last event, wait until the aggregator acknowledged everything")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 5*time.Minute, "how long --drain waits")
	f.outboxOpts = sender.OutboxFlags(fs)
	f.identity = sender.IdentityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := wire.CheckName("device", f.device); err != nil {
		return nil, fmt.Errorf("--device: %w", err)
	}
	if err := mqtt.CheckBroker(f.broker); err != nil {
		return nil, fmt.Errorf("--broker: %w", err)
	}
	return &f, nil
}

// check validates the flags that need no file; the identity comes before them.
func (f *burstFlags) check() ([]string, error) {
	if f.from < 0 || f.to < f.from || f.batch < 1 {
		return nil, errors.New("--from, --to and --batch: need 0 <= from <= to and batch >= 1")
	}
	if f.span < 0 {
		return nil, errors.New("--span: must not be negative")
	}
	if f.roadUsers < 0 || (f.roadUsers > 0 && f.span < time.Hour) {
		return nil, errors.New("--road-users: needs a --span of at least 1h and a count of 0 or more")
	}
	types := strings.Split(f.types, ",")
	for _, t := range types {
		if !slices.Contains(wire.EventTypes, t) {
			return nil, fmt.Errorf("--types: unknown event type %q (one of %s)", t, strings.Join(wire.EventTypes, ", "))
		}
	}
	return types, nil
}

// readEvidence reads --evidence: a JPEG small enough for an event.
func readEvidence(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--evidence: %w", err)
	}
	if len(b) > wire.MaxEvidenceBytes || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) {
		return nil, fmt.Errorf("--evidence %s: not a JPEG of at most %d bytes", path, wire.MaxEvidenceBytes)
	}
	return b, nil
}

// runBurst is the fault and soak harness: it appends synthetic events burst-{i} for i in
// [from, to) to the outbox, through the same outbox, relay and MQTT client as replay, and prints
// "accepted N" after each commit (N is the last i committed) or "refused A B" for a batch the
// full disk refused, so a test can reconcile what the edge accepted against what the aggregator
// recorded.
func runBurst(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseBurst(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	withIdentity, err := f.identity(f.broker, f.device, log)
	if err != nil {
		return err
	}
	types, err := f.check()
	if err != nil {
		return err
	}
	evidence, err := readEvidence(f.evidence)
	if err != nil {
		return err
	}
	ob, err := outbox.Open(f.outbox, f.outboxOpts(f.device))
	if err != nil {
		return err
	}
	defer ob.Close()
	if f.window < 1 {
		return errors.New("--window: at least 1")
	}
	relayCfg := relay.DefaultConfig()
	relayCfg.ResendAfter, relayCfg.Window = f.resend, f.window
	cfg := sender.Config{Broker: f.broker, Device: f.device, Software: sender.Software, Relay: relayCfg, Log: log}
	snd, err := sender.Dial(ctx, sender.NewWatched(ob), cfg, withIdentity) // the drain wakes at each acknowledged delete
	if err != nil {
		return err
	}
	defer snd.Start(ctx)()
	b := &burst{f: f, ob: ob, snd: snd, types: types, evidence: evidence, began: time.Now()}
	return b.run(ctx, stdout)
}

// burst is one run of the harness, after its flags and its sender.
type burst struct {
	f        *burstFlags
	ob       *outbox.Outbox
	snd      *sender.Sender
	types    []string
	evidence []byte
	began    time.Time
}

func (b *burst) run(ctx context.Context, stdout io.Writer) error {
	f := b.f
	// Event i is at epoch + (i-first)·step.
	epoch, first, step := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, time.Millisecond
	if f.span > 0 {
		epoch, first, step = time.Now().UTC().Add(-f.span), f.from, f.span/time.Duration(max(1, f.to-f.from))
	}
	msgs := make([]edge.Message, 0, f.batch)
	for i := f.from; i < f.to && ctx.Err() == nil; {
		msgs = msgs[:0]
		for ; i < f.to && len(msgs) < f.batch; i++ {
			msgs = append(msgs, b.event(i, epoch.Add(time.Duration(i-first)*step)))
		}
		if err := b.ob.Append(ctx, msgs...); err != nil {
			if errors.Is(err, outbox.ErrFull) {
				// Not accepted: the outbox counts it and reports it in a gap record later.
				fmt.Fprintf(stdout, "refused %d %d\n", i-len(msgs), i-1)
				continue
			}
			return err
		}
		fmt.Fprintf(stdout, "accepted %d\n", i-1)
		b.snd.Notify()
		if f.rate > 0 {
			wait(ctx, time.Duration(float64(i-f.from)/f.rate*float64(time.Second))-time.Since(b.began))
		}
	}
	if f.roadUsers > 0 && ctx.Err() == nil {
		if err := appendCounts(ctx, b.ob, f.device, f.cam, f.site, f.idPrefix, epoch, f.span, f.roadUsers, b.types); err != nil {
			return err
		}
		b.snd.Notify()
	}
	if !f.drain {
		return nil
	}
	return b.drain(ctx, stdout)
}

// event is synthetic event i at time at (or now, with --now).
func (b *burst) event(i int, at time.Time) edge.Message {
	f := b.f
	id := f.idPrefix + strconv.Itoa(i)
	if f.stampNow {
		at = time.Now().UTC()
	}
	e := wire.Event{V: wire.Version, ID: id, Device: f.device, Camera: f.cam, Site: f.site, Zone: "z",
		Type: b.types[i%len(b.types)], Time: at, Class: "car", Confidence: 0.9}
	if e.Type != wire.RedLightRunning {
		e.Class = "person"
	}
	e.Evidence = b.evidence
	p, _ := wire.Encode(e)
	return edge.Message{ID: id, Topic: wire.Topic(f.device, wire.KindEvents), Payload: p, Severity: edge.Severity(e.Type)}
}

// drain is --drain: it waits until the aggregator acknowledged everything, and fails if it
// refused any of it.
func (b *burst) drain(ctx context.Context, stdout io.Writer) error {
	dctx, cancel := context.WithTimeout(ctx, b.f.drainTimeout)
	defer cancel()
	b.snd.Client.WaitConnected(dctx)
	st, err := b.snd.Drain(dctx)
	if err == nil {
		fmt.Fprintf(stdout, "drained in %.2f s\n", time.Since(b.began).Seconds())
		return b.snd.Rejections.Err() // acknowledged is not recorded
	}
	return fmt.Errorf("not drained: %d messages still in the outbox after %v", st.Rows, b.f.drainTimeout)
}

// wait waits for d, or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// appendCounts appends hourly count records over [epoch, epoch+span) whose totals add up to n
// road users: cars for road event types, people for the others.
func appendCounts(ctx context.Context, ob *outbox.Outbox, device, cam, site, prefix string, epoch time.Time, span time.Duration, n int, types []string) error {
	class := "car"
	if !slices.Contains(types, wire.RedLightRunning) {
		class = "person"
	}
	hours := int(span / time.Hour)
	msgs := make([]edge.Message, 0, hours)
	for h := range hours {
		k := n*(h+1)/hours - n*h/hours // exact total, spread evenly
		c := wire.Counts{V: wire.Version, ID: prefix + "counts-" + strconv.Itoa(h), Device: device, Camera: cam, Site: site, Zone: "z",
			Start: epoch.Add(time.Duration(h) * time.Hour), PeriodS: 3600, Counts: map[string]int{class: k}}
		b, _ := wire.Encode(c)
		msgs = append(msgs, edge.Message{ID: c.ID, Topic: wire.Topic(device, wire.KindCounts), Payload: b, Severity: edge.Severity("counts")})
	}
	if err := ob.Append(ctx, msgs...); err != nil {
		return fmt.Errorf("append counts: %w", err)
	}
	return nil
}
