package ingest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

type nopAcker struct{}

func (nopAcker) Ack(string, wire.Ack) error { return nil }

// BenchmarkIngestSQLite is the aggregator's per-event cost without the network: validation,
// pricing and the commit to a real SQLite file (WAL, synchronous=FULL) in batches of 512.
// One op is one event.
func BenchmarkIngestSQLite(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "agg.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		b.Fatal(err)
	}
	topic := wire.Topic("edge-1", wire.KindEvents)
	msgs := make([]Message, b.N)
	for i := range msgs {
		msgs[i] = Message{Topic: topic, Payload: event("e"+strconv.Itoa(i), "main-nb", wire.RedLightRunning), Received: time.Now()}
	}
	cfg := DefaultConfig()
	cfg.Queue = b.N + 1
	g := New(st, nopAcker{}, cat, sites, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	b.ReportAllocs()
	b.ResetTimer()
	submitAll(g, msgs)
	b.StopTimer()
	if s := g.Stats(); s.Committed != int64(b.N) {
		b.Fatalf("committed %d of %d", s.Committed, b.N)
	}
}

// BenchmarkIngestSQLiteLive is BenchmarkIngestPostgres's live traffic on SQLite: events 97 ms
// apart over 20 sites and three types from now on, the ingester's clock following them, so each
// batch of 512 adds to about 60 rollup keys and the hour and day bins are sealed as the clock
// passes them. One op is one event; cpu-ns/op is the process's CPU time per event (SQLite works
// in the process), the figure that holds on a loaded machine.
func BenchmarkIngestSQLiteLive(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "agg.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g, msgs := liveIngester(b, st)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	submitAll(g, msgs)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if s := g.Stats(); s.Committed != int64(b.N) {
		b.Fatalf("committed %d of %d", s.Committed, b.N)
	}
}

// liveIngester is the live traffic of BenchmarkIngestSQLiteLive and BenchmarkIngestPostgres
// over st: 20 sites in st, b.N events 97 ms apart from now on over three types, and an
// ingester whose clock follows a second behind the event it judges (it reads the clock once
// per message and once per commit), so the hour and day rollups are sealed as in service.
func liveIngester(b *testing.B, st interface {
	Store
	UpsertSites(context.Context, []aggregator.Site) error
}) (*Ingester, []Message) {
	b.Helper()
	cat, err := catalog.Load("../../configs/catalog.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var ss []aggregator.Site
	for i := 0; i < 20; i++ {
		ss = append(ss, aggregator.Site{ID: "s" + strconv.Itoa(i), Name: "site " + strconv.Itoa(i), Kind: aggregator.Road})
	}
	if err := st.UpsertSites(context.Background(), ss); err != nil {
		b.Fatal(err)
	}
	types := []string{wire.RedLightRunning, wire.Jaywalking, wire.RedLightRunning}
	topic := wire.Topic("edge-1", wire.KindEvents)
	t0 := time.Now().UTC()
	var ticks atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(ticks.Add(1))*97*time.Millisecond + time.Second) }
	msgs := make([]Message, b.N)
	for i := range msgs {
		at := t0.Add(time.Duration(i) * 97 * time.Millisecond)
		p, _ := wire.Encode(wire.Event{V: 1, ID: "e" + strconv.Itoa(i), Device: "edge-1", Camera: "cam-1", Site: ss[i%20].ID, Zone: "z",
			Type: types[i%3], Time: at, Class: "car", Confidence: 0.9})
		msgs[i] = Message{Topic: topic, Payload: p, Received: at}
	}
	cfg := DefaultConfig()
	cfg.Queue = b.N + 1
	return New(st, nopAcker{}, cat, ss, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), clock), msgs
}
