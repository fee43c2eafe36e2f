package e2e

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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

// Ingest throughput against the physical limit of the broker, in one run, two ways:
//
//   - drain: the broker holds n QoS 1 messages for a subscriber that is not reading (the raw
//     subscriber is offline with a persistent session; the aggregator process is stopped with
//     SIGSTOP) and the time is from the moment it reads again to the last message received
//     (raw) or committed and acknowledged (aggregator). This is the subscriber's throughput:
//     the publisher is not running.
//   - live: the same QoS 1 publisher sends n messages while the subscriber reads them. On this
//     2-core box this measures the publisher, which shares the cores with the broker and the
//     subscriber: any subscriber that uses CPU slows it.
//
// The raw and aggregator runs alternate for three rounds, with a raw run last; each round's
// ratio is the aggregator's rate over the faster raw run beside it, and the median counts.
func TestBenchIngestVsRawMosquitto(t *testing.T) {
	n := benchN(t, 50000)
	const rounds = 3
	var extra []string
	if e := os.Getenv("CROSSWATCH_BENCH_MOSQUITTO"); e != "" { // broker settings to compare, ';'-separated
		extra = strings.Split(e, ";")
	}
	mq := StartMosquitto(t, extra...)
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	options := func(id string) *paho.ClientOptions {
		return login(mq.URL, id).SetOrderMatters(false).SetMaxResumePubInFlight(1000)
	}
	connect := func(o *paho.ClientOptions) paho.Client {
		c := paho.NewClient(o)
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	payloads := func(label string) [][]byte {
		p := make([][]byte, n)
		for i := range p {
			p[i], _ = wire.Encode(wire.Event{V: 1, ID: "bench-" + label + "-" + strconv.Itoa(i), Device: "bench-edge", Camera: "synth-cam-1",
				Site: "synth-main-nb", Zone: "z", Type: wire.RedLightRunning, Time: time.Now().UTC(), Class: "car", Confidence: 0.9})
		}
		return p
	}
	publish := func(c paho.Client, topic string, payloads [][]byte) {
		var last paho.Token
		for i, p := range payloads {
			last = c.Publish(topic, 1, false, p)
			if i%500 == 499 {
				last.Wait() // keep a bounded window in flight
			}
		}
		last.Wait()
	}
	rate := func(began time.Time) float64 { return float64(n) / time.Since(began).Seconds() }

	// The raw subscriber keeps its session (clean session off), so the broker queues its
	// messages while it is offline; every message it gets is counted.
	var got atomic.Int64
	rawOpts := options("raw-sub").SetCleanSession(false).SetDefaultPublishHandler(func(paho.Client, paho.Message) { got.Add(1) })
	rawSub := paho.NewClient(rawOpts)
	if tok := rawSub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	rawSub.Subscribe("bench/raw", 1, nil).Wait()
	t.Cleanup(func() { rawSub.Disconnect(50) })
	pub := connect(options("raw-pub"))
	rawPayloads := payloads("raw")
	rawLive := func() float64 {
		got.Store(0)
		began := time.Now()
		publish(pub, "bench/raw", rawPayloads)
		waitUntil(t, 5*time.Minute, "raw delivery", func() bool { return got.Load() >= int64(n) })
		return rate(began)
	}
	rawDrain := func() float64 {
		rawSub.Disconnect(50)
		got.Store(0)
		publish(pub, "bench/raw", rawPayloads)
		began := time.Now()
		rawSub = paho.NewClient(rawOpts)
		if tok := rawSub.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		waitUntil(t, 5*time.Minute, "raw drain", func() bool { return got.Load() >= int64(n) })
		return rate(began)
	}

	// The aggregator's side ends when the device has been told that every event is committed:
	// the acknowledgements it publishes after each commit are counted, as a device counts them.
	var acked atomic.Int64
	dev := connect(options("bench-edge"))
	dev.Subscribe(wire.Topic("bench-edge", wire.KindAck), 1, func(_ paho.Client, m paho.Message) {
		if a, err := wire.DecodeAck(m.Payload()); err == nil {
			acked.Add(int64(len(a.Committed)))
		}
	}).Wait()
	topic := wire.Topic("bench-edge", wire.KindEvents)
	aggLive := func(round int) float64 {
		p := payloads("live" + strconv.Itoa(round))
		want := acked.Load() + int64(n)
		began := time.Now()
		publish(dev, topic, p)
		waitUntil(t, 5*time.Minute, "aggregator commits", func() bool { return acked.Load() >= want })
		return rate(began)
	}
	aggDrain := func(round int) float64 {
		p := payloads("drain" + strconv.Itoa(round))
		want := acked.Load() + int64(n)
		if err := agg.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		publish(dev, topic, p) // the broker has them all once this returns
		began := time.Now()
		if err := agg.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 5*time.Minute, "aggregator drain", func() bool { return acked.Load() >= want })
		return rate(began)
	}

	type series struct{ raw, agg, ratio []float64 }
	var live, drain series
	live.raw, drain.raw = []float64{rawLive()}, []float64{rawDrain()}
	for r := range rounds {
		live.agg = append(live.agg, aggLive(r))
		drain.agg = append(drain.agg, aggDrain(r))
		live.raw = append(live.raw, rawLive())
		drain.raw = append(drain.raw, rawDrain())
		live.ratio = append(live.ratio, live.agg[r]/max(live.raw[r], live.raw[r+1]))
		drain.ratio = append(drain.ratio, drain.agg[r]/max(drain.raw[r], drain.raw[r+1]))
	}
	f := func(v []float64, prec int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.FormatFloat(x, 'f', prec, 64)
		}
		return strings.Join(s, ",")
	}
	median := func(v []float64) float64 {
		m := slices.Clone(v)
		slices.Sort(m)
		return m[len(m)/2]
	}
	for _, s := range []struct {
		name string
		series
	}{{"drain", drain}, {"live", live}} {
		fmt.Printf("BENCH ingest_%s events=%d rounds=%d raw_mosquitto_qos1=%s/s aggregator=%s/s ratios=%s median_ratio=%.2f\n",
			s.name, n, rounds, f(s.raw, 0), f(s.agg, 0), f(s.ratio, 2), median(s.ratio))
	}
	fmt.Printf("BENCH ingest_batches %s\n", ingestStats(t, agg.API))
}

// ingestStats summarises the aggregator's batching: batches, mean batch size, mean commit time
// and messages shed.
func ingestStats(t *testing.T, api string) string {
	resp, err := authGet(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	val := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	batches, sum := val("crosswatch_ingest_commit_seconds_count"), val("crosswatch_ingest_commit_seconds_sum")
	committed := val(`crosswatch_ingest_messages_total{outcome="committed"}`)
	if batches == 0 {
		return "batches=0"
	}
	return fmt.Sprintf("batches=%.0f mean_batch=%.0f mean_commit_ms=%.2f commit_busy_s=%.2f shed=%.0f",
		batches, committed/batches, 1000*sum/batches, sum, val(`crosswatch_ingest_messages_total{outcome="shed"}`))
}
