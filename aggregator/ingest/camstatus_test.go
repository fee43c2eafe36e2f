package ingest

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// statusMsg is a status of device published on topicDevice's status topic.
func statusMsg(t *testing.T, topicDevice string, s wire.Status) Message {
	t.Helper()
	if s.V == 0 {
		s.V = wire.Version
	}
	return Message{Topic: wire.Topic(topicDevice, wire.KindStatus), Payload: mustEncode(t, s), Received: testNow()}
}

func findDevice(t *testing.T, st Store, id string) (aggregator.Device, bool) {
	t.Helper()
	ds, err := st.(interface {
		FindDevices(context.Context) ([]aggregator.Device, error)
	}).FindDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d, true
		}
	}
	return aggregator.Device{}, false
}

// A device's cameras reach the store as reported, sorted by id, times in UTC; an offline
// status without cameras (the will) keeps the last known, an online one without says none.
func TestStatusCameras(t *testing.T) {
	st := openStore(t)
	now := testNow()
	vienna := time.FixedZone("CET", 3600)
	frame := now.Add(-2 * time.Second).In(vienna)
	old := now.Add(-30 * 24 * time.Hour) // a camera down for a month: its last frame is old, and that is fine
	cams := []wire.CameraStatus{
		{ID: "cam-2", State: wire.CameraReconnecting, LastFrame: &old, Reconnects: 3, Error: "source dropped; reconnecting"},
		{ID: "cam-1", State: wire.CameraUp, DecodedFPS: 29.97, AnalysedFPS: 14.5, LastFrame: &frame, Reconnects: 1, ViewChanges: 2, ViewMismatch: true,
			Signals: []wire.SignalState{{ID: "main", State: "red", Source: wire.SignalCamera}, {ID: "ped", State: "unknown", Source: wire.SignalFixed}}},
		{ID: "cam-3", State: wire.CameraDown, Error: "open /dev/video3: no such device"},
	}
	run(t, st, []Message{statusMsg(t, "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now, Cameras: cams})})
	d, ok := findDevice(t, st, "edge-1")
	if !ok {
		t.Fatal("no device stored")
	}
	want := []aggregator.CameraStatus{
		{ID: "cam-1", State: "up", DecodedFPS: 29.97, AnalysedFPS: 14.5, LastFrame: frame.UTC(), Reconnects: 1, ViewChanges: 2, ViewMismatch: true,
			Signals: []aggregator.SignalState{{ID: "main", State: "red", Source: "camera"}, {ID: "ped", State: "unknown", Source: "fixed"}}},
		{ID: "cam-2", State: "reconnecting", LastFrame: old.UTC(), Reconnects: 3, Error: "source dropped; reconnecting"},
		{ID: "cam-3", State: "down", Error: "open /dev/video3: no such device"},
	}
	if !reflect.DeepEqual(d.Cameras, want) {
		t.Fatalf("cameras\n got %+v\nwant %+v", d.Cameras, want)
	}
	if d.Cameras[0].LastFrame.Location() != time.UTC {
		t.Errorf("last frame kept its zone %v; the API speaks UTC", d.Cameras[0].LastFrame.Location())
	}

	// The broker's will: offline, no cameras. The last known stay, with the device offline.
	run(t, st, []Message{statusMsg(t, "edge-1", wire.Status{Device: "edge-1", Online: false})})
	if d, _ := findDevice(t, st, "edge-1"); d.Online || len(d.Cameras) != 3 {
		t.Fatalf("after the will: online %v, %d cameras, want offline with the 3 last known", d.Online, len(d.Cameras))
	}
	// Back online with its cameras: they are what it says now.
	run(t, st, []Message{statusMsg(t, "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now, Cameras: cams[1:2]})})
	if d, _ := findDevice(t, st, "edge-1"); !d.Online || len(d.Cameras) != 1 || d.Cameras[0].ID != "cam-1" {
		t.Fatalf("after a status with one camera: %+v", d)
	}
	// An edge that runs no cameras of its own (replay) reports none: an empty list, not null.
	run(t, st, []Message{statusMsg(t, "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now})})
	if d, _ := findDevice(t, st, "edge-1"); d.Cameras == nil || len(d.Cameras) != 0 {
		t.Fatalf("after a status without cameras: %#v", d.Cameras)
	}
}

// A status that fails validation changes nothing about its device and is a dead letter whose
// reason names the field.
func TestStatusCamerasRejected(t *testing.T) {
	now := testNow()
	ahead := now.Add(5*time.Minute + time.Millisecond) // ingest.max_clock_ahead is 5 minutes
	edge := now.Add(5 * time.Minute)
	up := wire.CameraStatus{ID: "cam-1", State: wire.CameraUp}
	for _, c := range []struct {
		name, topic string
		status      wire.Status
		reason      string // the dead letter's reason contains it; "" accepted
		why         string // DeadLetterReasons
	}{
		{"at the clock's limit", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now,
			Cameras: []wire.CameraStatus{{ID: "cam-1", State: wire.CameraUp, LastFrame: &edge}}}, "", ""},
		{"another device's cameras", "edge-1", wire.Status{Device: "edge-2", Online: true, Time: now, Cameras: []wire.CameraStatus{up}},
			"device in the payload does not match the topic", ReasonDevice},
		{"last frame from the future", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now,
			Cameras: []wire.CameraStatus{up, {ID: "cam-2", State: wire.CameraUp, LastFrame: &ahead}}},
			"cameras[1].last_frame: " + ahead.Format(time.RFC3339) + " is more than 5m0s after the aggregator's clock", ReasonClock},
		{"a camera twice", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now, Cameras: []wire.CameraStatus{up, up}},
			`cameras[1].id: "cam-1" is also cameras[0].id`, ReasonPayload},
		{"an unknown state", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now,
			Cameras: []wire.CameraStatus{{ID: "cam-1", State: "sleeping"}}}, "cameras[0].state", ReasonPayload},
		{"an error too long", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now,
			Cameras: []wire.CameraStatus{{ID: "cam-1", State: wire.CameraDown, Error: strings.Repeat("e", wire.MaxCameraErrorLen+1)}}},
			"cameras[0].error", ReasonPayload},
		{"too many cameras", "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now, Cameras: manyCameras(wire.MaxStatusCameras + 1)},
			"cameras: 33 cameras, limit 32", ReasonPayload},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			// What the device said before: one camera up.
			run(t, st, []Message{statusMsg(t, "edge-1", wire.Status{Device: "edge-1", Online: true, Time: now.Add(-time.Minute),
				Cameras: []wire.CameraStatus{{ID: "cam-0", State: wire.CameraUp}}})})
			a, dead := runCounted(t, st, statusMsg(t, c.topic, c.status))
			if _, rejected := a.all("edge-1"); len(rejected) != 0 {
				t.Errorf("a status is never acknowledged: %v", rejected)
			}
			dl, err := st.FindDeadLetters(context.Background(), 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := findDevice(t, st, "edge-1")
			if c.reason == "" {
				if len(dl) != 0 || len(d.Cameras) != 1 || d.Cameras[0].ID != "cam-1" || !d.Cameras[0].LastFrame.Equal(edge) {
					t.Fatalf("refused: dead letters %+v, device %+v", dl, d)
				}
				return
			}
			if len(dl) != 1 || !strings.Contains(dl[0].Reason, c.reason) || dl[0].Device != "edge-1" {
				t.Fatalf("dead letters %+v, want one with %q", dl, c.reason)
			}
			if dead["reason="+c.why] != 1 {
				t.Errorf("dead letters by reason %v, want one %s", dead, c.why)
			}
			if len(d.Cameras) != 1 || d.Cameras[0].ID != "cam-0" || !d.LastSeen.Equal(now.Add(-time.Minute)) {
				t.Errorf("a refused status changed its device: %+v", d)
			}
		})
	}
}

func manyCameras(n int) []wire.CameraStatus {
	out := make([]wire.CameraStatus, n)
	for i := range out {
		out[i] = wire.CameraStatus{ID: "cam-" + strings.Repeat("x", i%10) + string(rune('a'+i%26)) + string(rune('a'+i/26)), State: wire.CameraUp}
	}
	return out
}

// runCounted ingests msgs with metrics and returns crosswatch_dead_letters_total by reason.
func runCounted(t *testing.T, st Store, msgs ...Message) (*acks, map[string]float64) {
	t.Helper()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() float64 { return 0 }, MetricsConfig{Sites: []string{"main-nb", "plat-5"}, MaxSites: 2, Types: []string{wire.RedLightRunning}})
	a := &acks{}
	g := New(st, a, cat, sites, Config{MaxBatch: 3, MaxWait: time.Millisecond, Queue: 16}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	g.SetMetrics(m)
	if !submitAll(g, msgs) {
		t.Fatal("queue full")
	}
	return a, series(t, reg, "crosswatch_dead_letters_total")
}
