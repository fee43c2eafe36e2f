package cli

import (
	"context"
	"runtime"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
)

// /metrics names the running build: crosswatch_build_info is 1 with the version --version
// prints and the Go release; the per-site bound comes from metrics.max_sites.
func TestTelemetryBuildInfo(t *testing.T) {
	cfg, err := LoadConfig("../../configs/aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	tel := NewTelemetry(cfg, cat, func() float64 { return 0 }, func(context.Context) ([]aggregator.Device, error) { return nil, nil })
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "crosswatch_build_info" {
			continue
		}
		for _, m := range mf.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["version"] != Version() || labels["goversion"] != runtime.Version() || m.Gauge.GetValue() != 1 || len(mf.Metric) != 1 {
				t.Fatalf("crosswatch_build_info %v = %v, want {version=%q, goversion=%q} 1", labels, m.Gauge.GetValue(), Version(), runtime.Version())
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no crosswatch_build_info")
	}
}
