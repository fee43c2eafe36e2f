// Package eval scores detected events against ground truth: per event type, each detection
// matches at most one truth event of the same type and zone within a time tolerance of its
// time, or of its window.
package eval

import (
	"math"
	"sort"
)

// Event is a detected or true event: its type, zone and time in seconds from the clip start.
// A truth event may instead span a window from Start to End (both set, or neither): then T is
// its nominal time inside it.
type Event struct {
	Type  string   `json:"type"`
	Zone  string   `json:"zone"`
	T     float64  `json:"t"`
	Start *float64 `json:"start,omitempty"`
	End   *float64 `json:"end,omitempty"`
}

// window returns the event's time span: its window, or its time.
func (e Event) window() (from, to float64) {
	if e.Start != nil && e.End != nil {
		return *e.Start, *e.End
	}
	return e.T, e.T
}

// distance is how far in seconds time t lies outside e's window (0: inside it).
func (e Event) distance(t float64) float64 {
	from, to := e.window()
	return max(0, from-t, t-to)
}

// Score is one event type's result.
type Score struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	FN int `json:"fn"`
	// Precision is TP/(TP+FP); nil (JSON null) when nothing was detected: there is nothing to
	// count, which is not a perfect score.
	Precision *float64 `json:"precision"`
	// Recall is TP/(TP+FN); nil when there was nothing to find.
	Recall *float64 `json:"recall"`
}

// ratio is n/d, or nil when d is 0.
func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// Report holds every type present in the truth or the detections, and, when the truth
// counts road users, the counts per zone.
type Report struct {
	Types  map[string]Score `json:"types"`
	Counts map[string]Count `json:"counts,omitempty"`
}

// Count is one zone's road users: the truth's and the pipeline's.
type Count struct {
	Truth   int      `json:"truth"`
	Counted int      `json:"counted"`
	Error   *float64 `json:"error,omitempty"` // (counted − truth) / truth; absent when the truth is 0
}

// CompareCounts adds the counts of every zone the truth counts to r.
func (r *Report) CompareCounts(truth, counted map[string]int) {
	if len(truth) == 0 {
		return
	}
	r.Counts = map[string]Count{}
	for z, n := range truth {
		c := Count{Truth: n, Counted: counted[z]}
		if n > 0 {
			e := float64(c.Counted-n) / float64(n)
			c.Error = &e
		}
		r.Counts[z] = c
	}
}

// Compare matches detections to truth, closest in time first, within tolerance seconds of
// each truth event's time or window.
func Compare(truth, got []Event, tolerance float64) Report {
	r, _, _ := compare(truth, got, tolerance)
	return r
}

// compare is Compare, also returning, per truth event and per detection, the index of the one
// it matched (-1: none).
func compare(truth, got []Event, tolerance float64) (r Report, truthMatch, gotMatch []int) {
	r = Report{Types: map[string]Score{}}
	type pair struct {
		d, nominal float64 // outside the window; from the nominal time
		i, j       int
	}
	var pairs []pair
	for i, t := range truth {
		for j, g := range got {
			if t.Type == g.Type && t.Zone == g.Zone {
				if d := t.distance(g.T); d <= tolerance+1e-9 {
					pairs = append(pairs, pair{d, math.Abs(t.T - g.T), i, j})
				}
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].d != pairs[b].d {
			return pairs[a].d < pairs[b].d
		}
		if pairs[a].nominal != pairs[b].nominal {
			return pairs[a].nominal < pairs[b].nominal // inside a window, the nearest its nominal time
		}
		return pairs[a].i < pairs[b].i || pairs[a].i == pairs[b].i && pairs[a].j < pairs[b].j
	})
	truthMatch, gotMatch = make([]int, len(truth)), make([]int, len(got))
	for i := range truthMatch {
		truthMatch[i] = -1
	}
	for j := range gotMatch {
		gotMatch[j] = -1
	}
	for _, p := range pairs {
		if truthMatch[p.i] >= 0 || gotMatch[p.j] >= 0 {
			continue
		}
		truthMatch[p.i], gotMatch[p.j] = p.j, p.i
		s := r.Types[truth[p.i].Type]
		s.TP++
		r.Types[truth[p.i].Type] = s
	}
	for i, t := range truth {
		s := r.Types[t.Type]
		if truthMatch[i] < 0 {
			s.FN++
		}
		r.Types[t.Type] = s
	}
	for j, g := range got {
		s := r.Types[g.Type]
		if gotMatch[j] < 0 {
			s.FP++
		}
		r.Types[g.Type] = s
	}
	for k, s := range r.Types {
		s.Precision, s.Recall = ratio(s.TP, s.TP+s.FP), ratio(s.TP, s.TP+s.FN)
		r.Types[k] = s
	}
	return r, truthMatch, gotMatch
}

// Line is one entry of List: a truth event, a non-event or a detection.
type Line struct {
	T    float64 `json:"t"`
	Who  string  `json:"who"` // "truth", "non_event" or "found"
	Type string  `json:"type,omitempty"`
	Zone string  `json:"zone,omitempty"`
	// Start and End are a truth event's or a non-event's window.
	Start *float64 `json:"start,omitempty"`
	End   *float64 `json:"end,omitempty"`
	// Matched says, for a truth event, whether a detection matched it, and for a detection,
	// whether it matched a truth event.
	Matched bool `json:"matched"`
	// On is, for a detection, what the non-events it falls on are (their "what"), and for a
	// non-event, what it is.
	On []string `json:"on,omitempty"`
}

// List returns every truth event, non-event and detection in time order, each detection with
// whether it matched and the non-events it falls on (same zone, or the non-event names none;
// same type, or it names none; within its time or window widened by tolerance seconds).
func List(truth Truth, got []Event, tolerance float64) []Line {
	_, tm, gm := compare(truth.Violations, got, tolerance)
	lines := make([]Line, 0, len(truth.Violations)+len(truth.NonEvents)+len(got))
	for i, e := range truth.Violations {
		lines = append(lines, Line{T: e.T, Who: "truth", Type: e.Type, Zone: e.Zone, Start: e.Start, End: e.End, Matched: tm[i] >= 0})
	}
	for _, n := range truth.NonEvents {
		lines = append(lines, Line{T: n.T, Who: "non_event", Type: n.Type, Zone: n.Zone, Start: n.Start, End: n.End, On: []string{n.What}})
	}
	for j, g := range got {
		l := Line{T: g.T, Who: "found", Type: g.Type, Zone: g.Zone, Matched: gm[j] >= 0}
		for _, n := range truth.NonEvents {
			if (n.Zone == "" || n.Zone == g.Zone) && (n.Type == "" || n.Type == g.Type) && n.distance(g.T) <= tolerance+1e-9 {
				l.On = append(l.On, n.What)
			}
		}
		lines = append(lines, l)
	}
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].T < lines[b].T })
	return lines
}
