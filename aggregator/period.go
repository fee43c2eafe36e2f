package aggregator

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Location returns the site's time zone (UTC when it names none). An unknown zone is UTC too,
// but the configuration refuses one (sites[i].time_zone), so stored sites name only real zones.
func (s Site) Location() *time.Location {
	if s.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// BinSize is the width of a study's bins: 5 or 15 minutes, an hour, a day or a week, each
// aligned to the site's local clock (a day bin starts at local midnight, a week bin at
// Monday's), so that a day bin on a daylight-saving change day is 23 or 25 hours long.
type BinSize string

// Bin sizes.
const (
	Bin5m  BinSize = "5m"
	Bin15m BinSize = "15m"
	Bin1h  BinSize = "1h"
	Bin1d  BinSize = "1d"
	Bin1w  BinSize = "1w"
)

// MaxBins bounds the bins of one answer: a year of 15-minute bins (35,040) fits, a year of
// 5-minute ones does not.
const MaxBins = 40000

// ParseBinSize reads a bin size: 5m, 15m, 1h (or 60m, hour), 1d (or 24h, day), 1w (or week).
func ParseBinSize(s string) (BinSize, error) {
	switch strings.ToLower(s) {
	case "5m":
		return Bin5m, nil
	case "15m":
		return Bin15m, nil
	case "1h", "60m", "hour":
		return Bin1h, nil
	case "1d", "24h", "day":
		return Bin1d, nil
	case "1w", "7d", "168h", "week":
		return Bin1w, nil
	}
	return "", fmt.Errorf("%q is not a bin size: 5m, 15m, 1h, 1d or 1w", s)
}

// Grain is the width of the UTC buckets a store groups records in for bins of this size: every
// local bin boundary falls on one, since every time zone in use is offset from UTC by a whole
// number of quarter hours.
func (b BinSize) Grain() time.Duration {
	if b == Bin5m {
		return 5 * time.Minute
	}
	return 15 * time.Minute
}

// step is the width of a sub-day bin; 0 for days and weeks, which follow the calendar.
func (b BinSize) step() time.Duration {
	switch b {
	case Bin5m:
		return 5 * time.Minute
	case Bin15m:
		return 15 * time.Minute
	case Bin1h:
		return time.Hour
	}
	return 0
}

// midnight is the start of t's local day in loc.
func midnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// Bounds returns the boundaries of the bins of size b in loc that cover [from, to): the first
// is the start of the bin holding from, the last the end of the bin holding the instant before
// to, so n bins have n+1 boundaries. Sub-day bins start again at each local midnight and step
// by their width in elapsed time, so the hour repeated when clocks go back is two bins, and the
// hour skipped when they go forward is none. It fails when from is not before to or there would
// be more than MaxBins bins.
func Bounds(from, to time.Time, loc *time.Location, b BinSize) ([]time.Time, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if b.step() == 0 && b != Bin1d && b != Bin1w {
		return nil, fmt.Errorf("bin size %q unknown", b)
	}
	if step := b.step(); step > 0 && to.Sub(from)/step > MaxBins+100 {
		return nil, fmt.Errorf("more than %d bins of %s", MaxBins, b)
	}
	day := midnight(from, loc)
	if b == Bin1w {
		wd := (int(day.Weekday()) + 6) % 7 // Monday 0
		day = time.Date(day.Year(), day.Month(), day.Day()-wd, 0, 0, 0, 0, loc)
	}
	var out []time.Time
	for {
		y, m, d := day.Date()
		var next time.Time
		if b == Bin1w {
			next = time.Date(y, m, d+7, 0, 0, 0, 0, loc)
		} else {
			next = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		}
		if step := b.step(); step > 0 {
			for t := day; t.Before(next); t = t.Add(step) {
				out = append(out, t)
			}
		} else {
			out = append(out, day)
		}
		if len(out) > MaxBins+2*24*12 {
			return nil, fmt.Errorf("more than %d bins of %s", MaxBins, b)
		}
		if !next.Before(to) {
			out = append(out, next)
			break
		}
		day = next
	}
	// Keep from the bin that holds from to the first boundary at or after to.
	first := sort.Search(len(out), func(i int) bool { return out[i].After(from) }) - 1
	last := sort.Search(len(out), func(i int) bool { return !out[i].Before(to) })
	out = out[max(first, 0) : last+1]
	if len(out)-1 > MaxBins {
		return nil, fmt.Errorf("more than %d bins of %s", MaxBins, b)
	}
	return out, nil
}

// BinIndex returns the index of the bin of bounds holding t, or -1 when t lies outside them.
func BinIndex(bounds []time.Time, t time.Time) int {
	if len(bounds) < 2 || t.Before(bounds[0]) || !t.Before(bounds[len(bounds)-1]) {
		return -1
	}
	return sort.Search(len(bounds), func(i int) bool { return bounds[i].After(t) }) - 1
}

// Bucket is a number of records of one kind (an event type; "" for counted road users) in one
// UTC bucket of a store's grain, starting at Start.
type Bucket struct {
	Start time.Time
	Type  string
	N     int
}

// BucketFilter selects a site's records for a study: [From, To), grouped in buckets of Grain,
// of the event types in Types (none: every type).
type BucketFilter struct {
	Site     string
	From, To time.Time
	Grain    time.Duration
	Types    []string
}

// CountFilter selects a site's count records whose period starts in [From, To); Zone "" is
// every zone and count line.
type CountFilter struct {
	Site     string
	Zone     string
	From, To time.Time
}

// FillSeries returns a bin per pair of consecutive bounds (in loc) with the events and road
// users of the buckets that start in it.
func FillSeries(bounds []time.Time, loc *time.Location, events, roadUsers []Bucket) []Bin {
	out := make([]Bin, max(len(bounds)-1, 0))
	for i := range out {
		out[i] = Bin{Start: bounds[i].In(loc), End: bounds[i+1].In(loc), Events: map[string]int{}}
	}
	for _, e := range events {
		if i := BinIndex(bounds, e.Start); i >= 0 {
			out[i].Events[e.Type] += e.N
		}
	}
	for _, c := range roadUsers {
		if i := BinIndex(bounds, c.Start); i >= 0 {
			out[i].RoadUsers += c.N
		}
	}
	return out
}
