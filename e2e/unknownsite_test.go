package e2e

import (
	"context"
	"errors"
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
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/internal/camtest"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// exitCode is a finished command's exit status: 0 for a nil error, -1 if it did not run.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// TestUnknownSiteTellsTheBox (issue #17): a camera whose scene names a site the aggregator does
// not know. replay exits 1 with one line naming the reason, the camera and site and how many
// events were refused, and still empties its outbox; the box's daemon (`run`) is not ready,
// /readyz and the camera's row at the aggregator (GET /api/v1/devices, the Devices page) say
// why, /metrics counts the refusals by reason; the scene fixed and reloaded, the box is ready.
func TestUnknownSiteTellsTheBox(t *testing.T) {
	testenv.Tool(t, "ffmpeg", "ffmpeg") // serves the daemon's camera stream
	dir := t.TempDir()
	if b, err := exec.Command(edgeBin, "synth", "--seed", "7", "--duration", "20s", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, b)
	}
	good, err := os.ReadFile(filepath.Join(dir, "scene.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.ReplaceAll(string(good), "site: synth-main-nb", "site: nowhere-nb") // the other approach's site stays known
	if bad == string(good) {
		t.Fatal("the synthetic scene names no site synth-main-nb")
	}
	scenePath := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(scenePath, []byte(bad), 0o644)
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))

	// replay: exit status 1 and the line, the outbox empty all the same.
	ob := filepath.Join(t.TempDir(), "outbox.db")
	out, err := edgeCmd("replay", "--scene", scenePath, "--clip", filepath.Join(dir, synth.ClipName), "--broker", agg.Broker,
		"--device", "unknown-edge", "--outbox", ob, "--drain-timeout", "30s", "--evidence=false").CombinedOutput()
	line := regexp.MustCompile(`(?m)^crosswatch-edge replay: the aggregator refused (\d+) events?( and \d+ count records?)? of camera synth-cam-1 at site nowhere-nb: unknown_site \(unknown site "nowhere-nb"\).*$`)
	m := line.FindStringSubmatch(string(out))
	if code := exitCode(err); code != 1 || m == nil || strings.Count(string(out), "crosswatch-edge replay:") != 1 {
		t.Fatalf("replay: exit status %d (%v), want 1 with one line naming the refusal:\n%s", code, err, out)
	}
	if strings.Contains(string(out), "(all acknowledged by the aggregator)") {
		t.Errorf("replay claims success:\n%s", out)
	}
	refused, _ := strconv.Atoi(m[1])
	o, err := outbox.Open(ob, outbox.Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	left, _ := o.Pending(context.Background(), 0, 1<<20, nil)
	o.Close()
	if len(left) != 0 {
		t.Fatalf("%d messages left in the outbox; refused ones must leave it too", len(left))
	}
	var dl []aggregator.DeadLetter
	getJSON(t, agg.API+"/api/v1/dead-letters", &dl)
	events := 0
	for _, d := range dl {
		if d.Reason == `unknown site "nowhere-nb"` && strings.HasSuffix(d.Topic, "/events") {
			events++
		}
	}
	if events != refused || refused == 0 {
		t.Fatalf("replay says %d events refused; the aggregator dead-lettered %d for nowhere-nb", refused, events)
	}
	t.Logf("replay: %s", m[0])

	// The daemon, the same scene on a live stream.
	port, mport := freePort(t), freePort(t)
	stopCam := camtest.Serve(t, filepath.Join(dir, synth.ClipName), port)
	const device = "unknown-box"
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token(device)+"\n"), 0o600)
	config := filepath.Join(dir, "edge.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`device: %s
broker: {url: %q, token_file: %s}
outbox: {path: %s, drain_timeout: 10s}
models: ../models/files
evidence: false
metrics: {listen: "127.0.0.1:%d"}
log: {level: info, format: json}
cameras:
  - {id: synth-cam-1, source: "http://127.0.0.1:%d", scene: %s}
`, device, agg.Broker, tokenFile, filepath.Join(dir, "state", "outbox.db"), mport, port, scenePath)), 0o644)
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
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		if !waitCond(d, cond) {
			t.Fatalf("timed out after %v waiting for %s\n%s", d, what, logs.String())
		}
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", mport)
	const why = `the aggregator refused `
	const which = ` of camera synth-cam-1 at site nowhere-nb: unknown_site (unknown site "nowhere-nb")`
	// probe is GET url, or -1 while nothing listens yet.
	probe := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	waitFor(60*time.Second, "/readyz naming the refusal", func() bool {
		var code int
		code, body = probe(metricsURL + "/readyz")
		return code == 503 && strings.Contains(body, why) && strings.Contains(body, which)
	})
	t.Logf("readyz: %s", strings.TrimSpace(body))
	if strings.Contains(body, "camera synth-cam-1 down") || strings.Contains(body, "not connected") {
		t.Errorf("readyz: the camera is up and the broker connected; only the refusal keeps it unready: %s", body)
	}
	rejected := regexp.MustCompile(`(?m)^crosswatch_edge_rejected_total\{reason="unknown_site"\} (\d+)$`)
	_, metrics := httpGet(t, metricsURL+"/metrics")
	if m := rejected.FindStringSubmatch(metrics); m == nil || m[1] == "0" {
		t.Errorf("/metrics: no unknown_site rejections counted:\n%s", metrics)
	}
	camera := func() aggregator.CameraStatus {
		var devices []aggregator.Device
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		for _, d := range devices {
			for _, c := range d.Cameras {
				if d.ID == device && c.ID == "synth-cam-1" {
					return c
				}
			}
		}
		return aggregator.CameraStatus{}
	}
	waitFor(15*time.Second, "the camera's refusal at the aggregator", func() bool {
		c := camera()
		return c.State == "up" && strings.Contains(c.Error, why) && strings.Contains(c.Error, which)
	})

	// The scene fixed, and reloaded: the camera restarts with it, the box is ready and the
	// camera's row clear.
	// (ffmpeg's server serves one client: the restarted camera needs a new one.)
	os.WriteFile(scenePath, good, 0o644)
	stopCam()
	edge.Process.Signal(syscall.SIGHUP)
	camtest.Serve(t, filepath.Join(dir, synth.ClipName), port)
	waitFor(40*time.Second, "/readyz ready after the fix", func() bool {
		code, b := probe(metricsURL + "/readyz")
		body = b
		return code == 200
	})
	waitFor(15*time.Second, "the camera's row clear at the aggregator", func() bool {
		c := camera()
		return c.State == "up" && c.Error == ""
	})

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
}
