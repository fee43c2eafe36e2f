package cli

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
	span := fs.Duration("span", 0, "spread the events evenly over this long before now (e.g. 720h); 0: one per millisecond from 2026-01-01")
	types := fs.String("types", wire.RedLightRunning, "comma-separated event types, used in turn")
	idPrefix := fs.String("id-prefix", "burst-", "event ids are this prefix and the event number")
	roadUsers := fs.Int("road-users", 0, "with --span: also send hourly count records that add up to this many road users over the span")
	evidencePath := fs.String("evidence", "", "a JPEG to attach to every event as its evidence image (already anonymised)")
	from := fs.Int("from", 0, "first event number")
	to := fs.Int("to", 1000, "one past the last event number")
	batch := fs.Int("batch", 100, "events per outbox transaction")
	rate := fs.Float64("rate", 0, "events per second (0: as fast as the outbox takes them)")
	resend := fs.Duration("resend-after", 2*time.Second, "resend an unacknowledged message after this long")
	window := fs.Int("window", relay.DefaultConfig().Window, "messages in flight to the aggregator at most")
	drain := fs.Bool("drain", false, "after the last event, wait until the aggregator acknowledged everything")
	drainTimeout := fs.Duration("drain-timeout", 5*time.Minute, "how long --drain waits")
	outboxOpts := outboxFlags(fs)
	identity := identityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := wire.CheckName("device", *device); err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if err := mqtt.CheckBroker(*broker); err != nil {
		return fmt.Errorf("--broker: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	withIdentity, err := identity(*broker, *device, log)
	if err != nil {
		return err
	}
	if *from < 0 || *to < *from || *batch < 1 {
		return errors.New("--from, --to and --batch: need 0 <= from <= to and batch >= 1")
	}
	if *span < 0 {
		return errors.New("--span: must not be negative")
	}
	if *roadUsers < 0 || (*roadUsers > 0 && *span < time.Hour) {
		return errors.New("--road-users: needs a --span of at least 1h and a count of 0 or more")
	}
	typeList := strings.Split(*types, ",")
	for _, t := range typeList {
		if !slices.Contains(wire.EventTypes, t) {
			return fmt.Errorf("--types: unknown event type %q (one of %s)", t, strings.Join(wire.EventTypes, ", "))
		}
	}
	var evidence []byte
	if *evidencePath != "" {
		b, err := os.ReadFile(*evidencePath)
		if err != nil {
			return fmt.Errorf("--evidence: %w", err)
		}
		if len(b) > wire.MaxEvidenceBytes || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) {
			return fmt.Errorf("--evidence %s: not a JPEG of at most %d bytes", *evidencePath, wire.MaxEvidenceBytes)
		}
		evidence = b
	}
	ob, err := outbox.Open(*obPath, outboxOpts(*device))
	if err != nil {
		return err
	}
	defer ob.Close()
	if *window < 1 {
		return errors.New("--window: at least 1")
	}
	store := newWatchedOutbox(ob) // the drain wakes at each acknowledged delete
	rl, client, stop, err := startSender(ctx, store, *broker, *device, *resend, *window, log, withIdentity)
	if err != nil {
		return err
	}
	defer stop()

	// Event i is at epoch + (i-first)·step.
	epoch, first, step := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, time.Millisecond
	if *span > 0 {
		epoch, first, step = time.Now().UTC().Add(-*span), *from, *span/time.Duration(max(1, *to-*from))
	}
	msgs := make([]edge.Message, 0, *batch)
	began := time.Now()
	for i := *from; i < *to && ctx.Err() == nil; {
		msgs = msgs[:0]
		for ; i < *to && len(msgs) < *batch; i++ {
			id := *idPrefix + strconv.Itoa(i)
			at := epoch.Add(time.Duration(i-first) * step)
			if *stampNow {
				at = time.Now().UTC()
			}
			e := wire.Event{V: wire.Version, ID: id, Device: *device, Camera: *cam, Site: *site, Zone: "z",
				Type: typeList[i%len(typeList)], Time: at, Class: "car", Confidence: 0.9}
			if e.Type != wire.RedLightRunning {
				e.Class = "person"
			}
			e.Evidence = evidence
			b, _ := wire.Encode(e)
			msgs = append(msgs, edge.Message{ID: id, Topic: wire.Topic(*device, wire.KindEvents), Payload: b, Severity: edge.Severity(e.Type)})
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
	if *roadUsers > 0 && ctx.Err() == nil {
		if err := appendCounts(ctx, ob, *device, *cam, *site, *idPrefix, epoch, *span, *roadUsers, typeList); err != nil {
			return err
		}
		rl.Notify()
	}
	if !*drain {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, *drainTimeout)
	defer cancel()
	client.WaitConnected(dctx)
	for dctx.Err() == nil {
		changed := store.changed() // before reading the rows: a delete after it wakes us
		st, err := ob.Stats(dctx)
		if err == nil && st.Rows == 0 {
			fmt.Fprintf(stdout, "drained in %.2f s\n", time.Since(began).Seconds())
			return nil
		}
		select {
		case <-changed:
		case <-dctx.Done():
		}
	}
	st, _ := ob.Stats(context.Background())
	return fmt.Errorf("not drained: %d messages still in the outbox after %v", st.Rows, *drainTimeout)
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
