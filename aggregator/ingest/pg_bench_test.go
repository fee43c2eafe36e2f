package ingest

import (
	"database/sql"
	"syscall"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator/postgres"
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
	g, msgs := liveIngester(b, st)
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
