package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/internal/synthclip"
)

// The metric names the Grafana dashboard is written against, exactly.
var wantMetrics = []string{
	"crosswatch_edge_acks_total", "crosswatch_edge_broker_connected", "crosswatch_edge_build_info",
	"crosswatch_edge_camera_up", "crosswatch_edge_detector_seconds", "crosswatch_edge_events_total",
	"crosswatch_edge_frames_analysed_total", "crosswatch_edge_frames_decoded_total", "crosswatch_edge_frames_dropped_total",
	"crosswatch_edge_gaps_total", "crosswatch_edge_inflight", "crosswatch_edge_outbox_bytes",
	"crosswatch_edge_outbox_oldest_pending_seconds", "crosswatch_edge_outbox_rows", "crosswatch_edge_pipeline_lag_seconds",
	"crosswatch_edge_rejected_total", "crosswatch_edge_source_reconnects_total", "crosswatch_edge_view_changes_total",
}

// startDaemon runs a daemon on config (written to a folder with the shared clip) with no
// broker to reach, and returns it with the function that stops it and waits.
func startDaemon(t *testing.T, cameras string) (*Daemon, string, chan<- os.Signal, func() error) {
	t.Helper()
	clip := "" // the shared clip, rendered only for a test that plays it
	if strings.Contains(cameras, "CLIP") {
		clip = synthclip.Dir(t)
	}
	dir := t.TempDir()
	sc, err := os.ReadFile(filepath.Join("..", "..", "configs", "scenes", "synth-intersection.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"synth-cam-1", "cam-b", "cam-c"} {
		os.WriteFile(filepath.Join(dir, id+".yaml"), []byte(strings.Replace(string(sc), "camera: synth-cam-1", "camera: "+id, 1)), 0o644)
	}
	config := fmt.Sprintf(`device: box-t
broker: {url: "tcp://127.0.0.1:1", insecure: true}
outbox: {path: state/outbox.db, drain_timeout: 500ms}
models: %s
evidence: false
metrics: {listen: "127.0.0.1:0"}
cameras:
%s`, filepath.Join(dir, "no-models"), strings.ReplaceAll(cameras, "CLIP", filepath.Join(clip, synth.ClipName)))
	p := filepath.Join(dir, "edge.yaml")
	os.WriteFile(p, []byte(config), 0o644)
	box, err := loadBox(p)
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	d := NewDaemon(box, slog.New(slog.DiscardHandler), hup)
	if err := d.Open(t.Context()); err != nil {
		d.Close()
		t.Fatal(err)
	}
	d.minBackoff, d.maxBackoff = 20*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
				d.Close()
			case <-time.After(20 * time.Second):
				stopErr = fmt.Errorf("Run did not return within 20 s of the stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { stop() })
	return d, p, hup, stop
}

func (d *Daemon) state(id string) *camState {
	for _, s := range d.met.snapshot() {
		if s.id == id {
			return s
		}
	}
	return nil
}

func waitTrue(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// A camera whose source fails retries on its own; the others run on. /metrics has exactly
// the dashboard's names; /readyz says which camera is down and that the broker is not
// connected; the stop returns nil even with the broker unreachable (after the drain timeout).
func TestDaemonCameraFailsAlone(t *testing.T) {
	d, _, _, stop := startDaemon(t, "  - {id: synth-cam-1, source: CLIP, scene: synth-cam-1.yaml}\n  - {id: cam-b, source: nowhere.avi, scene: cam-b.yaml}\n")
	waitTrue(t, 20*time.Second, "camera 1 analysing, camera b retrying", func() bool {
		a, b := d.state("synth-cam-1"), d.state("cam-b")
		return a != nil && b != nil && a.meter.Analysed.Load() > 20 && strings.Contains(b.downReason(), "nowhere.avi")
	})
	fams, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	if !slices.Equal(names, wantMetrics) {
		t.Errorf("metrics\n %v\nwant\n %v", names, wantMetrics)
	}
	// Every edge metric the Grafana dashboard and the alert rules name is one this registry
	// has (deploy's own test checks the aggregator's; a histogram as _bucket, _sum or _count).
	for _, f := range []string{"../../deploy/grafana/crosswatch.json", "../../deploy/prometheus/alerts.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`crosswatch_edge_[a-z_]+`).FindAllString(string(b), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if !slices.Contains(names, m) && !slices.Contains(names, base) {
				t.Errorf("%s names %s, which the edge does not export", f, m)
			}
		}
	}
	srv := httptest.NewServer(d.handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "camera cam-b down") || !strings.Contains(string(body), "broker tcp://127.0.0.1:1 not connected") {
		t.Errorf("readyz %d %s", resp.StatusCode, body)
	}
	if resp, err := srv.Client().Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz %v %v", resp, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// SIGHUP: a camera added starts, a camera removed stops and leaves /metrics, a camera whose
// scene breaks goes down alone, and a camera unchanged keeps running untouched.
func TestDaemonReload(t *testing.T) {
	// Live sources that never answer keep the cameras running (connecting) for the whole test.
	d, p, hup, stop := startDaemon(t, "  - {id: synth-cam-1, source: \"http://127.0.0.1:1/a\", scene: synth-cam-1.yaml}\n  - {id: cam-b, source: \"http://127.0.0.1:1/b\", scene: cam-b.yaml}\n")
	waitTrue(t, 5*time.Second, "both cameras", func() bool { return d.state("synth-cam-1") != nil && d.state("cam-b") != nil })
	d.mu.Lock()
	first := d.cams["synth-cam-1"]
	d.mu.Unlock()
	b, _ := os.ReadFile(p)
	cfg := strings.Replace(string(b), "  - {id: cam-b, source: \"http://127.0.0.1:1/b\", scene: cam-b.yaml}\n", "  - {id: cam-c, source: \"http://127.0.0.1:1/c\", scene: cam-c.yaml}\n", 1)
	os.WriteFile(p, []byte(cfg), 0o644)
	hup <- os.Interrupt
	waitTrue(t, 5*time.Second, "cam-b gone, cam-c there", func() bool { return d.state("cam-b") == nil && d.state("cam-c") != nil })
	d.mu.Lock()
	same := d.cams["synth-cam-1"] == first
	d.mu.Unlock()
	if !same {
		t.Fatal("the unchanged camera was restarted by the reload")
	}
	// cam-c's scene breaks: at the next reload it is down with the scene's error, alone.
	os.WriteFile(filepath.Join(filepath.Dir(p), "cam-c.yaml"), []byte("version: 1\ncamera: cam-c\nbogus: 1\n"), 0o644)
	hup <- os.Interrupt
	waitTrue(t, 5*time.Second, "cam-c down with its scene's error", func() bool {
		s := d.state("cam-c")
		return s != nil && strings.Contains(s.downReason(), "bogus")
	})
	d.mu.Lock()
	same = d.cams["synth-cam-1"] == first
	d.mu.Unlock()
	if !same {
		t.Fatal("camera 1 was restarted when cam-c's scene broke")
	}
	// A config that does not validate is refused: the cameras run on.
	os.WriteFile(p, []byte(strings.Split(cfg, "  - {id: cam-c")[0]+"log: {level: loud}\n"), 0o644)
	hup <- os.Interrupt
	time.Sleep(200 * time.Millisecond)
	if d.state("cam-c") == nil || d.state("synth-cam-1") == nil {
		t.Fatal("an invalid config was applied")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A box without an identity is refused before its outbox or listener is made, naming the
// config's fields.
func TestDaemonNeedsIdentity(t *testing.T) {
	t.Setenv(sender.TokenEnv, "")
	p := boxDir(t, strings.Replace(goodBox, `broker: {url: "tcp://127.0.0.1:1883", insecure: true}`, `broker: {url: "tcp://127.0.0.1:1883"}`, 1))
	box, err := loadBox(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := openDaemon(t, box); err == nil || !strings.Contains(err.Error(), "broker.token_file") || !strings.Contains(err.Error(), "broker.insecure") {
		t.Fatalf("Open without identity: %v", err)
	}
	if _, err := os.Stat(box.Config.Outbox.Path); !os.IsNotExist(err) {
		t.Fatalf("the outbox was made: %v", err)
	}
	p = boxDir(t, strings.Replace(goodBox, `"tcp://127.0.0.1:1883", insecure: true`, `"tcp://192.0.2.1:1883", token_file: tok`, 1))
	os.WriteFile(filepath.Join(filepath.Dir(p), "tok"), []byte("secret\n"), 0o600)
	if box, err = loadBox(p); err != nil {
		t.Fatal(err)
	}
	if err := openDaemon(t, box); err == nil || !strings.Contains(err.Error(), "broker.url tcp://192.0.2.1:1883: plaintext") {
		t.Fatalf("Open with plaintext to another machine: %v", err)
	}
}

// openDaemon opens and closes the daemon of box, and returns Open's error.
func openDaemon(t *testing.T, box *Box) error {
	d := NewDaemon(box, slog.New(slog.DiscardHandler), nil)
	defer d.Close()
	return d.Open(t.Context())
}
