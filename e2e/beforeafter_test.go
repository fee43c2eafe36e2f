package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// studySites are the sites of TestBeforeAfterEndToEnd, in two time zones far from UTC and from
// each other, so that a date read as UTC midnight, or in the other site's zone, moves records
// across the change.
const studySites = `
  - {id: study-changed, name: "Study: signal retimed", kind: road, lat: 40.7128, lon: -74.0060, time_zone: America/New_York}
  - {id: study-same, name: "Study: nothing changed", kind: road, lat: 48.2000, lon: 16.3700, time_zone: Europe/Vienna}
`

// studyFeed is what one site's camera sent: events at exact times and hourly class counts.
type studyFeed struct {
	site, camera string
	loc          *time.Location
	events       []wire.Event
	counts       []wire.Counts
}

// tally is the feed's events per type and road users (every class) over [from, to).
func (f *studyFeed) tally(from, to time.Time) (map[string]int, int) {
	ev, ru := map[string]int{}, 0
	for _, e := range f.events {
		if !e.Time.Before(from) && e.Time.Before(to) {
			ev[e.Type]++
		}
	}
	for _, c := range f.counts {
		if !c.Start.Before(from) && c.Start.Before(to) {
			for _, n := range c.Counts {
				ru += n
			}
		}
	}
	return ev, ru
}

// makeStudyFeed draws a Poisson stream of events over [from, to), perHour before change and
// perHour·factor from it on, 70 % red-light runs (cars and motorbikes) and 30 % people against
// the signal, and a count record per hour of cars, people and bicycles. Each period and the
// counts draw from their own stream of seed, so that a period an hour longer or shorter (a
// daylight-saving change in it, depending on the day the test runs) only adds or drops its
// last hour. The seeds used put the true ratio well inside its interval whatever the day
// (checked over periods of 719 to 721 hours: never nearer either end than a third of the
// interval's width, on a log scale); any seed would fail the interval 5 % of the time.
func makeStudyFeed(seed uint64, device, site, camera string, loc *time.Location, from, change, to time.Time, perHour, factor float64) *studyFeed {
	f := &studyFeed{site: site, camera: camera, loc: loc}
	for i, seg := range []struct {
		from, to time.Time
		rate     float64
	}{{from, change, perHour}, {change, to, perHour * factor}} {
		rng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		for t := seg.from; ; {
			t = t.Add(time.Duration(rng.ExpFloat64() / seg.rate * float64(time.Hour))).Truncate(time.Millisecond)
			if !t.Before(seg.to) {
				break
			}
			e := wire.Event{V: wire.Version, ID: fmt.Sprintf("%s-e%05d", site, len(f.events)), Device: device, Camera: camera, Site: site, Zone: "z",
				Type: wire.RedLightRunning, Class: "car", Time: t, Confidence: 0.9}
			switch u := rng.Float64(); {
			case u < 0.14:
				e.Class = "motorbike"
			case u >= 0.7:
				e.Type, e.Class = wire.PedAgainstSignal, "person"
			}
			f.events = append(f.events, e)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	for h, t := 0, from; t.Before(to); h, t = h+1, t.Add(time.Hour) {
		f.counts = append(f.counts, wire.Counts{V: wire.Version, ID: fmt.Sprintf("%s-c%04d", site, h), Device: device, Camera: camera, Site: site, Zone: "z",
			Start: t, PeriodS: 3600, Counts: map[string]int{"car": 20 + rng.IntN(21), "person": 4 + rng.IntN(7), "bicycle": rng.IntN(4)}})
	}
	return f
}

// TestBeforeAfterEndToEnd is issue #18's acceptance: two months of events and counts at two
// sites go from a device's outbox through the edge's relay and MQTT client, a real Mosquitto
// and the aggregator. At one site the rate doubles from a known local date; the before/after
// study, asked in local dates, finds the ratio (2 inside its 95 % interval) and a significant
// test; at the other, with the same rate throughout, the same query is not significant. The
// events, counts and sites exports read back with encoding/csv, each time on its site's clock
// with its offset, and their counts per class are the ones the device sent.
//
// The events are stamped up to 61 days back: the aggregator accepts them because the test's
// configuration sets ingest.max_event_age to five years (writeConfig); the shipped 168h would
// dead-letter most of them with reason clock.
func TestBeforeAfterEndToEnd(t *testing.T) {
	mq := StartMosquitto(t)
	cfgPath := writeConfig(t, "")
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(cfg, studySites...), 0o644)
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"), "--config", cfgPath)

	// The change took effect at midnight of a date 31 days ago; each period is 30 local days
	// (one of them may hold a daylight-saving change: a day of 23 or 25 hours).
	ny, _ := time.LoadLocation("America/New_York")
	vie, _ := time.LoadLocation("Europe/Vienna")
	y, m, d := time.Now().In(ny).Date()
	day := func(loc *time.Location, offset int) time.Time { return time.Date(y, m, d+offset, 0, 0, 0, 0, loc) }
	date := func(offset int) string { return day(time.UTC, offset).Format(time.DateOnly) }
	const device = "study-edge"
	changed := makeStudyFeed(282, device, "study-changed", "study-cam-1", ny, day(ny, -61), day(ny, -31), day(ny, -1), 0.6, 2)
	same := makeStudyFeed(281, device, "study-same", "study-cam-2", vie, day(vie, -61), day(vie, -31), day(vie, -1), 0.6, 1)
	feeds := []*studyFeed{changed, same}

	// The device's outbox holds every record, as the pipeline would have appended them; the
	// edge's burst (appending nothing more) sends them through its relay and MQTT client and
	// waits for the aggregator's acknowledgements, which follow the commit.
	obPath := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := outbox.Open(obPath, outbox.Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []edge.Message
	for _, f := range feeds {
		for _, e := range f.events {
			b, err := wire.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, edge.Message{ID: e.ID, Topic: wire.Topic(device, wire.KindEvents), Payload: b, Severity: 2})
		}
		for _, c := range f.counts {
			b, err := wire.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, edge.Message{ID: c.ID, Topic: wire.Topic(device, wire.KindCounts), Payload: b, Severity: 1})
		}
	}
	for chunk := range slices.Chunk(msgs, 500) {
		if err := ob.Append(context.Background(), chunk...); err != nil {
			t.Fatal(err)
		}
	}
	ob.Close()
	if out, err := edgeCmd("burst", "--broker", mq.URL, "--device", device, "--outbox", obPath, "--from", "0", "--to", "0",
		"--drain", "--drain-timeout", "2m").CombinedOutput(); err != nil {
		t.Fatalf("send the outbox: %v\n%s", err, out)
	}
	var dead []aggregator.DeadLetter
	getJSON(t, agg.API+"/api/v1/dead-letters", &dead)
	if len(dead) != 0 {
		t.Fatalf("%d records refused, first: %+v", len(dead), dead[0])
	}
	t.Logf("sent %d events and %d count records; change on %s", len(changed.events)+len(same.events), len(changed.counts)+len(same.counts), date(-31))

	// An admin records the change by its local date; the study is asked in local dates too.
	req, _ := http.NewRequest(http.MethodPost, agg.API+"/api/v1/sites/study-changed/changes",
		strings.NewReader(`{"time": "`+date(-31)+`", "description": "all-red interval removed"}`))
	req.Header.Set("Authorization", "Bearer "+agg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var changes []aggregator.SiteChange
	getJSON(t, agg.API+"/api/v1/sites/study-changed/changes", &changes)
	if resp.StatusCode != http.StatusCreated || len(changes) != 1 || !changes[0].Time.Equal(day(ny, -31)) {
		t.Fatalf("record the change on %s: %s, changes %+v", date(-31), resp.Status, changes)
	}
	periods := "&before=" + date(-61) + "/" + date(-31) + "&after=" + date(-31) + "/" + date(-1)
	study := func(f *studyFeed, pivot string) aggregator.Comparison {
		t.Helper()
		var c aggregator.Comparison
		getJSON(t, agg.API+"/api/v1/sites/"+f.site+"/compare?change="+pivot+periods, &c)
		from, at, to := day(f.loc, -61), day(f.loc, -31), day(f.loc, -1)
		evB, ruB := f.tally(from, at)
		evA, ruA := f.tally(at, to)
		if c.TimeZone != f.loc.String() || !c.Before.From.Equal(from) || !c.Before.To.Equal(at) || !c.After.From.Equal(at) || !c.After.To.Equal(to) {
			t.Fatalf("%s: periods %v–%v and %v–%v in %q, want local midnights %v, %v, %v", f.site, c.Before.From, c.Before.To, c.After.From, c.After.To, c.TimeZone, from, at, to)
		}
		if _, off := c.Before.From.Zone(); off != func() int { _, o := from.Zone(); return o }() {
			t.Errorf("%s: before.from %v is not written with the site's offset", f.site, c.Before.From)
		}
		if c.Before.RoadUsers != ruB || c.After.RoadUsers != ruA {
			t.Errorf("%s: road users %d before, %d after; the device counted %d and %d", f.site, c.Before.RoadUsers, c.After.RoadUsers, ruB, ruA)
		}
		for _, r := range c.Types {
			wantB, wantA := evB[r.Type], evA[r.Type]
			if r.Type == aggregator.AllTypes {
				wantB, wantA = sum(evB), sum(evA)
			}
			if r.Before != wantB || r.After != wantA {
				t.Errorf("%s %s: %d events before, %d after; the device sent %d and %d", f.site, r.Type, r.Before, r.After, wantB, wantA)
			}
			if r.Ratio == nil || r.Low == nil || r.High == nil || r.P == nil || *r.Low > *r.Ratio || *r.Ratio > *r.High {
				t.Fatalf("%s %s: no ratio with its interval: %+v", f.site, r.Type, r)
			}
		}
		if len(c.Types) != 3 {
			t.Errorf("%s: rows %+v, want red_light_running, ped_against_signal and all", f.site, c.Types)
		}
		return c
	}
	for _, r := range study(changed, strconv.FormatInt(changes[0].ID, 10)).Types {
		t.Logf("study-changed %-18s %4d → %4d  ratio %.3f (%.3f–%.3f)  p %.3g", r.Type, r.Before, r.After, *r.Ratio, *r.Low, *r.High, *r.P)
		if *r.Low > 2 || *r.High < 2 || !r.Significant || *r.P >= 0.05 {
			t.Errorf("study-changed %s: the rate doubled, but ratio %.3f (%.3f–%.3f), p %.3g, significant %v", r.Type, *r.Ratio, *r.Low, *r.High, *r.P, r.Significant)
		}
	}
	for _, r := range study(same, date(-31)).Types {
		t.Logf("study-same    %-18s %4d → %4d  ratio %.3f (%.3f–%.3f)  p %.3g", r.Type, r.Before, r.After, *r.Ratio, *r.Low, *r.High, *r.P)
		if *r.Low > 1 || *r.High < 1 || r.Significant || *r.P < 0.05 {
			t.Errorf("study-same %s: nothing changed, but ratio %.3f (%.3f–%.3f), p %.3g, significant %v", r.Type, *r.Ratio, *r.Low, *r.High, *r.P, r.Significant)
		}
	}

	for _, f := range feeds {
		checkEventsCSV(t, agg, f, date(-61), date(-2))
		checkCountsCSV(t, agg, f, date(-61), date(-2))
	}
	checkSitesCSV(t, agg, feeds, day(time.UTC, -62), day(time.UTC, 0))
	if n := offClock[t]; n > 0 {
		t.Errorf("%d CSV times in all not on their site's clock", n)
	}
	delete(offClock, t)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// readCSV reads an export whole with encoding/csv, which also holds every row to the header's
// number of fields; it returns the rows as maps from the header's names.
func readCSV(t *testing.T, url string) []map[string]string {
	t.Helper()
	resp, err := authGet(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s %s", url, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("GET %s: not CSV: %v", url, err)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, name := range recs[0] {
			row[name] = r[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// localCell parses a CSV time and checks that it is on loc's clock: loc's offset at that
// instant, three decimals. Only the first few cells off the clock are reported.
func localCell(t *testing.T, what, v string, loc *time.Location) time.Time {
	t.Helper()
	at, err := time.Parse(api.CSVTime, v)
	if err != nil {
		t.Fatalf("%s: %q is not a CSV time: %v", what, v, err)
	}
	if want := at.In(loc).Format(api.CSVTime); v != want {
		if offClock[t]++; offClock[t] <= 3 {
			t.Errorf("%s: %q is not on the site's clock (%s): want %q", what, v, loc, want)
		}
	}
	return at
}

// offClock counts each test's CSV times off their site's clock (TestBeforeAfterEndToEnd is not
// parallel).
var offClock = map[*testing.T]int{}

// checkEventsCSV: the events export of the site over local dates [from, to] has every event the
// device sent in that period, once, at its time on the site's clock, and per type and class
// as many as were sent.
func checkEventsCSV(t *testing.T, agg *Aggregator, f *studyFeed, from, to string) {
	t.Helper()
	rows := readCSV(t, agg.API+"/api/v1/export/events.csv?limit=2000&site="+f.site+"&from="+from+"&to="+to)
	lo, _ := time.ParseInLocation(time.DateOnly, from, f.loc)
	hi, _ := time.ParseInLocation(time.DateOnly, to, f.loc)
	hi = hi.AddDate(0, 0, 1) // a bare to includes its day
	want, got := map[string]int{}, map[string]int{}
	sent := map[string]time.Time{}
	for _, e := range f.events {
		if !e.Time.Before(lo) && e.Time.Before(hi) {
			want[e.Type+"/"+e.Class]++
			sent[e.ID] = e.Time
		}
	}
	if len(sent) >= 2000 {
		t.Fatalf("%s: %d events in the period: more than one page of the export", f.site, len(sent))
	}
	for _, r := range rows {
		at := localCell(t, f.site+" events.csv time", r["time"], f.loc)
		if s, ok := sent[r["id"]]; !ok || !s.Equal(at) || r["site"] != f.site {
			t.Errorf("%s events.csv: row %v was not sent in the period (sent at %v)", f.site, r, s)
		}
		delete(sent, r["id"])
		got[r["type"]+"/"+r["class"]]++
	}
	if len(sent) != 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s events.csv: per type/class %v, the device sent %v; %d sent events missing", f.site, got, want, len(sent))
	}
}

// checkCountsCSV: the class counts export in day bins over local dates [from, to] has a row per
// local day, starting at the site's midnight, with the classes the device counted that day.
func checkCountsCSV(t *testing.T, agg *Aggregator, f *studyFeed, from, to string) {
	t.Helper()
	q := "?bin=1d&from=" + from + "&to=" + to
	rows := readCSV(t, agg.API+"/api/v1/sites/"+f.site+"/counts"+q+"&format=csv")
	lo, _ := time.ParseInLocation(time.DateOnly, from, f.loc)
	hi, _ := time.ParseInLocation(time.DateOnly, to, f.loc)
	want := map[string]map[string]int{} // local date → class → road users
	for _, c := range f.counts {
		if !c.Start.Before(lo) && c.Start.Before(hi.AddDate(0, 0, 1)) {
			k := c.Start.In(f.loc).Format(time.DateOnly)
			if want[k] == nil {
				want[k] = map[string]int{}
			}
			for class, n := range c.Counts {
				want[k][class] += n
			}
		}
	}
	got, totals := map[string]map[string]int{}, map[string]int{}
	for _, r := range rows {
		start := localCell(t, f.site+" counts start", r["start"], f.loc)
		end := localCell(t, f.site+" counts end", r["end"], f.loc)
		if s := start.In(f.loc); s.Hour() != 0 || s.Minute() != 0 || !end.Equal(time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, f.loc)) {
			t.Errorf("%s counts.csv: bin %s – %s is not a local day", f.site, r["start"], r["end"])
		}
		if r["zone"] != "z" || r["movement"] != "" {
			t.Errorf("%s counts.csv: row %v", f.site, r)
		}
		k, n := start.In(f.loc).Format(time.DateOnly), 0
		got[k] = map[string]int{}
		for _, class := range []string{"car", "person", "bicycle"} {
			v, err := strconv.Atoi(r[class])
			if err != nil {
				t.Fatalf("%s counts.csv: %s %q: %v", f.site, class, r[class], err)
			}
			got[k][class], totals[class], n = v, totals[class]+v, n+v
		}
		if r["total"] != strconv.Itoa(n) {
			t.Errorf("%s counts.csv %s: total %s, classes add up to %d", f.site, k, r["total"], n)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s counts.csv: per local day and class\n%v\nthe device counted\n%v", f.site, got, want)
	}
	// The JSON study says the same.
	var cs aggregator.CountStudy
	getJSON(t, agg.API+"/api/v1/sites/"+f.site+"/counts"+q, &cs)
	if fmt.Sprint(cs.Totals["z"]) != fmt.Sprint(totals) || len(cs.Bins) != len(rows) {
		t.Errorf("%s: the JSON counts %v in %d bins, the CSV %v in %d rows", f.site, cs.Totals["z"], len(cs.Bins), totals, len(rows))
	}
}

// checkSitesCSV: the sites export over [from, to) (instants with an offset: the list spans time
// zones) writes each site's period on its own clock, its time zone, and the events and road
// users the device sent; the JSON list has the same.
func checkSitesCSV(t *testing.T, agg *Aggregator, feeds []*studyFeed, from, to time.Time) {
	t.Helper()
	q := "?from=" + url.QueryEscape(from.In(feeds[0].loc).Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.In(feeds[1].loc).Format(time.RFC3339))
	rows := readCSV(t, agg.API+"/api/v1/export/sites.csv"+q)
	var scores []aggregator.SiteScore
	getJSON(t, agg.API+"/api/v1/sites"+q, &scores)
	for _, f := range feeds {
		ev, ru := f.tally(from, to)
		i := slices.IndexFunc(rows, func(r map[string]string) bool { return r["site"] == f.site })
		j := slices.IndexFunc(scores, func(s aggregator.SiteScore) bool { return s.ID == f.site })
		if i < 0 || j < 0 {
			t.Fatalf("sites.csv or /sites lacks %s", f.site)
		}
		r, s := rows[i], scores[j]
		if !localCell(t, f.site+" sites.csv from", r["from"], f.loc).Equal(from) || !localCell(t, f.site+" sites.csv to", r["to"], f.loc).Equal(to) ||
			r["time_zone"] != f.loc.String() {
			t.Errorf("sites.csv %s: from %s to %s zone %s, want %v – %v in %s", f.site, r["from"], r["to"], r["time_zone"], from, to, f.loc)
		}
		if r["events"] != strconv.Itoa(sum(ev)) || r["road_users"] != strconv.Itoa(ru) || s.RoadUsers != ru {
			t.Errorf("sites.csv %s: %s events, %s road users (JSON %d); the device sent %d and %d", f.site, r["events"], r["road_users"], s.RoadUsers, sum(ev), ru)
		}
		for _, typ := range []string{wire.RedLightRunning, wire.PedAgainstSignal} {
			if r[typ+"_events"] != strconv.Itoa(ev[typ]) || s.Events[typ] != ev[typ] {
				t.Errorf("sites.csv %s: %s %s events (JSON %d), the device sent %d", f.site, typ, r[typ+"_events"], s.Events[typ], ev[typ])
			}
		}
	}
}
