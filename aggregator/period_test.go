package aggregator

import (
	"testing"
	"time"
)

func vienna(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Vienna")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	return loc
}

// Day bins follow local midnights: the day clocks go forward is 23 h, the day they go back 25 h.
func TestBoundsDayBinsAcrossDaylightSaving(t *testing.T) {
	loc := vienna(t)
	for _, c := range []struct {
		day  int
		mon  time.Month
		want time.Duration
	}{{29, time.March, 23 * time.Hour}, {25, time.October, 25 * time.Hour}, {28, time.March, 24 * time.Hour}} {
		from := time.Date(2026, c.mon, c.day, 0, 0, 0, 0, loc)
		b, err := Bounds(from, from.Add(time.Hour), loc, Bin1d)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 2 || !b[0].Equal(from) || b[1].Sub(b[0]) != c.want {
			t.Errorf("%v %d: bounds %v, want one bin of %v from local midnight", c.mon, c.day, b, c.want)
		}
		q, _ := Bounds(from, b[1], loc, Bin15m)
		if n := len(q) - 1; n != int(c.want/(15*time.Minute)) {
			t.Errorf("%v %d: %d quarter hours, want %d", c.mon, c.day, n, c.want/(15*time.Minute))
		}
		if h := q[len(q)-1].In(loc); h.Hour() != 0 || h.Minute() != 0 {
			t.Errorf("%v %d: last quarter ends at %v, not local midnight", c.mon, c.day, h)
		}
	}
}

// Hour bins are local hours: in Kathmandu (UTC+5:45) they start at :00 local, not UTC.
func TestBoundsAlignToLocalClock(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Skip(err)
	}
	from := time.Date(2026, 5, 1, 8, 20, 0, 0, loc)
	b, err := Bounds(from, from.Add(2*time.Hour), loc, Bin1h)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{time.Date(2026, 5, 1, 8, 0, 0, 0, loc), time.Date(2026, 5, 1, 9, 0, 0, 0, loc), time.Date(2026, 5, 1, 10, 0, 0, 0, loc), time.Date(2026, 5, 1, 11, 0, 0, 0, loc)}
	if len(b) != len(want) {
		t.Fatalf("bounds %v, want %v", b, want)
	}
	for i := range want {
		if !b[i].Equal(want[i]) {
			t.Errorf("bound %d = %v, want %v", i, b[i].In(loc), want[i])
		}
	}
	for _, tm := range []time.Time{want[0], want[1].Add(-time.Millisecond), want[1], want[3].Add(-time.Nanosecond)} {
		if i := BinIndex(b, tm); i < 0 || b[i].After(tm) || !b[i+1].After(tm) {
			t.Errorf("BinIndex(%v) = %d", tm, i)
		}
	}
	if BinIndex(b, want[3]) != -1 || BinIndex(b, want[0].Add(-1)) != -1 {
		t.Error("an instant outside the bounds has a bin")
	}
}

func TestBoundsWeeksStartMonday(t *testing.T) {
	loc := vienna(t)
	from := time.Date(2026, 3, 26, 15, 0, 0, 0, loc) // a Thursday
	b, err := Bounds(from, from.Add(8*24*time.Hour), loc, Bin1w)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 3 || b[0].Weekday() != time.Monday || b[0].Day() != 23 || b[1].Day() != 30 || b[1].Hour() != 0 {
		t.Fatalf("week bounds %v", b)
	}
	if b[1].Sub(b[0]) != 7*24*time.Hour-time.Hour {
		t.Errorf("the week with the spring change is %v long", b[1].Sub(b[0]))
	}
}

func TestBoundsRefuses(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Bounds(now, now, time.UTC, Bin1h); err == nil {
		t.Error("an empty period has bins")
	}
	if _, err := Bounds(now, now.AddDate(1, 0, 0), time.UTC, Bin5m); err == nil {
		t.Error("a year of 5-minute bins is allowed")
	}
	if _, err := Bounds(now, now.AddDate(1, 0, 0), time.UTC, Bin15m); err != nil {
		t.Errorf("a year of 15-minute bins: %v", err)
	}
	if _, err := ParseBinSize("7m"); err == nil {
		t.Error("7m is a bin size")
	}
	if b, err := ParseBinSize("60m"); err != nil || b != Bin1h {
		t.Errorf("60m = %q, %v", b, err)
	}
}

// The peak hour is the busiest four consecutive quarters, with its peak hour factor.
func TestCountStudyPeakHour(t *testing.T) {
	loc := vienna(t)
	from := time.Date(2026, 6, 1, 7, 0, 0, 0, loc)
	to := from.Add(3 * time.Hour)
	bounds, _ := Bounds(from, to, loc, Bin1h)
	quarters, _ := Bounds(from, to, loc, Bin15m)
	// cars per quarter: 07:00 1, 07:15 2, … peak 07:45–08:45: 10+20+30+40 = 100.
	cars := []int{1, 2, 3, 10, 20, 30, 40, 5, 1, 0, 0, 0}
	var recs []Counts
	for i, n := range cars {
		recs = append(recs, Counts{Zone: "nb", Start: from.Add(time.Duration(i)*15*time.Minute + time.Minute), PeriodS: 60, Counts: map[string]int{"car": n}})
	}
	recs = append(recs, Counts{Zone: "xw", Start: from.Add(2 * time.Hour), PeriodS: 60, Counts: map[string]int{"person": 7}})
	s := NewCountStudy(bounds, quarters, loc, recs)
	p, ok := s.PeakHour["car"]
	if !ok || p.Volume != 100 || !p.Start.Equal(from.Add(45*time.Minute)) || !p.End.Equal(from.Add(105*time.Minute)) || p.Factor != 100.0/160 {
		t.Errorf("car peak hour %+v", p)
	}
	if p := s.PeakHour["person"]; p.Volume != 7 || p.Factor != 0.25 {
		t.Errorf("person peak hour %+v", p)
	}
	if p := s.PeakHour["total"]; p.Volume != 100 {
		t.Errorf("total peak hour %+v", p)
	}
	if len(s.Bins) != 3*2 || s.Bins[0].Zone != "nb" || s.Bins[0].Counts["car"] != 16 || s.Bins[2].Counts["car"] != 95 || s.Bins[5].Counts["person"] != 7 {
		t.Errorf("bins %+v", s.Bins)
	}
	if s.Totals["nb"]["car"] != 112 || s.Totals["xw"]["person"] != 7 {
		t.Errorf("totals %v", s.Totals)
	}
}

// Each weekday hour is a cell in local time; Hours counts how often it occurs in the period.
func TestPatternLocalWeekHours(t *testing.T) {
	loc := vienna(t)
	from := time.Date(2026, 3, 23, 0, 0, 0, 0, loc) // Monday
	to := from.AddDate(0, 0, 14)
	hours, err := Bounds(from, to, loc, Bin1h)
	if err != nil {
		t.Fatal(err)
	}
	mon8 := time.Date(2026, 3, 30, 8, 10, 0, 0, loc) // after the spring change: UTC+2
	cells := NewPattern(hours, loc, []Bucket{{Start: mon8, Type: "jaywalking", N: 3}},
		[]Bucket{{Start: mon8, N: 400}, {Start: time.Date(2026, 3, 24, 9, 0, 0, 0, loc), N: 10}}, 200)
	c := cells[8]
	if c.Weekday != 0 || c.Hour != 8 || c.Total != 3 || c.Events["jaywalking"] != 3 || c.RoadUsers != 400 || c.Hours != 2 || c.Rate == nil || c.Rate.PerThousand != 7.5 {
		t.Errorf("Monday 08:00 %+v", c)
	}
	if c := cells[24+9]; c.RoadUsers != 10 || c.Rate != nil {
		t.Errorf("Tuesday 09:00 %+v: a rate on 10 road users", c)
	}
	if c := cells[6*24+2]; c.Hours != 1 {
		t.Errorf("Sunday 02:00 occurs %d times in the fortnight of the spring change, want 1", c.Hours)
	}
}

// Turning movements are binned per entry zone and movement, every one in every bin.
func TestCountStudyMovements(t *testing.T) {
	loc := vienna(t)
	from := time.Date(2026, 6, 1, 7, 0, 0, 0, loc)
	bounds, _ := Bounds(from, from.Add(2*time.Hour), loc, Bin1h)
	quarters, _ := Bounds(from, from.Add(2*time.Hour), loc, Bin15m)
	recs := []Counts{
		{Zone: "nb", Start: from.Add(time.Minute), Counts: map[string]int{"car": 5}, Movements: map[string]map[string]int{"south>north": {"car": 3}, "south>east": {"car": 2}}},
		{Zone: "nb", Start: from.Add(61 * time.Minute), Counts: map[string]int{"car": 1, "bicycle": 1}, Movements: map[string]map[string]int{"south>east": {"bicycle": 1}}},
		{Zone: "eb", Start: from.Add(62 * time.Minute), Counts: map[string]int{"car": 4}, Movements: map[string]map[string]int{"west>north": {"car": 4}}},
	}
	s := NewCountStudy(bounds, quarters, loc, recs)
	if len(s.Movements) != 3 || s.Movements[0] != "south>east" || len(s.MovementBins) != 2*3 {
		t.Fatalf("movements %v, %d bins", s.Movements, len(s.MovementBins))
	}
	// Bins per hour: eb west>north, nb south>east, nb south>north.
	b := s.MovementBins
	if b[0].Zone != "eb" || b[0].Total != 0 || b[1].Movement != "south>east" || b[1].Counts["car"] != 2 || b[2].Counts["car"] != 3 ||
		b[3].Counts["car"] != 4 || b[4].Counts["bicycle"] != 1 || b[5].Total != 0 {
		t.Errorf("movement bins %+v", b)
	}
	if s.MovementTotals["south>east"]["car"] != 2 || s.MovementTotals["south>east"]["bicycle"] != 1 || s.MovementTotals["west>north"]["car"] != 4 {
		t.Errorf("movement totals %v", s.MovementTotals)
	}
	if s.Totals["nb"]["car"] != 6 || len(s.Classes) != 2 {
		t.Errorf("zone totals %v, classes %v", s.Totals, s.Classes)
	}
}
