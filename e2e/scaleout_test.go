package e2e

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/internal/pgtest"
)

// Three aggregator instances share one PostgreSQL and split the stream through MQTT shared
// subscriptions on Mosquitto; one is killed with SIGKILL mid-stream. Every event is recorded
// exactly once, and the scores equal those of a single SQLite aggregator fed the same events.
func TestScaleOutThreeInstances(t *testing.T) {
	cluster, err := pgtest.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL: %v", err)
	}
	defer cluster.Stop()
	dsn := cluster.FreshDB(t)
	mq := StartMosquitto(t)
	var aggs []*Aggregator
	for i := 0; i < 3; i++ {
		aggs = append(aggs, StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "unused.db"),
			"--postgres", dsn, "--group", "crosswatch", "--client-id", fmt.Sprintf("crosswatch-aggregator-%d", i)))
	}
	const total = 30000
	b := startBurst(t, "--broker", mq.URL, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", strconv.Itoa(total), "--rate", "10000", "--drain")
	waitUntil(t, 30*time.Second, "a third of the stream", func() bool { return b.accepted.Load() > total/3 })
	aggs[1].Kill()
	b.wait(t, 3*time.Minute)
	var scaled []aggregator.SiteScore
	getJSON(t, aggs[0].API+"/api/v1/sites?window=8760h", &scaled)
	// The stream was split: both surviving instances committed events.
	for _, i := range []int{0, 2} {
		resp, err := authGet(aggs[i].API + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`crosswatch_ingest_messages_total\{outcome="committed"\} (\d+)`).FindSubmatch(body)
		if m == nil || string(m[1]) == "0" {
			t.Fatalf("instance %d committed nothing: the shared subscription did not split the stream", i)
		}
		t.Logf("instance %d committed %s events", i, m[1])
	}
	for _, a := range aggs {
		a.Stop()
	}
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	reconcileDB(t, d, total, 0)

	// The same events through one SQLite aggregator: the same scores.
	mq2 := StartMosquitto(t)
	single := StartAggregator(t, aggBin, mq2.URL, filepath.Join(t.TempDir(), "single.db"))
	b2 := startBurst(t, "--broker", mq2.URL, "--outbox", filepath.Join(t.TempDir(), "o2.db"), "--to", strconv.Itoa(total), "--drain")
	b2.wait(t, 3*time.Minute)
	var one []aggregator.SiteScore
	getJSON(t, single.API+"/api/v1/sites?window=8760h", &one)
	if len(one) != len(scaled) {
		t.Fatalf("%d sites vs %d", len(one), len(scaled))
	}
	for i := range one {
		a, b := one[i], scaled[i]
		if a.ID != b.ID || a.Points != b.Points || (a.Score == nil) != (b.Score == nil) || (a.Score != nil && *a.Score != *b.Score) || a.Deductions != b.Deductions || fmt.Sprint(a.Events) != fmt.Sprint(b.Events) {
			t.Fatalf("single instance %+v\nthree instances %+v", a, b)
		}
	}
	t.Logf("3 instances (one killed) and 1 instance agree: %s %d points, %d deductions", one[0].ID, one[0].Points, one[0].Deductions)
}
