package cli

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/wire"
)

var refusedAt = time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC)

// unknownSite is the aggregator's rejection of camera's event i for site "synth-main-nb" (which the scene names).
func unknownSite(camera string, i int) wire.Rejection {
	return wire.Rejection{ID: pipeline.EventID(camera, refusedAt.Add(time.Duration(i)*time.Second), wire.RedLightRunning, 0, i),
		Reason: `unknown site "synth-main-nb"`, Code: wire.RejectUnknownSite, Site: "synth-main-nb", Camera: camera}
}

// A camera that is up but whose records the aggregator refuses for an unknown site says so
// in the box's status (the dashboard's Devices page), until a record of it is committed; a
// camera that is down says why it is down.
func TestCameraStatusNamesRefusal(t *testing.T) {
	d := &Daemon{}
	d.met = newBoxMetrics(d)
	d.snd = &sender.Sender{Rejections: sender.NewRejections(nil)}
	d.refusals.Store(d.snd.Rejections) // as Open does once Dial has returned
	d.met.camera("cam-a").setUp()
	d.met.camera("cam-b").setDown("connecting to http://127.0.0.1:1/b")
	d.snd.Rejections.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{unknownSite("cam-a", 1), unknownSite("cam-a", 2), unknownSite("cam-b", 1)}})
	errs := func() map[string]string {
		out := map[string]string{}
		for _, c := range d.cameraStatuses() {
			out[c.ID] = c.Error
		}
		return out
	}
	got := errs()
	if want := `the aggregator refused 2 events of camera cam-a at site synth-main-nb: unknown_site (unknown site "synth-main-nb")`; got["cam-a"] != want {
		t.Errorf("cam-a's status error %q, want %q", got["cam-a"], want)
	}
	if got["cam-b"] != "connecting to http://127.0.0.1:1/b" {
		t.Errorf("cam-b's status error %q, want why it is down", got["cam-b"])
	}
	d.snd.Rejections.Add(wire.Ack{V: 1, Committed: []string{pipeline.EventID("cam-a", refusedAt.Add(time.Minute), wire.Jaywalking, 1, 9)}})
	if got := errs(); got["cam-a"] != "" {
		t.Errorf("after an event of cam-a was committed: status error %q", got["cam-a"])
	}
}

// /readyz is 503 while a camera's records are refused for an unknown site, naming the camera,
// the site, the reason and how many; /metrics counts them by reason; a committed event of the
// camera makes it ready again as far as the refusal goes.
func TestReadyzNamesRefusal(t *testing.T) {
	d, _, _, stop := startDaemon(t, "  - {id: synth-cam-1, source: \"http://127.0.0.1:1/a\", scene: synth-cam-1.yaml}\n")
	waitTrue(t, 5*time.Second, "the camera", func() bool { return d.state("synth-cam-1") != nil })
	srv := httptest.NewServer(d.handler())
	defer srv.Close()
	readyz := func() (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, body := readyz(); strings.Contains(body, "refused") {
		t.Fatalf("refused before anything was: %s", body)
	}
	// The camera's runner registers its scene's sites before it runs; wait for that, so that
	// its start cannot clear what comes next.
	waitTrue(t, 5*time.Second, "the camera connecting", func() bool { return strings.Contains(d.state("synth-cam-1").downReason(), "127.0.0.1:1") })
	d.snd.Rejections.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{unknownSite("synth-cam-1", 1), unknownSite("synth-cam-1", 2),
		{ID: "x-1", Reason: "event type has no entry", Code: wire.RejectNoCatalog, Camera: "synth-cam-1"}}})
	const want = `the aggregator refused 2 events of camera synth-cam-1 at site synth-main-nb: unknown_site (unknown site "synth-main-nb")`
	code, body := readyz()
	if code != 503 || !strings.Contains(body, want) || strings.Contains(body, "no_catalog_entry") {
		t.Errorf("readyz %d %s\nwant 503 naming: %s (and not the catalog's refusal)", code, body, want)
	}
	for reason, n := range map[string]float64{wire.RejectUnknownSite: 2, wire.RejectNoCatalog: 1, wire.RejectUnknownCamera: 0, wire.RejectOther: 0} {
		if got := counter(t, d, "crosswatch_edge_rejected_total", "reason", reason); got != n {
			t.Errorf("crosswatch_edge_rejected_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	d.snd.Rejections.Add(wire.Ack{V: 1, Committed: []string{pipeline.CountsID("synth-cam-1", 0, refusedAt.Add(time.Minute))}})
	if _, body := readyz(); strings.Contains(body, "refused") {
		t.Errorf("readyz after a count record of the camera was committed: %s", body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// counter is the value of the series of counter name whose label is value, or -1.
func counter(t *testing.T, d *Daemon, name, label, value string) float64 {
	t.Helper()
	fams, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
