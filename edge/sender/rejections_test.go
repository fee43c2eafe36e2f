package sender

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Rejections counts the aggregator's refusals by code and by camera, and what clears a
// camera's: a later committed event of it (a count record clears an unknown site only), or
// Reset with its new scene's sites. A refusal of another camera, or of a camera whose name extends this one's, does not.
func TestRejections(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC)
	ev := func(cam string, i int) string {
		return pipeline.EventID(cam, at.Add(time.Duration(i)*time.Second), wire.Jaywalking, 0, i)
	}
	site := func(cam string, i int) wire.Rejection {
		return wire.Rejection{ID: ev(cam, i), Reason: `unknown site "x"`, Code: wire.RejectUnknownSite, Site: "x", Camera: cam}
	}
	r := NewRejections(func() time.Time { return at })
	r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{site("cam-1", 1), site("cam-1", 2),
		{ID: pipeline.CountsID("cam-1", 0, at), Reason: `unknown site "x"`, Code: wire.RejectUnknownSite, Site: "x", Camera: "cam-1"},
		{ID: ev("cam-2", 1), Reason: `camera "cam-2" is not one of site "s"'s cameras`, Code: wire.RejectUnknownCamera, Site: "s", Camera: "cam-2"},
		{ID: ev("cam-3", 1), Reason: "invalid payload", Code: wire.RejectClock, Site: "s", Camera: "cam-3"},
		{ID: "old-1", Reason: "unknown site \"x\""},              // an aggregator without codes
		{ID: "new-1", Reason: "something new", Code: "tomorrow"}, // a code this edge does not know
	}})
	got := r.ByCode()
	want := map[string]int64{wire.RejectUnknownSite: 3, wire.RejectUnknownCamera: 1, wire.RejectClock: 1, wire.RejectOther: 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("by code %v, want %v", got, want)
	}
	blocking := func() string {
		var s []string
		for _, f := range r.Blocking() {
			s = append(s, f.String())
		}
		return strings.Join(s, "\n")
	}
	const cam1 = `the aggregator refused 2 events and 1 count record of camera cam-1 at site x: unknown_site (unknown site "x")`
	const cam2 = `the aggregator refused 1 event of camera cam-2 at site s: unknown_camera (camera "cam-2" is not one of site "s"'s cameras)`
	if b := blocking(); b != cam1+"\n"+cam2 {
		t.Fatalf("blocking:\n%s\nwant:\n%s\n%s", b, cam1, cam2)
	}

	// Committed records of other cameras, and a count record of cam-2 (whose camera the
	// aggregator does not check in counts), clear nothing.
	r.Add(wire.Ack{V: 1, Committed: []string{ev("cam-1-b", 3), pipeline.CountsID("cam-2", 0, at), ev("cam-3", 3), "old-2"}})
	if b := blocking(); b != cam1+"\n"+cam2 {
		t.Fatalf("after other cameras' records: blocking\n%s", b)
	}
	// cam-1's site is known now: its count record is committed.
	r.Add(wire.Ack{V: 1, Committed: []string{pipeline.CountsID("cam-1", 0, at.Add(time.Minute))}})
	if b := blocking(); b != cam2 {
		t.Fatalf("after cam-1's count record: blocking\n%s\nwant\n%s", b, cam2)
	}
	// cam-2's scene changed, its one zone now for site t: a refusal of a record it sent
	// before, for site s, counts but blocks no more; one for site t does.
	r.Reset("cam-2", []string{"t"})
	if b := blocking(); b != "" {
		t.Fatalf("after cam-2's scene changed: blocking\n%s", b)
	}
	late := wire.Rejection{ID: ev("cam-2", 5), Reason: "late", Code: wire.RejectUnknownCamera, Site: "s", Camera: "cam-2"}
	r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{late}})
	if b := blocking(); b != "" {
		t.Fatalf("a late refusal for the old site: blocking\n%s", b)
	}
	late.Site = "t"
	r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{late}})
	if b, w := blocking(), `the aggregator refused 1 event of camera cam-2 at site t: unknown_camera (late)`; b != w {
		t.Fatalf("a refusal for the new site: blocking\n%s\nwant\n%s", b, w)
	}
	r.Reset("cam-2", []string{"t"})
	// Refused again: blocking again, the counts go on.
	r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{site("cam-1", 9)}})
	if b, w := blocking(), strings.Replace(cam1, "2 events", "3 events", 1); b != w {
		t.Fatalf("refused again: blocking\n%s\nwant\n%s", b, w)
	}
	// A camera with two sites, one of them unknown: the other's events clear nothing, an
	// event of the unknown one's zone does (its site was added).
	r.Reset("cam-4", []string{"x", "known", "x"})
	r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{{ID: ev("cam-4", 1), Reason: "unknown site", Code: wire.RejectUnknownSite, Site: "x", Camera: "cam-4"}}})
	r.Add(wire.Ack{V: 1, Committed: []string{pipeline.EventID("cam-4", at, wire.Jaywalking, 1, 3), pipeline.CountsID("cam-4", 1, at),
		pipeline.EventID("cam-4", at, wire.Jaywalking, 7, 3)}})
	if b := blocking(); !strings.Contains(b, "camera cam-4 at site x") {
		t.Fatalf("after records of cam-4's known site: blocking\n%s", b)
	}
	r.Add(wire.Ack{V: 1, Committed: []string{pipeline.EventID("cam-4", at, wire.Jaywalking, 2, 3)}})
	if b := blocking(); strings.Contains(b, "cam-4") {
		t.Fatalf("after an event of cam-4's zone 2, at site x: blocking\n%s", b)
	}
	// A one-run command's error names them all, blocking or not, on one line.
	err := r.Err()
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "refused 2 events of camera cam-2 at site s: unknown_camera (late)") ||
		!strings.Contains(err.Error(), `the aggregator refused 2 records: other (something new)`) {
		t.Errorf("Err: %v", err)
	}
	if err := NewRejections(nil).Err(); err != nil {
		t.Errorf("nothing refused: Err %v", err)
	}
	if n := len(r.Refusals()); n != 6 { // the two without a known code are one; cam-2 at s and at t; cam-4
		t.Errorf("%d refusals since the start, want 6", n)
	}
}

// An aggregator naming ever new sites cannot grow the entries past MaxRefusals; the one
// refused longest ago goes.
func TestRejectionsBounded(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC)
	r := NewRejections(func() time.Time { now = now.Add(time.Second); return now })
	for i := range 3 * MaxRefusals {
		r.Add(wire.Ack{V: 1, Rejected: []wire.Rejection{{ID: fmt.Sprintf("e%d", i), Code: wire.RejectUnknownSite, Site: fmt.Sprintf("s%d", i), Camera: "cam-1"}}})
	}
	fs := r.Refusals()
	if len(fs) != MaxRefusals {
		t.Fatalf("%d entries, want %d", len(fs), MaxRefusals)
	}
	for _, f := range fs {
		var i int
		fmt.Sscanf(f.Site, "s%d", &i)
		if i < 2*MaxRefusals {
			t.Fatalf("kept %s, refused before the newest %d", f.Site, MaxRefusals)
		}
	}
	if n := r.ByCode()[wire.RejectUnknownSite]; n != 3*MaxRefusals {
		t.Errorf("counted %d, want %d", n, 3*MaxRefusals)
	}
}
