package ingest

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// OtherSite is the site label of the per-site series of every site beyond MetricsConfig.MaxSites.
const OtherSite = "other"

// DeadLetterReasons are the values of crosswatch_dead_letters_total's reason label: a fixed
// set, so that a device sending junk cannot grow the series (the full reason is in the
// dead-letter table, /api/v1/dead-letters).
var DeadLetterReasons = []string{
	ReasonTopic, ReasonPayload, ReasonDevice, ReasonSite, ReasonCamera, ReasonCatalog, ReasonClock, ReasonKind,
}

// The reasons a message is dead-lettered. Those of a record a device sent are the wire's
// rejection codes: the device is told them in its ack (wire.Rejection.Code).
const (
	ReasonTopic   = "topic"                  // not a crosswatch/v1/{device}/{kind} topic
	ReasonPayload = wire.RejectPayload       // the payload does not decode or is invalid
	ReasonDevice  = wire.RejectDevice        // the payload's device is not the topic's
	ReasonSite    = wire.RejectUnknownSite   // the site is not configured
	ReasonCamera  = wire.RejectUnknownCamera // the camera is not one of its site's
	ReasonCatalog = wire.RejectNoCatalog
	ReasonClock   = wire.RejectClock // its time lies outside the window around the aggregator's clock
	ReasonKind    = "kind"           // devices do not publish this kind of message
)

// MetricsConfig bounds the per-site series.
type MetricsConfig struct {
	// Sites are the configured site ids, in configuration order; the first MaxSites have their
	// own crosswatch_site_events_total series and the rest share site="other", so a
	// deployment with thousands of sites does not make thousands of series per type.
	Sites    []string
	MaxSites int
	// Types are the catalog's event types: their series start at 0, so that rate() and
	// increase() see the first event.
	Types []string
}

// Metrics are the ingester's Prometheus metrics.
type Metrics struct {
	messages    *prometheus.CounterVec // by outcome
	batches     prometheus.Counter
	commitDur   prometheus.Histogram
	queue       prometheus.GaugeFunc
	events      *prometheus.CounterVec // new events by type
	siteEvents  *prometheus.CounterVec // new events by site (bounded) and type
	deadLetters *prometheus.CounterVec // by reason
	ownSeries   map[string]bool        // the sites with their own site label
}

// NewMetrics registers the ingester's metrics with reg; queueLen reports the queue depth.
func NewMetrics(reg prometheus.Registerer, queueLen func() float64, cfg MetricsConfig) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_ingest_messages_total",
			Help: "Messages ingested, by outcome: committed (new), duplicate, dead_letter, shed (queue full; the device resends), failed (commit failed; the device resends)."}, []string{"outcome"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "crosswatch_ingest_batches_total", Help: "Committed ingest transactions."}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crosswatch_ingest_commit_seconds",
			Help: "Time to commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crosswatch_ingest_queue_depth", Help: "Messages received and not yet committed."}, queueLen),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_events_total",
			Help: "Safety events stored, by type; each event once (a re-delivered duplicate is not counted)."}, []string{"type"}),
		siteEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_site_events_total",
			Help: "Safety events stored, by site and type. Only the first metrics.max_sites configured sites have their own site label; the rest are counted under site=\"other\"."}, []string{"site", "type"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_dead_letters_total",
			Help: "Messages rejected into the dead-letter table, by reason (topic, payload, device_mismatch, unknown_site, unknown_camera, no_catalog_entry, clock, kind)."}, []string{"reason"}),
		ownSeries: map[string]bool{},
	}
	for _, s := range cfg.Sites {
		if len(m.ownSeries) >= cfg.MaxSites {
			break
		}
		m.ownSeries[s] = true
	}
	for _, o := range []string{"committed", "duplicate", "dead_letter", "shed", "failed"} {
		m.messages.WithLabelValues(o)
	}
	for _, r := range DeadLetterReasons {
		m.deadLetters.WithLabelValues(r)
	}
	for _, t := range cfg.Types {
		m.events.WithLabelValues(t)
	}
	reg.MustRegister(m.messages, m.batches, m.commitDur, m.queue, m.events, m.siteEvents, m.deadLetters)
	return m
}

// siteLabel is the site label of site's series: its id, or OtherSite beyond the bound.
func (m *Metrics) siteLabel(site string) string {
	if m.ownSeries[site] {
		return site
	}
	return OtherSite
}

// committed counts what one durable commit stored.
func (m *Metrics) committed(b *aggregator.Batch, deadReasons map[string]int, inserted int, took time.Duration) {
	m.commitDur.Observe(took.Seconds())
	m.batches.Inc()
	m.messages.WithLabelValues("committed").Add(float64(inserted))
	m.messages.WithLabelValues("duplicate").Add(float64(len(b.Events) - inserted))
	m.messages.WithLabelValues("dead_letter").Add(float64(len(b.DeadLetters)))
	for _, e := range b.Events {
		if e.New {
			m.events.WithLabelValues(e.Type).Inc()
			m.siteEvents.WithLabelValues(m.siteLabel(e.Site), e.Type).Inc()
		}
	}
	for r, n := range deadReasons {
		m.deadLetters.WithLabelValues(r).Add(float64(n))
	}
}

// DeviceCollector reports each device's state from the store at every scrape, so that every
// aggregator instance (on a shared PostgreSQL) reports the same.
type DeviceCollector struct {
	find                                     func(ctx context.Context) ([]aggregator.Device, error)
	mismatch, total                          *prometheus.Desc
	online, backlog, oldestPending, lastSeen *prometheus.Desc
	camUp, camReconnects, camDecoded, camAna *prometheus.Desc
	errors                                   prometheus.Counter
}

var _ prometheus.Collector = (*DeviceCollector)(nil)

// NewDeviceCollector registers with reg the gauges of the devices find lists, each with the
// label device: crosswatch_device_online (1 while its last status said online; 0 after a clean
// stop or the broker's last will), crosswatch_device_backlog (messages in its outbox not yet
// acknowledged), crosswatch_device_oldest_pending_seconds (the age of the oldest of them),
// crosswatch_device_last_seen_timestamp_seconds (Unix time of its last status),
// crosswatch_device_view_mismatch (1: its camera view does not match its scene, the camera is
// quarantined), and crosswatch_devices_view_mismatch (how many such devices). The values are
// those of the device's last status.
//
// And per camera a box runs (labels device and camera, from the cameras of its last status):
// crosswatch_camera_up (1 while the box is online and says the camera is up, else 0),
// crosswatch_camera_reconnects_total (its live source's reconnects since the box started),
// crosswatch_camera_decoded_fps and crosswatch_camera_analysed_fps. Their cardinality is
// bounded: a status lists at most wire.MaxStatusCameras (32) cameras, and only a device with
// credentials (the broker's device tokens or certificates) can store a status.
func NewDeviceCollector(reg prometheus.Registerer, find func(ctx context.Context) ([]aggregator.Device, error)) *DeviceCollector {
	dev, cam := []string{"device"}, []string{"device", "camera"}
	c := &DeviceCollector{find: find,
		mismatch: prometheus.NewDesc("crosswatch_device_view_mismatch",
			"1 while the device's camera view does not match its scene (quarantined: no events, counts withheld), else 0.", dev, nil),
		total: prometheus.NewDesc("crosswatch_devices_view_mismatch", "Devices whose camera view does not match its scene.", nil, nil),
		online: prometheus.NewDesc("crosswatch_device_online",
			"1 while the device's last status said it is online, 0 after it stopped or the broker published its last will.", dev, nil),
		backlog: prometheus.NewDesc("crosswatch_device_backlog",
			"Messages in the device's outbox not yet acknowledged, as of its last status.", dev, nil),
		oldestPending: prometheus.NewDesc("crosswatch_device_oldest_pending_seconds",
			"Age of the oldest unacknowledged message in the device's outbox, as of its last status.", dev, nil),
		lastSeen: prometheus.NewDesc("crosswatch_device_last_seen_timestamp_seconds",
			"Unix time of the device's last status (time() minus it: how long it has been silent).", dev, nil),
		camUp: prometheus.NewDesc("crosswatch_camera_up",
			"1 while the camera's box is online and its last status says the camera is up (frames flow), else 0.", cam, nil),
		camReconnects: prometheus.NewDesc("crosswatch_camera_reconnects_total",
			"Times the camera's live source dropped and came back since its box started, as of the box's last status.", cam, nil),
		camDecoded: prometheus.NewDesc("crosswatch_camera_decoded_fps",
			"Frames per second the box read from the camera, over the seconds before its last status (0 unless up).", cam, nil),
		camAna: prometheus.NewDesc("crosswatch_camera_analysed_fps",
			"Frames per second through the camera's analysis, over the seconds before its box's last status (0 unless up).", cam, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "crosswatch_device_metrics_errors_total",
			Help: "Scrapes whose device gauges could not be read from the store."}),
	}
	reg.MustRegister(c, c.errors)
	return c
}

// Describe implements prometheus.Collector.
func (c *DeviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.mismatch, c.total, c.online, c.backlog, c.oldestPending, c.lastSeen,
		c.camUp, c.camReconnects, c.camDecoded, c.camAna} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one store read per scrape, at most 2 s.
func (c *DeviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	devices, err := c.find(ctx)
	if err != nil {
		c.errors.Inc()
		return
	}
	n := 0
	gauge := func(d *prometheus.Desc, v float64, id string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, id)
	}
	for _, d := range devices {
		v := 0.0
		if !d.ViewMismatchSince.IsZero() {
			v = 1
			n++
		}
		gauge(c.mismatch, v, d.ID)
		online := 0.0
		if d.Online {
			online = 1
		}
		gauge(c.online, online, d.ID)
		gauge(c.backlog, float64(d.Backlog), d.ID)
		gauge(c.oldestPending, d.OldestPendingS, d.ID)
		if !d.LastSeen.IsZero() {
			gauge(c.lastSeen, float64(d.LastSeen.UnixMilli())/1000, d.ID)
		}
		for _, cs := range d.Cameras[:min(len(d.Cameras), wire.MaxStatusCameras)] {
			up := 0.0
			if d.Online && cs.State == wire.CameraUp {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.camUp, prometheus.GaugeValue, up, d.ID, cs.ID)
			ch <- prometheus.MustNewConstMetric(c.camReconnects, prometheus.CounterValue, float64(cs.Reconnects), d.ID, cs.ID)
			ch <- prometheus.MustNewConstMetric(c.camDecoded, prometheus.GaugeValue, cs.DecodedFPS, d.ID, cs.ID)
			ch <- prometheus.MustNewConstMetric(c.camAna, prometheus.GaugeValue, cs.AnalysedFPS, d.ID, cs.ID)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(n))
}
