package e2e

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// benchN returns the event count of a benchmark, or skips unless CROSSWATCH_BENCH is set
// (make bench sets it; BENCH_SMOKE makes it short).
func benchN(t *testing.T, full int) int {
	if os.Getenv("CROSSWATCH_BENCH") == "" {
		t.Skip("a benchmark: make bench runs it (CROSSWATCH_BENCH=1)")
	}
	if os.Getenv("BENCH_SMOKE") != "" {
		return full / 10
	}
	return full
}

// Outbox → aggregator at 1,000 events/s through Mosquitto: each event is stamped when the edge
// appends it, and the aggregator records when it received it (its commit follows within one
// batch, ≤ 5 ms plus the commit: crosswatch_ingest_commit_seconds).
func TestBenchDeliveryLatency(t *testing.T) {
	n := benchN(t, 20000)
	mq, agg := faultSetup(t)
	b := startBurst(t, "--broker", mq.URL, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", strconv.Itoa(n),
		"--rate", "1000", "--batch", "10", "--now", "--drain")
	b.wait(t, 5*time.Minute)
	agg.Stop()
	d, err := sql.Open("sqlite3", "file:"+agg.DB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT received_ms - time_ms FROM events WHERE device = 'fault-edge'`)
	if err != nil {
		t.Fatal(err)
	}
	var lat []int64
	for rows.Next() {
		var ms int64
		rows.Scan(&ms)
		lat = append(lat, ms)
	}
	rows.Close()
	slices.Sort(lat)
	if len(lat) != n {
		t.Fatalf("%d of %d events recorded", len(lat), n)
	}
	p := func(q float64) int64 { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("BENCH delivery_latency events=%d rate=1000/s p50_ms=%d p99_ms=%d max_ms=%d\n", n, p(0.5), p(0.99), lat[len(lat)-1])
}

// Ingest throughput against the physical limit of the broker: the same QoS 1 publisher, first
// to a raw subscriber, then to the aggregator (validated, committed, acknowledged), in one run.
func TestBenchIngestVsRawMosquitto(t *testing.T) {
	n := benchN(t, 50000)
	mq, agg := faultSetup(t)
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i], _ = wire.Encode(wire.Event{V: 1, ID: "bench-" + strconv.Itoa(i), Device: "bench-edge", Camera: "synth-cam-1",
			Site: "synth-main-nb", Zone: "z", Type: wire.RedLightRunning, Time: time.Now().UTC(), Class: "car", Confidence: 0.9})
	}
	connect := func(id string) paho.Client {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID(id).SetUsername(id).SetOrderMatters(false).SetMaxResumePubInFlight(1000))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	publish := func(c paho.Client, topic string) {
		var last paho.Token
		for i, p := range payloads {
			last = c.Publish(topic, 1, false, p)
			if i%500 == 499 {
				last.Wait() // keep a bounded window in flight
			}
		}
		last.Wait()
	}
	// Raw: Mosquitto to a plain QoS 1 subscriber, measured before and after the aggregator; the
	// faster of the two is the limit (so warm-up never favours the aggregator).
	var got atomic.Int64
	sub := connect("raw-sub")
	sub.Subscribe("bench/raw", 1, func(paho.Client, paho.Message) { got.Add(1) }).Wait()
	pub := connect("raw-pub")
	rawRun := func() float64 {
		got.Store(0)
		began := time.Now()
		publish(pub, "bench/raw")
		waitUntil(t, 5*time.Minute, "raw delivery", func() bool { return got.Load() >= int64(n) })
		return float64(n) / time.Since(began).Seconds()
	}
	raw := rawRun()

	// Through the aggregator: committed to SQLite and acknowledged.
	dev := connect("bench-edge")
	began := time.Now()
	publish(dev, wire.Topic("bench-edge", wire.KindEvents))
	re := regexp.MustCompile(`crosswatch_ingest_messages_total\{outcome="committed"\} (\d+)`)
	waitUntil(t, 5*time.Minute, "aggregator commits", func() bool {
		resp, err := http.Get(agg.API + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := re.FindSubmatch(body)
		if m == nil {
			return false
		}
		c, _ := strconv.Atoi(string(m[1]))
		return c >= n
	})
	ingest := float64(n) / time.Since(began).Seconds()
	raw = max(raw, rawRun())
	fmt.Printf("BENCH ingest events=%d raw_mosquitto_qos1=%.0f/s aggregator=%.0f/s ratio=%.2f\n", n, raw, ingest, ingest/raw)
}
