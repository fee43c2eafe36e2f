package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// change is the date of the fix in compareServer's data.
var change = time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC)

// compareServer stores two sites with 30 days either side of change, 4,000 road users a side:
// "fixed" had 40 red-light runs before and 10 after (a rate ratio of 0.25), "same" 25 and 25;
// and "local", in New York time, 6 red-light runs late on 25 October local time (after
// midnight UTC) and 2 early on the 26th, with 300 road users each day.
func compareServer(t *testing.T) string {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	kinds := map[string]aggregator.SiteKind{"fixed": aggregator.Road, "same": aggregator.Road, "local": aggregator.Road}
	st.UpsertSites(ctx, []aggregator.Site{{ID: "fixed", Name: "Fixed", Kind: aggregator.Road}, {ID: "same", Name: "Same", Kind: aggregator.Road},
		{ID: "local", Name: "Local", Kind: aggregator.Road, TimeZone: "America/New_York"}})
	cat := &aggregator.Catalog{Version: "v1", Entries: []aggregator.CatalogEntry{{Type: "red_light_running", Points: 25, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"}}}
	st.EnsureCatalog(ctx, cat, kinds)
	var b aggregator.Batch
	spread := func(site string, n int, from time.Time) {
		for i := range n {
			at := from.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n))
			b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: fmt.Sprint("e", len(b.Events)), Camera: "c", Site: site, Zone: "z",
				Type: "red_light_running", Class: "car", Time: at, Received: at, Confidence: 0.9}, Points: 25, Priced: true, CatalogVersion: "v1"})
		}
		for d := range 30 { // 4,000 road users a side, counted daily
			cars := 133 // 10 days of 134 and 20 of 133: 4,000
			if d < 10 {
				cars = 134
			}
			b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: fmt.Sprintf("k%s%d", site, len(b.Counts)), Camera: "c", Site: site, Zone: "z",
				Start: from.Add(time.Duration(d)*24*time.Hour + 8*time.Hour), PeriodS: 60, Counts: map[string]int{"car": cars}})
		}
	}
	spread("fixed", 40, change.Add(-30*24*time.Hour))
	spread("fixed", 10, change)
	spread("same", 25, change.Add(-30*24*time.Hour))
	spread("same", 25, change)
	for i, at := range []string{"02:00", "02:10", "02:20", "02:30", "02:40", "02:50", "05:00", "05:10"} { // 26 Oct UTC
		t0, _ := time.Parse(time.RFC3339, "2026-10-26T"+at+":00Z")
		b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: fmt.Sprint("l", i), Camera: "c", Site: "local", Zone: "z",
			Type: "red_light_running", Class: "car", Time: t0, Received: t0, Confidence: 0.9}, Points: 25, Priced: true, CatalogVersion: "v1"})
	}
	for i, day := range []string{"2026-10-25", "2026-10-26"} {
		t0, _ := time.Parse(time.RFC3339, day+"T16:00:00Z")
		b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: fmt.Sprint("lk", i), Camera: "c", Site: "local", Zone: "z", Start: t0, PeriodS: 60, Counts: map[string]int{"car": 300}})
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for role, secret := range testTokens {
		st.CreateToken(ctx, aggregator.Token{Name: string(role), Role: role, Hash: HashSecret(secret), Created: now})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acc := NewAccess(st, AccessOptions{Now: func() time.Time { return now }}, log)
	h := Handler(st, acc, cat, Scoring{Window: 30 * 24 * time.Hour, MinRoadUsers: 200, Now: func() time.Time { return now }}, func() bool { return true }, nil, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func compare(t *testing.T, url string) aggregator.Comparison {
	t.Helper()
	code, _, body := get(t, url)
	var c aggregator.Comparison
	if err := json.Unmarshal([]byte(body), &c); code != 200 || err != nil {
		t.Fatalf("%s: %d %v %s", url, code, err, body)
	}
	return c
}

// A fix that cut red-light running to a quarter comes out as a rate ratio of 0.25 with a
// significant test; the same data with no change come out not significant.
func TestCompareBeforeAfter(t *testing.T) {
	url := compareServer(t)
	q := "?before=2026-09-26/2026-10-26&after=2026-10-26/2026-11-25"
	c := compare(t, url+"/api/v1/sites/fixed/compare"+q)
	if len(c.Types) != 2 || c.Types[0].Type != "red_light_running" || c.Types[1].Type != aggregator.AllTypes {
		t.Fatalf("types %+v", c.Types)
	}
	r := c.Types[0]
	if c.Before.RoadUsers != 4000 || c.After.RoadUsers != 4000 || r.Before != 40 || r.After != 10 || *r.BeforeRate != 10 || *r.AfterRate != 2.5 {
		t.Fatalf("fixed: before %+v after %+v row %+v", c.Before, c.After, r)
	}
	// 10 of 50 when half are expected under no change: p = 2·P(X ≤ 10), X ~ Bin(50, ½), =
	// 2 · (C(50,0) + … + C(50,10)) / 2⁵⁰ = 2 · 13,432,735,556 / 2⁵⁰ = 2.3861e-5.
	if p := 2 * 13432735556 / float64(1<<50); *r.Ratio != 0.25 || !r.Significant || *r.P < p*(1-1e-9) || *r.P > p*(1+1e-9) || *r.Low > 0.25 || *r.High < 0.25 || *r.High >= 1 {
		t.Fatalf("fixed: ratio %v (%v–%v) p %v significant %v", *r.Ratio, *r.Low, *r.High, *r.P, r.Significant)
	}
	if !strings.Contains(c.Method, "conditional binomial") {
		t.Errorf("method %q", c.Method)
	}
	s := compare(t, url+"/api/v1/sites/same/compare"+q).Types[0]
	if *s.Ratio != 1 || s.Significant || *s.P < 0.999999 || *s.Low >= 1 || *s.High <= 1 { // every outcome is at most as likely as the mode
		t.Fatalf("same: ratio %v (%v–%v) p %v", *s.Ratio, *s.Low, *s.High, *s.P)
	}
	// The change's date alone: equal periods either side, up to now (30½ days after).
	d := compare(t, url+"/api/v1/sites/fixed/compare?change=2026-10-26")
	if !d.Before.From.Equal(change.Add(-now.Sub(change))) || !d.After.To.Equal(now) || d.Types[0].Before != 40 || d.Types[0].After != 10 {
		t.Fatalf("by change date: %+v", d)
	}
}

// Changes are recorded by admins and listed for viewers; a recorded change can be the
// comparison's pivot; bad input is a 400 naming the field.
func TestSiteChangesAndCompareInput(t *testing.T) {
	url := compareServer(t)
	postAs := func(role aggregator.Role, site, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/sites/"+site+"/changes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := `{"time": "2026-10-26", "description": "all-red extended to 3 s"}`
	if code, body := postAs(aggregator.Viewer, "fixed", good); code != http.StatusForbidden {
		t.Errorf("viewer records a change: %d %s", code, body)
	}
	code, body := postAs(aggregator.Admin, "fixed", good)
	var ch aggregator.SiteChange
	if err := json.Unmarshal([]byte(body), &ch); code != http.StatusCreated || err != nil || ch.ID == 0 || !ch.Time.Equal(change) || ch.Actor != "token:admin" {
		t.Fatalf("admin records a change: %d %s", code, body)
	}
	for _, c := range []struct{ site, body, want string }{
		{"fixed", `{"time": "last week", "description": "x"}`, "time:"},
		{"fixed", `{"time": "2026-10-26"}`, "description:"},
		{"fixed", `{"time": "2026-10-26", "description": "` + strings.Repeat("x", MaxChangeDescription+1) + `"}`, "description:"},
		{"fixed", `{"time": "2026-10-26", "description": "x", "who": "me"}`, "body:"},
		{"fixed", `{"time": "2029-10-26", "description": "x"}`, "time:"},
	} {
		if code, body := postAs(aggregator.Admin, c.site, c.body); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want a 400 naming %s", c.body, code, body, c.want)
		}
	}
	if code, body := postAs(aggregator.Admin, "nope", good); code != 404 {
		t.Errorf("unknown site: %d %s", code, body)
	}
	_, _, body = getAs(t, testTokens[aggregator.Viewer], url+"/api/v1/sites/fixed/changes")
	var list []aggregator.SiteChange
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].Description != "all-red extended to 3 s" {
		t.Fatalf("changes %s", body)
	}
	c := compare(t, url+fmt.Sprintf("/api/v1/sites/fixed/compare?change=%d", ch.ID))
	if c.Change == nil || c.Change.Description != "all-red extended to 3 s" || *c.Types[0].Ratio != 0.25 {
		t.Fatalf("by recorded change: %+v", c)
	}
	for _, c := range []struct{ q, want string }{
		{"", "change:"},
		{"?change=99", "change:"},
		{"?change=soon", "change:"},
		{"?change=2026-12-30", "change:"},
		{"?before=2026-09-26&after=2026-10-26/2026-11-25", "before:"},
		{"?before=2026-09-26/2026-10-26&after=2026-11-25/2026-10-26", "after:"},
		{"?before=2026-09-26/2026-10-27&after=2026-10-26/2026-11-25", "before:"},
		{"?change=2026-10-20&before=2026-09-26/2026-10-26&after=2026-10-26/2026-11-25", "change:"},
	} {
		if code, _, body := get(t, url+"/api/v1/sites/fixed/compare"+c.q); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("compare%s: %d %s, want a 400 naming %s", c.q, code, body, c.want)
		}
	}
	if code, _, _ := get(t, url+"/api/v1/sites/nope/compare?change=2026-10-26"); code != 404 {
		t.Errorf("unknown site: %d", code)
	}
}

// Dates and times without an offset in a before/after study and in a recorded change are the
// site's wall clock (New York here), not UTC; a time with Z or an offset is that instant; the
// answer writes its times with the site's offset.
func TestCompareInSiteTimeZone(t *testing.T) {
	url := compareServer(t)
	ny, _ := time.LoadLocation("America/New_York")
	midnight := time.Date(2026, 10, 26, 0, 0, 0, 0, ny) // 04:00 UTC
	for _, q := range []string{
		"?before=2026-10-25/2026-10-26&after=2026-10-26/2026-10-27",
		"?change=2026-10-26&before=2026-10-25T00:00/2026-10-26T00:00:00&after=2026-10-26/2026-10-27",
		"?change=2026-10-26T04:00:00Z&before=2026-10-25T04:00:00Z/2026-10-26&after=2026-10-26T00:00:00-04:00/2026-10-27T04:00:00Z",
	} {
		code, _, body := get(t, url+"/api/v1/sites/local/compare"+q)
		var c aggregator.Comparison
		if err := json.Unmarshal([]byte(body), &c); code != 200 || err != nil {
			t.Fatalf("%s: %d %v %s", q, code, err, body)
		}
		r := c.Types[0]
		if c.TimeZone != "America/New_York" || !c.Before.From.Equal(midnight.AddDate(0, 0, -1)) || !c.Before.To.Equal(midnight) ||
			!c.After.To.Equal(midnight.AddDate(0, 0, 1)) || r.Before != 6 || r.After != 2 || c.Before.RoadUsers != 300 || c.After.RoadUsers != 300 {
			t.Errorf("%s: zone %q before %+v after %+v row %+v", q, c.TimeZone, c.Before, c.After, r)
		}
		if !strings.Contains(body, `"from":"2026-10-25T00:00:00-04:00","to":"2026-10-26T00:00:00-04:00"`) {
			t.Errorf("%s: times not written on the site's clock: %s", q, body)
		}
		if strings.Contains(q, "change=") && (c.Change == nil || !c.Change.Time.Equal(midnight) || !strings.Contains(body, `"time":"2026-10-26T00:00:00-04:00"`)) {
			t.Errorf("%s: change %+v", q, c.Change)
		}
	}
	// A recorded change's bare date is the site's midnight too, and is listed on its clock.
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/sites/local/changes", strings.NewReader(`{"time": "2026-10-26", "description": "leading pedestrian interval"}`))
	req.Header.Set("Authorization", "Bearer "+testTokens[aggregator.Admin])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _, body := get(t, url+"/api/v1/sites/local/changes")
	var list []aggregator.SiteChange
	if err := json.Unmarshal([]byte(body), &list); resp.StatusCode != http.StatusCreated || err != nil || len(list) != 1 || !list[0].Time.Equal(midnight) ||
		!strings.Contains(body, `"time":"2026-10-26T00:00:00-04:00"`) {
		t.Fatalf("recorded change: %d %s", resp.StatusCode, body)
	}
	c := compare(t, url+fmt.Sprintf("/api/v1/sites/local/compare?change=%d&before=2026-10-25/2026-10-26", list[0].ID))
	if c.Types[0].Before != 6 || c.Types[0].After != 2 {
		t.Errorf("by recorded change: %+v", c.Types[0])
	}
	if code, _, body := get(t, url+"/api/v1/sites/local/compare?before=2026-10-25/26.10.2026&after=2026-10-26/2026-10-27"); code != 400 || !strings.Contains(body, "before: to:") {
		t.Errorf("a malformed end: %d %s, want a 400 naming before: to:", code, body)
	}
}
