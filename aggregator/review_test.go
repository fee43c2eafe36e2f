package aggregator

import (
	"strings"
	"testing"
)

func TestReviewValidate(t *testing.T) {
	for _, c := range []struct {
		r     Review
		field string // "" for valid
	}{
		{Review{Verdict: Confirmed}, ""},
		{Review{Verdict: Confirmed, Note: "plain as day"}, ""},
		{Review{Verdict: Dismissed, Reason: "signal_misread"}, ""},
		{Review{Verdict: Dismissed, Reason: "other", Note: "a tram, not a car"}, ""},
		{Review{Verdict: ""}, "verdict:"},
		{Review{Verdict: "maybe"}, "verdict:"},
		{Review{Verdict: Confirmed, Reason: "duplicate"}, "reason:"},
		{Review{Verdict: Dismissed}, "reason:"},
		{Review{Verdict: Dismissed, Reason: "Duplicate"}, "reason:"},
		{Review{Verdict: Dismissed, Reason: "other"}, "note:"},
		{Review{Verdict: Confirmed, Note: strings.Repeat("é", MaxReviewNote)}, ""},
		{Review{Verdict: Confirmed, Note: strings.Repeat("é", MaxReviewNote+1)}, "note:"},
		{Review{Verdict: Confirmed, Note: "\xff"}, "note:"},
	} {
		err := c.r.Validate()
		if c.field == "" && err != nil || c.field != "" && (err == nil || !strings.HasPrefix(err.Error(), c.field)) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.field)
		}
	}
}

func TestNewPrecision(t *testing.T) {
	if p := NewPrecision("a", "", 0, 0); p.N != 0 || p.Precision != nil {
		t.Fatalf("no reviews: %+v", p)
	}
	if p := NewPrecision("a", "c", 3, 1); p.N != 4 || *p.Precision != 0.75 {
		t.Fatalf("3 of 4: %+v", p)
	}
}
