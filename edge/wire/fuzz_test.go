package wire

import (
	"os"
	"testing"
)

// Every MQTT payload decoder is fuzzed: none may panic, and whatever one accepts must encode and
// decode again (a value the aggregator stored or the edge acted on can be sent on). The seeds run
// as plain tests in every 'go test'; 'go test -fuzz FuzzDecodeCounts -fuzztime 20s' explores.

// seeds adds the golden payload (if any) and a few near misses.
func seeds(f *testing.F, golden string, more ...string) {
	if golden != "" {
		b, err := os.ReadFile("testdata/" + golden)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range append(more, `{"v":1}`, `{}`, `null`, `[]`, `{"v":2}`, `{"v":1,"v":1}`, "") {
		f.Add([]byte(s))
	}
}

// roundTrip fails t if v, which decode accepted, does not encode and decode again.
func roundTrip[T any](t *testing.T, v T, decode func([]byte) (T, error)) {
	out, err := Encode(v)
	if err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	if _, err := decode(out); err != nil {
		t.Fatalf("re-decode %s: %v", out, err)
	}
}

func FuzzDecodeCounts(f *testing.F) {
	seeds(f, "counts.golden.json", `{"v":1,"device":"d","camera":"c","site":"s","from":"2026-11-26T08:00:00Z","to":"2026-11-26T08:01:00Z","counts":{"z":{"car":-1}}}`,
		`{"v":1,"counts":{"z":{"car":9223372036854775807}}}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeCounts(b); err == nil {
			roundTrip(t, c, DecodeCounts)
		}
	})
}

func FuzzDecodeGap(f *testing.F) {
	seeds(f, "gap.golden.json", `{"v":1,"lost":2147483648}`, `{"v":1,"from":"0000-01-01T00:00:00Z","to":"9999-12-31T23:59:59Z"}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, err := DecodeGap(b); err == nil {
			roundTrip(t, g, DecodeGap)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	seeds(f, "status.golden.json", `{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":-1,"oldest_pending_s":0}`,
		`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":1e308,"view_changes":2}`,
		`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"cameras":[{"id":"c1","state":"up","decoded_fps":25,"analysed_fps":15,"reconnects":0,"last_frame":"2026-11-26T07:59:59Z"},{"id":"c2","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":2,"error":"open rtsp://***@h: refused"}]}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeStatus(b); err == nil {
			roundTrip(t, s, DecodeStatus)
		}
	})
}

func FuzzDecodePhase(f *testing.F) {
	seeds(f, "", `{"v":1,"signal":"nb","state":"green","time":"2026-11-26T08:00:00Z"}`,
		`{"v":1,"signal":"nb","state":"blue","time":"2026-11-26T08:00:00Z"}`, `{"v":1,"signal":"n b","state":"red","time":"2026-11-26T08:00:00Z"}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodePhase(b); err == nil {
			roundTrip(t, p, DecodePhase)
		}
	})
}

func FuzzDecodeAck(f *testing.F) {
	seeds(f, "ack.golden.json", `{"v":1,"committed":["a","a"],"rejected":[{"id":"b","reason":""}]}`, `{"v":1,"committed":null}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeAck(b); err == nil {
			roundTrip(t, a, DecodeAck)
		}
	})
}
