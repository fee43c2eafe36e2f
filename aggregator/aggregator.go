// Package aggregator holds the aggregator's domain types: sites, stored events, the catalog of
// severity points and the ledger that explains each site's score. Points are deducted from
// sites, never from people. Standard library only.
package aggregator

import (
	"errors"
	"time"

	// Pure arithmetic, standard library only: the domain stays free of adapters.
	"github.com/crosswatch/crosswatch/aggregator/stats"
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
	// Cameras that watch the site; when set, events from other cameras are rejected.
	Cameras []string `json:"cameras" yaml:"cameras"`
	// TimeZone is the site's IANA time zone (Europe/Vienna); "" is UTC. Bins, periods given
	// without an offset and exported times follow it.
	TimeZone string `json:"time_zone" yaml:"time_zone"`
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
	// Evidence is the anonymised JPEG the edge attached (every person pixelated), if any. It is
	// stored with the event and served at /api/v1/events/{device}/{id}/evidence.jpg.
	Evidence    []byte `json:"-"`
	HasEvidence bool   `json:"has_evidence"`
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
	// Review is the event's latest review, if any. A row whose event was dismissed stays in
	// the ledger, marked, but deducts nothing from the score.
	Review *Review `json:"review,omitempty"`
}

// SiteScore is a site with its risk, score and rank, the window they cover and what explains
// them. RankSites fills Rank, RankedBy, Status, Rates, Risk and Score from the tallies.
type SiteScore struct {
	Site
	// Rank is the site's place among the sites with enough exposure to rank (1: the worst);
	// 0 (omitted) for a site with insufficient data, which is listed after the ranked ones.
	Rank     int    `json:"rank,omitempty"`
	RankedBy string `json:"ranked_by"` // RankByRisk or the event type ranked by
	// Score is 1000 minus the site's points per 1,000 road users (Risk.PerThousand) over the
	// window, rounded and held to [0, 1000]: it does not grow with traffic. Null with
	// insufficient data.
	Score          *int            `json:"score"`
	Points         int             `json:"points"` // catalog points of the window's priced events
	Risk           *WeightedRate   `json:"risk"`   // points per 1,000 road users; null with insufficient data
	CatalogVersion string          `json:"catalog_version"`
	From           time.Time       `json:"from"` // the score's rolling window
	To             time.Time       `json:"to"`
	Events         map[string]int  `json:"events"`     // per event type, inside the window
	RoadUsers      int             `json:"road_users"` // counted exposure inside the window
	Deductions     int             `json:"deductions"` // ledger rows inside the window
	Status         string          `json:"status"`     // StatusOK or StatusInsufficientData
	Rates          map[string]Rate `json:"rates"`      // per event type; empty when data is insufficient
	// PointsSq is the sum of each priced event's points squared (the variance of Points as a
	// weighted Poisson sum); MaxPoints the most points one event at this site could cost
	// under the catalog version. The store fills both for RankSites.
	PointsSq  int64 `json:"-"`
	MaxPoints int   `json:"-"`
}

// WeightedRate is catalog points per 1,000 road users with the 95 % gamma interval of Fay and
// Feuer for a weighted sum of Poisson counts (each event type a count, its points the weight).
type WeightedRate struct {
	Points      int     `json:"points"`
	PerThousand float64 `json:"per_1000"`
	Low         float64 `json:"low"`
	High        float64 `json:"high"`
}

// Rate statuses.
const (
	StatusOK               = "ok"
	StatusInsufficientData = "insufficient_data" // too few road users counted to rank on rates
)

// Rate is events per 1,000 road users with a 95 % Wilson score interval.
type Rate struct {
	Events      int     `json:"events"`
	PerThousand float64 `json:"per_1000"`
	Low         float64 `json:"low"`
	High        float64 `json:"high"`
}

// NewRate computes the rate of k events among n road users; ok is false when n is zero or
// smaller than k (counts missing for part of the window), when a rate would mislead.
func NewRate(k, n int) (Rate, bool) {
	if n <= 0 || k > n {
		return Rate{Events: k}, false
	}
	low, high := stats.Wilson(k, n)
	return Rate{Events: k, PerThousand: 1000 * float64(k) / float64(n), Low: 1000 * low, High: 1000 * high}, true
}

// ScoreQuery selects how scores are computed.
type ScoreQuery struct {
	CatalogVersion string    // the ledger version to score with
	From, To       time.Time // rolling window
	MinRoadUsers   int       // below this exposure a site's rates are "insufficient_data"
	RankBy         string    // RankByRisk ("" too) or an event type
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
	// Movements are the turning movements of the road users that entered by this zone (an
	// approach whose scene names its leg): "entry>exit" → class → road users; nil if none.
	Movements map[string]map[string]int `json:"movements,omitempty"`
}

// DeadLetter is a payload that failed validation, kept with the reason.
type DeadLetter struct {
	Seq       int64     `json:"seq"`
	Received  time.Time `json:"received"`
	Topic     string    `json:"topic"`
	Device    string    `json:"device"`
	PayloadID string    `json:"payload_id,omitempty"`
	Reason    string    `json:"reason"`
	// Payload is the payload as received: whole when it was well formed (so it can be
	// reprocessed after a fix), otherwise cut to the configured cap (ingest's DeadLetterBytes).
	// Size is its length before any cut. Lists return at most the cap of it.
	Payload []byte `json:"payload"`
	Size    int    `json:"size"`
}

// Device is an edge device's last reported status.
type Device struct {
	ID             string    `json:"id"`
	Online         bool      `json:"online"`
	LastSeen       time.Time `json:"last_seen"`
	Backlog        int       `json:"backlog"`
	OldestPendingS float64   `json:"oldest_pending_s"`
	Software       string    `json:"software,omitempty"`
	// SignalDisagreements counts, since the device started, the times two of its signal-state
	// sources (camera, controller feed, fixed-time plan) disagreed for longer than a moment.
	SignalDisagreements int `json:"signal_disagreements"`
	// ViewChanges counts, since the device started, the times a camera's picture changed almost
	// entirely at once (a cut, a camera knocked or turned), when its scene may no longer fit;
	// LastViewChange is the latest ever reported (zero: never). Both counters are set by
	// online statuses; an offline one (the broker's will knows none) never lowers them.
	ViewChanges    int       `json:"view_changes"`
	LastViewChange time.Time `json:"last_view_change,omitzero"`
	// ViewMismatchSince is set while the device's camera view does not match its scene (the
	// camera is quarantined: no events, counts withheld), to when the mismatch began; zero:
	// the view matches. An offline status without it (the broker's will) keeps the last known.
	ViewMismatchSince time.Time `json:"view_mismatch_since,omitzero"`
	// Cameras is each of the device's cameras as its last status with cameras reported them,
	// sorted by id; empty (never nil) for a device that reports none. An offline status
	// without cameras (the broker's will, a clean stop) keeps the last known: Online says
	// whether they are current.
	Cameras []CameraStatus `json:"cameras"`
}

// CameraStatus is one camera of a device as the device last reported it.
type CameraStatus struct {
	ID          string    `json:"id"`
	State       string    `json:"state"` // up, reconnecting or down (edge/wire)
	DecodedFPS  float64   `json:"decoded_fps"`
	AnalysedFPS float64   `json:"analysed_fps"`
	LastFrame   time.Time `json:"last_frame,omitzero"` // zero: no frame read yet
	Reconnects  int       `json:"reconnects"`
	// ViewChanges counts the camera's sudden view changes since its box started;
	// ViewMismatch is set while its view does not match its scene (quarantined).
	ViewChanges  int    `json:"view_changes"`
	ViewMismatch bool   `json:"view_mismatch"`
	Error        string `json:"error,omitempty"` // why it is not up
	// Signals is the live state of each of the camera's scene signals as the box read it, in
	// scene order; absent while the camera is not up or has no signals.
	Signals []SignalState `json:"signals,omitempty"`
}

// SignalState is a scene signal's live state at a camera: State red, amber, green or unknown;
// Source camera, feed, plan or fixed (edge/wire).
type SignalState struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Source string `json:"source"`
}

// CameraDevice is a camera of a site and a device that has sent records from it.
type CameraDevice struct {
	Camera string `json:"camera"`
	// Device is "" for a camera the site lists that no device has reported from yet.
	Device     string    `json:"device"`
	LastRecord time.Time `json:"last_record"` // the newest event or count record's time; zero if none
	Events     int       `json:"events"`
}

// PricedEvent is an event with the deduction the catalog gave it.
type PricedEvent struct {
	Event
	Points         int    // 0 when not priced
	Priced         bool   // false: stored, but the catalog does not price it (kind, confidence)
	CatalogVersion string //
	// New is set by a store's Commit when the event was not stored before (a re-delivery
	// leaves it false), so that what counts events counts each once.
	New bool
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
	// Now is the ingester's clock when the batch was committed; the store closes (seals) the
	// wider rollup bins that ended before it. Zero: the store's own clock.
	Now time.Time
}

// EventFilter selects stored events.
type EventFilter struct {
	Site     string // "" for every site
	From, To time.Time
	Types    []string // event types; none: every type
	Limit    int
}

// LedgerFilter selects ledger rows of one site.
type LedgerFilter struct {
	Site    string
	Version string // "" for every catalog version
	// Newest, when positive, returns only the rows of the newest events, newest first;
	// otherwise the rows in the order they were written, from the first after seq After, at
	// most Limit (0: no limit).
	Newest int
	After  int64
	Limit  int
	// From and To, when set, keep the rows of events in [From, To).
	From, To time.Time
}

// Bin is one interval of a site's time series.
type Bin struct {
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"` // a local day bin on a daylight-saving change day is 23 or 25 h long
	Events    map[string]int `json:"events"`
	RoadUsers int            `json:"road_users"`
}

// Change says what ingest commits changed, for live views: how many new events and count
// records with road users in them, the sites whose events or counts changed and the devices
// that reported. It names no event: a view refetches what it shows, if it shows any of it.
type Change struct {
	Events      int      `json:"events"`
	Counts      int      `json:"counts,omitempty"`
	Sites       []string `json:"sites,omitempty"`
	Devices     []string `json:"devices,omitempty"`
	Gaps        int      `json:"gaps,omitempty"`
	DeadLetters int      `json:"dead_letters,omitempty"`
	Reviews     int      `json:"reviews,omitempty"` // events confirmed or dismissed (their sites in Sites)
}

// Merge adds o to c: counts add up, site and device sets unite.
func (c *Change) Merge(o Change) {
	c.Events += o.Events
	c.Counts += o.Counts
	c.Gaps += o.Gaps
	c.DeadLetters += o.DeadLetters
	c.Reviews += o.Reviews
	c.Sites = union(c.Sites, o.Sites)
	c.Devices = union(c.Devices, o.Devices)
}

// Empty reports whether c changes nothing.
func (c *Change) Empty() bool {
	return c.Events == 0 && c.Counts == 0 && len(c.Devices) == 0 && c.Gaps == 0 && c.DeadLetters == 0 && c.Reviews == 0
}

// union appends to a the members of b it lacks; sets here are small (sites, devices).
func union(a, b []string) []string {
next:
	for _, x := range b {
		for _, y := range a {
			if x == y {
				continue next
			}
		}
		a = append(a, x)
	}
	return a
}

// Role is what a user or API token may do on the HTTP side. Each role may do everything the
// roles before it may.
type Role string

// Roles, least first.
const (
	Viewer   Role = "viewer"   // reads sites, ledgers, events with their evidence, devices, the catalog
	Reviewer Role = "reviewer" // a viewer who will confirm or dismiss events (the review workflow)
	Admin    Role = "admin"    // also dead letters, the audit log, and changes to catalog, sites and devices
)

// Roles lists every role, least first.
var Roles = []Role{Viewer, Reviewer, Admin}

// rank orders roles; 0 is no role at all.
func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a holder of r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// User is a person who signs in to the dashboard. The password is stored only as a hash.
type User struct {
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash []byte    `json:"-"`
	Created      time.Time `json:"created"`
}

// Token is an API token for scripts and scrapers; it is stored only as a hash.
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    []byte    `json:"-"`
	Created time.Time `json:"created"`
}

// Session is a signed-in dashboard user. Only a hash of its cookie value is stored, so a copy
// of the database opens no session.
type Session struct {
	Hash    []byte
	User    string
	Role    Role   // the user's current role (a demoted user's sessions lose the rest at once)
	CSRF    string // the value a change must carry in the X-CSRF-Token header
	Expires time.Time
}

// AuditEntry records one change: who made it, what it was and when.
type AuditEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"` // "user:NAME", "token:NAME" or "cli" for the command line
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// ErrExists means a record with that name is already stored.
var ErrExists = errors.New("already exists")
