package cli

import (
	"context"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

// Version is this build's version from the Go build information (internal/buildinfo): the
// module version of a released build ("v1.2.0"), else "devel" with the VCS revision it was built
// from ("devel+1a2b3c4d5e6f", "+dirty" with uncommitted changes).
func Version() string { return buildinfo.Version() }

// Telemetry is what the aggregator serves on /metrics, registered as serve registers it.
type Telemetry struct {
	Registry *prometheus.Registry
	Ingest   *ingest.Metrics  // for Ingester.SetMetrics
	HTTP     *api.HTTPMetrics // wraps the HTTP handler
}

// NewTelemetry registers the aggregator's metrics: the Go runtime and the process,
// crosswatch_build_info{version,goversion}, the ingester's (queueLen reports its queue depth;
// per-site series bounded by cfg.Metrics.MaxSites), the devices' gauges (devices is read at each
// scrape) and the HTTP requests'.
func NewTelemetry(cfg *Config, cat *aggregator.Catalog, queueLen func() float64, devices func(ctx context.Context) ([]aggregator.Device, error)) *Telemetry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crosswatch_build_info",
		Help: "Always 1; the labels name the running build (crosswatch-aggregator --version) and its Go release."}, []string{"version", "goversion"})
	info.WithLabelValues(Version(), runtime.Version()).Set(1)
	reg.MustRegister(info)
	mc := ingest.MetricsConfig{MaxSites: cfg.Metrics.MaxSites}
	for _, s := range cfg.Sites {
		mc.Sites = append(mc.Sites, s.ID)
	}
	for _, e := range cat.Entries {
		mc.Types = append(mc.Types, e.Type)
	}
	t := &Telemetry{Registry: reg, Ingest: ingest.NewMetrics(reg, queueLen, mc), HTTP: api.NewHTTPMetrics(reg)}
	ingest.NewDeviceCollector(reg, devices)
	return t
}
