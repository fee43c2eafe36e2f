package aggregator

import (
	"sort"
	"time"
)

// HeatCell is one hour of the week in a site's local time, over a study's period: the events
// that happened in it (per type), the road users counted in it, how many such hours the period
// holds, and the rate when the exposure allows one.
type HeatCell struct {
	Weekday   int            `json:"weekday"` // 0 Monday … 6 Sunday
	Hour      int            `json:"hour"`    // 0 … 23, local
	Events    map[string]int `json:"events"`
	Total     int            `json:"total"`
	RoadUsers int            `json:"road_users"`
	Hours     int            `json:"hours"` // occurrences of this weekday hour in the period
	// Rate is all the cell's events per 1,000 of its road users with a Wilson interval; nil
	// when fewer road users than the minimum were counted in it.
	Rate *Rate `json:"rate"`
}

// Pattern is an hour-of-day by weekday heat map of a site's events.
type Pattern struct {
	Site         string     `json:"site"`
	TimeZone     string     `json:"time_zone"`
	From         time.Time  `json:"from"`
	To           time.Time  `json:"to"`
	Types        []string   `json:"types"` // the types counted; empty: every type
	MinRoadUsers int        `json:"min_road_users"`
	Cells        []HeatCell `json:"cells"` // 168: Monday 00:00 first, Sunday 23:00 last
}

// weekHour is t's cell index in a Pattern: Monday 00:00–01:00 local is 0.
func weekHour(t time.Time, loc *time.Location) int {
	l := t.In(loc)
	return ((int(l.Weekday())+6)%7)*24 + l.Hour()
}

// NewPattern builds the heat map of [from, to) in loc from event and road-user buckets. hours
// are the boundaries of the local hours of the period (Bounds with Bin1h), to count how often
// each weekday hour occurs.
func NewPattern(hours []time.Time, loc *time.Location, events, roadUsers []Bucket, minRoadUsers int) []HeatCell {
	cells := make([]HeatCell, 7*24)
	for i := range cells {
		cells[i] = HeatCell{Weekday: i / 24, Hour: i % 24, Events: map[string]int{}}
	}
	for i := 0; i+1 < len(hours); i++ {
		cells[weekHour(hours[i], loc)].Hours++
	}
	for _, e := range events {
		c := &cells[weekHour(e.Start, loc)]
		c.Events[e.Type] += e.N
		c.Total += e.N
	}
	for _, r := range roadUsers {
		cells[weekHour(r.Start, loc)].RoadUsers += r.N
	}
	for i := range cells {
		c := &cells[i]
		if c.RoadUsers >= max(minRoadUsers, 1) {
			if r, ok := NewRate(c.Total, c.RoadUsers); ok {
				c.Rate = &r
			}
		}
	}
	return cells
}

// CountBin is the road users of each class counted in one zone or count line in one bin.
type CountBin struct {
	Start  time.Time      `json:"start"`
	End    time.Time      `json:"end"`
	Zone   string         `json:"zone"`
	Counts map[string]int `json:"counts"`
	Total  int            `json:"total"`
}

// MovementBin is the road users of each class that entered by one zone and made one turning
// movement ("entry>exit", the scene's leg names) in one bin.
type MovementBin struct {
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Zone     string         `json:"zone"`
	Movement string         `json:"movement"`
	Counts   map[string]int `json:"counts"`
	Total    int            `json:"total"`
}

// PeakHour is the busiest 60 minutes of a period: four consecutive local quarter hours, as
// traffic studies take it, with the peak hour factor (the hour's volume over four times its
// busiest quarter hour; 1 is a flat hour).
type PeakHour struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Volume int       `json:"volume"`
	Factor float64   `json:"factor"`
}

// CountStudy is a site's class volumes per zone and count line, binned in local time, with the
// period's totals and peak hours.
type CountStudy struct {
	Site     string                    `json:"site"`
	TimeZone string                    `json:"time_zone"`
	From     time.Time                 `json:"from"`
	To       time.Time                 `json:"to"`
	Bin      BinSize                   `json:"bin"`
	Zones    []string                  `json:"zones"`
	Classes  []string                  `json:"classes"`
	Bins     []CountBin                `json:"bins"`   // per bin, per zone (every zone in every bin), oldest first
	Totals   map[string]map[string]int `json:"totals"` // zone → class → road users in the period
	// PeakHour is per class and "total", over every zone of the site together; a class never
	// counted has none.
	PeakHour map[string]PeakHour `json:"peak_hour"`
	// Movements are the turning movements counted ("entry>exit"), MovementBins their road
	// users per bin (every movement of its zone in every bin), MovementTotals per movement and
	// class over the period. Empty where the scene names no legs.
	Movements      []string                  `json:"movements"`
	MovementBins   []MovementBin             `json:"movement_bins"`
	MovementTotals map[string]map[string]int `json:"movement_totals"`
}

// NewCountStudy bins count records (already selected for the period) into bounds in loc;
// quarters are the local quarter-hour boundaries of the same period, for the peak hours.
func NewCountStudy(bounds, quarters []time.Time, loc *time.Location, records []Counts) CountStudy {
	zoneSet, classSet := map[string]bool{}, map[string]bool{}
	for _, r := range records {
		zoneSet[r.Zone] = true
		for c := range r.Counts {
			classSet[c] = true
		}
		for _, byClass := range r.Movements {
			for c := range byClass {
				classSet[c] = true
			}
		}
	}
	s := CountStudy{Zones: sorted(zoneSet), Classes: sorted(classSet), Totals: map[string]map[string]int{}, PeakHour: map[string]PeakHour{}}
	zi := map[string]int{}
	for i, z := range s.Zones {
		zi[z] = i
		s.Totals[z] = map[string]int{}
	}
	nz := len(s.Zones)
	s.Bins = make([]CountBin, 0, max(len(bounds)-1, 0)*nz)
	for i := 0; i+1 < len(bounds); i++ {
		for _, z := range s.Zones {
			s.Bins = append(s.Bins, CountBin{Start: bounds[i].In(loc), End: bounds[i+1].In(loc), Zone: z, Counts: map[string]int{}})
		}
	}
	nq := max(len(quarters)-1, 0)
	perQuarter := map[string][]int{"total": make([]int, nq)}
	for _, c := range s.Classes {
		perQuarter[c] = make([]int, nq)
	}
	for _, r := range records {
		b := BinIndex(bounds, r.Start)
		q := BinIndex(quarters, r.Start)
		for c, n := range r.Counts {
			if b >= 0 {
				cb := &s.Bins[b*nz+zi[r.Zone]]
				cb.Counts[c] += n
				cb.Total += n
				s.Totals[r.Zone][c] += n
			}
			if q >= 0 {
				perQuarter[c][q] += n
				perQuarter["total"][q] += n
			}
		}
	}
	s.movements(bounds, loc, records)
	for c, v := range perQuarter {
		if p, ok := peakHour(quarters, v, loc); ok {
			s.PeakHour[c] = p
		}
	}
	return s
}

// movements fills the study's turning movements from records.
func (s *CountStudy) movements(bounds []time.Time, loc *time.Location, records []Counts) {
	type zm struct{ zone, movement string }
	set, names := map[zm]bool{}, map[string]bool{}
	for _, r := range records {
		for m := range r.Movements {
			set[zm{r.Zone, m}] = true
			names[m] = true
		}
	}
	s.Movements, s.MovementBins, s.MovementTotals = sorted(names), []MovementBin{}, map[string]map[string]int{}
	keys := make([]zm, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].zone < keys[j].zone || keys[i].zone == keys[j].zone && keys[i].movement < keys[j].movement
	})
	idx := map[zm]int{}
	for i, k := range keys {
		idx[k] = i
	}
	for i := 0; i+1 < len(bounds); i++ {
		for _, k := range keys {
			s.MovementBins = append(s.MovementBins, MovementBin{Start: bounds[i].In(loc), End: bounds[i+1].In(loc), Zone: k.zone, Movement: k.movement, Counts: map[string]int{}})
		}
	}
	for _, m := range s.Movements {
		s.MovementTotals[m] = map[string]int{}
	}
	for _, r := range records {
		b := BinIndex(bounds, r.Start)
		if b < 0 {
			continue
		}
		for m, byClass := range r.Movements {
			mb := &s.MovementBins[b*len(keys)+idx[zm{r.Zone, m}]]
			for c, n := range byClass {
				mb.Counts[c] += n
				mb.Total += n
				s.MovementTotals[m][c] += n
			}
		}
	}
}

// peakHour finds the four consecutive quarters with the most road users (the earliest of
// equals); ok is false when none was counted.
func peakHour(quarters []time.Time, v []int, loc *time.Location) (PeakHour, bool) {
	best, at := -1, -1
	for i := 0; i < len(v); i++ {
		sum := 0
		for j := i; j < min(i+4, len(v)); j++ {
			sum += v[j]
		}
		if sum > best {
			best, at = sum, i
		}
	}
	if best <= 0 {
		return PeakHour{}, false
	}
	end := min(at+4, len(v))
	top := 0
	for _, n := range v[at:end] {
		top = max(top, n)
	}
	return PeakHour{Start: quarters[at].In(loc), End: quarters[end].In(loc), Volume: best,
		Factor: float64(best) / float64(4*top)}, true
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
