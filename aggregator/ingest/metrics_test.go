package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
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

// series returns what reg gathers now for name: the labels of each series ("k=v,k=v", sorted
// as Prometheus sorts them) → its value.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			k := strings.Join(ls, ",")
			switch {
			case m.Gauge != nil:
				out[k] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[k] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// After known messages are ingested (and some re-delivered), /metrics counts each stored event
// once by type and by site (the sites past MaxSites under "other"), each dead letter by its
// reason, and shows each device's last status, with each of its cameras.
func TestMetricsAfterIngest(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "agg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range cat.Entries {
		types = append(types, e.Type)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() float64 { return 0 }, MetricsConfig{Sites: []string{"main-nb", "plat-5"}, MaxSites: 1, Types: types})
	NewDeviceCollector(reg, st.FindDevices)
	topic := wire.Topic("edge-1", wire.KindEvents)
	lastSeen := testNow().Add(-90 * time.Second)
	status, _ := wire.Encode(wire.Status{V: 1, Device: "edge-1", Online: true, Time: lastSeen, Backlog: 42, OldestPendingS: 7.5,
		Cameras: []wire.CameraStatus{{ID: "cam-1", State: wire.CameraUp, DecodedFPS: 25, AnalysedFPS: 10, Reconnects: 2},
			{ID: "cam-2", State: wire.CameraReconnecting, Reconnects: 5, Error: "source dropped; reconnecting"}}})
	// edge-2 stopped: the cameras of its last status stand, and none is up.
	status2, _ := wire.Encode(wire.Status{V: 1, Device: "edge-2", Online: false, Time: testNow(),
		Cameras: []wire.CameraStatus{{ID: "cam-1", State: wire.CameraUp, DecodedFPS: 25, AnalysedFPS: 10}}})
	old := wire.Event{V: 1, ID: "e9", Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Type: wire.RedLightRunning,
		Time: testNow().Add(-30 * 24 * time.Hour), Class: "car", Confidence: 0.9}
	oldB, _ := wire.Encode(old)
	msgs := []Message{
		{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)},
		{Topic: topic, Payload: event("e1", "main-nb", wire.RedLightRunning)}, // duplicate in the batch
		{Topic: topic, Payload: event("e2", "main-nb", wire.RedLightRunning)},
		{Topic: topic, Payload: event("e3", "main-nb", wire.Jaywalking)},
		{Topic: topic, Payload: event("e4", "plat-5", wire.TrackIntrusion)},                              // beyond MaxSites: "other"
		{Topic: topic, Payload: event("e5", "nowhere", wire.RedLightRunning)},                            // unknown_site
		{Topic: wire.Topic("edge-2", wire.KindEvents), Payload: event("e6", "main-nb", wire.Jaywalking)}, // device_mismatch
		{Topic: topic, Payload: []byte(`not json`)},                                                      // payload
		{Topic: topic, Payload: oldB},                                                                    // clock
		{Topic: "crosswatch/v1/edge-1/nonsense", Payload: []byte(`{}`)},                                  // topic or kind
		{Topic: wire.Topic("edge-1", wire.KindStatus), Payload: status},
		{Topic: wire.Topic("edge-2", wire.KindStatus), Payload: status2},
	}
	g := New(st, &acks{}, cat, sites, Config{MaxBatch: 4, MaxWait: time.Millisecond, Queue: 64}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	g.SetMetrics(m)
	if !submitAll(g, msgs) {
		t.Fatal("queue full")
	}
	// Everything again: re-deliveries are counted as duplicates, not as events.
	g = New(st, &acks{}, cat, sites, Config{MaxBatch: 4, MaxWait: time.Millisecond, Queue: 64}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	g.SetMetrics(m)
	submitAll(g, msgs[:5])

	want := map[string]float64{"type=red_light_running": 2, "type=jaywalking": 1, "type=track_intrusion": 1, "type=ped_against_signal": 0, "type=platform_edge_intrusion": 0}
	if got := series(t, reg, "crosswatch_events_total"); !maps.Equal(got, want) {
		t.Errorf("crosswatch_events_total = %v, want %v", got, want)
	}
	want = map[string]float64{"site=main-nb,type=red_light_running": 2, "site=main-nb,type=jaywalking": 1, "site=other,type=track_intrusion": 1}
	if got := series(t, reg, "crosswatch_site_events_total"); !maps.Equal(got, want) {
		t.Errorf("crosswatch_site_events_total = %v, want %v", got, want)
	}
	dead := series(t, reg, "crosswatch_dead_letters_total")
	for r, n := range map[string]float64{ReasonSite: 1, ReasonDevice: 1, ReasonPayload: 1, ReasonClock: 1, ReasonCamera: 0, ReasonCatalog: 0} {
		if dead["reason="+r] != n {
			t.Errorf("crosswatch_dead_letters_total{reason=%q} = %v, want %v (all: %v)", r, dead["reason="+r], n, dead)
		}
	}
	if dead["reason="+ReasonTopic]+dead["reason="+ReasonKind] != 1 || len(dead) != len(DeadLetterReasons) {
		t.Errorf("crosswatch_dead_letters_total: %v", dead)
	}
	if got := series(t, reg, "crosswatch_ingest_messages_total")["outcome=duplicate"]; got != 6 {
		t.Errorf("duplicates: %v, want 6 (1 in the batch, 5 re-delivered)", got)
	}
	for name, want := range map[string]map[string]float64{
		"crosswatch_device_online":                      {"device=edge-1": 1, "device=edge-2": 0},
		"crosswatch_device_backlog":                     {"device=edge-1": 42, "device=edge-2": 0},
		"crosswatch_device_oldest_pending_seconds":      {"device=edge-1": 7.5, "device=edge-2": 0},
		"crosswatch_device_last_seen_timestamp_seconds": {"device=edge-1": float64(lastSeen.Unix()), "device=edge-2": float64(testNow().Unix())},
		"crosswatch_camera_up":                          {"camera=cam-1,device=edge-1": 1, "camera=cam-2,device=edge-1": 0, "camera=cam-1,device=edge-2": 0},
		"crosswatch_camera_reconnects_total":            {"camera=cam-1,device=edge-1": 2, "camera=cam-2,device=edge-1": 5, "camera=cam-1,device=edge-2": 0},
		"crosswatch_camera_decoded_fps":                 {"camera=cam-1,device=edge-1": 25, "camera=cam-2,device=edge-1": 0, "camera=cam-1,device=edge-2": 25},
		"crosswatch_camera_analysed_fps":                {"camera=cam-1,device=edge-1": 10, "camera=cam-2,device=edge-1": 0, "camera=cam-1,device=edge-2": 10},
	} {
		if got := series(t, reg, name); !maps.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
