package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Truth is a ground-truth file: synth writes one per clip, real clips are labelled in one
// (docs/ACCURACY.md, "The truth file").
type Truth struct {
	// Violations are the events a detector should raise.
	Violations []Event
	// NonEvents are things a detector could mistake for an event (a crash in view, a rider on a
	// zebra): listed next to any detection that falls on one, never scored.
	NonEvents []NonEvent
	// Crossings are the road users that entered each counted zone, each once, per zone.
	Crossings map[string]int
	// Start is the clip's wall-clock start, when known (synthetic clips; recorded feeds).
	Start time.Time
	// Method says how the events were timed.
	Method string
}

// NonEvent is something in view that is not an event, over a time or a window.
type NonEvent struct {
	Event
	What string `json:"what"`
}

// Fields each object of a truth file may have; any other is an error, so a misspelt "start"
// is not silently an event without a window. The descriptive ones (who, what, note, site,
// class, …) are free text or carried over from synth and not scored.
var (
	truthFields = map[string]bool{"violations": true, "non_events": true, "crossings": true, "start": true, "method": true,
		"clip": true, "labelled_by": true, "notes": true,
		"version": true, "kind": true, "variant": true, "seed": true, "camera": true, "fps": true, "duration_s": true, "plan": true}
	eventFields    = map[string]bool{"type": true, "zone": true, "t": true, "start": true, "end": true, "site": true, "who": true, "note": true}
	nonEventFields = map[string]bool{"type": true, "zone": true, "t": true, "start": true, "end": true, "what": true, "who": true, "note": true}
	crossingFields = map[string]bool{"zone": true, "n": true, "site": true, "class": true, "who": true, "note": true}
)

// ParseTruth decodes a truth file strictly: an unknown field, a field of the wrong type, an
// event without a type, zone or time, or a window that ends before it starts is an error naming
// the field (`violations[2].end: 3.1 is before start 3.4`).
func ParseTruth(b []byte) (Truth, error) {
	var top map[string]json.RawMessage
	if err := decode(b, &top); err != nil {
		return Truth{}, err
	}
	if top == nil {
		return Truth{}, errors.New("not a JSON object")
	}
	if err := known(top, truthFields, ""); err != nil {
		return Truth{}, err
	}
	var t Truth
	if raw, ok := top["start"]; ok {
		if err := json.Unmarshal(raw, &t.Start); err != nil {
			return Truth{}, fmt.Errorf("start: want an RFC 3339 time, got %s", raw)
		}
	}
	for _, f := range []string{"method", "clip", "labelled_by", "notes"} {
		if raw, ok := top[f]; ok {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return Truth{}, fmt.Errorf("%s: want a string, got %s", f, raw)
			}
			if f == "method" {
				t.Method = s
			}
		}
	}
	vs, err := events(top["violations"], "violations", eventFields)
	if err != nil {
		return Truth{}, err
	}
	for _, e := range vs {
		t.Violations = append(t.Violations, e.Event)
	}
	nes, err := events(top["non_events"], "non_events", nonEventFields)
	if err != nil {
		return Truth{}, err
	}
	for _, e := range nes {
		t.NonEvents = append(t.NonEvents, NonEvent{Event: e.Event, What: e.what})
	}
	if t.Crossings, err = crossings(top["crossings"]); err != nil {
		return Truth{}, err
	}
	return t, nil
}

// decode unmarshals b into v, with the offset of a syntax error.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("not valid JSON: it ends early")
		}
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// known reports the first field of obj not in fields, by path, in name order.
func known(obj map[string]json.RawMessage, fields map[string]bool, path string) error {
	var bad []string
	for k := range obj {
		if !fields[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	allowed := make([]string, 0, len(fields))
	for k := range fields {
		allowed = append(allowed, k)
	}
	sort.Strings(allowed)
	return fmt.Errorf("%s%s: unknown field (known: %s)", path, bad[0], strings.Join(allowed, ", "))
}

type parsedEvent struct {
	Event
	what string
}

// events decodes a list of events (violations or non_events) with their times or windows.
func events(raw json.RawMessage, name string, fields map[string]bool) ([]parsedEvent, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%s: want a list of objects: %v", name, err)
	}
	out := make([]parsedEvent, 0, len(items))
	for i, it := range items {
		path := fmt.Sprintf("%s[%d]", name, i)
		if it == nil {
			return nil, fmt.Errorf("%s: want an object", path)
		}
		if err := known(it, fields, path+"."); err != nil {
			return nil, err
		}
		var e parsedEvent
		for _, f := range []struct {
			key string
			dst *string
		}{{"type", &e.Type}, {"zone", &e.Zone}, {"what", &e.what}, {"site", nil}, {"who", nil}, {"note", nil}} {
			if v, ok := it[f.key]; ok {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, fmt.Errorf("%s.%s: want a string, got %s", path, f.key, v)
				}
				if f.dst != nil {
					*f.dst = s
				}
			}
		}
		var t, start, end *float64
		for _, f := range []struct {
			key string
			dst **float64
		}{{"t", &t}, {"start", &start}, {"end", &end}} {
			if v, ok := it[f.key]; ok {
				var x float64
				if err := json.Unmarshal(v, &x); err != nil {
					return nil, fmt.Errorf("%s.%s: want seconds from the clip start, got %s", path, f.key, v)
				}
				if x < 0 {
					return nil, fmt.Errorf("%s.%s: %g is negative", path, f.key, x)
				}
				*f.dst = &x
			}
		}
		switch {
		case name == "violations" && e.Type == "":
			return nil, fmt.Errorf("%s.type: missing", path)
		case e.Zone == "" && name == "violations":
			return nil, fmt.Errorf("%s.zone: missing", path)
		case name == "non_events" && e.what == "":
			return nil, fmt.Errorf("%s.what: missing (say what it is)", path)
		case (start == nil) != (end == nil):
			if start == nil {
				return nil, fmt.Errorf("%s.start: missing; a window needs start and end", path)
			}
			return nil, fmt.Errorf("%s.end: missing; a window needs start and end", path)
		case start != nil && *end < *start:
			return nil, fmt.Errorf("%s.end: %g is before start %g", path, *end, *start)
		case t == nil && start == nil:
			return nil, fmt.Errorf("%s.t: missing; give t, or a window of start and end", path)
		case t != nil && start != nil && (*t < *start || *t > *end):
			return nil, fmt.Errorf("%s.t: %g is outside its window %g–%g", path, *t, *start, *end)
		}
		if start != nil {
			e.Start, e.End = start, end
			e.T = *start
		}
		if t != nil {
			e.T = *t
		}
		out = append(out, e)
	}
	return out, nil
}

// crossings decodes the counted road users per zone.
func crossings(raw json.RawMessage) (map[string]int, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("crossings: want a list of objects: %v", err)
	}
	out := map[string]int{}
	for i, it := range items {
		path := fmt.Sprintf("crossings[%d]", i)
		if it == nil {
			return nil, fmt.Errorf("%s: want an object", path)
		}
		if err := known(it, crossingFields, path+"."); err != nil {
			return nil, err
		}
		var zone string
		if v, ok := it["zone"]; !ok {
			return nil, fmt.Errorf("%s.zone: missing", path)
		} else if err := json.Unmarshal(v, &zone); err != nil || zone == "" {
			return nil, fmt.Errorf("%s.zone: want a zone id, got %s", path, v)
		}
		var n int
		if v, ok := it["n"]; !ok {
			return nil, fmt.Errorf("%s.n: missing", path)
		} else if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("%s.n: want a whole number, got %s", path, v)
		} else if n < 0 {
			return nil, fmt.Errorf("%s.n: %d is negative", path, n)
		}
		for _, f := range []string{"site", "class", "who", "note"} {
			if v, ok := it[f]; ok {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, fmt.Errorf("%s.%s: want a string, got %s", path, f, v)
				}
			}
		}
		out[zone] += n
	}
	return out, nil
}
