package ingest

import (
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
