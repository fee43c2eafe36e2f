// Package wire is the versioned contract between edge devices and the aggregator:
// MQTT topic layout, JSON payloads, size limits and validation. Standard library only.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the schema version carried in every payload's "v" field.
const Version = 1

// Size limits. A payload larger than its limit is rejected before it is parsed.
const (
	MaxEventBytes    = 512 << 10 // an event with its evidence JPEG (base64)
	MaxEvidenceBytes = 256 << 10 // the decoded evidence JPEG
	MaxCountsBytes   = 16 << 10
	MaxStatusBytes   = 160 << 10 // MaxStatusCameras cameras, each with the longest error JSON can write ('<' as \u003c) and MaxCameraSignals signals
	MaxAckBytes      = 256 << 10
	MaxGapBytes      = 16 << 10
	MaxIDLen         = 128
	MaxNameLen       = 64
	// MaxEvidenceWidth and MaxEvidenceHeight bound the evidence JPEG's size in pixels: the
	// edge scales evidence to 640 px wide (edge/vision.EvidenceWidth); the height allows a
	// camera turned upright.
	MaxEvidenceWidth  = 640
	MaxEvidenceHeight = 1280
	// MaxCount is the most road users of one class one count record may report: more than a
	// day of a motorway's traffic. With it a site's sum of counts can never overflow.
	MaxCount = 1_000_000
	// MaxLost is the most messages one gap record may report lost per kind (and not
	// accepted): far beyond any outbox's size.
	MaxLost = 100_000_000
	// MaxTimeIntoRedS bounds signal.time_into_red_s: no signal stays red for an hour while
	// traffic is judged against it.
	MaxTimeIntoRedS = 3600
	// MaxBacklog bounds a status's backlog and its counters.
	MaxBacklog = 1_000_000_000
	// MaxStatusCameras is the most cameras one status may report: a box runs a few (about 4
	// DNN streams on 2 cores), and its config may list no more than this.
	MaxStatusCameras = 32
	// MaxCameraErrorLen bounds a camera's error text in a status, in bytes.
	MaxCameraErrorLen = 200
	// MaxFPS bounds a camera's reported frame rates.
	MaxFPS = 1000
	// MaxCameraSignals is the most signal heads one camera's status may report.
	MaxCameraSignals = 16
)

// Camera states in a status.
const (
	CameraUp           = "up"           // its source delivers frames to its pipeline
	CameraReconnecting = "reconnecting" // its live source dropped; the box is reconnecting
	CameraDown         = "down"         // anything else: cannot open, scene fails, retrying, file ended
)

// Event types the edge reports.
const (
	RedLightRunning       = "red_light_running"
	PedAgainstSignal      = "ped_against_signal"
	Jaywalking            = "jaywalking"
	PlatformEdgeIntrusion = "platform_edge_intrusion"
	TrackIntrusion        = "track_intrusion"
)

// EventTypes lists every event type of schema v1.
var EventTypes = []string{RedLightRunning, PedAgainstSignal, Jaywalking, PlatformEdgeIntrusion, TrackIntrusion}

// Classes lists the road-user classes of schema v1.
var Classes = []string{"person", "bicycle", "motorbike", "car", "bus", "truck"}

// Signal sources an event may name.
const (
	SignalCamera = "camera" // colour classifier on the signal-head region
	SignalFeed   = "feed"   // SPaT-style phase messages from the controller
	SignalPlan   = "plan"   // fixed-time plan
)

// Sentinel errors. Every decode error wraps one of them.
var (
	// ErrTooLarge means the payload is over its size limit.
	ErrTooLarge = errors.New("payload too large")
	// ErrVersion means the payload's schema version is not one this build reads.
	ErrVersion = errors.New("unsupported schema version")
	// ErrInvalid means the payload is malformed or a field is out of range.
	ErrInvalid = errors.New("invalid payload")
	// ErrTopic means a topic is not one of the v1 layout.
	ErrTopic = errors.New("not a crosswatch v1 topic")
)

// Topic kinds, the last segment of crosswatch/v1/{device}/{kind}.
const (
	KindEvents = "events"
	KindCounts = "counts"
	KindStatus = "status"
	KindAck    = "ack"
	KindGaps   = "gaps"
	// KindPhase carries a signal controller's phase changes to a device (SPaT-style): the
	// controller, or a gateway in front of it, publishes; the device subscribes.
	KindPhase = "phase"
)

const topicPrefix = "crosswatch/v1/"

// Topic returns the topic of kind for device.
func Topic(device, kind string) string { return topicPrefix + device + "/" + kind }

// Filter returns the subscription filter for kind across all devices.
func Filter(kind string) string { return topicPrefix + "+/" + kind }

// SharedFilter returns a shared-subscription filter so that several aggregators split the stream.
func SharedFilter(group, kind string) string { return "$share/" + group + "/" + Filter(kind) }

// ParseTopic splits a v1 topic into its device and kind.
func ParseTopic(topic string) (device, kind string, err error) {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: %q", ErrTopic, topic)
	}
	device, kind, ok = strings.Cut(rest, "/")
	if !ok || strings.Contains(kind, "/") {
		return "", "", fmt.Errorf("%w: %q", ErrTopic, topic)
	}
	switch kind {
	case KindEvents, KindCounts, KindStatus, KindAck, KindGaps, KindPhase:
	default:
		return "", "", fmt.Errorf("%w: unknown kind %q", ErrTopic, kind)
	}
	if err := CheckName("device", device); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrTopic, err)
	}
	return device, kind, nil
}

// Signal is the signal state an event was judged against.
type Signal struct {
	Source string `json:"source"`
	State  string `json:"state"`
	// TimeIntoRedS is how long the signal had been red; with OnsetSeen false it is a lower bound.
	TimeIntoRedS float64 `json:"time_into_red_s"`
	OnsetSeen    bool    `json:"onset_seen"`
}

// Event is one safety event. It names a site and a zone, never a person or a vehicle.
type Event struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Device     string    `json:"device"`
	Camera     string    `json:"camera"`
	Site       string    `json:"site"`
	Zone       string    `json:"zone"`
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	Class      string    `json:"class"`
	Confidence float64   `json:"confidence"`
	Signal     *Signal   `json:"signal,omitempty"`
	// Evidence is the anonymised evidence JPEG (MaxEvidenceBytes, MaxEvidenceWidth ×
	// MaxEvidenceHeight): from edges of 2026-12 on, three stills stacked (before, at and after
	// the moment judged, each under a banner; docs/PROTOCOL.md), before that one still. The
	// aggregator stores and serves it as it is.
	Evidence []byte `json:"evidence_jpeg,omitempty"`
}

// Counts is the number of road users of each class seen in a zone during one period.
type Counts struct {
	V       int            `json:"v"`
	ID      string         `json:"id"`
	Device  string         `json:"device"`
	Camera  string         `json:"camera"`
	Site    string         `json:"site"`
	Zone    string         `json:"zone"`
	Start   time.Time      `json:"start"`
	PeriodS int            `json:"period_s"`
	Counts  map[string]int `json:"counts"`
	// Movements, optional, are the turning movements of the road users that entered the
	// intersection by this zone (an approach whose scene names its leg) and left it by another
	// leg during the period: "entry>exit" (leg names, as the scene gives them) → class → road
	// users. Absent when the scene names no legs.
	Movements map[string]map[string]int `json:"movements,omitempty"`
}

// MaxMovements bounds the movements one count record may carry: every pair of 8 legs.
const MaxMovements = 64

// Status is a device's retained state; the broker publishes Online=false as its last will.
type Status struct {
	V              int       `json:"v"`
	Device         string    `json:"device"`
	Online         bool      `json:"online"`
	Time           time.Time `json:"time"`
	Backlog        int       `json:"backlog"`
	OldestPendingS float64   `json:"oldest_pending_s"`
	Software       string    `json:"software,omitempty"`
	// SignalDisagreements counts, since the device started, how often two of its signal-state
	// sources disagreed (SignalCamera, SignalFeed, SignalPlan); absent means none.
	SignalDisagreements int `json:"signal_disagreements,omitempty"`
	// ViewChanges counts, since the device started, how often a camera's picture changed
	// almost entirely at once (a cut, a camera knocked or turned): its scene's lines may no
	// longer fit the road. LastViewChange is the stream time of the latest; both absent: none.
	ViewChanges    int        `json:"view_changes,omitempty"`
	LastViewChange *time.Time `json:"last_view_change,omitempty"`
	// ViewMismatchSince is set while the camera's view does not match its scene's reference
	// (the camera is quarantined: it raises no events and withholds its counts), to the stream
	// time the mismatch began; absent: the view matches.
	ViewMismatchSince *time.Time `json:"view_mismatch_since,omitempty"`
	// Cameras is each of the box's cameras now, sorted by id, at most MaxStatusCameras;
	// absent from an edge that runs no cameras of its own (replay, burst) and from the will.
	Cameras []CameraStatus `json:"cameras,omitempty"`
}

// CameraStatus is one camera's state in its device's Status.
type CameraStatus struct {
	ID    string `json:"id"`
	State string `json:"state"` // CameraUp, CameraReconnecting or CameraDown
	// DecodedFPS and AnalysedFPS are the frames per second read from the source and through
	// the analysis, over the seconds before the status (0 while the camera is not up).
	DecodedFPS  float64 `json:"decoded_fps"`
	AnalysedFPS float64 `json:"analysed_fps"`
	// LastFrame is when the box last read a frame from the camera (its clock); absent: never.
	LastFrame *time.Time `json:"last_frame,omitempty"`
	// Reconnects counts, since the box started, the times the live source dropped and came back.
	Reconnects int `json:"reconnects"`
	// ViewChanges counts, since the box started, the times the camera's picture changed almost
	// entirely at once; ViewMismatch is set while its view does not match its scene's reference.
	ViewChanges  int  `json:"view_changes,omitempty"`
	ViewMismatch bool `json:"view_mismatch,omitempty"`
	// Error says why the camera is not up (at most MaxCameraErrorLen bytes, no control
	// characters, no credentials); while it is up, empty, or why the aggregator refuses its
	// records (an unknown site or camera).
	Error string `json:"error,omitempty"`
	// Signals is the live state of each of the camera's scene signals, in scene order (at most
	// MaxCameraSignals): what the box judges by now; absent while the camera is not up.
	Signals []SignalState `json:"signals,omitempty"`
}

// SignalState is one scene signal's state as a box reads it now.
type SignalState struct {
	ID     string `json:"id"`     // the scene's signal id
	State  string `json:"state"`  // red, amber, green or unknown
	Source string `json:"source"` // SignalCamera, SignalFeed, SignalPlan or SignalFixed
}

// SignalFixed is the source of a signal the scene fixes as unknown (state: unknown: a head no
// source can read).
const SignalFixed = "fixed"

// validate checks one signal of a camera's status; f is its field path.
func (s *SignalState) validate(f string) error {
	if err := CheckName(f+".id", s.ID); err != nil {
		return err
	}
	switch s.State {
	case "red", "amber", "green", "unknown":
	default:
		return invalid(f+".state", "%q: want red, amber, green or unknown", s.State)
	}
	switch s.Source {
	case SignalCamera, SignalFeed, SignalPlan, SignalFixed:
	default:
		return invalid(f+".source", "%q: want camera, feed, plan or fixed", s.Source)
	}
	return nil
}

// Gap reasons.
const (
	GapOutboxFull = "outbox_full" // the outbox reached its row or byte limit and evicted by policy
	GapDiskFull   = "disk_full"   // the disk filled: evicted by policy, or not accepted at all
	// GapSourceDown: the camera's stream dropped from Oldest to Newest; nothing was analysed.
	GapSourceDown = "source_down"
	// GapViewMismatch: from Oldest to Newest the camera's view did not match its scene (it was
	// quarantined): nothing was judged or counted.
	GapViewMismatch = "view_mismatch"
)

// Gap reports payloads a device lost on purpose, by its declared policy, so that no loss is
// silent. Evicted counts messages per event type ("counts" for count records); NotAccepted
// counts events the rules found but that could not be stored at all.
type Gap struct {
	V           int            `json:"v"`
	ID          string         `json:"id"`
	Device      string         `json:"device"`
	Time        time.Time      `json:"time"`
	Reason      string         `json:"reason"`
	Evicted     map[string]int `json:"evicted,omitempty"`
	NotAccepted int            `json:"not_accepted,omitempty"`
	Oldest      time.Time      `json:"oldest"` // creation time of the oldest lost message
	Newest      time.Time      `json:"newest"`
}

// Validate reports the first field that is out of range.
func (g *Gap) Validate() error {
	if err := CheckID(g.ID); err != nil {
		return err
	}
	if err := CheckName("device", g.Device); err != nil {
		return err
	}
	if g.Reason != GapOutboxFull && g.Reason != GapDiskFull && g.Reason != GapSourceDown && g.Reason != GapViewMismatch {
		return invalid("reason", "unknown reason %q", g.Reason)
	}
	if g.Time.IsZero() {
		return invalid("time", "missing")
	}
	for k, n := range g.Evicted {
		if k != "counts" && !contains(EventTypes, k) {
			return invalid("evicted", "unknown kind %q", k)
		}
		if n < 0 || n > MaxLost {
			return invalid("evicted."+k, "%d is outside 0..%d", n, MaxLost)
		}
	}
	if g.NotAccepted < 0 || g.NotAccepted > MaxLost {
		return invalid("not_accepted", "%d is outside 0..%d", g.NotAccepted, MaxLost)
	}
	if !g.Oldest.IsZero() && !g.Newest.IsZero() && g.Newest.Before(g.Oldest) {
		return invalid("newest", "%s is before oldest %s", g.Newest.Format(time.RFC3339), g.Oldest.Format(time.RFC3339))
	}
	return nil
}

// DecodeGap parses and validates a gap payload.
func DecodeGap(b []byte) (Gap, error) {
	var g Gap
	if err := decode(b, MaxGapBytes, &g); err != nil {
		return Gap{}, err
	}
	return g, g.Validate()
}

// Rejection names a payload the aggregator refused and kept in its dead-letter table.
type Rejection struct {
	ID     string `json:"id"`
	Reason string `json:"reason"` // for a person: the whole cause, with the names it concerns
	// Code is the reason for a program: one of RejectionCodes (an aggregator older than the
	// field sends none, and a newer one may send a code this edge does not know; the edge counts
	// both as RejectOther). Site and Camera are the refused record's, when it decoded.
	Code   string `json:"code,omitempty"`
	Site   string `json:"site,omitempty"`
	Camera string `json:"camera,omitempty"`
}

// Rejection codes: why the aggregator refused a record (the reason label of its
// crosswatch_dead_letters_total for the kinds a device sends).
const (
	RejectPayload       = "payload"          // the payload does not decode or is invalid
	RejectDevice        = "device_mismatch"  // the payload's device is not the topic's
	RejectUnknownSite   = "unknown_site"     // the site is not in the aggregator's registry
	RejectUnknownCamera = "unknown_camera"   // the camera is not one of its site's
	RejectNoCatalog     = "no_catalog_entry" // the event type has no entry in the catalog
	RejectClock         = "clock"            // its time lies outside the window around the aggregator's clock
	RejectOther         = "other"            // no code, or one this edge does not know
)

// RejectionCodes are the codes an aggregator sends in Rejection.Code.
var RejectionCodes = []string{RejectPayload, RejectDevice, RejectUnknownSite, RejectUnknownCamera, RejectNoCatalog, RejectClock}

// RejectionCode returns r's code if it is one of RejectionCodes, else RejectOther: the edge's
// counts by code stay bounded whatever an aggregator sends.
func RejectionCode(r Rejection) string {
	if contains(RejectionCodes, r.Code) {
		return r.Code
	}
	return RejectOther
}

// Ack tells a device which of its payloads are committed (or rejected and kept as dead letters);
// only then may the device delete them from its outbox.
type Ack struct {
	V         int         `json:"v"`
	Committed []string    `json:"committed,omitempty"`
	Rejected  []Rejection `json:"rejected,omitempty"`
}

// Encode marshals a payload. It sets nothing: callers fill V.
func Encode(v any) ([]byte, error) { return json.Marshal(v) }

func decode(b []byte, limit int, dst any) error { return decodeAs(b, limit, dst, true) }

// decodeFromAggregator decodes what an aggregator sends a box (acks, scenes): like decode, but
// fields the box does not know are ignored, so that an aggregator may be upgraded before its
// boxes (as it is for the status, whose new fields it learns first). What a device sends is
// decoded strictly: the aggregator trusts no device.
func decodeFromAggregator(b []byte, limit int, dst any) error {
	return decodeAs(b, limit, dst, false)
}

func decodeAs(b []byte, limit int, dst any, strict bool) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), limit)
	}
	// One strict parse on the happy path; the version is checked after it. Only a failure
	// re-reads "v", so that a payload of another version is reported as such.
	d := json.NewDecoder(bytes.NewReader(b))
	if strict {
		d.DisallowUnknownFields()
	}
	err := d.Decode(dst)
	if err == nil && d.More() {
		err = errors.New("trailing data")
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err != nil || versionOf(dst) != Version {
		if perr := json.Unmarshal(b, &probe); perr != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, perr)
		}
		switch {
		case probe.V == nil:
			return fmt.Errorf("%w: missing field v", ErrInvalid)
		case *probe.V != Version:
			return fmt.Errorf("%w: v=%d", ErrVersion, *probe.V)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// versionOf returns the decoded payload's schema version.
func versionOf(v any) int {
	switch p := v.(type) {
	case *Event:
		return p.V
	case *Counts:
		return p.V
	case *Status:
		return p.V
	case *Ack:
		return p.V
	case *Phase:
		return p.V
	case *Gap:
		return p.V
	case *Scene:
		return p.V
	case *Frame:
		return p.V
	case *FrameRequestMsg:
		return p.V
	}
	return -1
}

// DecodeEvent parses and validates an event payload.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	if len(b) > MaxEventBytes || !decodeEventFast(b, &e) || e.V != Version {
		e = Event{}
		if err := decode(b, MaxEventBytes, &e); err != nil {
			return Event{}, err
		}
	}
	return e, e.Validate()
}

// DecodeCounts parses and validates a counts payload.
func DecodeCounts(b []byte) (Counts, error) {
	var c Counts
	if err := decode(b, MaxCountsBytes, &c); err != nil {
		return Counts{}, err
	}
	return c, c.Validate()
}

// DecodeStatus parses and validates a status payload.
func DecodeStatus(b []byte) (Status, error) {
	var s Status
	if err := decode(b, MaxStatusBytes, &s); err != nil {
		return Status{}, err
	}
	switch {
	case s.Backlog < 0 || s.Backlog > MaxBacklog:
		return Status{}, invalid("backlog", "%d is outside 0..%d", s.Backlog, MaxBacklog)
	case !finite(s.OldestPendingS) || s.OldestPendingS < 0 || s.OldestPendingS > 10*366*86400:
		return Status{}, invalid("oldest_pending_s", "%v is outside 0..10 years", s.OldestPendingS)
	case s.SignalDisagreements < 0 || s.SignalDisagreements > MaxBacklog:
		return Status{}, invalid("signal_disagreements", "%d is outside 0..%d", s.SignalDisagreements, MaxBacklog)
	case s.ViewChanges < 0 || s.ViewChanges > MaxBacklog:
		return Status{}, invalid("view_changes", "%d is outside 0..%d", s.ViewChanges, MaxBacklog)
	case s.ViewChanges > 0 && s.LastViewChange == nil:
		return Status{}, invalid("last_view_change", "missing; view_changes is %d", s.ViewChanges)
	case s.ViewMismatchSince != nil && s.ViewMismatchSince.IsZero():
		return Status{}, invalid("view_mismatch_since", "zero time; omit it when the view matches")
	case len(s.Cameras) > MaxStatusCameras:
		return Status{}, invalid("cameras", "%d cameras, limit %d", len(s.Cameras), MaxStatusCameras)
	}
	seen := make(map[string]int, len(s.Cameras))
	for i, c := range s.Cameras {
		f := fmt.Sprintf("cameras[%d]", i)
		if err := c.validate(f); err != nil {
			return Status{}, err
		}
		if j, dup := seen[c.ID]; dup {
			return Status{}, invalid(f+".id", "%q is also cameras[%d].id", c.ID, j)
		}
		seen[c.ID] = i
	}
	return s, CheckName("device", s.Device)
}

// validate checks one camera of a status; f is its field path.
func (c *CameraStatus) validate(f string) error {
	if err := CheckName(f+".id", c.ID); err != nil {
		return err
	}
	switch c.State {
	case CameraUp, CameraReconnecting, CameraDown:
	default:
		return invalid(f+".state", "%q: want up, reconnecting or down", c.State)
	}
	switch {
	case !finite(c.DecodedFPS) || c.DecodedFPS < 0 || c.DecodedFPS > MaxFPS:
		return invalid(f+".decoded_fps", "%v is outside 0..%d", c.DecodedFPS, MaxFPS)
	case !finite(c.AnalysedFPS) || c.AnalysedFPS < 0 || c.AnalysedFPS > MaxFPS:
		return invalid(f+".analysed_fps", "%v is outside 0..%d", c.AnalysedFPS, MaxFPS)
	case c.LastFrame != nil && c.LastFrame.IsZero():
		return invalid(f+".last_frame", "zero time; omit it when no frame was read")
	case c.Reconnects < 0 || c.Reconnects > MaxBacklog:
		return invalid(f+".reconnects", "%d is outside 0..%d", c.Reconnects, MaxBacklog)
	case c.ViewChanges < 0 || c.ViewChanges > MaxBacklog:
		return invalid(f+".view_changes", "%d is outside 0..%d", c.ViewChanges, MaxBacklog)
	case len(c.Error) > MaxCameraErrorLen:
		return invalid(f+".error", "%d bytes, limit %d", len(c.Error), MaxCameraErrorLen)
	}
	for _, r := range c.Error {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return invalid(f+".error", "control character %q", r)
		}
	}
	if len(c.Signals) > MaxCameraSignals {
		return invalid(f+".signals", "%d signals, limit %d", len(c.Signals), MaxCameraSignals)
	}
	seen := make(map[string]int, len(c.Signals))
	for i, s := range c.Signals {
		sf := fmt.Sprintf("%s.signals[%d]", f, i)
		if err := s.validate(sf); err != nil {
			return err
		}
		if j, dup := seen[s.ID]; dup {
			return invalid(sf+".id", "%q is also %s.signals[%d].id", s.ID, f, j)
		}
		seen[s.ID] = i
	}
	return nil
}

// CameraErrorText makes err's text fit a CameraStatus: credentials in URLs
// (rtsp://user:password@host) masked, control characters as spaces, at most
// MaxCameraErrorLen bytes (cut at a character's boundary, ending in "…").
func CameraErrorText(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}***@")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
	if len(s) <= MaxCameraErrorLen {
		return s
	}
	const ellipsis = "…"
	cut := MaxCameraErrorLen - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// userinfo matches a URL's user and password (scheme://user:password@).
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@`)

// Phase is one signal head's state from the controller: from Time on, Signal shows State.
type Phase struct {
	V      int       `json:"v"`
	Signal string    `json:"signal"` // the scene's signal id
	State  string    `json:"state"`  // red, amber or green
	Time   time.Time `json:"time"`
}

// MaxPhaseBytes bounds a phase message.
const MaxPhaseBytes = 1 << 10

// DecodePhase parses and validates a phase message.
func DecodePhase(b []byte) (Phase, error) {
	var p Phase
	if err := decode(b, MaxPhaseBytes, &p); err != nil {
		return Phase{}, err
	}
	switch {
	case p.State != "red" && p.State != "amber" && p.State != "green":
		return Phase{}, invalid("state", "must be red, amber or green, got %q", p.State)
	case p.Time.IsZero():
		return Phase{}, invalid("time", "missing")
	}
	return p, CheckName("signal", p.Signal)
}

// DecodeAck parses an acknowledgement.
func DecodeAck(b []byte) (Ack, error) {
	var a Ack
	err := decodeFromAggregator(b, MaxAckBytes, &a)
	return a, err
}

// Validate reports the first field that is out of range.
func (e *Event) Validate() error {
	if err := checkCommon(e.ID, e.Device, e.Camera, e.Site, e.Zone); err != nil {
		return err
	}
	if !contains(EventTypes, e.Type) {
		return invalid("type", "unknown event type %q", e.Type)
	}
	if e.Class != "" && !contains(Classes, e.Class) {
		return invalid("class", "unknown class %q", e.Class)
	}
	if e.Time.IsZero() {
		return invalid("time", "missing")
	}
	if math.IsNaN(e.Confidence) || e.Confidence < 0 || e.Confidence > 1 {
		return invalid("confidence", "%v is outside [0,1]", e.Confidence)
	}
	if s := e.Signal; s != nil {
		switch s.Source {
		case SignalCamera, SignalFeed, SignalPlan:
		default:
			return invalid("signal.source", "unknown source %q", s.Source)
		}
		if !finite(s.TimeIntoRedS) || s.TimeIntoRedS < 0 || s.TimeIntoRedS > MaxTimeIntoRedS {
			return invalid("signal.time_into_red_s", "%v is outside 0..%d", s.TimeIntoRedS, MaxTimeIntoRedS)
		}
	}
	if len(e.Evidence) > MaxEvidenceBytes {
		return invalid("evidence_jpeg", "%d bytes, limit %d", len(e.Evidence), MaxEvidenceBytes)
	}
	if len(e.Evidence) > 0 {
		return checkJPEG("evidence_jpeg", e.Evidence)
	}
	return nil
}

// checkJPEG reports whether b is a baseline or progressive JPEG of at most MaxEvidenceWidth ×
// MaxEvidenceHeight pixels, whole to its end-of-image marker. It reads the header, not the
// pixels: the aggregator serves the image as image/jpeg and never decodes it.
func checkJPEG(field string, b []byte) error {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return invalid(field, "not a JPEG: %v", err)
	}
	if cfg.Width < 1 || cfg.Width > MaxEvidenceWidth || cfg.Height < 1 || cfg.Height > MaxEvidenceHeight {
		return invalid(field, "%dx%d pixels, limit %dx%d", cfg.Width, cfg.Height, MaxEvidenceWidth, MaxEvidenceHeight)
	}
	if !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
		return invalid(field, "no end-of-image marker: truncated, or something appended")
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Validate reports the first field that is out of range.
func (c *Counts) Validate() error {
	if err := checkCommon(c.ID, c.Device, c.Camera, c.Site, c.Zone); err != nil {
		return err
	}
	if c.Start.IsZero() {
		return invalid("start", "missing")
	}
	if c.PeriodS <= 0 || c.PeriodS > 86400 {
		return invalid("period_s", "%d is outside 1..86400", c.PeriodS)
	}
	for k, n := range c.Counts {
		if !contains(Classes, k) {
			return invalid("counts", "unknown class %q", k)
		}
		if n < 0 || n > MaxCount {
			return invalid("counts."+k, "%d is outside 0..%d", n, MaxCount)
		}
	}
	if len(c.Movements) > MaxMovements {
		return invalid("movements", "%d movements, at most %d", len(c.Movements), MaxMovements)
	}
	for m, byClass := range c.Movements {
		from, to, ok := strings.Cut(m, ">")
		if !ok || CheckName("movements", from) != nil || CheckName("movements", to) != nil || from == to {
			return invalid("movements", "%q is not entry>exit with two different leg names", m)
		}
		for k, n := range byClass {
			if !contains(Classes, k) {
				return invalid("movements."+m, "unknown class %q", k)
			}
			if n < 0 || n > MaxCount {
				return invalid("movements."+m+"."+k, "%d is outside 0..%d", n, MaxCount)
			}
		}
	}
	return nil
}

func checkCommon(id, device, camera, site, zone string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{{"device", device}, {"camera", camera}, {"site", site}, {"zone", zone}} {
		if err := CheckName(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// CheckID reports whether id is a valid payload id: 1..MaxIDLen characters of [A-Za-z0-9._:-].
func CheckID(id string) error { return checkChars("id", id, MaxIDLen, ":") }

// CheckName reports whether v is a valid device, camera, site or zone name:
// 1..MaxNameLen characters of [A-Za-z0-9._-]; it can never form an MQTT wildcard or level.
func CheckName(field, v string) error { return checkChars(field, v, MaxNameLen, "") }

func checkChars(field, v string, max int, extra string) error {
	if v == "" {
		return invalid(field, "missing")
	}
	if len(v) > max {
		return invalid(field, "%d characters, limit %d", len(v), max)
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || strings.ContainsRune(extra, r)
		if !ok {
			return invalid(field, "character %q not allowed", r)
		}
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
