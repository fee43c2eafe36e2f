package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// runReviews is the part of the suite on reviews and dead letters.
func runReviews(t *testing.T, setup func(t *testing.T) *sqlstore.Store) {
	t.Run("DismissedLeavesScore", func(t *testing.T) { testDismissedLeavesScore(t, setup(t)) })
	t.Run("ReviewQueueAndPrecision", func(t *testing.T) { testReviewQueueAndPrecision(t, setup(t)) })
	t.Run("DeadLetterFilters", func(t *testing.T) { testDeadLetterFilters(t, setup(t)) })
	t.Run("ResolveDeadLetters", func(t *testing.T) { testResolveDeadLetters(t, setup(t)) })
}

func score(t *testing.T, st *sqlstore.Store, version, site string) aggregator.SiteScore {
	t.Helper()
	sc, err := st.FindSiteScores(context.Background(), aggregator.ScoreQuery{CatalogVersion: version, From: now.Add(-24 * time.Hour), To: now, MinRoadUsers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		if s.ID == site {
			return s
		}
	}
	t.Fatalf("no site %s in %+v", site, sc)
	return aggregator.SiteScore{}
}

// A dismissed event leaves the score, the event counts and the series; its ledger row stays,
// marked with the review. The decision holds under a new catalog version and when the event
// is sent again. A review of an event not stored changes nothing.
func testDismissedLeavesScore(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	if _, err := st.EnsureCatalog(ctx, v1, kinds); err != nil {
		t.Fatal(err)
	}
	b := &aggregator.Batch{Events: []aggregator.PricedEvent{event("keep", "a", now.Add(-time.Hour), v1), event("wrong", "a", now.Add(-2*time.Hour), v1)},
		Counts: []aggregator.Counts{{Device: "d", ID: "k1", Camera: "c", Site: "a", Zone: "z", Start: now.Add(-3 * time.Hour), PeriodS: 60, Counts: map[string]int{"car": 100}}}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if s := score(t, st, "v1", "a"); s.Points != 50 || s.Events["red_light_running"] != 2 || s.Rates["red_light_running"].Events != 2 {
		t.Fatalf("before the review: %+v", s)
	}
	audits := func() int {
		a, _ := st.FindAudit(ctx, 500, 0)
		return len(a)
	}
	before := audits()
	at := now.Add(-time.Minute)
	if _, err := st.ReviewEvent(ctx, aggregator.Review{Device: "d", EventID: "nope", Verdict: aggregator.Dismissed, Reason: "duplicate", Reviewer: "user:rita", Time: at}); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("review of an unknown event: %v, want ErrNotFound", err)
	}
	if n := audits(); n != before {
		t.Fatalf("a review of an unknown event was audited (%d entries, %d before)", n, before)
	}
	if _, err := st.FindReview(ctx, "d", "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("a review of an unknown event was stored: %v", err)
	}
	dismiss := aggregator.Review{Device: "d", EventID: "wrong", Verdict: aggregator.Dismissed, Reason: "signal_misread", Note: "amber, not red", Reviewer: "user:rita", Time: at}
	if _, err := st.ReviewEvent(ctx, dismiss); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReviewEvent(ctx, aggregator.Review{Device: "d", EventID: "keep", Verdict: aggregator.Confirmed, Reviewer: "user:rita", Time: at}); err != nil {
		t.Fatal(err)
	}
	check := func(when, version string, points int) {
		t.Helper()
		s := score(t, st, version, "a")
		if s.Points != points || s.Deductions != 1 || s.Events["red_light_running"] != 1 || s.Rates["red_light_running"].Events != 1 {
			t.Fatalf("%s: %+v, want %d points from the confirmed event alone", when, s, points)
		}
		l, err := st.FindLedger(ctx, aggregator.LedgerFilter{Site: "a", Version: version})
		if err != nil || len(l) != 2 {
			t.Fatalf("%s: ledger %+v %v, want both rows kept", when, l, err)
		}
		for _, row := range l {
			switch {
			case row.EventID == "wrong" && (row.Review == nil || *row.Review != dismiss):
				t.Fatalf("%s: the dismissed event's ledger row has review %+v, want %+v", when, row.Review, dismiss)
			case row.EventID == "keep" && (row.Review == nil || row.Review.Verdict != aggregator.Confirmed):
				t.Fatalf("%s: the confirmed event's ledger row has review %+v", when, row.Review)
			}
		}
		bins, err := st.FindSeries(ctx, "a", now.Add(-6*time.Hour), now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, b := range bins {
			total += b.Events["red_light_running"]
		}
		if total != 1 {
			t.Fatalf("%s: the series shows %d events, want the confirmed one", when, total)
		}
	}
	check("after the review", "v1", 25)
	a, _ := st.FindAudit(ctx, 2, 0)
	if len(a) != 2 || a[1].Action != "event.review" || a[1].Actor != "user:rita" || !strings.Contains(a[1].Detail, "d/wrong at site a: dismissed (signal_misread)") ||
		!strings.Contains(a[1].Detail, "amber, not red") {
		t.Fatalf("audit of the reviews: %+v", a)
	}
	// Re-pricing under a new version, and the device sending the event again.
	if n, err := st.EnsureCatalog(ctx, catalog("v2", 40), kinds); err != nil || n != 2 {
		t.Fatalf("re-priced %d, %v", n, err)
	}
	check("under a new catalog version", "v2", 40)
	if n, err := st.Commit(ctx, &aggregator.Batch{Events: []aggregator.PricedEvent{event("wrong", "a", now.Add(-2*time.Hour), catalog("v2", 40))}}); err != nil || n != 0 {
		t.Fatalf("re-sent event: %d new, %v", n, err)
	}
	check("after the event was sent again", "v2", 40)
	// A reviewer who changes their mind: the latest review counts.
	if _, err := st.ReviewEvent(ctx, aggregator.Review{Device: "d", EventID: "wrong", Verdict: aggregator.Confirmed, Reviewer: "user:sam", Time: now}); err != nil {
		t.Fatal(err)
	}
	if s := score(t, st, "v2", "a"); s.Points != 80 {
		t.Fatalf("after confirming the dismissed event: %d points, want 80", s.Points)
	}
}

func testReviewQueueAndPrecision(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	st.EnsureCatalog(ctx, v1, kinds)
	var evs []aggregator.PricedEvent
	for i, id := range []string{"e1", "e2", "e3", "e4", "e5"} {
		e := event(id, "a", now.Add(-time.Duration(i+1)*time.Minute), v1)
		if id == "e5" {
			e.Camera = "spare"
		}
		evs = append(evs, e)
	}
	evs = append(evs, event("b1", "b", now.Add(-time.Hour), v1))
	if _, err := st.Commit(ctx, &aggregator.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	review := func(id string, v aggregator.Verdict) {
		r := aggregator.Review{Device: "d", EventID: id, Verdict: v, Reviewer: "user:rita", Time: now}
		if v == aggregator.Dismissed {
			r.Reason = "not_a_violation"
		}
		if _, err := st.ReviewEvent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	review("e1", aggregator.Confirmed) // the newest
	review("e3", aggregator.Dismissed)
	review("e4", aggregator.Confirmed)
	review("e5", aggregator.Dismissed)
	q, err := st.FindReviewQueue(ctx, aggregator.ReviewFilter{Site: "a"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, it := range q {
		order = append(order, it.ID)
	}
	if got := strings.Join(order, ","); got != "e2,e1,e3,e4,e5" {
		t.Fatalf("queue %s, want the unreviewed first, then newest first", got)
	}
	if q[0].Review != nil || q[1].Review == nil || q[1].Review.Verdict != aggregator.Confirmed {
		t.Fatalf("queue reviews: %+v %+v", q[0].Review, q[1].Review)
	}
	only, _ := st.FindReviewQueue(ctx, aggregator.ReviewFilter{Unreviewed: true, Limit: 10})
	if len(only) != 2 || only[0].ID != "e2" || only[1].ID != "b1" {
		t.Fatalf("unreviewed only: %+v", only)
	}
	p, err := st.FindPrecision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]int{"a/": {2, 2, 4}, "a/c": {2, 1, 3}, "a/spare": {0, 1, 1}, "b/": {0, 0, 0}}
	if len(p) != len(want) {
		t.Fatalf("precision %+v", p)
	}
	for _, x := range p {
		w, ok := want[x.Site+"/"+x.Camera]
		if !ok || x.Confirmed != w[0] || x.Dismissed != w[1] || x.N != w[2] {
			t.Fatalf("precision %+v, want %v", x, w)
		}
		if (x.N == 0) != (x.Precision == nil) || (x.N > 0 && *x.Precision != float64(w[0])/float64(w[2])) {
			t.Fatalf("precision value of %+v", x)
		}
	}
	rv, err := st.FindReviews(ctx, "a", now.Add(-time.Hour), now)
	if err != nil || len(rv) != 4 {
		t.Fatalf("reviews for the export: %+v %v", rv, err)
	}
}

func deadLetter(device, reason string, payload []byte) aggregator.DeadLetter {
	return aggregator.DeadLetter{Received: now, Topic: "crosswatch/v1/" + device + "/events", Device: device, Reason: reason, Payload: payload, Size: len(payload)}
}

func testDeadLetterFilters(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 3*sqlstore.DeadLetterPreviewBytes)
	b := &aggregator.Batch{DeadLetters: []aggregator.DeadLetter{
		deadLetter("d1", `unknown site "x"`, []byte("1")), deadLetter("d1", `unknown site "x"`, []byte("2")),
		deadLetter("d2", `unknown site "x"`, []byte("3")), deadLetter("d1", "bad json", big)}}
	if _, err := st.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Reason: `unknown site "x"`, Device: "d1"})
	if err != nil || len(got) != 2 || string(got[0].Payload) != "2" || string(got[1].Payload) != "1" {
		t.Fatalf("by reason and device: %+v %v", got, err)
	}
	if got, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Reason: `unknown site "x"`, Limit: 1, Before: got[1].Seq}); len(got) != 0 {
		t.Fatalf("page before the oldest: %+v", got)
	}
	if got, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Device: "d2"}); len(got) != 1 || string(got[0].Payload) != "3" {
		t.Fatalf("by device: %+v", got)
	}
	one, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Seq: got[0].Seq})
	if len(one) != 1 || one[0].Seq != got[0].Seq {
		t.Fatalf("by seq: %+v", one)
	}
	cut, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Reason: "bad json"})
	whole, _ := st.FindDeadLetterPayloads(ctx, aggregator.DeadLetterFilter{Reason: "bad json"})
	if len(cut) != 1 || len(cut[0].Payload) != sqlstore.DeadLetterPreviewBytes || cut[0].Size != len(big) || len(whole) != 1 || !bytes.Equal(whole[0].Payload, big) {
		t.Fatalf("a list shows a preview, reprocessing reads it whole: %d and %d bytes of %d", len(cut[0].Payload), len(whole[0].Payload), len(big))
	}
	groups, err := st.FindDeadLetterGroups(ctx)
	if err != nil || len(groups) != 3 || groups[0] != (aggregator.DeadLetterGroup{Reason: `unknown site "x"`, Device: "d1", Count: 2}) {
		t.Fatalf("groups %+v %v", groups, err)
	}
}

// Resolving stores what became valid exactly once, removes its dead letters, renames those
// that fail for another reason now, and is audited; doing it again changes nothing.
func testResolveDeadLetters(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	v1 := catalog("v1", 25)
	st.EnsureCatalog(ctx, v1, kinds)
	if _, err := st.Commit(ctx, &aggregator.Batch{Events: []aggregator.PricedEvent{event("resent", "a", now.Add(-time.Hour), v1)},
		DeadLetters: []aggregator.DeadLetter{deadLetter("d", `unknown site "a"`, []byte("p1")), deadLetter("d", `unknown site "a"`, []byte("p2")),
			deadLetter("d", `unknown site "q"`, []byte("p3")), deadLetter("d", `unknown site "q"`, []byte("p4"))}}); err != nil {
		t.Fatal(err)
	}
	dl, _ := st.FindDeadLetterPayloads(ctx, aggregator.DeadLetterFilter{})
	seq := map[string]aggregator.DeadLetter{}
	for _, d := range dl {
		seq[string(d.Payload)] = d
	}
	renamed := seq["p3"]
	renamed.Reason = `camera "c9" is not one of site "q"'s cameras`
	dupe := seq["p4"]
	dupe.Reason = `unknown site "q"` // unchanged
	r := aggregator.DeadLetterResolution{
		Records:  aggregator.Batch{Events: []aggregator.PricedEvent{event("new", "a", now.Add(-time.Hour), v1), event("resent", "a", now.Add(-time.Hour), v1)}},
		Resolved: []int64{seq["p1"].Seq, seq["p2"].Seq}, Renamed: []aggregator.DeadLetter{renamed, dupe}, Actor: "user:ada", Detail: "2 valid now"}
	n, err := st.ResolveDeadLetters(ctx, r)
	if err != nil || n != 1 {
		t.Fatalf("resolved: %d new events, %v; want 1 (the other was stored already)", n, err)
	}
	after := func() string {
		dl, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{})
		var s []string
		for _, d := range dl {
			s = append(s, string(d.Payload)+": "+d.Reason)
		}
		return strings.Join(s, "; ")
	}
	want := `p4: unknown site "q"; p3: camera "c9" is not one of site "q"'s cameras`
	if got := after(); got != want {
		t.Fatalf("dead letters after resolving: %s, want %s", got, want)
	}
	if s := score(t, st, "v1", "a"); s.Points != 50 || s.Events["red_light_running"] != 2 {
		t.Fatalf("score after resolving: %+v, want two events once each", s)
	}
	a, _ := st.FindAudit(ctx, 1, 0)
	if len(a) != 1 || a[0].Action != "dead_letters.reprocess" || a[0].Actor != "user:ada" {
		t.Fatalf("audit: %+v", a)
	}
	// Again: nothing new.
	if n, err := st.ResolveDeadLetters(ctx, r); err != nil || n != 0 {
		t.Fatalf("resolving again: %d new, %v", n, err)
	}
	if got := after(); got != want {
		t.Fatalf("dead letters after resolving twice: %s", got)
	}
	if s := score(t, st, "v1", "a"); s.Points != 50 {
		t.Fatalf("points after resolving twice: %d", s.Points)
	}
	// The same payload refused twice for what is now the same reason is kept once.
	if _, err := st.Commit(ctx, &aggregator.Batch{DeadLetters: []aggregator.DeadLetter{deadLetter("d", "old reason", []byte("p4"))}}); err != nil {
		t.Fatal(err)
	}
	old, _ := st.FindDeadLettersBy(ctx, aggregator.DeadLetterFilter{Reason: "old reason"})
	old[0].Reason = `unknown site "q"`
	if _, err := st.ResolveDeadLetters(ctx, aggregator.DeadLetterResolution{Renamed: old}); err != nil {
		t.Fatal(err)
	}
	if got := after(); got != want {
		t.Fatalf("after renaming onto an existing dead letter: %s, want %s", got, want)
	}
}
