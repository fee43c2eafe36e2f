package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
)

// studyNow is the clock of studyServer: a week after Vienna's spring change (29 March 2026).
var studyNow = time.Date(2026, 4, 5, 10, 0, 0, 0, time.UTC)

// studyServer serves a Vienna site "v" with events around the spring change: one at 23:30 UTC
// on 28 March (00:30 local on the 29th), and counts on the morning of the 30th.
func studyServer(t *testing.T) (*httptest.Server, []aggregator.Counts) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	st.UpsertSites(ctx, []aggregator.Site{{ID: "v", Name: "Wien", Kind: aggregator.Road, TimeZone: "Europe/Vienna"}, {ID: "u", Name: "UTC site", Kind: aggregator.Road}})
	cat := &aggregator.Catalog{Version: "v1", Entries: []aggregator.CatalogEntry{
		{Type: "red_light_running", Points: 25, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "x"},
		{Type: "jaywalking", Points: 5, SiteKinds: []aggregator.SiteKind{aggregator.Road}, Description: "y"}}}
	st.EnsureCatalog(ctx, cat, map[string]aggregator.SiteKind{"v": aggregator.Road, "u": aggregator.Road})
	var b aggregator.Batch
	ev := func(id, typ string, at time.Time) {
		b.Events = append(b.Events, aggregator.PricedEvent{Event: aggregator.Event{Device: "d", ID: id, Camera: "c", Site: "v", Zone: "z",
			Type: typ, Class: "car", Time: at, Received: at, Confidence: 0.9}, Points: 25, Priced: true, CatalogVersion: "v1"})
	}
	ev("e1", "red_light_running", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC))
	ev("e2", "red_light_running", time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC)) // 29th, 00:30 local
	ev("e3", "jaywalking", time.Date(2026, 3, 29, 21, 59, 0, 0, time.UTC))        // 29th, 23:59 local
	ev("e4", "jaywalking", time.Date(2026, 3, 30, 6, 10, 0, 123456789, time.UTC)) // Monday 08:10 local
	mon := time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)                           // 08:00 local
	for i := range 120 {
		b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: "n" + strconv.Itoa(i), Camera: "c", Site: "v", Zone: "nb",
			Start: mon.Add(time.Duration(i) * time.Minute), PeriodS: 60, Counts: map[string]int{"car": 2 + i%3, "bus": i % 2},
			// Of the cars that entered by nb, one a minute went left (east), the rest straight on.
			Movements: map[string]map[string]int{"south>east": {"car": 1}, "south>north": {"car": 1 + i%3, "bus": i % 2}}})
		if i%10 == 0 {
			b.Counts = append(b.Counts, aggregator.Counts{Device: "d", ID: "x" + strconv.Itoa(i), Camera: "c", Site: "v", Zone: "xw",
				Start: mon.Add(time.Duration(i) * time.Minute), PeriodS: 60, Counts: map[string]int{"person": 1 + i/10}})
		}
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for role, secret := range testTokens {
		st.CreateToken(ctx, aggregator.Token{Name: string(role), Role: role, Hash: HashSecret(secret), Created: studyNow})
	}
	clock := func() time.Time { return studyNow }
	acc := NewAccess(st, AccessOptions{Now: clock}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := Handler(st, acc, cat, Scoring{Window: 30 * 24 * time.Hour, MinRoadUsers: 200, Now: clock}, func() bool { return true }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, b.Counts
}

// Bad periods, bins and types are 400s that name the parameter.
func TestStudyParameters(t *testing.T) {
	srv, _ := studyServer(t)
	for _, c := range []struct{ path, want string }{
		{"/api/v1/sites/v/series?from=yesterday", "from: "},
		{"/api/v1/sites/v/series?from=2026-03-30&to=2026-03-31T25:00", "to: "},
		{"/api/v1/sites/v/series?from=2026-03-30&to=2026-03-29", "from: 2026-03-30T00:00:00+02:00 is not before to 2026-03-30T00:00:00+02:00"},
		{"/api/v1/sites/v/series?from=2026-03-30T10:00&to=2026-03-30T09:00", "is not before to"},
		{"/api/v1/sites/v/series?from=2026-03-30&window=24h", "window: give either from or window"},
		{"/api/v1/sites/v/series?bin=7m", "bin: "},
		{"/api/v1/sites/v/series?bin=5m&from=2025-01-01", "bin: more than"},
		{"/api/v1/sites/v/series?type=speeding", `type: "speeding" is not in the catalog`},
		{"/api/v1/sites/v/events?type=red_light_running,nope", `type: "nope"`},
		{"/api/v1/sites/v/events?from=2026-02-30", "from: "},
		{"/api/v1/sites/v/patterns?to=soon", "to: "},
		{"/api/v1/sites/v/counts?format=xlsx", "format: json or csv"},
		{"/api/v1/sites/v/counts?bin=2h", "bin: "},
		{"/api/v1/export/events.csv?from=2026-13-01", "from: "},
		{"/api/v1/export/sites.csv?from=2026-04-06", "is not before to"},
		{"/api/v1/sites?to=x", "to: "},
		{"/api/v1/sites/v/ledger?from=2026-04-01&to=2026-03-01", "from: "},
	} {
		code, _, body := get(t, srv.URL+c.path)
		var e struct{ Error string }
		json.Unmarshal([]byte(body), &e)
		if code != 400 || !strings.HasPrefix(e.Error, c.want[:strings.Index(c.want, ":")+1]) || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.path, code, body, c.want)
		}
	}
	for _, p := range []string{"/api/v1/sites/zz/series", "/api/v1/sites/zz/counts", "/api/v1/sites/zz/patterns", "/api/v1/sites/zz/events"} {
		if code, _, _ := get(t, srv.URL+p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

func series(t *testing.T, srv *httptest.Server, q string) []aggregator.Bin {
	t.Helper()
	code, _, body := get(t, srv.URL+"/api/v1/sites/v/series?"+q)
	var bins []aggregator.Bin
	if err := json.Unmarshal([]byte(body), &bins); err != nil || code != 200 {
		t.Fatalf("%s: %d %v %s", q, code, err, body)
	}
	return bins
}

// Day bins are local days: 29 March 2026 in Vienna is 23 hours long, and an event at 23:30
// UTC on the 28th belongs to it.
func TestSeriesLocalDays(t *testing.T) {
	srv, _ := studyServer(t)
	bins := series(t, srv, "bin=1d&from=2026-03-28&to=2026-03-30")
	if len(bins) != 3 {
		t.Fatalf("%d bins: %+v", len(bins), bins)
	}
	starts := []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}
	for i, b := range bins {
		if got := b.Start.Format(time.RFC3339); got != starts[i] {
			t.Errorf("bin %d starts %s, want %s", i, got, starts[i])
		}
	}
	if d := bins[1].End.Sub(bins[1].Start); d != 23*time.Hour {
		t.Errorf("29 March is %v long", d)
	}
	if bins[0].Events["red_light_running"] != 1 || bins[1].Events["red_light_running"] != 1 || bins[1].Events["jaywalking"] != 1 || bins[2].Events["jaywalking"] != 1 {
		t.Errorf("events per local day: %v %v %v", bins[0].Events, bins[1].Events, bins[2].Events)
	}
	if bins[2].RoadUsers != 120*3+60+(1+2+3+4+5+6+7+8+9+10+11+12) {
		t.Errorf("road users on the 30th: %d", bins[2].RoadUsers)
	}
	// The type filter, and a date-time without offset read in the site's time.
	bins = series(t, srv, "bin=1h&from=2026-03-30T08:00&to=2026-03-30T09:00&type=jaywalking")
	if len(bins) != 1 || bins[0].Start.Format(time.RFC3339) != "2026-03-30T08:00:00+02:00" || bins[0].Events["jaywalking"] != 1 || len(bins[0].Events) != 1 {
		t.Errorf("Monday 08:00 local: %+v", bins)
	}
	if bins := series(t, srv, "bin=1h&from=2026-03-30T08:00&to=2026-03-30T09:00&type=red_light_running"); bins[0].Events["jaywalking"] != 0 {
		t.Errorf("the type filter let jaywalking through: %+v", bins)
	}
	// The hours of the spring change: 01:00 then 03:00.
	bins = series(t, srv, "bin=1h&from=2026-03-29T00:00&to=2026-03-29T04:00")
	if len(bins) != 3 || bins[1].Start.Format("15:04") != "01:00" || bins[2].Start.Format("15:04 -07:00") != "03:00 +02:00" {
		t.Errorf("hours of the change: %+v", bins)
	}
}

// The count export opens in a CSV reader, has local times with the offset at a fixed width,
// and its per-class sums are the stored counts.
func TestCountsExport(t *testing.T) {
	srv, stored := studyServer(t)
	code, ct, body := get(t, srv.URL+"/api/v1/sites/v/counts?bin=15m&from=2026-03-30T07:00&to=2026-03-30T11:00&format=csv")
	if code != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("%d %s %s", code, ct, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "start,end,zone,movement,bus,car,person,total" {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows) != 1+16*2+16*2 {
		t.Fatalf("%d rows, want 16 quarter hours × (2 zones + 2 movements)", len(rows)-1)
	}
	stamp := regexp.MustCompile(`^2026-03-30T\d\d:\d\d:00\.000\+02:00$`)
	sum := map[string]int{}
	for _, r := range rows[1:] {
		if !stamp.MatchString(r[0]) || !stamp.MatchString(r[1]) {
			t.Fatalf("times %q %q", r[0], r[1])
		}
		total := 0
		for i, c := range rows[0][4:7] {
			n, _ := strconv.Atoi(r[4+i])
			sum[r[2]+"/"+r[3]+"/"+c] += n
			total += n
		}
		if strconv.Itoa(total) != r[7] {
			t.Errorf("row %v: total is not the sum of the classes", r)
		}
	}
	want := map[string]int{}
	for _, c := range stored {
		for k, n := range c.Counts {
			want[c.Zone+"//"+k] += n
		}
		for m, byClass := range c.Movements {
			for k, n := range byClass {
				want[c.Zone+"/"+m+"/"+k] += n
			}
		}
	}
	if len(want) != 6 {
		t.Fatalf("the fixture has %d zone, movement and class sums", len(want))
	}
	for k, n := range want {
		if sum[k] != n {
			t.Errorf("%s: exported %d, stored %d", k, sum[k], n)
		}
	}
	if rows[1][0] != "2026-03-30T07:00:00.000+02:00" || rows[1][4] != "0" || rows[9][0] != "2026-03-30T08:00:00.000+02:00" || rows[9][2] != "nb" || rows[9][4] != "7" || rows[9][5] != "45" {
		t.Errorf("rows 1 and 9: %v %v", rows[1], rows[9])
	}

	_, _, body = get(t, srv.URL+"/api/v1/sites/v/counts?bin=1h&from=2026-03-30&to=2026-03-30&zone=xw")
	var cs aggregator.CountStudy
	if err := json.Unmarshal([]byte(body), &cs); err != nil {
		t.Fatal(err)
	}
	if cs.TimeZone != "Europe/Vienna" || len(cs.Bins) != 24 || len(cs.Zones) != 1 || cs.Totals["xw"]["person"] != 78 || cs.Bins[8].Counts["person"] != 21 {
		t.Errorf("crosswalk study %+v", cs)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/v/counts?bin=1h&from=2026-03-30T08:00&to=2026-03-30T10:00")
	var mv aggregator.CountStudy
	json.Unmarshal([]byte(body), &mv)
	if strings.Join(mv.Movements, ",") != "south>east,south>north" || len(mv.MovementBins) != 4 || mv.MovementTotals["south>east"]["car"] != 120 ||
		mv.MovementTotals["south>north"]["car"] != 240 || mv.MovementTotals["south>north"]["bus"] != 60 || mv.MovementBins[0].Zone != "nb" {
		t.Errorf("movements %v %+v %v", mv.Movements, mv.MovementBins, mv.MovementTotals)
	}
	// People per quarter hour from 08:00 (one record every 10 minutes, 1, 2, … 12 people):
	// 3, 3, 9, 6, 15, 9, 21, 12. The busiest four in a row are 09:00–10:00: 57, factor 57/(4×21).
	p := cs.PeakHour["person"]
	if p.Volume != 57 || p.Start.Format("15:04") != "09:00" || p.End.Format("15:04") != "10:00" || p.Factor != 57.0/(4*21) {
		t.Errorf("person peak hour %+v", p)
	}
}

// The weekly pattern puts each event in its local weekday hour, with the rate where 200 road
// users were counted.
func TestPatterns(t *testing.T) {
	srv, _ := studyServer(t)
	_, _, body := get(t, srv.URL+"/api/v1/sites/v/patterns?from=2026-03-23&to=2026-04-05")
	var p aggregator.Pattern
	if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Cells) != 168 {
		t.Fatalf("%v %s", err, body)
	}
	mon8 := p.Cells[8]
	if mon8.Total != 1 || mon8.Events["jaywalking"] != 1 || mon8.RoadUsers < 200 || mon8.Rate == nil || mon8.Hours != 2 {
		t.Errorf("Monday 08:00 %+v", mon8)
	}
	if sun0 := p.Cells[6*24]; sun0.Events["red_light_running"] != 1 {
		t.Errorf("Sunday 00:00 %+v", sun0)
	}
	if sun23 := p.Cells[6*24+23]; sun23.Events["jaywalking"] != 1 {
		t.Errorf("Sunday 23:00 %+v", sun23)
	}
	if sat13 := p.Cells[5*24+13]; sat13.Total != 1 || sat13.Rate != nil {
		t.Errorf("Saturday 13:00 (12:00 UTC) %+v", sat13)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/v/patterns?from=2026-03-23&to=2026-04-05&type=red_light_running")
	json.Unmarshal([]byte(body), &p)
	if p.Cells[8].Total != 0 || p.Cells[6*24].Total != 1 || len(p.Types) != 1 {
		t.Errorf("red light only: Monday 08:00 %+v", p.Cells[8])
	}
}

// Exports write local times at a fixed precision; sites.csv has per-type events and rates.
func TestStudyExports(t *testing.T) {
	srv, _ := studyServer(t)
	_, _, body := get(t, srv.URL+"/api/v1/export/events.csv?site=v&from=2026-03-30&to=2026-03-30")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "2026-03-30T08:10:00.123+02:00" {
		t.Fatalf("events.csv %v %q", err, body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/export/events.csv?"+url.Values{"from": {"2026-03-28T00:00:00Z"}, "type": {"red_light_running"}}.Encode())
	rows, _ = csv.NewReader(strings.NewReader(body)).ReadAll()
	if len(rows) != 3 || rows[1][0] != "2026-03-29T00:30:00.000+01:00" || rows[2][0] != "2026-03-28T13:00:00.000+01:00" {
		t.Fatalf("events.csv of every site %q", body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/export/sites.csv?from=2026-03-01&to=2026-04-01")
	rows, err = csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("sites.csv %v %q", err, body)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"time_zone", "red_light_running_events", "red_light_running_per_1000", "red_light_running_low", "red_light_running_high", "jaywalking_events", "jaywalking_high"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("sites.csv has no column %s: %v", h, rows[0])
		}
	}
	var v []string
	for _, r := range rows[1:] {
		if r[col["site"]] == "v" {
			v = r
		}
	}
	if v[col["time_zone"]] != "Europe/Vienna" || v[col["from"]] != "2026-03-01T01:00:00.000+01:00" || v[col["red_light_running_events"]] != "2" || v[col["jaywalking_events"]] != "2" {
		t.Errorf("site v: %v", v)
	}
	// 2 red-light runners among 498 road users (360 cars, 60 buses, 78 people): 4.016 per
	// 1,000, Wilson 95 % 1.102..14.523 by hand (centre 0.007813, half-width 0.006711).
	if v[col["road_users"]] != "498" || v[col["red_light_running_per_1000"]] != "4.016" || v[col["red_light_running_low"]] != "1.102" || v[col["red_light_running_high"]] != "14.523" {
		t.Errorf("site v rates: %v", v)
	}
}

// The ledger takes a period in the site's time too.
func TestLedgerPeriod(t *testing.T) {
	srv, _ := studyServer(t)
	var l []aggregator.LedgerEntry
	_, _, body := get(t, srv.URL+"/api/v1/sites/v/ledger?from=2026-03-29&to=2026-03-29")
	if err := json.Unmarshal([]byte(body), &l); err != nil || len(l) != 2 || l[0].EventID != "e2" || l[1].EventID != "e3" {
		t.Errorf("ledger of 29 March, Vienna: %v %s", err, body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/v/ledger")
	if json.Unmarshal([]byte(body), &l); len(l) != 4 {
		t.Errorf("whole ledger: %s", body)
	}
}
