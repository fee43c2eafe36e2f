package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the dashboard screenshots to docs/screenshots (the README shows them)")

// dashboardSites extends the example config with sites of both kinds around the synthetic
// intersection, so that the plan view and the kind filter have something to show.
const dashboardSites = `
  - {id: ring-rd-eb, name: "Ring Rd, eastbound approach", kind: road, lat: 48.2061, lon: 16.3690, time_zone: America/New_York}
  - {id: harbour-st-wb, name: "Harbour St, westbound approach", kind: road, lat: 48.2125, lon: 16.3660}
  - {id: central-platform-2, name: "Central station, platform 2", kind: rail, lat: 48.2040, lon: 16.3800}
`

// TestDashboardInBrowser drives the dashboard in Debian's chromium with Playwright against an
// aggregator fed through real ingest (embedded broker): a replayed synthetic clip (events with
// counts) and 10,000 more events spread over the past month, some with an evidence JPEG.
// The browser side is aggregator/dashboard/browsertest/dashboard.test.mjs.
func TestDashboardInBrowser(t *testing.T) {
	node, chromium, testDir := browserTools(t)
	cfgPath := writeConfig(t, "")
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(cfg, dashboardSites...), 0o644)
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"), "--config", cfgPath)

	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	replay(t, edgeBin, dir, agg.Broker, filepath.Join(t.TempDir(), "outbox.db"))
	// A device whose camera view changed (the real clip's cut), when ../shared is here.
	if clip := "../../shared/videos/rlv_gutomadon_redlight.mp4"; fileExists(clip) {
		if out, err := edgeCmd("replay", "--scene", "../configs/scenes/real/rlv_gutomadon_redlight.classical.yaml", "--clip", clip,
			"--broker", agg.Broker, "--device", "dash-cut-edge", "--outbox", filepath.Join(t.TempDir(), "cut.db"), "--drain-timeout", "30s",
			"--models", "../models/files").CombinedOutput(); err != nil && !refusedUnknownSite(err, out, "gutomadon-nb") {
			// Its site is none of the dashboard's: the aggregator refuses its count record and
			// replay says so with exit status 1; the view change is what this device is for.
			t.Fatalf("replay %s: %v\n%s", clip, err, out)
		}
		waitViewChange(t, agg, "dash-cut-edge")
	}

	evidence := filepath.Join(dir, "evidence.jpg")
	writeEvidenceJPEG(t, evidence)
	// 10,000 events from four devices in parallel, as four boxes would send them.
	// One site has no counts: its rates show "insufficient data".
	type feed struct {
		device, site, camera, types string
		roadUsers                   int
	}
	feeds := []feed{
		{"dash-edge-1", "synth-main-nb", "synth-cam-1", "red_light_running,ped_against_signal,jaywalking,red_light_running", 200_000},
		{"dash-edge-2", "ring-rd-eb", "ring-cam-1", "red_light_running,jaywalking", 150_000},
		{"dash-edge-3", "harbour-st-wb", "harbour-cam-1", "ped_against_signal,red_light_running,red_light_running", 0},
		{"dash-edge-4", "central-platform-2", "platform-cam-2", "platform_edge_intrusion,platform_edge_intrusion,track_intrusion", 400_000},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(feeds))
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"burst", "--broker", agg.Broker, "--device", f.device, "--site", f.site, "--camera", f.camera,
				"--outbox", filepath.Join(dir, f.device+".db"), "--from", "0", "--to", "2500", "--batch", "500",
				"--span", "700h", "--road-users", strconv.Itoa(f.roadUsers), "--types", f.types, "--id-prefix", f.device + "-", "--drain", "--drain-timeout", "2m"}
			if i != 2 { // one site's events come without images
				args = append(args, "--evidence", evidence)
			}
			if out, err := edgeCmd(args...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("burst %s: %v\n%s", f.device, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	publishCameraStatuses(t, agg)

	shots := t.TempDir()
	if *updateScreenshots {
		shots, _ = filepath.Abs("../docs/screenshots")
	}
	live, _ := json.Marshal([]string{edgeBin, "burst", "--broker", agg.Broker, "--device", "dash-edge-live", "--site", "ring-rd-eb",
		"--camera", "ring-cam-1", "--outbox", filepath.Join(dir, "live.db"), "--from", "1", "--to", "2", "--now",
		"--id-prefix", "live-", "--evidence", evidence, "--drain", "--drain-timeout", "1m"})
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "dashboard.test.mjs"))
	cmd.Dir = testDir
	viewerToken := credential(t, aggBin, "token", "dashboard-test", "viewer", agg.store)
	adminToken := credential(t, aggBin, "token", "dashboard-admin", "admin", agg.store)
	cmd.Env = append(os.Environ(), "CROSSWATCH_URL="+agg.API, "CROSSWATCH_SCREENSHOTS="+shots, "CHROMIUM="+chromium,
		"CROSSWATCH_USER=dana", "CROSSWATCH_PASSWORD="+agg.AddUser(t, "dana", "viewer"), "CROSSWATCH_TOKEN="+viewerToken, "CROSSWATCH_ADMIN_TOKEN="+adminToken,
		"CROSSWATCH_LIVE_CMD="+string(live), "CROSSWATCH_DEVICE_TOKEN="+token("dash-edge-live"), "CROSSWATCH_LIVE_SITE=ring-rd-eb", "CROSSWATCH_LIVE_ID=live-1",
		// What was stored at the live site, for the count export to match: its feed's hourly
		// counts of cars in zone z (ring-rd-eb is in New York time, the others in Vienna's or UTC).
		`CROSSWATCH_STORED_COUNTS={"site":"ring-rd-eb","time_zone":"America/New_York","zone":"z","class":"car","total":`+strconv.Itoa(feeds[1].roadUsers)+`}`)
	if os.Getenv("CROSSWATCH_DASHBOARD_HOLD") != "" {
		t.Logf("dashboard at %s/ (holding for %s)", agg.API, os.Getenv("CROSSWATCH_DASHBOARD_HOLD"))
		d, _ := time.ParseDuration(os.Getenv("CROSSWATCH_DASHBOARD_HOLD"))
		time.Sleep(d)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	for _, name := range []string{"sites", "site", "compare", "event", "devices", "catalog", "login"} {
		if st, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s.png: %v", name, err)
		}
	}
}

// browserTools finds node, chromium and the installed playwright-core, or skips (fails in CI,
// where 'make test' installs them with scripts/deps.sh).
func browserTools(t *testing.T) (node, chromium, testDir string) {
	t.Helper()
	testDir, _ = filepath.Abs("../aggregator/dashboard/browsertest")
	missing := func(what string) {
		msg := what + " is missing; 'make test' installs it (scripts/browser-deps.sh)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium")
	}
	if _, err := os.Stat(filepath.Join(testDir, "node_modules", "playwright-core")); err != nil {
		missing("playwright-core (npm ci in aggregator/dashboard/browsertest)")
	}
	return node, chromium, testDir
}

// writeEvidenceJPEG writes a real evidence image to path: three anonymised stills of a
// red-light runner, made by crosswatch-edge replay from the synthetic demo clip (seed 7, no
// real person in it), as an edge sends it.
func writeEvidenceJPEG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile("testdata/evidence-montage.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		// The race run (-short): the aggregator decodes every evidence JPEG it accepts, and
		// 7,500 three-still montages under the race detector took it past the burst's drain
		// timeout. A small one-still stand-in there.
		img := image.NewRGBA(image.Rect(0, 0, 320, 180))
		for i := range img.Pix {
			img.Pix[i] = uint8(90 + i%7)
		}
		var w bytes.Buffer
		if err := jpeg.Encode(&w, img, &jpeg.Options{Quality: 60}); err != nil {
			t.Fatal(err)
		}
		b = w.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// publishCameraStatuses publishes, through the broker and ingest, the statuses of two boxes
// with cameras in every state, as crosswatch-edge run reports them (TestDaemonTwoCameras runs
// the real daemon): dash-box online with one camera up (its view quarantined), one
// reconnecting and one down; dash-box-off with one camera, then gone (the broker's will).
func publishCameraStatuses(t *testing.T, agg *Aggregator) {
	t.Helper()
	now := time.Now().UTC()
	ptr := func(t time.Time) *time.Time { return &t }
	statuses := map[string][]wire.Status{
		"dash-box": {{V: wire.Version, Device: "dash-box", Online: true, Time: now, Software: "crosswatch-edge e2e",
			ViewChanges: 1, LastViewChange: ptr(now.Add(-time.Hour)), ViewMismatchSince: ptr(now.Add(-time.Hour)),
			Cameras: []wire.CameraStatus{
				{ID: "cam-north", State: wire.CameraUp, DecodedFPS: 29.97, AnalysedFPS: 14.96, LastFrame: ptr(now.Add(-40 * time.Millisecond)), Reconnects: 1,
					ViewChanges: 1, ViewMismatch: true},
				{ID: "cam-south", State: wire.CameraReconnecting, LastFrame: ptr(now.Add(-12 * time.Second)), Reconnects: 3, Error: "source dropped; reconnecting"},
				{ID: "cam-west", State: wire.CameraDown, Error: wire.CameraErrorText("open rtsp://admin:secret@10.0.0.7/stream: connection refused")},
			}}},
		"dash-box-off": {
			{V: wire.Version, Device: "dash-box-off", Online: true, Time: now.Add(-time.Minute), Software: "crosswatch-edge e2e",
				Cameras: []wire.CameraStatus{{ID: "cam-1", State: wire.CameraUp, DecodedFPS: 25, AnalysedFPS: 12.5, LastFrame: ptr(now.Add(-time.Minute)), Reconnects: 0}}},
			{V: wire.Version, Device: "dash-box-off", Online: false}, // the will: no cameras
		},
	}
	for device, sts := range statuses {
		c := paho.NewClient(login(agg.Broker, device))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", device, tok.Error())
		}
		for _, st := range sts {
			b, err := wire.Encode(st)
			if err != nil {
				t.Fatal(err)
			}
			if tok := c.Publish(wire.Topic(device, wire.KindStatus), 1, true, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %s's status: %v", device, tok.Error())
			}
			if len(sts) == 1 {
				continue
			}
			// The aggregator's client handles messages concurrently (paho's OrderMatters
			// false), so two statuses microseconds apart may be applied in either order; a
			// box's will follows its last status by seconds. Wait for each before the next.
			if !waitCond(10*time.Second, func() bool {
				var ds []aggregator.Device
				getJSON(t, agg.API+"/api/v1/devices", &ds)
				for _, d := range ds {
					if d.ID == device && d.Online == st.Online {
						return true
					}
				}
				return false
			}) {
				t.Fatalf("%s's status (online %v) did not reach GET /api/v1/devices in 10 s", device, st.Online)
			}
		}
		c.Disconnect(250)
	}
	var devices []aggregator.Device
	if !waitCond(30*time.Second, func() bool {
		devices = nil
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		n := 0
		for _, d := range devices {
			if d.ID == "dash-box" && d.Online && len(d.Cameras) == 3 || d.ID == "dash-box-off" && !d.Online && len(d.Cameras) == 1 {
				n++
			}
		}
		return n == 2
	}) {
		t.Fatalf("the boxes' cameras did not reach GET /api/v1/devices in 30 s: %+v", devices)
	}
}

// refusedUnknownSite reports whether a replay failed only because the aggregator refused its
// records for naming site, which it does not know: exit status 1 and replay's line saying so.
func refusedUnknownSite(err error, out []byte, site string) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1 &&
		strings.Contains(string(out), "crosswatch-edge replay: the aggregator refused") &&
		strings.Contains(string(out), "at site "+site+": unknown_site")
}
