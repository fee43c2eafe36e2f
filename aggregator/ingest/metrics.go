package ingest

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Metrics are the ingester's Prometheus metrics.
type Metrics struct {
	messages  *prometheus.CounterVec // by outcome
	batches   prometheus.Counter
	commitDur prometheus.Histogram
	queue     prometheus.GaugeFunc
}

// NewMetrics registers the ingester's metrics with reg; queueLen reports the queue depth.
func NewMetrics(reg prometheus.Registerer, queueLen func() float64) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosswatch_ingest_messages_total",
			Help: "Messages ingested, by outcome: committed (new), duplicate, dead_letter, shed (queue full; the device resends), failed (commit failed; the device resends)."}, []string{"outcome"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "crosswatch_ingest_batches_total", Help: "Committed ingest transactions."}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crosswatch_ingest_commit_seconds",
			Help: "Time to commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crosswatch_ingest_queue_depth", Help: "Messages received and not yet committed."}, queueLen),
	}
	reg.MustRegister(m.messages, m.batches, m.commitDur, m.queue)
	return m
}

// DeviceCollector reports each device's camera view state from the store at every scrape, so
// that every aggregator instance (on a shared PostgreSQL) reports the same.
type DeviceCollector struct {
	find     func(ctx context.Context) ([]aggregator.Device, error)
	mismatch *prometheus.Desc
	total    *prometheus.Desc
	errors   prometheus.Counter
}

var _ prometheus.Collector = (*DeviceCollector)(nil)

// NewDeviceCollector registers with reg the gauges of the devices find lists:
// crosswatch_device_view_mismatch{device} (1: its camera view does not match its scene, the
// camera is quarantined) and crosswatch_devices_view_mismatch (how many such devices).
func NewDeviceCollector(reg prometheus.Registerer, find func(ctx context.Context) ([]aggregator.Device, error)) *DeviceCollector {
	c := &DeviceCollector{find: find,
		mismatch: prometheus.NewDesc("crosswatch_device_view_mismatch",
			"1 while the device's camera view does not match its scene (quarantined: no events, counts withheld), else 0.", []string{"device"}, nil),
		total: prometheus.NewDesc("crosswatch_devices_view_mismatch", "Devices whose camera view does not match its scene.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "crosswatch_device_metrics_errors_total",
			Help: "Scrapes whose device gauges could not be read from the store."}),
	}
	reg.MustRegister(c, c.errors)
	return c
}

// Describe implements prometheus.Collector.
func (c *DeviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mismatch
	ch <- c.total
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
	for _, d := range devices {
		v := 0.0
		if !d.ViewMismatchSince.IsZero() {
			v = 1
			n++
		}
		ch <- prometheus.MustNewConstMetric(c.mismatch, prometheus.GaugeValue, v, d.ID)
	}
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(n))
}
