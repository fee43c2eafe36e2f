package sender

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// MaxRefusals bounds the (code, site, camera) entries Rejections keeps: a box has at most
// wire.MaxStatusCameras cameras, each with one site, so only an aggregator naming junk would
// reach it; past it the entry refused longest ago is forgotten.
const MaxRefusals = 64

// Refusal is what the aggregator refused of one camera's records for one reason since the
// sender started.
type Refusal struct {
	Code   string // one of wire.RejectionCodes, or wire.RejectOther
	Site   string // the records' site; "" when the aggregator did not say
	Camera string // the records' camera; "" when the aggregator did not say
	Reason string // the aggregator's text for the latest
	Events int64  // rejected events
	Counts int64  // rejected count records
	Other  int64  // rejected gaps and records whose kind is not known
	Last   time.Time
	// Active: the camera's records are still refused; no event (or, for an unknown site, count
	// record) of the camera was committed since the latest rejection, nor was it cleared.
	Active bool
}

// Blocking reports whether r means the camera's records cannot land until someone fixes the
// registry or the scene: its site or camera is unknown to the aggregator, now.
func (r Refusal) Blocking() bool {
	return r.Active && (r.Code == wire.RejectUnknownSite || r.Code == wire.RejectUnknownCamera)
}

// String says it in one line: how many records of which camera and site, and why.
func (r Refusal) String() string {
	var parts []string
	for _, p := range []struct {
		n    int64
		what string
	}{{r.Events, "event"}, {r.Counts, "count record"}, {r.Other, "other record"}} {
		if p.n > 0 {
			parts = append(parts, plural(p.n, p.what))
		}
	}
	what := strings.Join(parts, " and ")
	if len(parts) == 3 {
		what = parts[0] + ", " + parts[1] + " and " + parts[2]
	}
	if len(parts) == 1 && r.Other > 0 {
		what = plural(r.Other, "record") // none whose kind is known: "record", not "other record"
	}
	var of string
	switch {
	case r.Camera != "" && r.Site != "":
		of = fmt.Sprintf(" of camera %s at site %s", r.Camera, r.Site)
	case r.Camera != "":
		of = " of camera " + r.Camera
	}
	return fmt.Sprintf("the aggregator refused %s%s: %s (%s)", what, of, r.Code, r.Reason)
}

func plural(n int64, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

type refusalKey struct{ code, site, camera string }

// Rejections counts what the aggregator refused since the sender started, by code and by
// camera and site, from its acknowledgements. Safe for concurrent use.
type Rejections struct {
	now func() time.Time

	mu     sync.Mutex
	byCode map[string]int64        // by wire.RejectionCode: bounded
	byKey  map[refusalKey]*Refusal // at most MaxRefusals
	sites  map[string][]string     // camera → its zones' sites now, by number (Reset); the box's cameras
}

// NewRejections returns empty counts; now is the clock of Refusal.Last (nil: time.Now).
func NewRejections(now func() time.Time) *Rejections {
	if now == nil {
		now = time.Now
	}
	return &Rejections{now: now, byCode: map[string]int64{}, byKey: map[refusalKey]*Refusal{}, sites: map[string][]string{}}
}

// Add takes an acknowledgement: each rejection is counted, and each committed event of a
// camera for a site clears that camera's refusals for the site (a committed count record
// clears an unknown site only: the aggregator checks a count's site, not its camera). Which
// site a record is for is known once Reset has told the camera's zones; before, any record of
// the camera clears. Never blocks for long: it runs
// on the MQTT delivery goroutine.
func (r *Rejections) Add(a wire.Ack) {
	if len(a.Rejected) == 0 && len(a.Committed) == 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byKey) > 0 {
		for _, id := range a.Committed {
			r.committed(id)
		}
	}
	for _, rj := range a.Rejected {
		code := wire.RejectionCode(rj)
		r.byCode[code]++
		k := refusalKey{code, rj.Site, rj.Camera}
		f := r.byKey[k]
		if f == nil {
			if len(r.byKey) >= MaxRefusals {
				r.evict()
			}
			f = &Refusal{Code: code, Site: rj.Site, Camera: rj.Camera}
			r.byKey[k] = f
		}
		switch kind, _ := pipeline.ParseID(rj.ID, rj.Camera); {
		case rj.Camera != "" && kind == wire.KindEvents:
			f.Events++
		case rj.Camera != "" && kind == wire.KindCounts:
			f.Counts++
		default:
			f.Other++
		}
		f.Reason, f.Last = rj.Reason, now
		// A record for a site the camera's scene no longer names was sent before the change.
		if sites, ok := r.sites[rj.Camera]; !ok || slices.Contains(sites, rj.Site) {
			f.Active = true
		}
	}
}

// committed clears the active refusals of the camera and site whose record id was committed.
func (r *Rejections) committed(id string) {
	for _, f := range r.byKey {
		if !f.Active || f.Camera == "" {
			continue
		}
		kind, zone := pipeline.ParseID(id, f.Camera)
		if kind == "" || kind == wire.KindCounts && f.Code != wire.RejectUnknownSite {
			continue
		}
		// With the camera's scene known (Reset), the record's zone says its site: a record for
		// another site of the camera, one the aggregator knows, clears nothing.
		if zs, ok := r.sites[f.Camera]; ok && (zone >= len(zs) || zs[zone] != f.Site) {
			continue
		}
		f.Active = false
	}
}

// evict forgets the entry refused longest ago.
func (r *Rejections) evict() {
	var oldest refusalKey
	var at time.Time
	for k, f := range r.byKey {
		if at.IsZero() || f.Last.Before(at) {
			oldest, at = k, f.Last
		}
	}
	delete(r.byKey, oldest)
}

// Reset ends the camera's active refusals as it starts with a scene whose zones, by the
// number the record ids give them (pipeline.ZoneSites), are for zoneSites: what the camera
// was refused before says nothing of what it sends now (a new scene, say, that names a site
// the aggregator knows). A refusal that comes later of a record for a site the scene does not
// name (sent before the change) counts, but does not make the camera's refusal active again.
// The counts stay.
func (r *Rejections) Reset(camera string, zoneSites []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.byKey {
		if f.Camera == camera {
			f.Active = false
		}
	}
	r.sites[camera] = slices.Clone(zoneSites)
}

// ByCode returns how many records were refused since the start, by code (wire.RejectionCodes
// and wire.RejectOther; absent: none).
func (r *Rejections) ByCode() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.byCode))
	for k, v := range r.byCode {
		out[k] = v
	}
	return out
}

// Refusals returns every entry since the start, sorted by camera, code and site.
func (r *Rejections) Refusals() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Refusal, 0, len(r.byKey))
	for _, f := range r.byKey {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Refusal) int {
		return cmp.Or(strings.Compare(a.Camera, b.Camera), strings.Compare(a.Code, b.Code), strings.Compare(a.Site, b.Site))
	})
	return out
}

// Blocking returns the entries that block a camera now (Refusal.Blocking), sorted as Refusals.
func (r *Rejections) Blocking() []Refusal {
	all := r.Refusals()
	out := all[:0]
	for _, f := range all {
		if f.Blocking() {
			out = append(out, f)
		}
	}
	return out
}

// RejectedError is Rejections.Err's: what the aggregator refused since the start.
type RejectedError struct{ Refusals []Refusal }

func (e *RejectedError) Error() string {
	parts := make([]string, len(e.Refusals))
	for i, f := range e.Refusals {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ") + "; they are dead letters at the aggregator, not recorded (fix its sites or the scene, then reprocess them)"
}

// Err returns nil if the aggregator refused nothing since the start, else a *RejectedError:
// one line that says what it refused, of which camera and site, and why. A one-run command
// (replay, burst) fails with it rather than claim that everything arrived.
func (r *Rejections) Err() error {
	if fs := r.Refusals(); len(fs) > 0 {
		return &RejectedError{fs}
	}
	return nil
}
