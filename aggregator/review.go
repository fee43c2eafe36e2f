package aggregator

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Verdict is a reviewer's decision on an event.
type Verdict string

// Verdicts.
const (
	Confirmed Verdict = "confirmed" // the event happened as recorded
	Dismissed Verdict = "dismissed" // the event is wrong: it leaves the score and the rates
)

// DismissReasons are the reasons a reviewer may give for dismissing an event.
var DismissReasons = []string{"not_a_violation", "wrong_road_user", "signal_misread", "duplicate", "other"}

// MaxReviewNote is the longest free note a review may carry, in characters.
const MaxReviewNote = 500

// Review is a reviewer's decision on one stored event. The latest review of an event is the
// one that counts; every review is in the audit log. A review is keyed by the event, not by a
// ledger row, so it holds under every catalog version and through re-sent events.
type Review struct {
	Device   string    `json:"device"`
	EventID  string    `json:"event_id"`
	Verdict  Verdict   `json:"verdict"`
	Reason   string    `json:"reason,omitempty"` // one of DismissReasons; only for a dismissal
	Note     string    `json:"note,omitempty"`
	Reviewer string    `json:"reviewer"` // the audit log's actor: "user:NAME", "token:NAME"
	Time     time.Time `json:"time"`
}

// Validate reports the first problem with the decision a reviewer sent, naming its field.
func (r Review) Validate() error {
	switch r.Verdict {
	case Confirmed:
		if r.Reason != "" {
			return fmt.Errorf("reason: only a dismissal has a reason (got %q with verdict confirmed)", r.Reason)
		}
	case Dismissed:
		if !slices.Contains(DismissReasons, r.Reason) {
			return fmt.Errorf("reason: one of %v for a dismissal, got %q", DismissReasons, r.Reason)
		}
		if r.Reason == "other" && r.Note == "" {
			return fmt.Errorf("note: a dismissal for reason other needs a note saying why")
		}
	default:
		return fmt.Errorf("verdict: %q or %q, got %q", Confirmed, Dismissed, r.Verdict)
	}
	if n := utf8.RuneCountInString(r.Note); n > MaxReviewNote || !utf8.ValidString(r.Note) {
		return fmt.Errorf("note: at most %d characters of UTF-8, got %d", MaxReviewNote, n)
	}
	return nil
}

// ReviewItem is an event in the review queue with its latest review, if any.
type ReviewItem struct {
	Event
	Review *Review `json:"review"` // nil: not reviewed yet
}

// ReviewFilter selects events for the review queue: unreviewed first, then newest first.
type ReviewFilter struct {
	Site       string // "" for every site
	Unreviewed bool   // only events nobody has reviewed
	Limit      int
}

// Precision is what reviews measured of a site's or a camera's events: Confirmed / N, where N
// is Confirmed + Dismissed. Precision is nil when no event was reviewed.
type Precision struct {
	Site      string   `json:"site"`
	Camera    string   `json:"camera,omitempty"` // "" for the site as a whole
	Confirmed int      `json:"confirmed"`
	Dismissed int      `json:"dismissed"`
	N         int      `json:"n"`
	Precision *float64 `json:"precision"`
}

// NewPrecision returns the precision of confirmed and dismissed reviews.
func NewPrecision(site, camera string, confirmed, dismissed int) Precision {
	p := Precision{Site: site, Camera: camera, Confirmed: confirmed, Dismissed: dismissed, N: confirmed + dismissed}
	if p.N > 0 {
		v := float64(confirmed) / float64(p.N)
		p.Precision = &v
	}
	return p
}

// DeadLetterFilter selects dead letters: by reason and device ("" for any), newest first, at
// most Limit, those with a sequence number below Before when it is positive.
type DeadLetterFilter struct {
	Seq            int64 // one dead letter only, when positive
	Reason, Device string
	Limit          int
	Before         int64
}

// DeadLetterGroup is how many dead letters share a reason and a device.
type DeadLetterGroup struct {
	Reason string `json:"reason"`
	Device string `json:"device"`
	Count  int    `json:"count"`
}

// Reprocessed says what re-validating stored dead letters did.
type Reprocessed struct {
	Examined     int `json:"examined"`
	Recorded     int `json:"recorded"`      // events, counts or gaps now stored (dead letters removed)
	Duplicates   int `json:"duplicates"`    // valid now, but already stored: removed, recorded once
	StillInvalid int `json:"still_invalid"` // kept, with the reason they fail now
	NewReason    int `json:"new_reason"`    // of those, how many fail for another reason than before
	Incomplete   int `json:"incomplete"`    // kept only in part when received: cannot be re-validated
	Skipped      int `json:"skipped"`       // status reports: a newer one has replaced each
}

// DeadLetterResolution is what reprocessing a page of dead letters decided: the records that
// are valid now, the dead letters they came from (removed), and those still invalid with the
// reason they fail now.
type DeadLetterResolution struct {
	Records  Batch        // events, counts and gaps only
	Resolved []int64      // dead letters that became Records, or were already stored
	Renamed  []DeadLetter // still invalid, for a new Reason (Seq, Topic, Payload, Size as stored)
	Actor    string       // for the audit log
	Detail   string
}
