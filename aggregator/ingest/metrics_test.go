package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
)

// gauges returns what reg gathers now: name → label device (or "") → value.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			dev := ""
			for _, l := range m.Label {
				if l.GetName() == "device" {
					dev = l.GetValue()
				}
			}
			if out[mf.GetName()] == nil {
				out[mf.GetName()] = map[string]float64{}
			}
			switch {
			case m.Gauge != nil:
				out[mf.GetName()][dev] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[mf.GetName()][dev] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// /metrics shows which devices' camera views do not match their scenes, read from the store.
func TestDeviceCollector(t *testing.T) {
	var devices []aggregator.Device
	var fail error
	reg := prometheus.NewRegistry()
	NewDeviceCollector(reg, func(context.Context) ([]aggregator.Device, error) { return devices, fail })
	devices = []aggregator.Device{{ID: "cut-edge", Online: true, ViewMismatchSince: time.Unix(100, 0)}, {ID: "fixed-edge", Online: true}}
	g := gauges(t, reg)
	if m := g["crosswatch_device_view_mismatch"]; m["cut-edge"] != 1 || m["fixed-edge"] != 0 || len(m) != 2 {
		t.Fatalf("per device: %v", m)
	}
	if n := g["crosswatch_devices_view_mismatch"][""]; n != 1 {
		t.Fatalf("devices with a mismatch: %v, want 1", n)
	}
	devices[0].ViewMismatchSince = time.Time{} // the view matches again
	if g := gauges(t, reg); g["crosswatch_device_view_mismatch"]["cut-edge"] != 0 || g["crosswatch_devices_view_mismatch"][""] != 0 {
		t.Fatalf("after the view matched again: %v", g)
	}
	fail = errors.New("store down")
	// Prometheus gathers collectors concurrently: within one scrape the error counter may be
	// read before or after the failing read counts, so two failing scrapes show 1 or 2.
	gauges(t, reg)
	g = gauges(t, reg)
	if _, ok := g["crosswatch_device_view_mismatch"]; ok || g["crosswatch_device_metrics_errors_total"][""] < 1 {
		t.Fatalf("store down: %v", g)
	}
}
