package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// camState is what a camera's metrics, status and readiness read; it outlives the camera's
// restarts, so that its counters only go up.
type camState struct {
	id         string
	meter      edge.Meter
	up         atomic.Bool
	reason     atomic.Pointer[string] // why it is down
	reconnects atomic.Int64
	pipe       atomic.Pointer[pipeline.Pipeline] // the running pipeline, nil between runs
	// reconnecting, rate and onChange are the camera's status to the aggregator (camstatus.go).
	reconnecting atomic.Bool
	rate         camRate
	onChange     func() // told when the camera goes down or comes back; set before it runs
	// stills, asked, scene: the camera's reference stills (refframe.go).
	stills edge.StillRequest
	asked  atomic.Int64             // when the aggregator last asked for a still (Unix ns)
	scene  atomic.Pointer[[32]byte] // digest of the scene it last ran with
}

func (s *camState) setUp() {
	s.reconnecting.Store(false)
	if !s.up.Swap(true) {
		s.changed()
	}
}

func (s *camState) setDown(why string) {
	s.reason.Store(&why)
	s.reconnecting.Store(false)
	if s.up.Swap(false) {
		s.changed()
	}
}

func (s *camState) downReason() string {
	if r := s.reason.Load(); r != nil {
		return *r
	}
	return "not started"
}

// boxMetrics is the box's Prometheus collector: it reads the cameras' atomics and the outbox
// at scrape time, so that nothing on a frame's path takes a lock for metrics. The detector
// histogram is the one metric written per frame: Observe is lock-free.
type boxMetrics struct {
	d        *Daemon
	detector *prometheus.HistogramVec
	events   map[string]*atomic.Int64 // by type; fixed at start, read-only map
	gaps     map[string]*atomic.Int64 // by reason

	mu     sync.Mutex
	states map[string]*camState // guarded by mu

	up, decoded, analysed, dropped, lag, reconnects, views *prometheus.Desc
	rows, bytes, oldest, inflight, acks, eventsD, gapsD    *prometheus.Desc
	rejected, connected, build                             *prometheus.Desc
}

// rejectReasons are the labels of crosswatch_edge_rejected_total: the wire's codes, and
// "other" for an ack without one or with a code this edge does not know.
var rejectReasons = append(slices.Clone(wire.RejectionCodes), wire.RejectOther)

// gapReasons are the labels of crosswatch_edge_gaps_total.
var gapReasons = []string{wire.GapOutboxFull, wire.GapDiskFull, wire.GapSourceDown, wire.GapViewMismatch}

func newBoxMetrics(d *Daemon) *boxMetrics {
	cam := []string{"camera"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("crosswatch_edge_"+name, help, labels, nil)
	}
	m := &boxMetrics{d: d, events: map[string]*atomic.Int64{}, gaps: map[string]*atomic.Int64{}, states: map[string]*camState{},
		detector: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crosswatch_edge_detector_seconds",
			Help:    "Time of one detector run on an analysed frame.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .04, .08, .16, .32, .64, 1.28}}, cam),
		up:         desc("camera_up", "1 while the camera's source delivers frames to its pipeline.", cam),
		decoded:    desc("frames_decoded_total", "Frames read from the camera's source, analysed or not.", cam),
		analysed:   desc("frames_analysed_total", "Frames through the camera's analysis (signals, motion gate, view check, rules).", cam),
		dropped:    desc("frames_dropped_total", "Live frames dropped because the analysis was behind.", cam),
		lag:        desc("pipeline_lag_seconds", "From the latest analysed frame's decoding to the end of its analysis and commit.", cam),
		reconnects: desc("source_reconnects_total", "Times the camera's live source dropped and came back.", cam),
		views:      desc("view_changes_total", "Times the camera's picture changed almost entirely at once (a cut, a knock).", cam),
		rows:       desc("outbox_rows", "Messages in the outbox not yet acknowledged.", nil),
		bytes:      desc("outbox_bytes", "Payload bytes in the outbox.", nil),
		oldest:     desc("outbox_oldest_pending_seconds", "Age of the oldest message in the outbox (0: empty).", nil),
		inflight:   desc("inflight", "Messages sent to the broker and not yet acknowledged by the aggregator.", nil),
		acks:       desc("acks_total", "Messages the aggregator acknowledged (committed or dead-lettered).", nil),
		eventsD:    desc("events_total", "Events the box's rules found, by type.", []string{"type"}),
		gapsD:      desc("gaps_total", "Gap records written, by kind (reason).", []string{"kind"}),
		rejected: desc("rejected_total", "Records the aggregator refused (kept as dead letters there; deleted here), by reason: "+
			strings.Join(rejectReasons, ", ")+".", []string{"reason"}),
		connected: desc("broker_connected", "1 while the MQTT connection is up.", nil),
		build:     desc("build_info", "The running build; always 1.", []string{"version"}),
	}
	for _, t := range eventTypes {
		m.events[t] = new(atomic.Int64)
	}
	for _, r := range gapReasons {
		m.gaps[r] = new(atomic.Int64)
	}
	return m
}

// camera returns the state of camera id, made at its first start; its metrics appear now.
func (m *boxMetrics) camera(id string) *camState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.states[id]; ok {
		return s
	}
	s := &camState{id: id, onChange: m.d.kickStatus}
	s.rate.sample(time.Now(), 0, 0)     // the first status's rates are since the camera's start
	h := m.detector.WithLabelValues(id) // once per camera: Observe then neither allocates nor locks
	s.meter.OnDetect = h.Observe
	s.meter.OnEvent = m.countEvent
	s.meter.OnGap = m.countGap
	m.states[id] = s
	return s
}

// forget removes a camera that left the config, and its series.
func (m *boxMetrics) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, id)
	m.detector.DeleteLabelValues(id)
}

func (m *boxMetrics) countEvent(typ string) {
	if c := m.events[typ]; c != nil {
		c.Add(1)
	}
}

func (m *boxMetrics) countGap(reason string) {
	if c := m.gaps[reason]; c != nil {
		c.Add(1)
	}
}

// countGaps wraps the outbox's gap-record builder to count its gaps by reason.
func (m *boxMetrics) countGaps(build func(edge.GapInfo) edge.Message) func(edge.GapInfo) edge.Message {
	return func(g edge.GapInfo) edge.Message {
		m.countGap(g.Reason)
		return build(g)
	}
}

// snapshot returns the cameras' states, by id.
func (m *boxMetrics) snapshot() []*camState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*camState, 0, len(m.states))
	for _, s := range m.states {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Describe implements prometheus.Collector.
func (m *boxMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.detector.Describe(ch)
	for _, d := range []*prometheus.Desc{m.up, m.decoded, m.analysed, m.dropped, m.lag, m.reconnects, m.views,
		m.rows, m.bytes, m.oldest, m.inflight, m.acks, m.eventsD, m.gapsD, m.rejected, m.connected, m.build} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *boxMetrics) Collect(ch chan<- prometheus.Metric) {
	m.detector.Collect(ch)
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range m.snapshot() {
		ch <- prometheus.MustNewConstMetric(m.up, gauge, b2f(s.up.Load()), s.id)
		ch <- prometheus.MustNewConstMetric(m.decoded, counter, float64(s.meter.Decoded.Load()), s.id)
		ch <- prometheus.MustNewConstMetric(m.analysed, counter, float64(s.meter.Analysed.Load()), s.id)
		ch <- prometheus.MustNewConstMetric(m.dropped, counter, float64(s.meter.Dropped.Load()), s.id)
		ch <- prometheus.MustNewConstMetric(m.lag, gauge, time.Duration(s.meter.LagNanos.Load()).Seconds(), s.id)
		ch <- prometheus.MustNewConstMetric(m.reconnects, counter, float64(s.reconnects.Load()), s.id)
		ch <- prometheus.MustNewConstMetric(m.views, counter, float64(s.meter.ViewChanges.Load()), s.id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st, err := m.d.ob.Stats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(m.rows, gauge, float64(st.Rows))
		ch <- prometheus.MustNewConstMetric(m.bytes, gauge, float64(st.Bytes))
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, time.Since(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(m.oldest, gauge, age)
	}
	rs := m.d.snd.Relay.Stats()
	ch <- prometheus.MustNewConstMetric(m.inflight, gauge, float64(rs.InFlight))
	ch <- prometheus.MustNewConstMetric(m.acks, counter, float64(rs.Acked))
	for _, t := range eventTypes {
		ch <- prometheus.MustNewConstMetric(m.eventsD, counter, float64(m.events[t].Load()), t)
	}
	for _, r := range gapReasons {
		ch <- prometheus.MustNewConstMetric(m.gapsD, counter, float64(m.gaps[r].Load()), r)
	}
	rej := m.d.snd.Rejections.ByCode()
	for _, r := range rejectReasons {
		ch <- prometheus.MustNewConstMetric(m.rejected, counter, float64(rej[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(m.connected, gauge, b2f(m.d.snd.Client.Connected()))
	ch <- prometheus.MustNewConstMetric(m.build, gauge, 1, buildinfo.Version())
}

// handler serves /metrics, /healthz (the process is alive) and /readyz (every camera up, the
// outbox writable, the broker connected, no camera's records refused for an unknown site or
// camera; the body says what fails).
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		fails := d.notReady(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(fails) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+strings.Join(fails, "; "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// notReady lists what keeps the box from being ready, one item per failure.
func (d *Daemon) notReady(ctx context.Context) []string {
	var fails []string
	for _, s := range d.met.snapshot() {
		if !s.up.Load() {
			fails = append(fails, "camera "+s.id+" down: "+s.downReason())
		}
	}
	if _, err := d.ob.Stats(ctx); err != nil {
		fails = append(fails, "outbox not readable: "+err.Error())
	} else if err := d.store.LastAppendErr(); err != nil {
		fails = append(fails, "outbox not writable: "+err.Error())
	}
	if !d.snd.Client.Connected() {
		fails = append(fails, "broker "+d.Box.Config.Broker.URL+" not connected")
	}
	// Records that cannot land until the aggregator's registry or the scene is fixed: until a
	// later record of the camera is committed, or its scene changes (sender.Rejections).
	for _, f := range d.snd.Rejections.Blocking() {
		fails = append(fails, f.String())
	}
	return fails
}
