// Package eval scores detected events against ground truth: per event type, each detection
// matches at most one truth event of the same type and zone within a time tolerance.
package eval

import (
	"math"
	"sort"
)

// Event is a detected or true event: its type, zone and time in seconds from the clip start.
type Event struct {
	Type string  `json:"type"`
	Zone string  `json:"zone"`
	T    float64 `json:"t"`
}

// Score is one event type's result.
type Score struct {
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	Precision float64 `json:"precision"` // 1 when nothing was detected
	Recall    float64 `json:"recall"`    // 1 when there was nothing to find
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

// Compare matches detections to truth, closest in time first, within tolerance seconds.
func Compare(truth, got []Event, tolerance float64) Report {
	r := Report{Types: map[string]Score{}}
	type pair struct {
		d    float64
		i, j int
	}
	var pairs []pair
	for i, t := range truth {
		for j, g := range got {
			if t.Type == g.Type && t.Zone == g.Zone {
				if d := math.Abs(t.T - g.T); d <= tolerance {
					pairs = append(pairs, pair{d, i, j})
				}
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].d != pairs[b].d {
			return pairs[a].d < pairs[b].d
		}
		return pairs[a].i < pairs[b].i || pairs[a].i == pairs[b].i && pairs[a].j < pairs[b].j
	})
	usedT, usedG := make([]bool, len(truth)), make([]bool, len(got))
	for _, p := range pairs {
		if usedT[p.i] || usedG[p.j] {
			continue
		}
		usedT[p.i], usedG[p.j] = true, true
		s := r.Types[truth[p.i].Type]
		s.TP++
		r.Types[truth[p.i].Type] = s
	}
	for i, t := range truth {
		s := r.Types[t.Type]
		if !usedT[i] {
			s.FN++
		}
		r.Types[t.Type] = s
	}
	for j, g := range got {
		s := r.Types[g.Type]
		if !usedG[j] {
			s.FP++
		}
		r.Types[g.Type] = s
	}
	for k, s := range r.Types {
		s.Precision, s.Recall = 1, 1
		if s.TP+s.FP > 0 {
			s.Precision = float64(s.TP) / float64(s.TP+s.FP)
		}
		if s.TP+s.FN > 0 {
			s.Recall = float64(s.TP) / float64(s.TP+s.FN)
		}
		r.Types[k] = s
	}
	return r
}
