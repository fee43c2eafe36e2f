package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestSoak runs a steady burst while faults are injected at random — the edge, the broker and
// the aggregator killed with SIGKILL and restarted — then reconciles every accepted event.
// CROSSWATCH_SOAK sets the duration (Go syntax, e.g. 4h); CI runs the 20 s default.
func TestSoak(t *testing.T) {
	d := 20 * time.Second
	if v := os.Getenv("CROSSWATCH_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("CROSSWATCH_SOAK: %v", err)
		}
	}
	const rate = 2000
	total := int(d.Seconds()*rate) + rate
	mq, agg := faultSetup(t)
	ob := filepath.Join(t.TempDir(), "outbox.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	start := func(from int) *burst {
		return startBurst(t, "--broker", mq.URL, "--outbox", ob, "--from", strconv.Itoa(from), "--to", strconv.Itoa(total), "--rate", strconv.Itoa(rate))
	}
	b := start(0)
	next := 0
	faults := map[string]int{}
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		switch rng.IntN(3) {
		case 0:
			b.kill()
			if a := int(b.accepted.Load()); a >= next {
				next = a + 1
			}
			b = start(next)
			faults["edge SIGKILL"]++
		case 1:
			mq.Kill()
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
			mq.Start(t)
			faults["broker SIGKILL"]++
		case 2:
			agg.Kill()
			agg = StartAggregator(t, aggBin, mq.URL, agg.DB)
			faults["aggregator SIGKILL"]++
		}
	}
	b.kill()
	if a := int(b.accepted.Load()); a >= next {
		next = a + 1
	}
	final := startBurst(t, "--broker", mq.URL, "--outbox", ob, "--from", strconv.Itoa(next), "--to", strconv.Itoa(total), "--drain", "--drain-timeout", "5m")
	final.wait(t, 6*time.Minute)
	agg.Stop()
	t.Logf("soak %v: faults %v", d, faults)
	reconcile(t, agg.DB, total, 0)
}
