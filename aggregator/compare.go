package aggregator

import (
	"math"
	"sort"
	"time"

	"github.com/crosswatch/crosswatch/aggregator/stats"
)

// SiteChange is a change made at a site (a signal retimed, a crossing moved, a fence put up),
// recorded so that before/after studies and the site's charts can show it.
type SiteChange struct {
	ID          int64     `json:"id"`
	Site        string    `json:"site"`
	Time        time.Time `json:"time"` // when the change took effect
	Description string    `json:"description"`
	Actor       string    `json:"actor"` // who recorded it: "user:NAME" or "token:NAME"
	Created     time.Time `json:"created"`
}

// Tally is what a site saw over one period: events per type and road users counted.
type Tally struct {
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Events    map[string]int `json:"events"`
	RoadUsers int            `json:"road_users"`
}

// Comparison is a before/after study of one site: per event type, the events, the rates per
// 1,000 road users, their ratio (after over before) with its 95 % interval and the p-value of
// the conditional test for two Poisson rates (ComparisonMethod).
type Comparison struct {
	Site string `json:"site"`
	// TimeZone is the site's: dates and times without an offset were read in it, and every
	// time of the answer is written with its offset.
	TimeZone string           `json:"time_zone"`
	Change   *SiteChange      `json:"change,omitempty"`
	Before   Tally            `json:"before"`
	After    Tally            `json:"after"`
	Method   string           `json:"method"`
	Types    []TypeComparison `json:"types"` // every type seen in either period, by name, then "all"
}

// ComparisonMethod names the test behind Comparison.
const ComparisonMethod = "conditional binomial test for two Poisson rates (exact two-sided p-value; Clopper–Pearson interval of the rate ratio), exposure = road users counted"

// AllTypes is the Comparison row of all events together.
const AllTypes = "all"

// TypeComparison is one event type's before and after. Ratio, Low, High and P are null when
// either period counted no road users (no rate to compare); Ratio and High are null too when
// the before period had no events of the type (the ratio is unbounded).
type TypeComparison struct {
	Type        string   `json:"type"`
	Before      int      `json:"before_events"`
	After       int      `json:"after_events"`
	BeforeRate  *float64 `json:"before_per_1000"`
	AfterRate   *float64 `json:"after_per_1000"`
	Ratio       *float64 `json:"rate_ratio"`
	Low         *float64 `json:"low"`
	High        *float64 `json:"high"`
	P           *float64 `json:"p_value"`
	Significant bool     `json:"significant"` // p < 0.05
}

// Compare compares two periods of a site.
func Compare(site string, before, after Tally) Comparison {
	c := Comparison{Site: site, Before: before, After: after, Method: ComparisonMethod, Types: []TypeComparison{}}
	types := map[string]bool{}
	for t := range before.Events {
		types[t] = true
	}
	for t := range after.Events {
		types[t] = true
	}
	names := make([]string, 0, len(types))
	for t := range types {
		names = append(names, t)
	}
	sort.Strings(names)
	all := [2]int{}
	for _, t := range names {
		c.Types = append(c.Types, compareType(t, before.Events[t], after.Events[t], before.RoadUsers, after.RoadUsers))
		all[0] += before.Events[t]
		all[1] += after.Events[t]
	}
	c.Types = append(c.Types, compareType(AllTypes, all[0], all[1], before.RoadUsers, after.RoadUsers))
	return c
}

func compareType(typ string, k0, k1, n0, n1 int) TypeComparison {
	tc := TypeComparison{Type: typ, Before: k0, After: k1}
	if n0 <= 0 || n1 <= 0 {
		return tc
	}
	tc.BeforeRate, tc.AfterRate = finite(1000*float64(k0)/float64(n0)), finite(1000*float64(k1)/float64(n1))
	r := stats.RateRatio(k1, float64(n1), k0, float64(n0))
	tc.Ratio, tc.Low, tc.High, tc.P = finite(r.Ratio), finite(r.Low), finite(r.High), finite(r.P)
	tc.Significant = r.P < 0.05
	return tc
}

// finite returns a pointer to v, or nil for an infinity or NaN (JSON has neither).
func finite(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}
