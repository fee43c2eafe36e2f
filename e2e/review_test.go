package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReviewAndDeadLettersInBrowser drives the dead-letter page and the review queue in
// chromium (aggregator/dashboard/browsertest/review.test.mjs) against the binary:
//
//   - a box sends events for a site the aggregator does not know: dead letters. The site is
//     added to the configuration and the aggregator restarted; an admin reprocesses them in
//     the dashboard and they are recorded, once, however often reprocessing runs. Events for a
//     site still unknown stay dead letters.
//   - an event is raised at a site; a reviewer dismisses it from the review queue with the
//     keyboard, and the site's points (and score) return to what they were before the event.
func TestReviewAndDeadLettersInBrowser(t *testing.T) {
	node, chromium, testDir := browserTools(t)
	cfgPath := writeConfig(t, "")
	db := filepath.Join(t.TempDir(), "agg.db")
	agg := StartAggregator(t, aggBin, "embedded", db, "--config", cfgPath)
	dir := t.TempDir()
	evidence := filepath.Join(dir, "evidence.jpg")
	writeEvidenceJPEG(t, evidence)
	// burst sends events; refused is what its one-line error says when the aggregator
	// refuses them ("": it succeeds).
	burst := func(broker, device, site, camera, prefix, to, refused string) {
		t.Helper()
		args := []string{"burst", "--broker", broker, "--device", device, "--site", site, "--camera", camera,
			"--outbox", filepath.Join(dir, device+".db"), "--from", "0", "--to", to, "--span", "2h", "--id-prefix", prefix,
			"--evidence", evidence, "--drain", "--drain-timeout", "1m"}
		out, err := edgeCmd(args...).CombinedOutput()
		if refused == "" && err != nil || refused != "" && (err == nil || !strings.Contains(string(out), refused)) {
			t.Fatalf("burst %s: %v, want %q\n%s", device, err, refused, out)
		}
	}
	// A new camera whose site nobody added yet, and one for a site that stays unknown: the
	// burst fails, naming them.
	burst(agg.Broker, "dl-edge", "new-site-7", "new-cam-1", "new-", "6", "refused 6 records of camera new-cam-1 at site new-site-7: unknown_site")
	burst(agg.Broker, "ghost-edge", "ghost-site", "ghost-cam", "ghost-", "2", "refused 2 records of camera ghost-cam at site ghost-site: unknown_site")
	// Events at a known site, for the review queue.
	burst(agg.Broker, "rv-edge", "synth-main-nb", "synth-cam-1", "rv-", "4", "")
	var dead []struct{ Reason string }
	getJSON(t, agg.API+"/api/v1/dead-letters", &dead)
	if len(dead) != 8 || !strings.Contains(dead[len(dead)-1].Reason, `unknown site "new-site-7"`) {
		t.Fatalf("dead letters before the fix: %+v", dead)
	}

	// The fix: the site is added to the configuration and the aggregator restarted.
	agg.Stop()
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(cfg, "\n  - {id: new-site-7, name: \"New St, site 7\", kind: road, lat: 48.2050, lon: 16.3700}\n"...), 0o644)
	agg = StartAggregator(t, aggBin, "embedded", db, "--config", cfgPath)

	shots := t.TempDir()
	if *updateScreenshots {
		shots, _ = filepath.Abs("../docs/screenshots")
	}
	live, _ := json.Marshal([]string{edgeBin, "burst", "--broker", agg.Broker, "--device", "rv-live", "--site", "synth-main-nb",
		"--camera", "synth-cam-1", "--outbox", filepath.Join(dir, "rv-live.db"), "--from", "1", "--to", "2", "--now",
		"--id-prefix", "raised-", "--evidence", evidence, "--drain", "--drain-timeout", "1m"})
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "review.test.mjs"))
	cmd.Dir = testDir
	cmd.Env = append(os.Environ(), "CROSSWATCH_URL="+agg.API, "CROSSWATCH_SCREENSHOTS="+shots, "CHROMIUM="+chromium,
		"CROSSWATCH_ADMIN_USER=ada", "CROSSWATCH_ADMIN_PASSWORD="+agg.AddUser(t, "ada", "admin"),
		"CROSSWATCH_REVIEWER_USER=rita", "CROSSWATCH_REVIEWER_PASSWORD="+agg.AddUser(t, "rita", "reviewer"),
		"CROSSWATCH_TOKEN="+agg.Token, "CROSSWATCH_FIXED_SITE=new-site-7", "CROSSWATCH_REVIEW_SITE=synth-main-nb",
		"CROSSWATCH_LIVE_CMD="+string(live), "CROSSWATCH_DEVICE_TOKEN="+token("rv-live"), "CROSSWATCH_LIVE_DEVICE=rv-live", "CROSSWATCH_LIVE_ID=raised-1")
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	for _, name := range []string{"dead-letters", "review"} {
		if st, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s.png: %v", name, err)
		}
	}
}
