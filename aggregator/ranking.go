package aggregator

import (
	"math"
	"sort"

	"github.com/crosswatch/crosswatch/aggregator/stats"
)

// RankByRisk ranks sites by their catalog points per 1,000 road users (every event type,
// weighted by the catalog); any other RankSites key is an event type, ranked by its rate.
const RankByRisk = "risk"

// RankSites fills each site's status, rates, risk and score from its tallies (Events, Points,
// PointsSq, MaxPoints, RoadUsers) and orders the sites: first those with at least minRoadUsers
// road users counted, worst first by the LOW end of the 95 % interval of the rate ranked by
// (by: RankByRisk or an event type), then by the rate itself, then by id; then the sites with
// insufficient data, by id, with no rank.
//
// The low end, not the rate: a site with 2 events among 150 road users has a rate of 13 per
// 1,000 but an interval of 1.6–47, and would top a list by rates on luck alone. Its low end
// says only what the data make likely at least, so a site reaches the top by evidence, and
// more exposure moves a truly bad site up, never a lucky one.
func RankSites(s []SiteScore, by string, minRoadUsers int) {
	if by == "" {
		by = RankByRisk
	}
	minRoadUsers = max(minRoadUsers, 1)
	key := make(map[string][2]float64, len(s)) // low end, rate
	for i := range s {
		sc := &s[i]
		sc.RankedBy, sc.Rank, sc.Score, sc.Risk = by, 0, nil, nil
		if sc.Rates == nil {
			sc.Rates = map[string]Rate{}
		}
		sc.Status = StatusOK
		if sc.RoadUsers < minRoadUsers {
			sc.Status = StatusInsufficientData
			continue
		}
		for typ, k := range sc.Events {
			if r, ok := NewRate(k, sc.RoadUsers); ok {
				sc.Rates[typ] = r
			} else {
				sc.Status = StatusInsufficientData
			}
		}
		if sc.Status != StatusOK {
			clear(sc.Rates)
			continue
		}
		n := float64(sc.RoadUsers) / 1000
		risk := WeightedRate{Points: sc.Points, PerThousand: float64(sc.Points) / n}
		if sc.MaxPoints > 0 {
			lo, hi := stats.Weighted(float64(sc.Points), float64(sc.PointsSq), float64(sc.MaxPoints))
			risk.Low, risk.High = lo/n, hi/n
		}
		sc.Risk = &risk
		score := int(math.Round(max(0, min(StartScore, StartScore-risk.PerThousand))))
		sc.Score = &score
		if by == RankByRisk {
			key[sc.ID] = [2]float64{risk.Low, risk.PerThousand}
		} else {
			r := sc.Rates[by] // no events of the type: a rate and low end of 0
			key[sc.ID] = [2]float64{r.Low, r.PerThousand}
		}
	}
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if (a.Status == StatusOK) != (b.Status == StatusOK) {
			return a.Status == StatusOK
		}
		if a.Status == StatusOK {
			ka, kb := key[a.ID], key[b.ID]
			if ka[0] != kb[0] {
				return ka[0] > kb[0]
			}
			if ka[1] != kb[1] {
				return ka[1] > kb[1]
			}
		}
		return a.ID < b.ID
	})
	rank := 0
	for i := range s {
		if s[i].Status == StatusOK {
			rank++
			s[i].Rank = rank
		}
	}
}
