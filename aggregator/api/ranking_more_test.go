package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// rankingServer stores four road sites, inserted alpha, zulu, mike, bravo:
//   - mike: 30 red-light runs among 3,000 road users (100 points per 1,000; 95 % low end 67.5)
//   - zulu: 2 among 100 (200 points per 1,000, twice mike's rate, but low end 24.2: luck is
//     likely at that exposure)
//   - bravo: none among 500
//   - alpha: 1 among 50, below min_road_users (100): insufficient data
//
// and one jaywalking event at bravo.
func rankingServer(t *testing.T) string {
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
	cat := &aggregator.Catalog{Version: "v1", Entries: []aggregator.CatalogEntry{
		{Type: "red_light_running", Points: 10, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"},
		{Type: "jaywalking", Points: 5, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "y"}}}
	if _, err := st.EnsureCatalog(ctx, cat, kinds); err != nil {
		t.Fatal(err)
	}
	var b aggregator.Batch
	add := func(site, typ string, n, points int) {
		for range n {
			b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: fmt.Sprint("e", len(b.Events)), Camera: "c", Site: site, Zone: "z",
				Type: typ, Class: "car", Time: now.Add(-time.Duration(len(b.Events)+1) * time.Minute), Received: now, Confidence: 0.9}, Points: points, Priced: true, CatalogVersion: "v1"})
		}
	}
	add("zulu", "red_light_running", 2, 10)
	add("mike", "red_light_running", 30, 10)
	add("alpha", "red_light_running", 1, 10)
	add("bravo", "jaywalking", 1, 5)
	for site, n := range map[string]int{"mike": 3000, "zulu": 100, "bravo": 500, "alpha": 50} {
		b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: "k" + site, Camera: "c", Site: site, Zone: "z", Start: now.Add(-3 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": n}})
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	acc := NewAccess(st, AccessOptions{Now: func() time.Time { return now }, Insecure: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := Handler(st, acc, cat, Scoring{Window: 24 * time.Hour, MinRoadUsers: 100, Now: func() time.Time { return now }}, func() bool { return true },
		nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func rankedSites(t *testing.T, url string) []aggregator.SiteScore {
	t.Helper()
	code, _, body := get(t, url)
	var s []aggregator.SiteScore
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("%d %v: %s", code, err, body)
	}
	return s
}

// GET /api/v1/sites ranks by the low end of the risk interval, not by the rate and not by a
// sum of points: zulu has twice mike's rate on 100 road users and mike 15 times zulu's points,
// yet mike is first. The worst site is neither first by id nor first inserted, so a handler
// that keeps table order fails; the site with insufficient data comes last, unranked.
func TestSitesRankedByRiskLowEnd(t *testing.T) {
	url := rankingServer(t)
	s := rankedSites(t, url+"/api/v1/sites")
	var got []string
	for _, x := range s {
		got = append(got, fmt.Sprintf("%s#%d", x.ID, x.Rank))
	}
	if want := "[mike#1 zulu#2 bravo#3 alpha#0]"; fmt.Sprint(got) != want {
		t.Fatalf("sites\n got %v\nwant %s", got, want)
	}
	m, z := s[0], s[1]
	if m.Risk.PerThousand != 100 || z.Risk.PerThousand != 200 || m.Risk.Low < 67.4 || m.Risk.Low > 67.6 || z.Risk.Low < 24.1 || z.Risk.Low > 24.3 {
		t.Errorf("risk mike %+v zulu %+v", m.Risk, z.Risk)
	}
	if *m.Score != 900 || *z.Score != 800 || m.Points != 300 || m.RankedBy != aggregator.RankByRisk {
		t.Errorf("scores mike %d (%d points) zulu %d", *m.Score, m.Points, *z.Score)
	}
	if a := s[3]; a.Status != aggregator.StatusInsufficientData || a.Score != nil || a.Risk != nil || a.Events["red_light_running"] != 1 {
		t.Errorf("alpha %+v", a)
	}
	// By one type: bravo's one jaywalker puts it first for jaywalking.
	s = rankedSites(t, url+"/api/v1/sites?rank=jaywalking")
	if s[0].ID != "bravo" || s[0].Rank != 1 || s[0].RankedBy != "jaywalking" || s[3].ID != "alpha" {
		t.Errorf("by jaywalking: %s then %s … %s", s[0].ID, s[1].ID, s[3].ID)
	}
	s = rankedSites(t, url+"/api/v1/sites?rank=red_light_running")
	if s[0].ID != "mike" || s[1].ID != "zulu" || s[2].ID != "bravo" {
		t.Errorf("by red-light running: %s %s %s", s[0].ID, s[1].ID, s[2].ID)
	}
	for _, c := range []struct{ q, field string }{{"rank=speeding", "rank"}, {"version=nope", "version"}, {"window=-1h", "window"}} {
		code, _, body := get(t, url+"/api/v1/sites?"+c.q)
		if code != 400 || !strings.Contains(body, c.field+":") {
			t.Errorf("?%s: %d %s, want a 400 naming %s", c.q, code, body, c.field)
		}
	}
}
