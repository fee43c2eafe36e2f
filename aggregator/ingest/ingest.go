// Package ingest validates what devices publish, prices events with the catalog, commits them
// in batches and only then acknowledges them to their device. Nothing is dropped silently: a
// payload that fails validation is committed to the dead-letter table with its reason.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Store commits batches.
type Store interface {
	// Commit stores the batch in one transaction, skipping events already stored, and returns
	// how many events were new. When it returns nil, the batch is durable.
	Commit(ctx context.Context, b *aggregator.Batch) (int, error)
}

// Acker tells a device what was committed. Safe for concurrent use.
type Acker interface {
	Ack(device string, a wire.Ack) error
}

// Message is one received MQTT message.
type Message struct {
	Topic    string
	Payload  []byte
	Received time.Time
}

// Config tunes batching and validation.
type Config struct {
	MaxBatch int           // messages per transaction at most
	MaxWait  time.Duration // how long a message may wait for its batch to fill
	Queue    int           // messages buffered before Submit blocks
	// An event's time, a count record's period and a gap's or status's time must lie within
	// MaxAge before and MaxAhead after the aggregator's clock; others are dead letters.
	// Zero: 7 days and 5 minutes.
	MaxAge, MaxAhead time.Duration
	// DeadLetterBytes is how much of a rejected payload that did not decode is kept (zero:
	// 4 KiB), so that rejected junk cannot fill the database. A well-formed payload refused
	// for what it names (an unknown site, camera or event type, a time out of the window) is
	// kept whole, within the wire's limits, so that it can be reprocessed after a fix.
	DeadLetterBytes int
}

// DefaultConfig batches up to 512 messages or 5 ms and accepts times from 7 days before the
// aggregator's clock to 5 minutes after it.
func DefaultConfig() Config {
	return Config{MaxBatch: 512, MaxWait: 5 * time.Millisecond, Queue: 4096, MaxAge: 7 * 24 * time.Hour, MaxAhead: 5 * time.Minute, DeadLetterBytes: 4 << 10}
}

// Stats counts what the ingester did.
type Stats struct {
	Received, Committed, Duplicates, DeadLetters, Batches int64
}

// Ingester is the ingest stage. Submit is safe for concurrent use; Run is called once.
type Ingester struct {
	store   Store
	acker   Acker
	catalog *aggregator.Catalog
	sites   atomic.Pointer[siteMap] // replaced whole: SetSites, RefreshSites
	// refreshMu serialises RefreshSites, so that an older read never replaces a newer one.
	refreshMu sync.Mutex
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	in        chan Message
	statsMu   sync.Mutex
	stats     Stats
	shed      atomic.Int64
	metrics   *Metrics                // nil: none
	notify    func(aggregator.Change) // nil: none
}

// SetOnCommit makes the ingester tell f what each commit changed, after it is durable. f runs
// on the commit path and must not block. Call before Run.
func (g *Ingester) SetOnCommit(f func(aggregator.Change)) { g.notify = f }

// SetMetrics makes the ingester report to m. Call before Run.
func (g *Ingester) SetMetrics(m *Metrics) { g.metrics = m }

// QueueLen returns how many messages wait to be committed. Safe for concurrent use.
func (g *Ingester) QueueLen() int { return len(g.in) }

// New returns an ingester for the given sites (SetSites, RefreshSites replace them) and catalog.
func New(store Store, acker Acker, cat *aggregator.Catalog, sites []aggregator.Site, cfg Config, log *slog.Logger, now func() time.Time) *Ingester {
	if now == nil {
		now = time.Now
	}
	def := DefaultConfig()
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = def.MaxAge
	}
	if cfg.MaxAhead <= 0 {
		cfg.MaxAhead = def.MaxAhead
	}
	if cfg.DeadLetterBytes <= 0 {
		cfg.DeadLetterBytes = def.DeadLetterBytes
	}
	g := &Ingester{store: store, acker: acker, catalog: cat, cfg: cfg, log: log, now: now,
		in: make(chan Message, cfg.Queue)}
	g.SetSites(sites)
	return g
}

// TrySubmit queues a message without blocking; it returns false when the queue is full. A shed
// message was not acknowledged, so its device sends it again: shedding loses nothing.
func (g *Ingester) TrySubmit(m Message) bool {
	select {
	case g.in <- m:
		return true
	default:
		g.shed.Add(1)
		if g.metrics != nil {
			g.metrics.messages.WithLabelValues("shed").Inc()
		}
		return false
	}
}

// Shed returns how many messages TrySubmit refused. Safe for concurrent use.
func (g *Ingester) Shed() int64 { return g.shed.Load() }

// Stats returns the counters. Safe for concurrent use while Run runs.
func (g *Ingester) Stats() Stats {
	g.statsMu.Lock()
	defer g.statsMu.Unlock()
	return g.stats
}

// pending is a batch being built or committed: its records and what each device will be told.
type pending struct {
	b    aggregator.Batch
	acks ackSet
	msgs int
	dead map[string]int // dead letters by reason (DeadLetterReasons)
}

// Run commits batches until ctx ends, then commits what is already queued and returns. A
// commit under way is never cancelled: shutdown finishes in-flight commits.
//
// Two stages overlap: this goroutine validates and prices each message as it arrives and
// builds the next batch while a second goroutine commits the previous one. A batch is handed
// over when it is full, or when its first message has waited MaxWait and the committer is
// free; while the committer is busy the batch keeps filling, so a backlog commits in full
// batches (one fsync each).
func (g *Ingester) Run(ctx context.Context) error {
	commitCtx := context.WithoutCancel(ctx)
	work := make(chan *pending) // unbuffered: a batch is handed over only when the committer is free
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for p := range work {
			g.commit(commitCtx, p)
		}
	}()
	cur := &pending{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	due := false // cur's first message has waited MaxWait
	for {
		var in chan Message
		if cur.msgs < g.cfg.MaxBatch {
			in = g.in
		}
		var send chan *pending
		if cur.msgs > 0 && (due || cur.msgs >= g.cfg.MaxBatch) {
			send = work
		}
		select {
		case <-ctx.Done():
			// Graceful stop: finish what was received.
			timer.Stop()
			for {
				select {
				case m := <-g.in:
					if cur.msgs >= g.cfg.MaxBatch {
						work <- cur
						cur = &pending{}
					}
					g.classify(m, cur)
					cur.msgs++
					continue
				default:
				}
				break
			}
			if cur.msgs > 0 {
				work <- cur
			}
			close(work)
			<-committed
			return nil
		case m := <-in:
			if cur.msgs == 0 {
				timer.Reset(g.cfg.MaxWait)
				due = false
			}
			g.classify(m, cur)
			cur.msgs++
		case <-timer.C:
			due = true
		case send <- cur:
			timer.Stop()
			cur, due = &pending{}, false
		}
	}
}

type ackSet struct {
	order []string
	acks  map[string]*wire.Ack
}

func (a *ackSet) get(device string) *wire.Ack {
	if a.acks == nil {
		a.acks = map[string]*wire.Ack{}
	}
	k := a.acks[device]
	if k == nil {
		k = &wire.Ack{V: wire.Version}
		a.acks[device] = k
		a.order = append(a.order, device)
	}
	return k
}

// commit stores one batch and then acknowledges it to its devices.
func (g *Ingester) commit(ctx context.Context, p *pending) {
	b := &p.b
	b.Now = g.now()
	began := time.Now()
	inserted, err := g.store.Commit(ctx, b)
	g.statsMu.Lock()
	g.stats.Received += int64(p.msgs)
	g.statsMu.Unlock()
	if err != nil {
		// Nothing is acknowledged, so every device sends these again.
		g.log.Error("commit batch; devices will resend", "messages", p.msgs, "err", err)
		if g.metrics != nil {
			g.metrics.messages.WithLabelValues("failed").Add(float64(p.msgs))
		}
		return
	}
	if m := g.metrics; m != nil {
		m.committed(b, p.dead, inserted, time.Since(began))
	}
	g.statsMu.Lock()
	g.stats.Batches++
	g.stats.Committed += int64(inserted)
	g.stats.Duplicates += int64(len(b.Events) - inserted)
	g.stats.DeadLetters += int64(len(b.DeadLetters))
	g.statsMu.Unlock()
	if g.notify != nil {
		c := aggregator.Change{Events: inserted, Gaps: len(b.Gaps), DeadLetters: len(b.DeadLetters)}
		site := func(id string) {
			if !slices.Contains(c.Sites, id) {
				c.Sites = append(c.Sites, id)
			}
		}
		if inserted > 0 {
			for _, e := range b.Events {
				site(e.Site)
			}
		}
		// Road users move a site's rates; a record of a quiet minute changes nothing shown.
		for _, k := range b.Counts {
			for _, n := range k.Counts {
				if n > 0 {
					c.Counts++
					site(k.Site)
					break
				}
			}
		}
		for _, d := range b.Devices {
			c.Devices = append(c.Devices, d.ID)
		}
		if !c.Empty() {
			g.notify(c)
		}
	}
	for _, dev := range p.acks.order {
		if err := g.acker.Ack(dev, *p.acks.acks[dev]); err != nil {
			g.log.Warn("send ack; the device will resend and be acknowledged then", "device", dev, "err", err)
		}
	}
}

// classify validates one message and adds it to the batch as a record or a dead letter.
func (g *Ingester) classify(m Message, p *pending) {
	dead, gaps := len(p.b.DeadLetters), len(p.b.Gaps)
	g.classifyAt(m, p, g.now())
	for _, d := range p.b.DeadLetters[dead:] {
		g.log.Warn("dead letter", "topic", d.Topic, "id", d.PayloadID, "reason", d.Reason)
	}
	for _, gp := range p.b.Gaps[gaps:] {
		g.log.Warn("device reports lost payloads", "device", gp.Device, "reason", gp.Reason, "evicted", gp.Evicted, "not_accepted", gp.NotAccepted)
	}
}

// classifyAt is classify with the times judged against now's clock, and without logging (a
// reprocessing of thousands of dead letters would repeat a line for each).
func (g *Ingester) classifyAt(m Message, p *pending, now time.Time) {
	b, acks := &p.b, &p.acks
	sites := g.sites.Load().byID
	device, kind, err := wire.ParseTopic(m.Topic)
	if d, k, _, cerr := wire.ParseCameraTopic(m.Topic); err != nil && cerr == nil && k == wire.KindFrame {
		// Frames go to Frames, not here: this is a refused frame being reprocessed.
		g.dead(p, m, d, "", ReasonKind, "a reference frame is not reprocessed: ask the camera for a new one (POST /api/v1/registry/cameras/{id}/frame-request)", false)
		return
	}
	if err != nil {
		g.dead(p, m, "", "", ReasonTopic, err.Error(), false)
		return
	}
	// A payload that decoded is kept whole when refused (its size is bounded by the wire's
	// limits), so that it can be reprocessed after a fix: a site added, a camera listed.
	decoded := false
	var recSite, recCamera string // the decoded record's, for the device's rejection
	// reject dead-letters the message; why is one of DeadLetterReasons, and the device is told
	// it as the rejection's code.
	reject := func(id, why, reason string) {
		g.dead(p, m, device, id, why, reason, decoded)
		if id != "" && kind != wire.KindStatus {
			a := acks.get(device)
			a.Rejected = append(a.Rejected, wire.Rejection{ID: id, Reason: reason, Code: why, Site: recSite, Camera: recCamera})
		}
	}
	switch kind {
	case wire.KindEvents:
		e, err := wire.DecodeEvent(m.Payload)
		if err != nil {
			reject(payloadID(m.Payload), ReasonPayload, err.Error())
			return
		}
		decoded, recSite, recCamera = true, e.Site, e.Camera
		if e.Device != device {
			reject(e.ID, ReasonDevice, fmt.Sprintf("device %q in the payload does not match the topic's device %q", e.Device, device))
			return
		}
		site, ok := sites[e.Site]
		if !ok {
			reject(e.ID, ReasonSite, fmt.Sprintf("unknown site %q", e.Site))
			return
		}
		if len(site.Cameras) > 0 && !slices.Contains(site.Cameras, e.Camera) {
			reject(e.ID, ReasonCamera, fmt.Sprintf("camera %q is not one of site %q's cameras", e.Camera, e.Site))
			return
		}
		if _, ok := g.catalog.Entry(e.Type); !ok {
			reject(e.ID, ReasonCatalog, fmt.Sprintf("event type %q has no entry in catalog %s", e.Type, g.catalog.Version))
			return
		}
		if err := g.checkTime(now, "time", e.Time, e.Time); err != nil {
			reject(e.ID, ReasonClock, err.Error())
			return
		}
		pe := aggregator.PricedEvent{Event: aggregator.Event{Device: e.Device, ID: e.ID, Camera: e.Camera, Site: e.Site,
			Zone: e.Zone, Type: e.Type, Class: e.Class, Time: e.Time, Received: m.Received, Confidence: e.Confidence,
			Evidence: e.Evidence, HasEvidence: len(e.Evidence) > 0},
			CatalogVersion: g.catalog.Version}
		if e.Signal != nil {
			pe.SignalSource, pe.TimeIntoRedS = e.Signal.Source, e.Signal.TimeIntoRedS
		}
		pe.Points, pe.Priced = g.catalog.Price(e.Type, site.Kind, e.Confidence)
		b.Events = append(b.Events, pe)
		a := acks.get(device)
		a.Committed = append(a.Committed, e.ID)
	case wire.KindCounts:
		c, err := wire.DecodeCounts(m.Payload)
		if err != nil {
			reject(payloadID(m.Payload), ReasonPayload, err.Error())
			return
		}
		decoded, recSite, recCamera = true, c.Site, c.Camera
		if c.Device != device {
			reject(c.ID, ReasonDevice, fmt.Sprintf("device %q in the payload does not match the topic's device %q", c.Device, device))
			return
		}
		if _, ok := sites[c.Site]; !ok {
			reject(c.ID, ReasonSite, fmt.Sprintf("unknown site %q", c.Site))
			return
		}
		if err := g.checkTime(now, "start", c.Start, c.Start.Add(time.Duration(c.PeriodS)*time.Second)); err != nil {
			reject(c.ID, ReasonClock, err.Error())
			return
		}
		b.Counts = append(b.Counts, aggregator.Counts{Device: c.Device, ID: c.ID, Camera: c.Camera, Site: c.Site, Zone: c.Zone,
			Start: c.Start, PeriodS: c.PeriodS, Counts: c.Counts, Movements: c.Movements})
		a := acks.get(device)
		a.Committed = append(a.Committed, c.ID)
	case wire.KindGaps:
		gp, err := wire.DecodeGap(m.Payload)
		if err != nil {
			reject(payloadID(m.Payload), ReasonPayload, err.Error())
			return
		}
		decoded = true
		if gp.Device != device {
			reject(gp.ID, ReasonDevice, fmt.Sprintf("device %q in the payload does not match the topic's device %q", gp.Device, device))
			return
		}
		if err := g.checkTime(now, "time", gp.Time, gp.Time); err != nil {
			reject(gp.ID, ReasonClock, err.Error())
			return
		}
		b.Gaps = append(b.Gaps, aggregator.Gap{Device: gp.Device, ID: gp.ID, Time: gp.Time, Reason: gp.Reason, Evicted: gp.Evicted,
			NotAccepted: gp.NotAccepted, Oldest: gp.Oldest, Newest: gp.Newest})
		a := acks.get(device)
		a.Committed = append(a.Committed, gp.ID)
	case wire.KindStatus:
		s, err := wire.DecodeStatus(m.Payload)
		if err != nil || s.Device != device {
			why, reason := ReasonDevice, "device in the payload does not match the topic"
			if err != nil {
				why, reason = ReasonPayload, err.Error()
			}
			reject("", why, reason)
			return
		}
		seen := s.Time
		if seen.IsZero() {
			seen = m.Received
		} else if err := g.checkTime(now, "time", s.Time, s.Time); err != nil {
			reject("", ReasonClock, err.Error())
			return
		}
		d := aggregator.Device{ID: device, Online: s.Online, LastSeen: seen, Backlog: s.Backlog,
			OldestPendingS: s.OldestPendingS, Software: s.Software, SignalDisagreements: s.SignalDisagreements, ViewChanges: s.ViewChanges}
		if s.LastViewChange != nil {
			d.LastViewChange = *s.LastViewChange
		}
		if s.ViewMismatchSince != nil {
			d.ViewMismatchSince = *s.ViewMismatchSince
		}
		cams, err := g.cameras(now, s.Cameras)
		if err != nil {
			reject("", ReasonClock, err.Error())
			return
		}
		d.Cameras = cams
		b.Devices = append(b.Devices, d)
	default:
		reject("", ReasonKind, "devices do not publish "+kind)
	}
}

// cameras converts a status's cameras (wire.DecodeStatus has checked each field), sorted by
// id. A camera's last frame may be long past (a camera down for weeks) but not ahead of the
// aggregator's clock by more than ingest.max_clock_ahead: the dashboard would show it as fresh.
func (g *Ingester) cameras(now time.Time, in []wire.CameraStatus) ([]aggregator.CameraStatus, error) {
	out := make([]aggregator.CameraStatus, 0, len(in))
	for i, c := range in {
		a := aggregator.CameraStatus{ID: c.ID, State: c.State, DecodedFPS: c.DecodedFPS, AnalysedFPS: c.AnalysedFPS,
			Reconnects: c.Reconnects, ViewChanges: c.ViewChanges, ViewMismatch: c.ViewMismatch, Error: c.Error}
		for _, s := range c.Signals {
			a.Signals = append(a.Signals, aggregator.SignalState{ID: s.ID, State: s.State, Source: s.Source})
		}
		if c.LastFrame != nil {
			if c.LastFrame.After(now.Add(g.cfg.MaxAhead)) {
				return nil, fmt.Errorf("%w: cameras[%d].last_frame: %s is more than %v after the aggregator's clock (%s)", wire.ErrInvalid, i,
					c.LastFrame.UTC().Format(time.RFC3339), g.cfg.MaxAhead, now.UTC().Format(time.RFC3339))
			}
			a.LastFrame = c.LastFrame.UTC()
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b aggregator.CameraStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// checkTime reports whether a record that starts at from and ends at to lies within the
// window around the aggregator's clock: a device whose clock is years off, or a forged time,
// would otherwise place events outside every score window or far in the future.
func (g *Ingester) checkTime(now time.Time, field string, from, to time.Time) error {
	if from.Before(now.Add(-g.cfg.MaxAge)) {
		return fmt.Errorf("%w: %s: %s is more than %v before the aggregator's clock (%s)", wire.ErrInvalid, field,
			from.UTC().Format(time.RFC3339), g.cfg.MaxAge, now.UTC().Format(time.RFC3339))
	}
	if to.After(now.Add(g.cfg.MaxAhead)) {
		return fmt.Errorf("%w: %s: %s is more than %v after the aggregator's clock (%s)", wire.ErrInvalid, field,
			to.UTC().Format(time.RFC3339), g.cfg.MaxAhead, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// dead adds a dead letter with at most DeadLetterBytes of the payload (all of it when whole):
// a copy, so that a large rejected payload is not kept whole until the commit. why is one of
// DeadLetterReasons (the metrics' label), reason the full text.
func (g *Ingester) dead(pd *pending, m Message, device, id, why, reason string, whole bool) {
	if pd.dead == nil {
		pd.dead = map[string]int{}
	}
	pd.dead[why]++
	b := &pd.b
	p := m.Payload
	if !whole && len(p) > g.cfg.DeadLetterBytes {
		p = bytes.Clone(p[:g.cfg.DeadLetterBytes])
	}
	b.DeadLetters = append(b.DeadLetters, aggregator.DeadLetter{Received: m.Received, Topic: m.Topic, Device: device,
		PayloadID: id, Reason: reason, Payload: p, Size: len(m.Payload)})
}

// payloadID recovers the id of a payload that failed validation, if it has a usable one, so
// the device can be told and stop resending it.
func payloadID(b []byte) string {
	var p struct {
		ID string `json:"id"`
	}
	if len(b) > wire.MaxEventBytes || json.Unmarshal(b, &p) != nil || wire.CheckID(p.ID) != nil {
		return ""
	}
	return p.ID
}
