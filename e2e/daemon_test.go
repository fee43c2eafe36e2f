package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/internal/camtest"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// TestDaemonTwoCameras runs the edge as a box does: `run --config edge.yaml` with two cameras
// (two synthetic clips served as live HTTP streams), one outbox and one MQTT connection. Both
// cameras show in /metrics, in the aggregator's GET /api/v1/devices (the dashboard's Devices
// page) and their records at the aggregator; one camera's source is killed and only that
// camera goes down and comes back, in both; SIGHUP drops the other camera without restarting
// the first; SIGTERM drains and exits 0.
func TestDaemonTwoCameras(t *testing.T) {
	testenv.Tool(t, "ffmpeg", "ffmpeg") // serves the camera streams
	dir := t.TempDir()
	clips := map[string]string{}
	for _, k := range []string{synth.Intersection, synth.Platform} {
		out := filepath.Join(dir, k)
		if b, err := exec.Command(edgeBin, "synth", "--seed", "7", "--duration", "20s", "--kind", k, "--out", out).CombinedOutput(); err != nil {
			t.Fatalf("synth %s: %v\n%s", k, err, b)
		}
		clips[k] = out
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	p1, p2, mport := freePort(t), freePort(t), freePort(t)
	stop1 := camtest.Serve(t, filepath.Join(clips[synth.Intersection], synth.ClipName), p1)
	camtest.Serve(t, filepath.Join(clips[synth.Platform], synth.ClipName), p2)

	const device = "daemon-edge"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token(device)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cam := func(id string, port int, kind string) string {
		return fmt.Sprintf("  - {id: %s, source: \"http://127.0.0.1:%d\", scene: %s}\n", id, port, filepath.Join(clips[kind], "scene.yaml"))
	}
	head := fmt.Sprintf(`device: %s
broker: {url: %q, token_file: %s}
outbox: {path: %s, drain_timeout: 20s}
models: ../models/files
evidence: false
metrics: {listen: "127.0.0.1:%d"}
log: {level: info, format: json}
cameras:
`, device, agg.Broker, tokenFile, filepath.Join(dir, "state", "outbox.db"), mport)
	config := filepath.Join(dir, "edge.yaml")
	os.WriteFile(config, []byte(head+cam("synth-cam-1", p1, synth.Intersection)+cam("synth-cam-2", p2, synth.Platform)), 0o644)
	if b, err := exec.Command(edgeBin, "check-config", "--config", config).CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, b)
	}

	edge := exec.Command(edgeBin, "run", "--config", config)
	logs := &syncBuffer{}
	stderr, _ := edge.StderrPipe()
	edge.Stdout = logs
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	go func() { io.Copy(logs, stderr); close(logDone) }()
	t.Cleanup(func() {
		if edge.ProcessState == nil {
			edge.Process.Kill()
			edge.Wait()
		}
	})
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", mport)
	metric := func(name, camera string) float64 {
		v, _ := scrape(metricsURL, name, camera)
		return v
	}
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		if !waitCond(d, cond) {
			t.Fatalf("timed out after %v waiting for %s\n%s", d, what, logs.String())
		}
	}
	waitFor(30*time.Second, "both cameras up and analysing, the broker connected", func() bool {
		return metric("crosswatch_edge_camera_up", "synth-cam-1") == 1 && metric("crosswatch_edge_camera_up", "synth-cam-2") == 1 &&
			metric("crosswatch_edge_frames_analysed_total", "synth-cam-1") > 10 && metric("crosswatch_edge_frames_analysed_total", "synth-cam-2") > 10 &&
			metric("crosswatch_edge_broker_connected", "") == 1
	})
	if code, body := httpGet(t, metricsURL+"/readyz"); code != 200 {
		t.Fatalf("readyz %d: %s", code, body)
	}
	for _, name := range []string{"crosswatch_edge_frames_decoded_total", "crosswatch_edge_frames_dropped_total", "crosswatch_edge_detector_seconds_count",
		"crosswatch_edge_pipeline_lag_seconds", "crosswatch_edge_source_reconnects_total", "crosswatch_edge_view_changes_total"} {
		if _, ok := scrape(metricsURL, name, "synth-cam-2"); !ok {
			t.Errorf("/metrics has no %s for synth-cam-2", name)
		}
	}
	for _, name := range []string{"crosswatch_edge_outbox_rows", "crosswatch_edge_outbox_bytes", "crosswatch_edge_outbox_oldest_pending_seconds",
		"crosswatch_edge_inflight", "crosswatch_edge_acks_total", "crosswatch_edge_build_info"} {
		if _, ok := scrape(metricsURL, name, ""); !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	waitFor(10*time.Second, "the box online at the aggregator", func() bool {
		var devices []aggregator.Device
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		return len(devices) == 1 && devices[0].ID == device && devices[0].Online
	})
	// The aggregator knows each camera's state: GET /api/v1/devices, the dashboard's Devices page.
	var box aggregator.Device
	cams := func() map[string]aggregator.CameraStatus {
		var devices []aggregator.Device
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		out := map[string]aggregator.CameraStatus{}
		for _, d := range devices {
			if d.ID == device {
				box = d
				for _, c := range d.Cameras {
					out[c.ID] = c
				}
			}
		}
		return out
	}
	waitFor(15*time.Second, "both cameras up and measured at the aggregator", func() bool {
		c := cams()
		for _, id := range []string{"synth-cam-1", "synth-cam-2"} {
			if c[id].State != "up" || c[id].AnalysedFPS <= 0 || c[id].DecodedFPS < c[id].AnalysedFPS || c[id].Error != "" ||
				time.Since(c[id].LastFrame) > 10*time.Second {
				return false
			}
		}
		return len(c) == 2
	})

	// Camera 1's source dies: camera 1 goes down, camera 2 carries on.
	stop1()
	killed := time.Now()
	waitFor(15*time.Second, "camera 1 down", func() bool { return metric("crosswatch_edge_camera_up", "synth-cam-1") == 0 })
	before := metric("crosswatch_edge_frames_analysed_total", "synth-cam-2")
	waitFor(5*time.Second, "camera 2 analysing on", func() bool { return metric("crosswatch_edge_frames_analysed_total", "synth-cam-2") > before+5 })
	if metric("crosswatch_edge_camera_up", "synth-cam-2") != 1 {
		t.Fatalf("camera 2 went down with camera 1\n%s", logs.String())
	}
	if code, body := httpGet(t, metricsURL+"/readyz"); code != 503 || !strings.Contains(body, "camera synth-cam-1 down") || strings.Contains(body, "synth-cam-2") {
		t.Fatalf("readyz with camera 1 down: %d %s", code, body)
	}
	// … and at the aggregator, at once (the box sends a status when a camera goes down): camera
	// 1 reconnecting, with why; camera 2 up.
	waitFor(10*time.Second, "camera 1 reconnecting at the aggregator, camera 2 up", func() bool {
		c := cams()
		return c["synth-cam-1"].State == "reconnecting" && c["synth-cam-1"].Error != "" && c["synth-cam-1"].AnalysedFPS == 0 &&
			c["synth-cam-2"].State == "up" && box.Online
	})
	t.Logf("camera 1 down at the aggregator within %v of its source's kill: %+v", time.Since(killed).Round(time.Millisecond), cams()["synth-cam-1"])
	camtest.Serve(t, filepath.Join(clips[synth.Intersection], synth.ClipName), p1) // … and it comes back
	waitFor(20*time.Second, "camera 1 back", func() bool {
		return metric("crosswatch_edge_camera_up", "synth-cam-1") == 1 && metric("crosswatch_edge_source_reconnects_total", "synth-cam-1") == 1
	})
	if n := metric("crosswatch_edge_source_reconnects_total", "synth-cam-2"); n != 0 {
		t.Fatalf("camera 2 reconnected %v times", n)
	}
	waitFor(10*time.Second, "camera 1 up again at the aggregator, one reconnect; camera 2 never reconnected", func() bool {
		c := cams()
		return c["synth-cam-1"].State == "up" && c["synth-cam-1"].Reconnects == 1 && c["synth-cam-1"].Error == "" &&
			c["synth-cam-2"].State == "up" && c["synth-cam-2"].Reconnects == 0
	})

	// SIGHUP with camera 2 gone: it stops, camera 1 is not restarted.
	os.WriteFile(config, []byte(head+cam("synth-cam-1", p1, synth.Intersection)), 0o644)
	edge.Process.Signal(syscall.SIGHUP)
	waitFor(15*time.Second, "camera 2 gone from /metrics", func() bool {
		_, ok := scrape(metricsURL, "crosswatch_edge_camera_up", "synth-cam-2")
		return !ok
	})
	if metric("crosswatch_edge_camera_up", "synth-cam-1") != 1 {
		t.Fatalf("camera 1 down after the reload\n%s", logs.String())
	}
	waitFor(10*time.Second, "camera 2 gone at the aggregator", func() bool {
		c := cams()
		_, two := c["synth-cam-2"]
		return !two && c["synth-cam-1"].State == "up"
	})

	// SIGTERM: drain, exit 0.
	edge.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { <-logDone; exited <- edge.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop within 30 s of SIGTERM\n%s", logs.String())
	}
	out := logs.String()
	if n := strings.Count(out, `"msg":"camera up","camera":"synth-cam-1"`); n != 1 {
		t.Errorf("camera 1 started %d times, want once (the reconnect and the reload do not restart it)\n%s", n, out)
	}
	if !strings.Contains(out, `"msg":"outbox drained`) {
		t.Errorf("no drain at the stop\n%s", out)
	}
	// Both cameras' records reached the aggregator, and camera 1's outage is a gap there.
	for site, camera := range map[string]string{"synth-main-nb": "synth-cam-1", "example-platform-5": "synth-cam-2"} {
		var cams []aggregator.CameraDevice
		getJSON(t, agg.API+"/api/v1/sites/"+site+"/cameras", &cams)
		found := false
		for _, c := range cams {
			found = found || c.Camera == camera && c.Device == device
		}
		if !found {
			t.Errorf("site %s: cameras %+v, want %s from %s", site, cams, camera, device)
		}
	}
	// Stopped: the box is offline at the aggregator, with its cameras as last known.
	waitFor(10*time.Second, "the box offline at the aggregator", func() bool {
		c := cams()
		return !box.Online && len(c) == 1 && c["synth-cam-1"].ID == "synth-cam-1"
	})
	var gaps []aggregator.Gap
	getJSON(t, agg.API+"/api/v1/gaps", &gaps)
	if len(gaps) != 1 || gaps[0].Reason != "source_down" || gaps[0].Device != device {
		t.Errorf("gaps %+v", gaps)
	}
}

// metricLine matches one sample of the Prometheus text format: name, labels, value.
var metricLine = regexp.MustCompile(`^([a-z_]+)(\{[^}]*\})? (\S+)$`)

// scrape returns the value of the sample name (with camera="camera" among its labels, if
// camera is set) on url's /metrics, and whether there is one.
func scrape(url, name, camera string) (float64, bool) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != name || camera != "" && !strings.Contains(m[2], `camera="`+camera+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		return v, err == nil
	}
	return 0, false
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitCond polls cond every 100 ms until it holds or d passes.
func waitCond(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
