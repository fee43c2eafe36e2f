package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/synth"
)

// An event the aggregator dead-letters leaves the edge's outbox: the aggregator acknowledges it
// as rejected and the edge deletes it, instead of resending it forever; the replay exits 1 with
// a line naming the reason, the camera and site, and how many. Here the aggregator's
// catalog has no jaywalking entry, and seed 7 renders jaywalkers.
func TestRejectedEventLeavesOutbox(t *testing.T) {
	mq := StartMosquitto(t)
	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	cfgDir := t.TempDir()
	cfg, err := os.ReadFile("../configs/aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cfgDir, "aggregator.yaml"), cfg, 0o644)
	cat, _ := os.ReadFile("../configs/catalog.yaml")
	var kept []string
	skip := false
	for _, l := range strings.Split(string(cat), "\n") { // drop the jaywalking entry, keep the rest
		if strings.HasPrefix(l, "  - type: ") {
			skip = l == "  - type: jaywalking"
		}
		if strings.HasPrefix(l, "version:") {
			l = `version: "e2e-no-jaywalking"`
		}
		if !skip {
			kept = append(kept, l)
		}
	}
	if len(kept) >= len(strings.Split(string(cat), "\n")) {
		t.Fatal("configs/catalog.yaml has no jaywalking entry to drop")
	}
	os.WriteFile(filepath.Join(cfgDir, "catalog.yaml"), []byte(strings.Join(kept, "\n")), 0o644)
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"), "--config", filepath.Join(cfgDir, "aggregator.yaml"))

	ob := filepath.Join(t.TempDir(), "outbox.db")
	cmd := edgeCmd("replay", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
		"--broker", mq.URL, "--device", "e2e-edge", "--outbox", ob, "--drain-timeout", "10s")
	out, err := cmd.CombinedOutput()
	if !strings.Contains(string(out), "jaywalking=") {
		t.Fatalf("the replay found no jaywalking, so nothing was rejected (%v):\n%s", err, out)
	}
	o, oerr := outbox.Open(ob, outbox.Options{ReserveBytes: -1})
	if oerr != nil {
		t.Fatal(oerr)
	}
	left, _ := o.Pending(context.Background(), 0, 1<<20, nil)
	o.Close()
	if len(left) != 0 {
		var ids []string
		for _, m := range left {
			ids = append(ids, m.ID)
		}
		t.Fatalf("replay: %v; %d messages left in the outbox %v:\n%s", err, len(left), ids, out)
	}
	// Nor does the replay claim success: exit status 1, one line with the reason.
	line := regexp.MustCompile(`(?m)^crosswatch-edge replay: the aggregator refused \d+ events? of camera synth-cam-1 at site synth-main-\w+: no_catalog_entry \(event type "jaywalking" has no entry in catalog e2e-no-jaywalking\).*$`)
	if code := exitCode(err); code != 1 || !line.MatchString(string(out)) {
		t.Fatalf("replay: exit status %d, want 1 with the refusal's line:\n%s", code, out)
	}
	var dl []aggregator.DeadLetter
	getJSON(t, agg.API+"/api/v1/dead-letters", &dl)
	n := 0
	for _, d := range dl {
		if strings.Contains(d.Reason, `"jaywalking" has no entry`) {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("the aggregator dead-lettered no jaywalking event: %+v", dl)
	}
	t.Logf("%d jaywalking events rejected by the aggregator and removed from the outbox", n)
}
