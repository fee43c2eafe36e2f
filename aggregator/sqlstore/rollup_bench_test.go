package sqlstore

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/crosswatch/crosswatch/aggregator"
)

// openBench opens a store on SQLite as the sqlite package does (WAL, synchronous=FULL).
func openBench(b *testing.B) *Store {
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(b.TempDir(), "b.db")+"?"+q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s, err := New(db, SQLite)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.UpsertSites(context.Background(), []aggregator.Site{{ID: "main-nb", Name: "x", Kind: aggregator.Road}}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchBatch is batch i of 512 new, priced events, as ingest commits them.
func benchBatch(i int) *aggregator.Batch {
	b := &aggregator.Batch{Events: make([]aggregator.PricedEvent, 512)}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	for j := range b.Events {
		typ := "red_light_running"
		if j%3 == 2 {
			typ = "jaywalking"
		}
		b.Events[j] = aggregator.PricedEvent{Event: aggregator.Event{Device: "edge-1", ID: "e" + strconv.Itoa(i*512+j), Camera: "cam-1", Site: "main-nb", Zone: "z",
			Type: typ, Class: "car", Time: t0.Add(time.Duration(j) * time.Millisecond), Received: t0, Confidence: 0.9}, Points: 25, Priced: true, CatalogVersion: "v1"}
	}
	return b
}

// BenchmarkCommitBatch is one ingest commit of 512 events with their ledger rows and rollups
// (one op is one event).
func BenchmarkCommitBatch(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	batches := make([]*aggregator.Batch, b.N/512+1)
	for i := range batches {
		batches[i] = benchBatch(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, batch := range batches {
		if _, err := s.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRollupShare is what the rollups add to that commit (one op is one event): the
// tally of 512 new events and the upserts, in a transaction rolled back (the commit's fsync is
// the batch's anyway). Against BenchmarkCommitBatch it is the rollups' share of ingest.
func BenchmarkRollupShare(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	// Rows to upsert into, as a running aggregator has.
	for i := range 20 {
		if _, err := s.Commit(ctx, benchBatch(100000+i)); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([]*aggregator.Batch, b.N/512+1)
	for i := range batches {
		batches[i] = benchBatch(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, batch := range batches {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		marks, err := s.lockRollups(ctx, tx, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		roll := newTally()
		for j := range batch.Events {
			roll.event(&batch.Events[j])
		}
		if err := roll.write(ctx, s, tx, marks); err != nil {
			b.Fatal(err)
		}
		tx.Rollback()
	}
}
