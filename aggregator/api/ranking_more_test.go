package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// GET /api/v1/sites lists sites worst first, ties by id. The worst site is neither first by id nor first inserted, so a store or
// handler that keeps table order fails.
func TestSitesWorstFirstNotTableOrder(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	var sites []aggregator.Site
	kinds := map[string]aggregator.SiteKind{}
	for _, id := range []string{"alpha", "zulu", "mike", "bravo"} { // insertion order
		sites = append(sites, aggregator.Site{ID: id, Name: id, Kind: aggregator.Road})
		kinds[id] = aggregator.Road
	}
	if err := st.UpsertSites(ctx, sites); err != nil {
		t.Fatal(err)
	}
	cat := &aggregator.Catalog{Version: "v1", Entries: []aggregator.CatalogEntry{{Type: "red_light_running", Points: 10, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
	if _, err := st.EnsureCatalog(ctx, cat, kinds); err != nil {
		t.Fatal(err)
	}
	var b aggregator.Batch
	// mike 3 events (970), zulu 1 (990), alpha and bravo none (1000, tie: by id).
	for i, site := range []string{"zulu", "mike", "mike", "mike"} {
		b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: fmt.Sprint("e", i), Camera: "c", Site: site, Zone: "z",
			Type: "red_light_running", Class: "car", Time: now.Add(-time.Duration(i+1) * time.Minute), Received: now, Confidence: 0.9}, Points: 10, Priced: true, CatalogVersion: "v1"})
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	acc := NewAccess(st, AccessOptions{Now: func() time.Time { return now }, Insecure: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := Handler(st, acc, cat, Scoring{Window: 24 * time.Hour, MinRoadUsers: 1, Now: func() time.Time { return now }}, func() bool { return true },
		nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	code, _, body := get(t, srv.URL+"/api/v1/sites")
	var s []aggregator.SiteScore
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("%d %v: %s", code, err, body)
	}
	var got []string
	for _, x := range s {
		got = append(got, fmt.Sprintf("%s=%d", x.ID, x.Score))
	}
	if want := "[mike=970 zulu=990 alpha=1000 bravo=1000]"; fmt.Sprint(got) != want {
		t.Fatalf("sites\n got %v\nwant %s", got, want)
	}
}
