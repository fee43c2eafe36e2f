package ingest

import "github.com/prometheus/client_golang/prometheus"

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
