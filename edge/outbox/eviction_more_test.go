package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

// Within one severity the on-full policy evicts the oldest message first, and no higher
// severity goes while a lower one is queued, however old the higher one is. The fixture
// interleaves severities, so an order by seq alone, by severity descending or newest first
// each evicts a different set.
func TestEvictionOldestFirstWithinSeverity(t *testing.T) {
	g := &testGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxRows: 8, Gap: g.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	// Oldest first: h0 is the oldest message of all, and has the higher severity.
	order := []struct {
		id  string
		sev int
	}{{"h0", 3}, {"s0", 2}, {"s1", 2}, {"h1", 3}, {"s2", 2}, {"s3", 2}, {"h2", 3}, {"s4", 2}}
	for _, m := range order {
		if err := o.Append(ctx, edge.Message{ID: m.id, Topic: "t", Payload: []byte("x"), Severity: m.sev}); err != nil {
			t.Fatal(err)
		}
	}
	// 8 rows, bound 8. One more: 9 rows wanted, 2 must go (one makes room for the gap record).
	if err := o.Append(ctx, edge.Message{ID: "h3", Topic: "t", Payload: []byte("x"), Severity: 3}); err != nil {
		t.Fatal(err)
	}
	if got := lostIDs(g); got != "[s0 s1]" {
		t.Fatalf("first eviction took %s, want the two oldest of severity 2: [s0 s1]", got)
	}
	// Once more: 9 rows again (two gap records now), two more go.
	if err := o.Append(ctx, edge.Message{ID: "h4", Topic: "t", Payload: []byte("x"), Severity: 3}); err != nil {
		t.Fatal(err)
	}
	if got := lostIDs(g); got != "[s0 s1 s2 s3]" {
		t.Fatalf("evicted %s, want [s0 s1 s2 s3]", got)
	}
	have := ids(t, o)
	for _, id := range []string{"h0", "h1", "h2", "h3", "h4", "s4"} {
		if _, ok := have[id]; !ok {
			t.Errorf("%s was evicted; queued: %v", id, have)
		}
	}
}

func lostIDs(g *testGap) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var l []string
	for id := range g.lost {
		l = append(l, id)
	}
	sort.Strings(l)
	return fmt.Sprint(l)
}
