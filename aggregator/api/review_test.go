package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// postAs posts a JSON body with token and returns the status and body.
func postAs(t *testing.T, token, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func siteScore(t *testing.T, url, site string) aggregator.SiteScore {
	t.Helper()
	_, _, body := get(t, url+"/api/v1/sites")
	var s []aggregator.SiteScore
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	for _, x := range s {
		if x.ID == site {
			return x
		}
	}
	t.Fatalf("no site %s: %s", site, body)
	return aggregator.SiteScore{}
}

// A reviewer dismisses an event: the site's score and rates lose it, its ledger row stays
// marked, the review is audited, queued last, counted in the precision and exported. Bad
// decisions and unknown events are refused with a message naming what is wrong, and change
// nothing.
func TestReviewDismissesAnEvent(t *testing.T) {
	srv, _, _ := serverStore(t)
	resp, err := stream(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	readEvent(t, events) // ready
	before := siteScore(t, srv.URL, "a")
	if before.Points != 100 || before.Rates["red_light_running"].Events != 4 {
		t.Fatalf("before: %+v", before)
	}
	reviewer, viewer := testTokens[aggregator.Reviewer], testTokens[aggregator.Viewer]
	audits := func() int {
		_, _, body := get(t, srv.URL+"/api/v1/audit")
		var a []aggregator.AuditEntry
		json.Unmarshal([]byte(body), &a)
		return len(a)
	}
	n0 := audits()
	for _, c := range []struct {
		token, path, body string
		code              int
		msg               string
	}{
		{viewer, "/api/v1/events/d/e0/review", `{"verdict":"dismissed","reason":"duplicate"}`, 403, "needs the reviewer role"},
		{reviewer, "/api/v1/events/d/e0/review", `{"verdict":"wrong"}`, 400, "verdict:"},
		{reviewer, "/api/v1/events/d/e0/review", `{"verdict":"dismissed","reason":"looks fine"}`, 400, "reason: one of"},
		{reviewer, "/api/v1/events/d/e0/review", `{"verdict":"dismissed","reason":"other"}`, 400, "note:"},
		{reviewer, "/api/v1/events/d/e0/review", `{"verdict":"confirmed","why":"x"}`, 400, `unknown field \"why\"`},
		{reviewer, "/api/v1/events/d/nope/review", `{"verdict":"dismissed","reason":"duplicate"}`, 404, "no event d/nope is stored: nothing was reviewed"},
	} {
		code, body := postAs(t, c.token, srv.URL+c.path, c.body)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("POST %s %s: %d %s, want %d with %q", c.path, c.body, code, body, c.code, c.msg)
		}
	}
	if n := audits(); n != n0 {
		t.Fatalf("refused reviews were audited: %d entries, %d before", n, n0)
	}
	if s := siteScore(t, srv.URL, "a"); s.Points != before.Points {
		t.Fatalf("a refused review changed the points: %d", s.Points)
	}

	code, body := postAs(t, reviewer, srv.URL+"/api/v1/events/d/e0/review", `{"verdict":"dismissed","reason":"wrong_road_user","note":"the cyclist, not the car"}`)
	if code != 200 {
		t.Fatalf("dismiss: %d %s", code, body)
	}
	if code, body := postAs(t, reviewer, srv.URL+"/api/v1/events/d/e1/review", `{"verdict":"confirmed"}`); code != 200 {
		t.Fatalf("confirm: %d %s", code, body)
	}
	after := siteScore(t, srv.URL, "a")
	if after.Points != 75 || after.Events["red_light_running"] != 3 || after.Rates["red_light_running"].Events != 3 {
		t.Fatalf("after dismissing one of four: %+v, want score 925 and 3 events", after)
	}
	_, _, body = get(t, srv.URL+"/api/v1/sites/a/ledger")
	var ledger []aggregator.LedgerEntry
	json.Unmarshal([]byte(body), &ledger)
	found := false
	for _, l := range ledger {
		if l.EventID == "e0" {
			found = l.Review != nil && l.Review.Verdict == aggregator.Dismissed && l.Review.Reason == "wrong_road_user" && l.Review.Reviewer == "token:reviewer"
		}
	}
	if len(ledger) != 4 || !found {
		t.Fatalf("ledger %s: want all four rows, e0 marked dismissed by token:reviewer", body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/audit")
	if !strings.Contains(body, `"action":"event.review"`) || !strings.Contains(body, "d/e0 at site a: dismissed (wrong_road_user)") {
		t.Fatalf("audit: %s", body)
	}
	if _, body := readEvent(t, events); !strings.Contains(body, `"reviews":`) || !strings.Contains(body, `"sites":["a"]`) {
		t.Fatalf("live change after a review: %s", body)
	}

	_, _, body = getAs(t, viewer, srv.URL+"/api/v1/reviews?site=a")
	var q []aggregator.ReviewItem
	json.Unmarshal([]byte(body), &q)
	if len(q) != 4 || q[0].ID != "e2" || q[1].ID != "e3" || q[2].ID != "e0" || q[2].Review == nil || q[3].ID != "e1" {
		t.Fatalf("queue %s: want e2, e3 (unreviewed, newest first), then e0, e1", body)
	}
	if code, _, body := getAs(t, viewer, srv.URL+"/api/v1/reviews?unreviewed=maybe"); code != 400 || !strings.Contains(body, "unreviewed") {
		t.Fatalf("bad unreviewed: %d %s", code, body)
	}
	_, _, body = getAs(t, viewer, srv.URL+"/api/v1/precision")
	var p []aggregator.Precision
	json.Unmarshal([]byte(body), &p)
	if len(p) < 2 || p[0].Site != "a" || p[0].Camera != "" || p[0].N != 2 || p[0].Precision == nil || *p[0].Precision != 0.5 ||
		p[1].Camera != "c" || p[1].N != 2 {
		t.Fatalf("precision %s", body)
	}
	if code, _, body := getAs(t, viewer, srv.URL+"/api/v1/events/d/e0/review"); code != 200 || !strings.Contains(body, "the cyclist") {
		t.Fatalf("the event's review: %d %s", code, body)
	}
	if code, _, body := getAs(t, viewer, srv.URL+"/api/v1/events/d/e2/review"); code != 200 || strings.TrimSpace(body) != "null" {
		t.Fatalf("an unreviewed event's review: %d %s, want 200 null", code, body)
	}
	if code, _, _ := getAs(t, viewer, srv.URL+"/api/v1/events/d/nope/review"); code != 404 {
		t.Fatalf("the review of an event not stored: %d, want 404", code)
	}
	_, _, body = getAs(t, viewer, srv.URL+"/api/v1/export/events.csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(rows[0], ",")
	if !strings.HasSuffix(head, ",id,review,review_reason,review_note,reviewed_by,reviewed_at") {
		t.Fatalf("CSV header %s", head)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[10]] = r[11:]
	}
	if r := byID["e0"]; r[0] != "dismissed" || r[1] != "wrong_road_user" || r[2] != "the cyclist, not the car" || r[3] != "token:reviewer" || r[4] == "" {
		t.Fatalf("e0's review columns %q", r)
	}
	if r := byID["e1"]; r[0] != "confirmed" || r[1] != "" {
		t.Fatalf("e1's review columns %q", r)
	}
	if r := byID["e2"]; strings.Join(r, "") != "" {
		t.Fatalf("an unreviewed event's review columns %q", r)
	}
}

// Reprocessing is for admins, takes a filter and tells what it did; a dead letter that is no
// longer stored is a 404 naming it.
func TestReprocessRoute(t *testing.T) {
	srv, _, _ := serverStore(t)
	if code, body := postAs(t, testTokens[aggregator.Admin], srv.URL+"/api/v1/dead-letters/reprocess", `{}`); code != 503 || !strings.Contains(body, "does not ingest") {
		t.Fatalf("without an ingester: %d %s", code, body)
	}
	var got aggregator.DeadLetterFilter
	var actor string
	fake := func(ctx context.Context, f aggregator.DeadLetterFilter, a string) (aggregator.Reprocessed, aggregator.Change, error) {
		got, actor = f, a
		return aggregator.Reprocessed{Examined: 3, Recorded: 2, StillInvalid: 1}, aggregator.Change{Events: 2, Sites: []string{"a"}}, nil
	}
	srv, _, st := serverStore(t, WithReprocess(fake))
	st.Commit(context.Background(), &aggregator.Batch{DeadLetters: []aggregator.DeadLetter{
		{Received: now, Topic: "crosswatch/v1/d/events", Device: "d", Reason: `unknown site "x"`, Payload: []byte("{}")},
		{Received: now, Topic: "crosswatch/v1/e/events", Device: "e", Reason: "bad", Payload: []byte("{")}}})
	url := srv.URL + "/api/v1/dead-letters/reprocess"
	if code, _ := postAs(t, testTokens[aggregator.Reviewer], url, `{}`); code != 403 {
		t.Fatalf("reviewer: %d, want 403", code)
	}
	if code, body := postAs(t, testTokens[aggregator.Admin], url, `{"reason":1}`); code != 400 || !strings.Contains(body, "body:") {
		t.Fatalf("bad body: %d %s", code, body)
	}
	if code, body := postAs(t, testTokens[aggregator.Admin], url, `{"seq":999}`); code != 404 || !strings.Contains(body, "dead letter 999") {
		t.Fatalf("unknown dead letter: %d %s", code, body)
	}
	code, body := postAs(t, testTokens[aggregator.Admin], url, `{"reason":"unknown site \"x\"","device":"d"}`)
	var res aggregator.Reprocessed
	if json.Unmarshal([]byte(body), &res); code != 200 || res.Recorded != 2 || res.StillInvalid != 1 {
		t.Fatalf("reprocess: %d %s", code, body)
	}
	if got.Reason != `unknown site "x"` || got.Device != "d" || actor != "token:admin" {
		t.Fatalf("filter %+v as %q", got, actor)
	}
	_, _, body = get(t, srv.URL+"/api/v1/dead-letters?device=e")
	var dl []aggregator.DeadLetter
	if json.Unmarshal([]byte(body), &dl); len(dl) != 1 || dl[0].Reason != "bad" {
		t.Fatalf("dead letters of device e: %s", body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/dead-letters?reason="+strings.ReplaceAll(`unknown site "x"`, " ", "%20"))
	if json.Unmarshal([]byte(body), &dl); len(dl) != 1 || dl[0].Device != "d" {
		t.Fatalf("dead letters for unknown site x: %s", body)
	}
	_, _, body = get(t, srv.URL+"/api/v1/dead-letters/groups")
	var g []aggregator.DeadLetterGroup
	if json.Unmarshal([]byte(body), &g); len(g) != 2 {
		t.Fatalf("groups %s", body)
	}
}
