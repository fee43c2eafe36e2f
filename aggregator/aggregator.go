// Package aggregator holds the aggregator's domain types: sites, stored events, the catalog of
// severity points and the ledger that explains each site's score. Points are deducted from
// sites, never from people. Standard library only.
package aggregator

import (
	"errors"
	"time"
)

// StartScore is every site's score before any deduction.
const StartScore = 1000

// ErrNotFound means the requested record does not exist.
var ErrNotFound = errors.New("not found")

// SiteKind is what a site is; catalog entries apply to kinds.
type SiteKind string

// Site kinds.
const (
	Road SiteKind = "road" // an intersection approach or crossing
	Rail SiteKind = "rail" // a platform
)

// Site is a place whose safety is scored.
type Site struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Kind SiteKind `json:"kind"`
	Lat  float64  `json:"lat"`
	Lon  float64  `json:"lon"`
}

// Event is a stored safety event, unique by (Device, ID).
type Event struct {
	Device       string    `json:"device"`
	ID           string    `json:"id"`
	Camera       string    `json:"camera"`
	Site         string    `json:"site"`
	Zone         string    `json:"zone"`
	Type         string    `json:"type"`
	Class        string    `json:"class"`
	Time         time.Time `json:"time"`
	Received     time.Time `json:"received"`
	Confidence   float64   `json:"confidence"`
	SignalSource string    `json:"signal_source,omitempty"`
	TimeIntoRedS float64   `json:"time_into_red_s,omitempty"`
}

// LedgerEntry is one deduction from a site's score, traceable to its event and catalog version.
type LedgerEntry struct {
	Seq            int64     `json:"seq"`
	Site           string    `json:"site"`
	Device         string    `json:"device"`
	EventID        string    `json:"event_id"`
	Type           string    `json:"type"`
	Points         int       `json:"points"`
	CatalogVersion string    `json:"catalog_version"`
	Time           time.Time `json:"time"`
}

// SiteScore is a site with its score and what explains it.
type SiteScore struct {
	Site
	Score      int            `json:"score"`
	Events     map[string]int `json:"events"`     // per event type
	RoadUsers  int            `json:"road_users"` // counted exposure
	Deductions int            `json:"deductions"` // ledger rows
}

// CatalogEntry prices one event type.
type CatalogEntry struct {
	Type          string     `yaml:"type" json:"type"`
	Points        int        `yaml:"points" json:"points"`
	SiteKinds     []SiteKind `yaml:"site_kinds" json:"site_kinds"`
	MinConfidence float64    `yaml:"min_confidence" json:"min_confidence"`
	Description   string     `yaml:"description" json:"description"`
}

// Catalog is a versioned price list of event types.
type Catalog struct {
	Version string         `yaml:"version" json:"version"`
	Entries []CatalogEntry `yaml:"entries" json:"entries"`
}

// Entry returns the entry for an event type.
func (c *Catalog) Entry(typ string) (CatalogEntry, bool) {
	for _, e := range c.Entries {
		if e.Type == typ {
			return e, true
		}
	}
	return CatalogEntry{}, false
}

// Price returns the points an event of typ at a site of kind with confidence deducts, and
// whether the catalog prices it at all (an entry for another kind or a confidence below the
// entry's minimum is stored but not priced).
func (c *Catalog) Price(typ string, kind SiteKind, confidence float64) (int, bool) {
	e, ok := c.Entry(typ)
	if !ok || confidence < e.MinConfidence {
		return 0, false
	}
	for _, k := range e.SiteKinds {
		if k == kind {
			return e.Points, true
		}
	}
	return 0, false
}

// Counts is a stored count record: road users of each class in a zone during one period.
type Counts struct {
	Device  string         `json:"device"`
	ID      string         `json:"id"`
	Camera  string         `json:"camera"`
	Site    string         `json:"site"`
	Zone    string         `json:"zone"`
	Start   time.Time      `json:"start"`
	PeriodS int            `json:"period_s"`
	Counts  map[string]int `json:"counts"`
}

// DeadLetter is a payload that failed validation, kept with the reason.
type DeadLetter struct {
	Seq       int64     `json:"seq"`
	Received  time.Time `json:"received"`
	Topic     string    `json:"topic"`
	Device    string    `json:"device"`
	PayloadID string    `json:"payload_id,omitempty"`
	Reason    string    `json:"reason"`
	Payload   []byte    `json:"payload"`
}

// Device is an edge device's last reported status.
type Device struct {
	ID             string    `json:"id"`
	Online         bool      `json:"online"`
	LastSeen       time.Time `json:"last_seen"`
	Backlog        int       `json:"backlog"`
	OldestPendingS float64   `json:"oldest_pending_s"`
	Software       string    `json:"software,omitempty"`
}

// PricedEvent is an event with the deduction the catalog gave it.
type PricedEvent struct {
	Event
	Points         int    // 0 when not priced
	Priced         bool   // false: stored, but the catalog does not price it (kind, confidence)
	CatalogVersion string //
}

// Gap is a device's report of payloads it lost by its declared on-full policy.
type Gap struct {
	Device      string         `json:"device"`
	ID          string         `json:"id"`
	Time        time.Time      `json:"time"`
	Reason      string         `json:"reason"`
	Evicted     map[string]int `json:"evicted"`
	NotAccepted int            `json:"not_accepted"`
	Oldest      time.Time      `json:"oldest"`
	Newest      time.Time      `json:"newest"`
}

// Batch is what one ingest transaction commits.
type Batch struct {
	Events      []PricedEvent
	Counts      []Counts
	Gaps        []Gap
	DeadLetters []DeadLetter
	Devices     []Device
}
