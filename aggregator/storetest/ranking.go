package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// testRankedWorstFirst: sites come back worst score first, ties by id. The fixture's worst site
// is neither first by id nor first by insertion (nor last), so a store that returns its rows
// in table or primary-key order cannot pass by accident.
func testRankedWorstFirst(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	// Inserted in this order; by id: a, b, m, t, z.
	more := []aggregator.Site{
		{ID: "t", Name: "T", Kind: aggregator.Road}, // 0 events: 1000
		{ID: "z", Name: "Z", Kind: aggregator.Road}, // 1 event: 975
		{ID: "m", Name: "M", Kind: aggregator.Road}, // 3 events: 925, the worst
	}
	if err := st.UpsertSites(ctx, more); err != nil {
		t.Fatal(err)
	}
	v1 := catalog("v1", 25)
	b := &aggregator.Batch{}
	for i, site := range []string{"z", "m", "b", "m", "m", "b"} { // a: 0 events, b: 2 events: 950
		b.Events = append(b.Events, event(fmt.Sprint("r", i), site, now.Add(-time.Duration(i+1)*time.Minute), v1))
	}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	sc, err := st.FindSiteScores(ctx, aggregator.ScoreQuery{CatalogVersion: "v1", From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sc {
		got = append(got, fmt.Sprintf("%s=%d", s.ID, s.Score))
	}
	// a and t tie at 1000: by id.
	want := []string{"m=925", "b=950", "z=975", "a=1000", "t=1000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ranking\n got %v\nwant %v (worst first, ties by id)", got, want)
	}
}
