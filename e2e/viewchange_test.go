package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// A camera whose view changes at once (here the real clip's cut to another camera at 6.08 s)
// tells the aggregator in its status, and the devices API keeps the time of it.
func TestViewChangeReachesTheAggregator(t *testing.T) {
	clip := testenv.SharedClip(t, "../../shared/videos/rlv_gutomadon_redlight.mp4")
	mq := StartMosquitto(t)
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	out, err := edgeCmd("replay", "--scene", "../configs/scenes/real/rlv_gutomadon_redlight.classical.yaml", "--clip", clip,
		"--broker", mq.URL, "--device", "cut-edge", "--outbox", filepath.Join(t.TempDir(), "outbox.db"), "--drain-timeout", "30s",
		"--models", "../models/files", "--start", "2026-11-02T10:00:00Z").CombinedOutput()
	// The aggregator knows no site of this scene: it refuses the count records, and replay exits 1
	// saying so. The view change, in the status, is what this test is about.
	if err != nil && !refusedUnknownSite(err, out, "gutomadon-nb") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	d := waitViewChange(t, agg, "cut-edge")
	if d.ViewChanges != 1 {
		t.Fatalf("device %+v, want 1 view change\nreplay:\n%s", d, out)
	}
	// The cut is 6.08 s into the clip (the first frame after it, at 60 fps).
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	if dt := d.LastViewChange.Sub(start); dt < 6050*time.Millisecond || dt > 6150*time.Millisecond {
		t.Fatalf("last view change %v, want about 6.08 s after the clip's start", d.LastViewChange)
	}
	// The daytime shot after the cut is not the scene's view: the camera is quarantined from
	// the cut to the clip's end, and its last status says so.
	if dt := d.ViewMismatchSince.Sub(start); dt < 6050*time.Millisecond || dt > 6150*time.Millisecond {
		t.Fatalf("view mismatch since %v, want about 6.08 s after the clip's start", d.ViewMismatchSince)
	}
}

// waitViewChange waits until the aggregator lists device with a view change, and returns it.
func waitViewChange(t *testing.T, agg *Aggregator, device string) aggregator.Device {
	t.Helper()
	var devices []aggregator.Device
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		for _, d := range devices {
			if d.ID == device && d.ViewChanges > 0 {
				return d
			}
		}
	}
	t.Fatalf("no view change from %s: devices %+v", device, devices)
	return aggregator.Device{}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
