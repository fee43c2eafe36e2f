package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"testing"
)

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The values the security review sent, each refused with its field named, next to the valid
// payload each one changes. (Times in year 0 or 9999 are the aggregator's to refuse: it holds
// them to a window around its clock, aggregator/ingest TestTimeWindowCountsAndDeadLetterCap;
// the edge's own tools, such as eval, stamp clips from 1970.)
func TestNonsenseValuesRefused(t *testing.T) {
	ev := func(change string) string {
		return `{"v":1,"id":"e1","device":"d","camera":"c","site":"s","zone":"z","type":"red_light_running","class":"car",` +
			`"time":"2026-11-25T08:00:00Z","confidence":0.9,"signal":{"source":"camera","state":"red","time_into_red_s":1.5}` + change + `}`
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	good := jpegOf(t, 640, 360)
	counts := func(change string) string {
		return `{"v":1,"id":"k1","device":"d","camera":"c","site":"s","zone":"z","start":"2026-11-25T08:00:00Z","period_s":60,"counts":{"car":3}` + change + `}`
	}
	gap := func(change string) string {
		return `{"v":1,"id":"g1","device":"d","time":"2026-11-25T08:00:00Z","reason":"outbox_full","evicted":{"counts":2},` +
			`"oldest":"2026-11-25T07:00:00Z","newest":"2026-11-25T07:30:00Z"` + change + `}`
	}
	status := func(change string) string {
		return `{"v":1,"device":"d","online":true,"time":"2026-11-25T08:00:00Z","backlog":3,"oldest_pending_s":2.5` + change + `}`
	}
	decode := map[string]func([]byte) error{
		"event":  func(b []byte) error { _, err := DecodeEvent(b); return err },
		"counts": func(b []byte) error { _, err := DecodeCounts(b); return err },
		"gap":    func(b []byte) error { _, err := DecodeGap(b); return err },
		"status": func(b []byte) error { _, err := DecodeStatus(b); return err },
	}
	cases := []struct {
		name, kind, payload, field string // field "" means valid
	}{
		{"valid event", "event", ev(""), ""},
		{"valid event with a JPEG", "event", ev(`,"evidence_jpeg":"` + b64(good) + `"`), ""},
		{"time_into_red_s 1e308", "event", strings.Replace(ev(""), `"time_into_red_s":1.5`, `"time_into_red_s":1e308`, 1), "signal.time_into_red_s"},
		{"time_into_red_s two hours", "event", strings.Replace(ev(""), `"time_into_red_s":1.5`, `"time_into_red_s":7200`, 1), "signal.time_into_red_s"},
		{"confidence 1e308", "event", strings.Replace(ev(""), `"confidence":0.9`, `"confidence":1e308`, 1), "confidence"},
		{"fake JPEG: magic bytes then HTML", "event", ev(`,"evidence_jpeg":"` + b64([]byte("\xff\xd8\xff<html><script>alert(1)</script></html>")) + `"`), "evidence_jpeg"},
		{"JPEG wider than the edge makes", "event", ev(`,"evidence_jpeg":"` + b64(jpegOf(t, 1920, 1080)) + `"`), "evidence_jpeg"},
		{"truncated JPEG", "event", ev(`,"evidence_jpeg":"` + b64(good[:len(good)-40]) + `"`), "evidence_jpeg"},
		{"JPEG with HTML appended", "event", ev(`,"evidence_jpeg":"` + b64(append(append([]byte{}, good...), "<html>"...)) + `"`), "evidence_jpeg"},
		{"valid counts", "counts", counts(""), ""},
		{"count at int64 max", "counts", strings.Replace(counts(""), `"car":3`, `"car":9223372036854775807`, 1), "counts.car"},
		{"count over a million", "counts", strings.Replace(counts(""), `"car":3`, `"car":1000001`, 1), "counts.car"},
		{"valid movements", "counts", counts(`,"movements":{"s>e":{"car":2}}`), ""},
		{"movement without exit", "counts", counts(`,"movements":{"s":{"car":2}}`), "movements"},
		{"movement back to its leg", "counts", counts(`,"movements":{"s>s":{"car":2}}`), "movements"},
		{"movement of a bad leg", "counts", counts(`,"movements":{"s>e/1":{"car":2}}`), "movements"},
		{"movement of an unknown class", "counts", counts(`,"movements":{"s>e":{"tank":2}}`), "movements.s>e"},
		{"movement over a million", "counts", counts(`,"movements":{"s>e":{"car":1000001}}`), "movements.s>e.car"},
		{"valid gap", "gap", gap(""), ""},
		{"gap of 2^31 evicted", "gap", strings.Replace(gap(""), `"counts":2`, `"counts":2147483648`, 1), "evicted.counts"},
		{"gap of 2^31 not accepted", "gap", gap(`,"not_accepted":2147483648`), "not_accepted"},
		{"gap newest before oldest", "gap", strings.Replace(gap(""), "07:30:00Z", "06:30:00Z", 1), "newest"},
		{"valid status", "status", status(""), ""},
		{"backlog at int64 max", "status", strings.Replace(status(""), `"backlog":3`, `"backlog":9223372036854775807`, 1), "backlog"},
		{"oldest_pending_s 1e308", "status", strings.Replace(status(""), `"oldest_pending_s":2.5`, `"oldest_pending_s":1e308`, 1), "oldest_pending_s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decode[c.kind]([]byte(c.payload))
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid payload refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ": "+c.field+": ") {
				t.Fatalf("got %v, want ErrInvalid naming %s", err, c.field)
			}
		})
	}
}
