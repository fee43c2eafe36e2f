// Package pipeline is one camera's logic: it takes one observation per analysed frame (from
// edge/vision's Analyser, or a recorded sequence), combines the signal sources, tracks, runs
// the rules, encodes what they find for the wire and writes it to the outbox. No pixels: the
// frames, and the evidence made of them, stay with the analyser behind two interfaces.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/rules"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/track"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/hw/signal"
)

// Observations yields what the analysis of each frame found (vision.Analyser).
type Observations interface {
	// Next returns the next analysed frame's observation, valid until the next call. It returns
	// io.EOF at the end of the stream, ctx's error once ctx ends, and any other error when the
	// source fails.
	Next(ctx context.Context) (*edge.Observation, error)
}

// Evidence keeps recent frames and makes an event's evidence image from them
// (vision.Analyser). Its frames are the observations'.
type Evidence interface {
	// KeepStill keeps the latest observation's frame, with its tracks and detections, unless
	// it has it already; after the end of the stream it does nothing.
	KeepStill(tracks []edge.Track, dets []edge.Detection)
	// NewestStill returns the stream time of the newest frame kept; false: none yet.
	NewestStill() (time.Duration, bool)
	// Evidence returns the evidence image of event e judged at stream time pos, made of the
	// kept frames around pos; nil and no error when none was kept.
	Evidence(e edge.Event, pos time.Duration) ([]byte, error)
}

// Outbox stores messages durably before they are sent.
type Outbox interface {
	// Append commits messages; when it returns nil they survive a crash.
	Append(ctx context.Context, msgs ...edge.Message) error
}

// Config describes one camera's pipeline.
type Config struct {
	Device string
	Scene  *scene.Scene
	// Width and Height are the analysed frame's size (vision.Analyser.Size): the pixels of the
	// observations' boxes.
	Width, Height int
	Start         time.Time // wall-clock time of stream position 0
	CountPeriod   time.Duration
	// Evidence, if set, makes each event's evidence image; the event waits for its "after"
	// still (edge.EvidenceSpan of stream time) before it goes to the outbox.
	Evidence Evidence
	// Feed holds the signal controller's phases, for signals with feed: true; may be nil.
	Feed *signal.Feed
	// Meter, if set, receives the per-frame counters; it may outlive the pipeline (a camera
	// restarted keeps its counters).
	Meter *edge.Meter
	// Stills, if set with Still and OnStill, is how others ask for a reference still: the
	// pipeline takes a request at the next analysed frame, has Still make it and hands it to
	// OnStill (on the analysis goroutine; it must not block). Nothing is copied while nobody
	// asks.
	Stills  *edge.StillRequest
	Still   Still
	OnStill func(jpeg []byte, at time.Time, reason string)
	// OnSignals, if set, is told when a signal's state or source changes (Signals has the new
	// ones); it runs on the analysis goroutine and must not block.
	OnSignals func()
}

// Still makes the anonymised reference still of the frame being analysed (vision.Analyser).
type Still interface {
	// Still returns the still's JPEG, made from the latest observation's frame with its tracks
	// and detections; nil and no error when it cannot make one that may leave the box.
	Still(tracks []edge.Track, dets []edge.Detection) ([]byte, error)
}

// Stats summarises a run.
type Stats struct {
	Frames   int // decoded
	Analysed int // passed the motion gate and ran the detector
	Events   map[string]int
	Counts   int // count records written
	// ViewChanges counts the frames where the picture changed almost entirely (a cut, a camera
	// knocked or turned): every track was ended there, so no event straddles two views.
	ViewChanges int
	// Quarantines counts the times the view stopped matching the scene's reference (a view
	// change, or a picture unlike the reference for a while); Quarantined is the stream time
	// spent so, when the camera judged and counted nothing. Each quarantine goes out as a gap
	// record (wire.GapViewMismatch), so that the hole in the counts is not silent.
	Quarantines int
	Quarantined time.Duration
	// QuarantineAt is the stream time each quarantine began (the first maxQuarantineAt).
	QuarantineAt []time.Duration
	// ReferenceLearned says the scene had no view reference and one was learned from the video.
	ReferenceLearned bool
	// Tracks is what the tracker did: tracks begun, dormant vehicles found again (each an
	// identity switch avoided), riders found by their speed.
	Tracks  track.Stats
	Stream  time.Duration
	Elapsed time.Duration
	// EventLatency is, per event, the time from its frame's decoding to its outbox commit.
	EventLatency []time.Duration
}

// Pipeline is one camera's logic. Not safe for concurrent use (the methods that say so aside).
type Pipeline struct {
	cfg       Config
	obs       Observations
	ob        Outbox
	notify    func()
	log       *slog.Logger
	sources   *signal.Sources
	tracker   *track.Tracker
	rules     *rules.Engine
	zoneIdx   map[string]int
	pending   []edge.Message
	newEvents int // events in pending
	// The frame being analysed: its tracks and detections, for evidence stills kept inside
	// rules.Step; inFrame is false once the loop is over.
	curTracks []edge.Track
	curDets   []edge.Detection
	inFrame   bool
	ev        *evidence // with Config.Evidence: the events waiting for their stills
	w, h      int       // the analysed frame's size
	stats     Stats
	err       error
	gaps      chan [2]time.Time // source outages, from the source's goroutine
	// viewWarned is the stream time of the last view-change warning and viewWarnedN the number
	// of view changes by then: a camera swinging in the wind warns once per viewWarnEvery, not
	// once per frame.
	viewWarned  time.Duration
	viewWarnedN int
	// views is Stats.ViewChanges and lastView the time of the latest (Unix ms), for
	// ViewChanges from another goroutine.
	views, lastView atomic.Int64
	// quarantined and quarantineSince follow the observations' quarantine.
	quarantined     bool
	quarantineSince time.Time
	// mismatchSince is when the current quarantine began (Unix ms; 0: the view matches), for
	// ViewMismatch from another goroutine.
	mismatchSince atomic.Int64
	// signals is each scene signal's state now (signalCode), for Signals from another
	// goroutine; unread is the source a signal nobody reads is reported with.
	signals []atomic.Uint32
	unread  []string
}

const viewWarnEvery = 10 * time.Second

// SourceGap records that the source was down from one time to another; the gap record goes to
// the outbox with the next frame. Safe to call from the source's goroutine; never blocks.
func (p *Pipeline) SourceGap(from, to time.Time) {
	select {
	case p.gaps <- [2]time.Time{from, to}:
	default:
		p.log.Warn("source gap not recorded: too many at once", "from", from, "to", to)
	}
}

func (p *Pipeline) addGaps() {
	for {
		select {
		case g := <-p.gaps:
			wg := wire.Gap{V: wire.Version, ID: p.cfg.Scene.Camera + "-down-" + strconv.FormatInt(g[0].UnixMilli(), 10), Device: p.cfg.Device,
				Time: g[1].UTC(), Reason: wire.GapSourceDown, Evicted: map[string]int{}, Oldest: g[0].UTC(), Newest: g[1].UTC()}
			p.add(wg.ID, wire.KindGaps, edge.GapSeverity, wg) // never evicted, like the outbox's own gap records
			if f := p.meter().OnGap; f != nil {
				f(wire.GapSourceDown)
			}
		default:
			return
		}
	}
}

// New builds the pipeline over obs. notify is called after each commit to the outbox.
func New(cfg Config, obs Observations, ob Outbox, notify func(), log *slog.Logger) *Pipeline {
	s := cfg.Scene
	p := &Pipeline{cfg: cfg, obs: obs, ob: ob, notify: notify, log: log, w: cfg.Width, h: cfg.Height,
		sources: signal.NewSources(s.Signals, cfg.Feed),
		tracker: track.New(track.DefaultConfig()),
		rules:   rules.New(s, cfg.Width, cfg.Height, cfg.CountPeriod),
		zoneIdx: map[string]int{},
		stats:   Stats{Events: map[string]int{}},
		gaps:    make(chan [2]time.Time, 16),
	}
	if cfg.Evidence != nil {
		p.ev = &evidence{}
	}
	p.signals = make([]atomic.Uint32, min(len(s.Signals), wire.MaxCameraSignals))
	p.unread = make([]string, len(p.signals))
	for i := range p.unread {
		p.unread[i] = unreadSource(s.Signals[i])
	}
	// Zone numbers in event and count ids: approaches, crosswalks, roadways, platform edges,
	// tracks, in scene order (a scene's zone ids are unique).
	n := 0
	ids, _ := zones(s)
	for _, id := range ids {
		p.zoneIdx[id] = n
		n++
	}
	return p
}

// ZoneSites returns the site of each zone by the number EventID and CountsID give it.
func ZoneSites(s *scene.Scene) []string {
	_, sites := zones(s)
	return sites
}

// zones returns the scene's zone ids in the order that numbers them, and their sites.
func zones(s *scene.Scene) (ids, sites []string) {
	add := func(id, site string) { ids, sites = append(ids, id), append(sites, site) }
	for _, a := range s.Approaches {
		add(a.ID, a.Site)
	}
	for _, c := range s.Crosswalks {
		add(c.ID, c.Site)
	}
	for _, z := range s.Roadways {
		add(z.ID, z.Site)
	}
	for _, z := range s.PlatformEdges {
		add(z.ID, z.Site)
	}
	for _, z := range s.Tracks {
		add(z.ID, z.Site)
	}
	for _, c := range s.CountLines { // last: the zones before keep their indexes
		add(c.ID, c.Site)
	}
	return ids, sites
}

// Run takes the observations to the end of the stream or until ctx ends, then flushes partial
// counts. progress, if not nil, is called about every half second of wall time.
func (p *Pipeline) Run(ctx context.Context, progress func(Stats)) (Stats, error) {
	began := time.Now()
	lastProgress := began
	var lastTrack time.Duration
	for {
		o, err := p.obs.Next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			break
		}
		if err != nil {
			return p.finish(ctx, began, err)
		}
		p.stats.Frames = o.Seq
		p.stats.Stream = o.Pos
		p.meter().Analysed.Add(1)
		now := o.Time
		signals := p.sources.Combine(now, o.Signals)
		p.noteSignals(signals)
		if o.ReferenceLearned {
			p.stats.ReferenceLearned = true
		}
		if o.QuarantineChanged {
			p.quarantine(o)
		}
		if o.ViewChanged {
			p.viewChanged(o)
		}
		if o.Quarantined {
			// The zones do not fit what the camera shows: nothing is judged, nothing tracked.
			p.curTracks = nil
			lastTrack = o.Pos
		} else if !o.Skipped { // a frame between two of detector.stride: the next predicts across it
			if o.Detected {
				p.stats.Analysed++
				if f := p.meter().OnDetect; f != nil {
					f(o.DetectTime.Seconds())
				}
			}
			// When nothing moved, the last detections still hold: the tracker sees everything
			// where it was (its velocities settle to zero) and dwell rules keep counting a person
			// who stands too still for the gate.
			dt := float32((o.Pos - lastTrack).Seconds())
			lastTrack = o.Pos
			tracks, ended := p.tracker.Update(dt, o.Detections)
			p.curTracks, p.curDets, p.inFrame = tracks, o.Detections, true
			p.rules.Step(now, signals, tracks, ended, p)
			if p.ev != nil {
				p.evidenceFrame(o.Pos, tracks, o.Detections)
			}
		}
		if p.cfg.Stills != nil && p.cfg.Still != nil && p.cfg.OnStill != nil {
			if reason, ok := p.cfg.Stills.Take(); ok {
				p.sendStill(o.Time, reason)
			}
		}
		decoded := o.Decoded
		p.addGaps()
		events := p.newEvents
		if err := p.commit(ctx); err != nil {
			return p.finish(ctx, began, err)
		}
		p.meter().LagNanos.Store(int64(time.Since(decoded)))
		if events > 0 {
			// From the decoded frame that completed the events to their durable commit.
			lat := time.Since(decoded)
			for ; events > 0; events-- {
				p.stats.EventLatency = append(p.stats.EventLatency, lat)
			}
			p.newEvents = 0
		}
		if progress != nil && time.Since(lastProgress) > 500*time.Millisecond {
			lastProgress = time.Now()
			p.stats.Elapsed = time.Since(began)
			progress(p.stats)
		}
	}
	p.inFrame = false // the stream is over: events from Flush take their stills from those kept
	p.rules.Flush(p)
	if p.quarantined {
		end := p.cfg.Start.Add(p.stats.Stream)
		p.stats.Quarantined += end.Sub(p.quarantineSince)
		p.viewGap(p.quarantineSince, end) // still quarantined at the end: the hole so far
	}
	return p.finish(ctx, began, nil)
}

// viewChanged ends every track and starts the rules on a new view: the picture changed almost
// entirely at once.
func (p *Pipeline) viewChanged(o *edge.Observation) {
	p.stats.ViewChanges++
	p.lastView.Store(o.Time.UnixMilli())
	p.views.Add(1)
	p.meter().ViewChanges.Add(1)
	if p.viewWarnedN == 0 || o.Pos-p.viewWarned >= viewWarnEvery {
		p.log.Warn("camera view changed; tracks restarted (check the scene still fits)", "camera", p.cfg.Scene.Camera,
			"stream_time", o.Pos, "changes_since_last_warning", p.stats.ViewChanges-p.viewWarnedN)
		p.viewWarned, p.viewWarnedN = o.Pos, p.stats.ViewChanges
	}
	p.tracker.Reset()
	p.rules.Restart(o.Time)
}

// maxQuarantineAt bounds Stats.QuarantineAt: a camera swinging in the wind is quarantined
// again and again.
const maxQuarantineAt = 100

// quarantine follows the analyser's view check: a quarantine that begins is counted and
// logged; one that ends goes out as a gap record, and no track or rule state from before it
// carries over.
func (p *Pipeline) quarantine(o *edge.Observation) {
	p.quarantined, p.quarantineSince = o.Quarantined, o.QuarantineSince
	if o.Quarantined {
		p.stats.Quarantines++
		if len(p.stats.QuarantineAt) < maxQuarantineAt {
			p.stats.QuarantineAt = append(p.stats.QuarantineAt, o.QuarantineSince.Sub(p.cfg.Start))
		}
		p.mismatchSince.Store(o.QuarantineSince.UnixMilli())
		p.log.Warn("camera view does not match its scene: nothing judged or counted until it does", "camera", p.cfg.Scene.Camera,
			"stream_time", o.QuarantineSince.Sub(p.cfg.Start))
		return
	}
	now := o.Time
	p.stats.Quarantined += now.Sub(o.QuarantineSince)
	p.viewGap(o.QuarantineSince, now)
	p.mismatchSince.Store(0)
	p.log.Warn("camera view matches its scene again: events resume", "camera", p.cfg.Scene.Camera, "stream_time", o.Pos,
		"quarantined_for", now.Sub(o.QuarantineSince))
	p.tracker.Reset()
	p.rules.Restart(now)
}

// viewGap records a quarantine from one time to another as a gap record: nothing was judged
// or counted then.
func (p *Pipeline) viewGap(from, to time.Time) {
	g := wire.Gap{V: wire.Version, ID: p.cfg.Scene.Camera + "-view-" + strconv.FormatInt(from.UnixMilli(), 10), Device: p.cfg.Device,
		Time: to.UTC(), Reason: wire.GapViewMismatch, Evicted: map[string]int{}, Oldest: from.UTC(), Newest: to.UTC()}
	p.add(g.ID, wire.KindGaps, edge.GapSeverity, g)
	if f := p.meter().OnGap; f != nil {
		f(wire.GapViewMismatch)
	}
}

// noMeter stands in for a pipeline built without a Meter.
var noMeter edge.Meter

func (p *Pipeline) meter() *edge.Meter {
	if p.cfg.Meter != nil {
		return p.cfg.Meter
	}
	return &noMeter
}

// ViewMismatch reports whether the camera's view does not match its scene now (the camera is
// quarantined), and since when. Safe for concurrent use.
func (p *Pipeline) ViewMismatch() (bool, time.Time) {
	ms := p.mismatchSince.Load()
	if ms == 0 {
		return false, time.Time{}
	}
	return true, time.UnixMilli(ms).UTC()
}

func (p *Pipeline) finish(ctx context.Context, began time.Time, err error) (Stats, error) {
	// What the rules already found is committed even when the source failed or ctx ended.
	p.flushEvidence()
	cerr := p.commit(context.WithoutCancel(ctx))
	p.stats.Elapsed = time.Since(began)
	p.stats.Tracks = p.tracker.Stats()
	return p.stats, errors.Join(err, cerr, p.err)
}

func (p *Pipeline) commit(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	if err := p.ob.Append(ctx, p.pending...); err != nil {
		return fmt.Errorf("write %d messages to the outbox: %w", len(p.pending), err)
	}
	p.pending = p.pending[:0]
	if p.notify != nil {
		p.notify()
	}
	return nil
}

// SignalDisagreements returns how often two signal-state sources disagreed. Safe for
// concurrent use.
func (p *Pipeline) SignalDisagreements() int { return p.sources.Disagreements() }

// Tracks returns a copy of the last analysed frame's tracks, in pixels of the analysed frame,
// whose size it also returns. For drawing, after Run.
func (p *Pipeline) Tracks() (tracks []edge.Track, w, h int) {
	return append([]edge.Track(nil), p.curTracks...), p.w, p.h
}

// ViewChanges returns how often the camera's picture changed almost entirely at once, and the
// stream time of the latest. Safe for concurrent use.
func (p *Pipeline) ViewChanges() (int, time.Time) {
	n := p.views.Load()
	if n == 0 {
		return 0, time.Time{}
	}
	return int(n), time.UnixMilli(p.lastView.Load()).UTC()
}

var typeCodes = map[string]string{wire.RedLightRunning: "rl", wire.PedAgainstSignal: "pa", wire.Jaywalking: "jw",
	wire.PlatformEdgeIntrusion: "pe", wire.TrackIntrusion: "ti"}

// EventID is unique per device and stable across restarts: the same event in the same stream
// always gets the same id, so a re-delivered or re-replayed event is recognisable.
func EventID(camera string, t time.Time, typ string, zone, track int) string {
	return camera + "-" + strconv.FormatInt(t.UnixMilli(), 10) + "-" + typeCodes[typ] + strconv.Itoa(zone) + "-t" + strconv.Itoa(track)
}

// CountsID is the id of a camera's count record of a zone for the period from start: unique
// per device and stable across restarts, as EventID.
func CountsID(camera string, zone int, start time.Time) string {
	return camera + "-c" + strconv.Itoa(zone) + "-" + strconv.FormatInt(start.UnixMilli(), 10)
}

// ParseID returns the kind of payload (wire.KindEvents or wire.KindCounts) and the zone number
// of an id that EventID or CountsID made for camera; kind is "" for any other id. An id of a
// camera whose name extends camera's ("cam-1" and "cam-1-b") is told apart by the shape of the
// rest.
func ParseID(id, camera string) (kind string, zone int) {
	rest, ok := strings.CutPrefix(id, camera+"-")
	if !ok {
		return "", 0
	}
	parts := strings.Split(rest, "-")
	switch {
	case len(parts) == 3 && digits(parts[0]) && len(parts[1]) > 2 && lower(parts[1][:2]) && digits(parts[1][2:]) &&
		strings.HasPrefix(parts[2], "t") && digits(parts[2][1:]):
		kind, rest = wire.KindEvents, parts[1][2:] // {unix ms}-{rule code}{zone}-t{track}
	case len(parts) == 2 && strings.HasPrefix(parts[0], "c") && digits(parts[0][1:]) && digits(parts[1]):
		kind, rest = wire.KindCounts, parts[0][1:] // c{zone}-{period start ms}
	default:
		return "", 0
	}
	zone, err := strconv.Atoi(rest)
	if err != nil {
		return "", 0
	}
	return kind, zone
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func lower(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") == ""
}

// Event implements rules.Sink.
func (p *Pipeline) Event(e edge.Event) {
	we := wire.Event{V: wire.Version, ID: EventID(p.cfg.Scene.Camera, e.Time, e.Type, p.zoneIdx[e.Zone], e.Track),
		Device: p.cfg.Device, Camera: p.cfg.Scene.Camera, Site: e.Site, Zone: e.Zone, Type: e.Type,
		Time: e.Time.UTC(), Class: e.Class.String(), Confidence: e.Confidence}
	if s := e.Signal; s != nil {
		we.Signal = &wire.Signal{Source: s.Source, State: s.Light.String(), TimeIntoRedS: max(0, e.Time.Sub(s.Since).Seconds()), OnsetSeen: s.OnsetSeen}
	}
	p.stats.Events[e.Type]++
	if f := p.meter().OnEvent; f != nil {
		f(e.Type)
	}
	if p.ev != nil {
		p.holdEvent(we, e) // to the outbox with its evidence, once the "after" still has come
		p.log.Debug("event", "id", we.ID, "type", e.Type, "site", e.Site)
		return
	}
	p.add(we.ID, wire.KindEvents, edge.Severity(e.Type), we)
	p.newEvents++
	p.log.Debug("event", "id", we.ID, "type", e.Type, "site", e.Site)
}

// Count implements rules.Sink. While the camera is quarantined nothing is counted, so a
// period that overlapped a quarantine holds the road users of its matching part only, as its
// events do; the quarantine's gap record says which part.
func (p *Pipeline) Count(c edge.Count) {
	wc := countsPayload(p.cfg.Device, p.cfg.Scene.Camera, c)
	wc.ID = CountsID(p.cfg.Scene.Camera, p.zoneIdx[c.Zone], c.Start)
	p.add(wc.ID, wire.KindCounts, edge.Severity("counts"), wc)
	p.stats.Counts++
}

// countsPayload is the wire form of a count (without its id): classes by name, unknown and
// zero counts left out, turning movements only when there are any.
func countsPayload(device, camera string, c edge.Count) wire.Counts {
	wc := wire.Counts{V: wire.Version, Device: device, Camera: camera, Site: c.Site, Zone: c.Zone,
		Start: c.Start.UTC(), PeriodS: int(c.Period.Seconds()), Counts: map[string]int{}}
	for cls, n := range c.N {
		if n > 0 && edge.Class(cls) != edge.ClassUnknown {
			wc.Counts[edge.Class(cls).String()] = n
		}
	}
	for m, byClass := range c.Movements {
		for cls, n := range byClass {
			if n > 0 && edge.Class(cls) != edge.ClassUnknown {
				if wc.Movements == nil {
					wc.Movements = map[string]map[string]int{}
				}
				if wc.Movements[m] == nil {
					wc.Movements[m] = map[string]int{}
				}
				wc.Movements[m][edge.Class(cls).String()] = n
			}
		}
	}
	return wc
}

func (p *Pipeline) add(id, kind string, severity int, v any) {
	b, err := wire.Encode(v)
	if err != nil {
		p.err = errors.Join(p.err, fmt.Errorf("encode %s: %w", id, err))
		return
	}
	p.pending = append(p.pending, edge.Message{ID: id, Topic: wire.Topic(p.cfg.Device, kind), Payload: b, Severity: severity})
}
