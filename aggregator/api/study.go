package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// StudyStore is what the traffic-study routes read: sites with their time zones, records
// grouped in UTC buckets and raw count records.
type StudyStore interface {
	// FindSite returns ErrNotFound for an unknown site.
	FindSite(ctx context.Context, id string) (aggregator.Site, error)
	FindSites(ctx context.Context) ([]aggregator.Site, error)
	// FindEventBuckets and FindRoadUserBuckets return ErrNotFound for an unknown site.
	FindEventBuckets(ctx context.Context, f aggregator.BucketFilter) ([]aggregator.Bucket, error)
	FindRoadUserBuckets(ctx context.Context, f aggregator.BucketFilter) ([]aggregator.Bucket, error)
	// FindCounts returns ErrNotFound for an unknown site.
	FindCounts(ctx context.Context, f aggregator.CountFilter) ([]aggregator.Counts, error)
}

// CSVTime is how every CSV export writes a time: RFC 3339 with the site's offset and always
// three decimals, so that every row has the same width and sorts as text within one offset.
const CSVTime = "2006-01-02T15:04:05.000Z07:00"

// localLayouts are the forms a from or to without an offset may take; they are read in the
// site's time zone.
var localLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// parseInstant reads v as RFC 3339 (with Z or an offset), a local date-time, or a bare date in
// loc. A bare date is that day's local midnight, or with end the next day's: to=2026-03-31
// includes the 31st.
func parseInstant(v string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
		if end {
			return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc), nil
		}
		return d, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-03-29) or date-time (2026-03-29T08:00, 2026-03-29T08:00:00+02:00)", v)
}

// period reads ?from= and ?to= in loc (see parseInstant), else ?window= (a duration ending at
// to) with def; to defaults to now. It answers 400 itself, naming the parameter, when a value
// is malformed or from is not before to; ok is false then.
func period(w http.ResponseWriter, r *http.Request, loc *time.Location, def time.Duration, now time.Time) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	to = now
	if v := q.Get("to"); v != "" {
		t, err := parseInstant(v, loc, true)
		if err != nil {
			badRequest(w, "to: "+err.Error())
			return from, to, false
		}
		to = t
	}
	if v := q.Get("from"); v != "" {
		if q.Get("window") != "" {
			badRequest(w, "window: give either from or window, not both")
			return from, to, false
		}
		t, err := parseInstant(v, loc, false)
		if err != nil {
			badRequest(w, "from: "+err.Error())
			return from, to, false
		}
		from = t
	} else {
		window, ok := duration(w, r, "window", def)
		if !ok {
			return from, to, false
		}
		from = to.Add(-window)
	}
	if !from.Before(to) {
		badRequest(w, fmt.Sprintf("from: %s is not before to %s", from.In(loc).Format(time.RFC3339), to.In(loc).Format(time.RFC3339)))
		return from, to, false
	}
	if to.Sub(from) > 10*366*24*time.Hour {
		badRequest(w, "from: a period of at most 10 years")
		return from, to, false
	}
	return from, to, true
}

// types reads ?type= (event types, comma-separated), each of which must be in the catalog; none
// is every type. It answers 400 itself; ok is false then.
func types(w http.ResponseWriter, r *http.Request, cat *aggregator.Catalog) ([]string, bool) {
	v := r.URL.Query().Get("type")
	if v == "" {
		return nil, true
	}
	var out []string
	for _, t := range strings.Split(v, ",") {
		if _, ok := cat.Entry(t); !ok {
			known := make([]string, len(cat.Entries))
			for i, e := range cat.Entries {
				known[i] = e.Type
			}
			badRequest(w, fmt.Sprintf("type: %q is not in the catalog (%s)", t, strings.Join(known, ", ")))
			return nil, false
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, true
}

// binSize reads ?bin=, or def; it answers 400 itself.
func binSize(w http.ResponseWriter, r *http.Request, def aggregator.BinSize) (aggregator.BinSize, bool) {
	v := r.URL.Query().Get("bin")
	if v == "" {
		return def, true
	}
	b, err := aggregator.ParseBinSize(v)
	if err != nil {
		badRequest(w, "bin: "+err.Error())
		return "", false
	}
	return b, true
}

// bounds answers 400 itself when the period holds too many bins.
func bounds(w http.ResponseWriter, from, to time.Time, loc *time.Location, b aggregator.BinSize) ([]time.Time, bool) {
	bs, err := aggregator.Bounds(from, to, loc, b)
	if err != nil {
		badRequest(w, "bin: "+err.Error()+"; choose a larger bin or a shorter period")
		return nil, false
	}
	return bs, true
}

// studyRoutes adds the routes of local-time studies: a site's series, class counts and weekly
// pattern.
func studyRoutes(handle func(string, aggregator.Role, http.HandlerFunc), st Store, cat *aggregator.Catalog, sc Scoring, log *slog.Logger) {
	site := func(w http.ResponseWriter, r *http.Request) (aggregator.Site, *time.Location, bool) {
		s, err := st.FindSite(r.Context(), r.PathValue("id"))
		if err != nil {
			reply(w, log, nil, err)
			return s, nil, false
		}
		return s, s.Location(), true
	}
	handle("GET /api/v1/sites/{id}/series", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		s, loc, ok := site(w, r)
		if !ok {
			return
		}
		from, to, ok := period(w, r, loc, 24*time.Hour, sc.Now())
		if !ok {
			return
		}
		bin, ok := binSize(w, r, aggregator.Bin15m)
		if !ok {
			return
		}
		typ, ok := types(w, r, cat)
		if !ok {
			return
		}
		bs, ok := bounds(w, from, to, loc, bin)
		if !ok {
			return
		}
		f := aggregator.BucketFilter{Site: s.ID, From: bs[0], To: bs[len(bs)-1], Grain: bin.Grain(), Types: typ}
		ev, err := st.FindEventBuckets(r.Context(), f)
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		ru, err := st.FindRoadUserBuckets(r.Context(), f)
		reply(w, log, aggregator.FillSeries(bs, loc, ev, ru), err)
	})
	handle("GET /api/v1/sites/{id}/patterns", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		s, loc, ok := site(w, r)
		if !ok {
			return
		}
		from, to, ok := period(w, r, loc, sc.Window, sc.Now())
		if !ok {
			return
		}
		typ, ok := types(w, r, cat)
		if !ok {
			return
		}
		hours, ok := bounds(w, from, to, loc, aggregator.Bin1h)
		if !ok {
			return
		}
		// Whole local hours, so that each cell's hours and its records agree.
		f := aggregator.BucketFilter{Site: s.ID, From: hours[0], To: hours[len(hours)-1], Grain: 15 * time.Minute, Types: typ}
		ev, err := st.FindEventBuckets(r.Context(), f)
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		ru, err := st.FindRoadUserBuckets(r.Context(), f)
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		reply(w, log, aggregator.Pattern{Site: s.ID, TimeZone: loc.String(), From: f.From.In(loc), To: f.To.In(loc), Types: append([]string{}, typ...),
			MinRoadUsers: sc.MinRoadUsers, Cells: aggregator.NewPattern(hours, loc, ev, ru, sc.MinRoadUsers)}, nil)
	})
	handle("GET /api/v1/sites/{id}/counts", aggregator.Viewer, func(w http.ResponseWriter, r *http.Request) {
		s, loc, ok := site(w, r)
		if !ok {
			return
		}
		from, to, ok := period(w, r, loc, 24*time.Hour, sc.Now())
		if !ok {
			return
		}
		bin, ok := binSize(w, r, aggregator.Bin15m)
		if !ok {
			return
		}
		format := r.URL.Query().Get("format")
		if format != "" && format != "json" && format != "csv" {
			badRequest(w, "format: json or csv")
			return
		}
		bs, ok := bounds(w, from, to, loc, bin)
		if !ok {
			return
		}
		quarters, ok := bounds(w, bs[0], bs[len(bs)-1], loc, aggregator.Bin15m)
		if !ok {
			return
		}
		recs, err := st.FindCounts(r.Context(), aggregator.CountFilter{Site: s.ID, Zone: r.URL.Query().Get("zone"), From: bs[0], To: bs[len(bs)-1]})
		if err != nil {
			reply(w, log, nil, err)
			return
		}
		cs := aggregator.NewCountStudy(bs, quarters, loc, recs)
		cs.Site, cs.TimeZone, cs.From, cs.To, cs.Bin = s.ID, loc.String(), bs[0].In(loc), bs[len(bs)-1].In(loc), bin
		if format != "csv" {
			reply(w, log, cs, nil)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-counts-%s.csv"`, s.ID, bin))
		cw := csv.NewWriter(w)
		// A row per zone and bin (movement empty), then a row per turning movement and bin (zone
		// is the approach it entered by): the movements split the zone's count, never add to it.
		cw.Write(append(append([]string{"start", "end", "zone", "movement"}, cs.Classes...), "total"))
		row := func(start, end time.Time, zone, movement string, counts map[string]int, total int) {
			r := []string{start.Format(CSVTime), end.Format(CSVTime), zone, movement}
			for _, c := range cs.Classes {
				r = append(r, strconv.Itoa(counts[c]))
			}
			cw.Write(append(r, strconv.Itoa(total)))
		}
		for _, b := range cs.Bins {
			row(b.Start, b.End, b.Zone, "", b.Counts, b.Total)
		}
		for _, b := range cs.MovementBins {
			row(b.Start, b.End, b.Zone, b.Movement, b.Counts, b.Total)
		}
		cw.Flush()
	})
}

// zoneMap is each site's time zone.
type zoneMap map[string]*time.Location

func (z zoneMap) of(site string) *time.Location {
	if l, ok := z[site]; ok {
		return l
	}
	return time.UTC
}

func siteZones(ctx context.Context, st StudyStore) (zoneMap, error) {
	sites, err := st.FindSites(ctx)
	if err != nil {
		return nil, err
	}
	z := zoneMap{}
	for _, s := range sites {
		z[s.ID] = s.Location()
	}
	return z, nil
}

// rateColumns are sites.csv's columns per catalog type: its events, and its rate per 1,000
// road users with the 95 % Wilson interval (empty where the exposure gives no rate).
func rateColumns(cat *aggregator.Catalog) []string {
	var out []string
	for _, e := range cat.Entries {
		out = append(out, e.Type+"_events", e.Type+"_per_1000", e.Type+"_low", e.Type+"_high")
	}
	return out
}

func rateCells(cat *aggregator.Catalog, x aggregator.SiteScore) []string {
	var out []string
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, e := range cat.Entries {
		n := x.Events[e.Type]
		if r, ok := x.Rates[e.Type]; ok {
			out = append(out, strconv.Itoa(n), f(r.PerThousand), f(r.Low), f(r.High))
			continue
		}
		if x.Status == aggregator.StatusOK {
			// Enough road users and no event of this type: a rate of 0 with its interval.
			if r, ok := aggregator.NewRate(0, x.RoadUsers); ok {
				out = append(out, strconv.Itoa(n), f(r.PerThousand), f(r.Low), f(r.High))
				continue
			}
		}
		out = append(out, strconv.Itoa(n), "", "", "")
	}
	return out
}
