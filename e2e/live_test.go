package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/internal/camtest"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// TestLiveStream: the edge analyses a live HTTP camera stream, the camera drops and comes back,
// the edge reconnects, and the aggregator records the outage as a gap and the counts from both
// sides of it.
func TestLiveStream(t *testing.T) {
	testenv.Tool(t, "ffmpeg", "ffmpeg") // serves the camera stream
	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--duration", "30s", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	port := freePort(t)
	stop := camtest.Serve(t, filepath.Join(dir, synth.ClipName), port)
	edge := edgeCmd("replay", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", fmt.Sprintf("http://127.0.0.1:%d", port),
		"--broker", agg.Broker, "--device", "live-edge", "--outbox", filepath.Join(dir, "outbox.db"), "--drain-timeout", "20s", "--evidence=false", "-v")
	out := &syncBuffer{}
	edge.Stdout, edge.Stderr = out, out
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	// On a loaded machine ffmpeg may listen only seconds after it starts: wait for the edge's
	// own word that the stream is open, not a fixed time.
	waitConnected := func(n int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for strings.Count(out.String(), "video source connected") < n {
			if time.Now().After(deadline) {
				edge.Process.Kill()
				t.Fatalf("the edge did not connect to the stream (%d times)\n%s", n, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitConnected(1)
	time.Sleep(5 * time.Second) // frames flow
	stop()                      // the camera drops …
	time.Sleep(2 * time.Second)
	camtest.Serve(t, filepath.Join(dir, synth.ClipName), port) // … and comes back
	waitConnected(2)
	time.Sleep(5 * time.Second) // the counts of the open minute are flushed at the stop
	edge.Process.Signal(syscall.SIGINT)
	if err := edge.Wait(); err != nil {
		t.Fatalf("edge: %v\n%s", err, out.String())
	}
	var gaps []aggregator.Gap
	getJSON(t, agg.API+"/api/v1/gaps", &gaps)
	if len(gaps) != 1 || gaps[0].Reason != "source_down" || gaps[0].Device != "live-edge" || gaps[0].Newest.Sub(gaps[0].Oldest) < time.Second {
		t.Fatalf("gaps %+v\n%s", gaps, out.String())
	}
	var sites []aggregator.SiteScore
	getJSON(t, agg.API+"/api/v1/sites", &sites)
	users := 0
	for _, s := range sites {
		users += s.RoadUsers
	}
	if users == 0 {
		t.Fatalf("no road users counted from the live stream\n%s", out.String())
	}
	t.Logf("live stream: outage of %v recorded; %d road users counted", gaps[0].Newest.Sub(gaps[0].Oldest).Round(time.Millisecond), users)
}
