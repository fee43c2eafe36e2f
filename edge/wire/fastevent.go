package wire

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// decodeEventFast parses the plain JSON an edge writes for an Event without reflection: every
// key spelled exactly, at most once; strings without escapes; null only where Encode may write
// it. It reports false for anything outside that subset, and the caller then parses with
// encoding/json, which gives the same Event or the error (FuzzDecodeEventFast checks both).
// encoding/json was 14 % of the aggregator's CPU while it drained a backlog (docs/BENCHMARKS.md).
func decodeEventFast(b []byte, e *Event) bool {
	p := parser{b: b}
	var seen uint16
	return p.object(func(key []byte) bool {
		bit, ok := eventKeys[string(key)] // no allocation: the compiler reads the map in place
		if !ok || seen&bit != 0 {
			return false // unknown (encoding/json rejects it) or repeated (it keeps the last)
		}
		seen |= bit
		switch bit {
		case keyV:
			e.V, ok = p.int()
		case keyID:
			e.ID, ok = p.str()
		case keyDevice:
			e.Device, ok = p.str()
		case keyCamera:
			e.Camera, ok = p.str()
		case keySite:
			e.Site, ok = p.str()
		case keyZone:
			e.Zone, ok = p.str()
		case keyType:
			e.Type, ok = p.str()
		case keyClass:
			e.Class, ok = p.str()
		case keyTime:
			raw, rok := p.rawString()
			ok = rok && e.Time.UnmarshalJSON(raw) == nil
		case keyConfidence:
			e.Confidence, ok = p.float()
		case keySignal:
			e.Signal = nil
			if !p.null() {
				e.Signal = new(Signal)
				ok = p.signal(e.Signal)
			}
		case keyEvidence:
			e.Evidence = nil
			if !p.null() {
				e.Evidence, ok = p.base64()
			}
		}
		return ok
	}) && p.end()
}

const (
	keyV uint16 = 1 << iota
	keyID
	keyDevice
	keyCamera
	keySite
	keyZone
	keyType
	keyTime
	keyClass
	keyConfidence
	keySignal
	keyEvidence
)

var eventKeys = map[string]uint16{
	"v": keyV, "id": keyID, "device": keyDevice, "camera": keyCamera, "site": keySite, "zone": keyZone,
	"type": keyType, "time": keyTime, "class": keyClass, "confidence": keyConfidence,
	"signal": keySignal, "evidence_jpeg": keyEvidence,
}

// parser reads the subset of JSON that decodeEventFast accepts. Every method reports false
// for input it does not handle; the position is then of no use.
type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads an object, calling member after each key to read that key's value. It stops at
// the first false.
func (p *parser) object(member func(key []byte) bool) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	for {
		key, ok := p.key()
		if !ok || !member(key) {
			return false
		}
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

func (p *parser) key() ([]byte, bool) {
	k, ok := p.rawString()
	if !ok || !p.byte(':') {
		return nil, false
	}
	return k[1 : len(k)-1], true
}

// rawString returns the next string token with its quotes. It refuses escapes, control
// characters and invalid UTF-8, which encoding/json would rewrite.
func (p *parser) rawString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i - 1
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			s := p.b[start:p.i]
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *parser) str() (string, bool) {
	s, ok := p.rawString()
	if !ok {
		return "", false
	}
	return string(s[1 : len(s)-1]), true
}

func (p *parser) null() bool {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

func (p *parser) bool() (bool, bool) {
	p.space()
	switch {
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return true, true
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return false, true
	}
	return false, false
}

// number returns the next JSON number token, checked against JSON's grammar, and whether it is
// an integer (no fraction, no exponent).
func (p *parser) number() (tok []byte, integer bool, ok bool) {
	p.space()
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	intStart := p.i
	n := digits()
	if n == 0 || n > 1 && p.b[intStart] == '0' {
		return nil, false, false
	}
	integer = true
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, false, false
		}
		integer = false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, false, false
		}
		integer = false
	}
	return p.b[start:p.i], integer, true
}

func (p *parser) int() (int, bool) {
	tok, integer, ok := p.number()
	if !ok || !integer {
		return 0, false // encoding/json refuses 1.0 for an int; let it say so
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	return int(n), err == nil
}

func (p *parser) float() (float64, bool) {
	tok, _, ok := p.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	return f, err == nil
}

// base64 decodes a string as encoding/json decodes a []byte.
func (p *parser) base64() ([]byte, bool) {
	s, ok := p.rawString()
	if !ok {
		return nil, false
	}
	s = s[1 : len(s)-1]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	return out[:n], err == nil
}

func (p *parser) signal(s *Signal) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		var bit uint8
		ok := false
		switch string(key) {
		case "source":
			bit = 1
			s.Source, ok = p.str()
		case "state":
			bit = 2
			s.State, ok = p.str()
		case "time_into_red_s":
			bit = 4
			s.TimeIntoRedS, ok = p.float()
		case "onset_seen":
			bit = 8
			s.OnsetSeen, ok = p.bool()
		}
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
}

// end reports whether nothing but white space follows.
func (p *parser) end() bool {
	p.space()
	return p.i == len(p.b)
}
