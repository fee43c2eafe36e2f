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
	Events int64  // rejected event records
	Other  int64  // rejected count records, gaps and records whose kind is not known
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

// String says it in one line: how many records of which camera and site, why.
func (r Refusal) String() string {
	var what string
	switch {
	case r.Other == 0:
		what = plural(r.Events, "event")
	case r.Events == 0:
		what = plural(r.Other, "record")
	default:
		what = fmt.Sprintf("%s and %s", plural(r.Events, "event"), plural(r.Other, "other record"))
	}
	var of string
	switch {
	case r.Camera != "" && r.Site != "":
		of = fmt.Sprintf(" of camera %s at site %s", r.Camera, r.Site)
	case r.Camera != "":
		of = " of camera " + r.Camera
	}
	return fmt.Sprintf("%s: the aggregator refused %s%s (%s)", r.Code, what, of, r.Reason)
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
}

// NewRejections returns empty counts; now is the clock of Refusal.Last (nil: time.Now).
func NewRejections(now func() time.Time) *Rejections {
	if now == nil {
		now = time.Now
	}
	return &Rejections{now: now, byCode: map[string]int64{}, byKey: map[refusalKey]*Refusal{}}
}

// Add takes an acknowledgement: each rejection is counted, and each committed event of a
// camera clears that camera's refusals (a committed count record clears an unknown site
// only: the aggregator checks a count's site, not its camera). Never blocks for long: it runs
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
		if rj.Camera != "" && pipeline.RecordKind(rj.ID, rj.Camera) == wire.KindEvents {
			f.Events++
		} else {
			f.Other++
		}
		f.Reason, f.Last, f.Active = rj.Reason, now, true
	}
}

// committed clears the active refusals of the camera whose record id was committed.
func (r *Rejections) committed(id string) {
	for _, f := range r.byKey {
		if !f.Active || f.Camera == "" {
			continue
		}
		switch pipeline.RecordKind(id, f.Camera) {
		case wire.KindEvents:
			f.Active = false
		case wire.KindCounts:
			if f.Code == wire.RejectUnknownSite {
				f.Active = false
			}
		}
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

// Clear ends the camera's active refusals: its scene changed (a new site, say), so what was
// refused before says nothing about what it sends now. The counts stay.
func (r *Rejections) Clear(camera string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.byKey {
		if f.Camera == camera {
			f.Active = false
		}
	}
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
