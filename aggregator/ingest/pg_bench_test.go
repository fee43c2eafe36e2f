package ingest

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/postgres"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/pgtest"
)

// BenchmarkIngestPostgres is BenchmarkIngestSQLite on PostgreSQL: validation, pricing and the
// commit of each event (batches of 512) to a throwaway cluster on loopback, the events spread
// over 20 sites and three types, so that each batch adds to many rollup rows as a city's
// traffic does, and arriving live (97 ms apart, the ingester's clock following them across
// the hours they span, so its commits seal the rollups as in service). One op is one event. The cluster runs without fsync, so
// the figure is the CPU-bound worst case for the rollups' share; BenchmarkIngestPostgresDurable
// is the same on PostgreSQL's durable defaults, as a production server runs.
func BenchmarkIngestPostgres(b *testing.B) { benchIngestPostgres(b, pgtest.Start) }

// BenchmarkIngestPostgresDurable is BenchmarkIngestPostgres with fsync and synchronous_commit on.
func BenchmarkIngestPostgresDurable(b *testing.B) { benchIngestPostgres(b, pgtest.StartDurable) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// walBytes is the server's write-ahead log position in bytes.
func walBytes(b *testing.B, dsn string) int64 {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func benchIngestPostgres(b *testing.B, start func() (*pgtest.Cluster, error)) {
	cl, err := start()
	if err != nil {
		b.Skipf("PostgreSQL: %v", err)
	}
	defer cl.Stop()
	dsn := cl.FreshDB(b)
	st, err := postgres.Open(dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
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
	// Live traffic: events 97 ms apart from the store's opening on, and the ingester's clock a
	// second after the event it is judging (it reads the clock once per message, and once per
	// commit), so the hour and day rollups are sealed as the clock passes them, as in service.
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
	g := New(st, nopAcker{}, cat, ss, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	b.ReportAllocs()
	b.ResetTimer()
	wal0 := walBytes(b, dsn)
	cpu0 := cpuTime() + cl.ServerCPU()
	submitAll(g, msgs)
	cpu := cpuTime() + cl.ServerCPU() - cpu0
	b.StopTimer()
	// The write-ahead log written per event: what a durable server writes and syncs, the same
	// on a quiet machine and a loaded one.
	b.ReportMetric(float64(walBytes(b, dsn)-wal0)/float64(b.N), "wal-B/op")
	// CPU time, this process's and the server's, per event: the figure that holds on a shared
	// machine, where wall time is mostly waiting for a core.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if s := g.Stats(); s.Committed != int64(b.N) {
		b.Fatalf("committed %d of %d", s.Committed, b.N)
	}
}
