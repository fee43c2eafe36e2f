package wire

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 25, 8, 30, 0, 125e6, time.UTC)

func goldenPayloads() map[string]any {
	return map[string]any{
		"event": Event{V: Version, ID: "cam-1-1795595400125-rl-nb-t7", Device: "edge-1", Camera: "cam-1",
			Site: "main-st-nb", Zone: "nb-stop", Type: RedLightRunning, Time: t0, Class: "car", Confidence: 0.9,
			Signal: &Signal{Source: SignalCamera, State: "red", TimeIntoRedS: 2.5, OnsetSeen: true}},
		"counts": Counts{V: Version, ID: "cam-1-cnt-nb-stop-1795595400000", Device: "edge-1", Camera: "cam-1",
			Site: "main-st-nb", Zone: "nb-stop", Start: t0.Truncate(time.Minute), PeriodS: 60, Counts: map[string]int{"car": 12, "bus": 1}},
		// An approach whose scene names its leg: the turning movements of who entered by it.
		"counts-movements": Counts{V: Version, ID: "cam-1-c0-1795595400000", Device: "edge-1", Camera: "cam-1",
			Site: "main-st-nb", Zone: "nb-stop", Start: t0.Truncate(time.Minute), PeriodS: 60, Counts: map[string]int{"car": 12, "bus": 1},
			Movements: map[string]map[string]int{"south>north": {"car": 7, "bus": 1}, "south>east": {"car": 3}}},
		"status": Status{V: Version, Device: "edge-1", Online: true, Time: t0, Backlog: 3, OldestPendingS: 1.5, Software: "crosswatch-edge dev"},
		// A camera quarantined since 40 s before: its view does not match its scene.
		"status-view-mismatch": Status{V: Version, Device: "edge-1", Online: true, Time: t0, Software: "crosswatch-edge dev",
			ViewChanges: 1, LastViewChange: ptr(t0.Add(-40 * time.Second)), ViewMismatchSince: ptr(t0.Add(-40 * time.Second))},
		// A box with two cameras, one of them reconnecting to its dropped stream.
		"status-cameras": Status{V: Version, Device: "edge-1", Online: true, Time: t0, Software: "crosswatch-edge dev",
			Cameras: []CameraStatus{
				{ID: "cam-1", State: CameraUp, DecodedFPS: 29.97, AnalysedFPS: 15, LastFrame: ptr(t0.Add(-30 * time.Millisecond)), Reconnects: 1,
					Signals: []SignalState{{ID: "nb-main", State: "red", Source: SignalCamera}, {ID: "ped-east", State: "unknown", Source: SignalFixed}}},
				{ID: "cam-2", State: CameraReconnecting, LastFrame: ptr(t0.Add(-4 * time.Second)), Reconnects: 2, ViewChanges: 1, ViewMismatch: true,
					Error: "source dropped; reconnecting"},
			}},
		"gap": Gap{V: Version, ID: "gap-edge-1-1795595400125", Device: "edge-1", Time: t0, Reason: GapOutboxFull,
			Evicted: map[string]int{"counts": 40, Jaywalking: 2}, Oldest: t0.Add(-time.Hour), Newest: t0.Add(-50 * time.Minute)},
		"ack": Ack{V: Version, Committed: []string{"a", "b"}, Rejected: []Rejection{{ID: "c", Reason: "unknown site \"x\""}}},
		// An aggregator that names the rejection's code, site and camera (since 2026-12).
		"ack-codes": Ack{V: Version, Committed: []string{"a"}, Rejected: []Rejection{
			{ID: "c", Reason: "unknown site \"x\"", Code: RejectUnknownSite, Site: "x", Camera: "cam-1"},
			{ID: "d", Reason: "camera \"cam-9\" is not one of site \"main-st-nb\"'s cameras", Code: RejectUnknownCamera, Site: "main-st-nb", Camera: "cam-9"}}},
		"frame-request": FrameRequestMsg{V: Version, Camera: "cam-1", Time: t0},
	}
}

func ptr[T any](v T) *T { return &v }

func TestGolden(t *testing.T) {
	for name, v := range goldenPayloads() {
		t.Run(name, func(t *testing.T) {
			got, err := Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, bytes.TrimSpace(want)) {
				t.Fatalf("payload changed; a change to the wire format needs a new schema version\ngot  %s\nwant %s", got, want)
			}
			// Round trip through the decoder.
			switch name {
			case "event":
				e, err := DecodeEvent(want)
				if err != nil || e.ID != v.(Event).ID || !e.Time.Equal(t0) {
					t.Fatalf("decode: %+v %v", e, err)
				}
			case "counts":
				c, err := DecodeCounts(want)
				if err != nil || c.Counts["car"] != 12 {
					t.Fatalf("decode: %+v %v", c, err)
				}
			case "counts-movements":
				c, err := DecodeCounts(want)
				if err != nil || c.Movements["south>east"]["car"] != 3 || c.Movements["south>north"]["bus"] != 1 {
					t.Fatalf("decode: %+v %v", c, err)
				}
			case "status":
				if _, err := DecodeStatus(want); err != nil {
					t.Fatal(err)
				}
			case "status-cameras":
				s, err := DecodeStatus(want)
				if err != nil || !reflect.DeepEqual(s, v) {
					t.Fatalf("decode: %+v %v", s, err)
				}
			case "gap":
				g, err := DecodeGap(want)
				if err != nil || g.Evicted["counts"] != 40 {
					t.Fatalf("decode: %+v %v", g, err)
				}
			case "frame-request":
				r, err := DecodeFrameRequest("crosswatch/v1/edge-1/frame-request/cam-1", want)
				if err != nil || r != v.(FrameRequestMsg) {
					t.Fatalf("decode: %+v %v", r, err)
				}
			case "ack":
				a, err := DecodeAck(want)
				if err != nil || len(a.Committed) != 2 || a.Rejected[0].ID != "c" {
					t.Fatalf("decode: %+v %v", a, err)
				}
				if RejectionCode(a.Rejected[0]) != RejectOther {
					t.Errorf("an ack without codes: code %q, want %q", RejectionCode(a.Rejected[0]), RejectOther)
				}
			case "ack-codes":
				a, err := DecodeAck(want)
				if err != nil || !reflect.DeepEqual(a, v) {
					t.Fatalf("decode: %+v %v", a, err)
				}
				if c := RejectionCode(a.Rejected[1]); c != RejectUnknownCamera {
					t.Errorf("code %q, want %q", c, RejectUnknownCamera)
				}
			}
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	good, _ := os.ReadFile("testdata/event.golden.json")
	cases := []struct {
		name, from, to string
		want           error
		field          string
	}{
		{"version", `"v":1`, `"v":2`, ErrVersion, "v=2"},
		{"unknown field", `"v":1,`, `"v":1,"plate":"AB123",`, ErrInvalid, "plate"},
		{"type", `"red_light_running"`, `"speeding"`, ErrInvalid, "type"},
		{"device wildcard", `"device":"edge-1"`, `"device":"edge/+"`, ErrInvalid, "device"},
		{"confidence", `"confidence":0.9`, `"confidence":1.5`, ErrInvalid, "confidence"},
		{"missing time", `"time":"2026-11-25T08:30:00.125Z",`, ``, ErrInvalid, "time"},
		{"signal source", `"source":"camera"`, `"source":"guess"`, ErrInvalid, "signal.source"},
		{"class", `"class":"car"`, `"class":"face"`, ErrInvalid, "class"},
		{"not json", `{`, `[`, ErrInvalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := strings.Replace(string(good), c.from, c.to, 1)
			if b == string(good) {
				t.Fatalf("case does not change the payload")
			}
			_, err := DecodeEvent([]byte(b))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("got %v, want %v naming %q", err, c.want, c.field)
			}
		})
	}
	big := make([]byte, MaxEventBytes+1)
	if _, err := DecodeEvent(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

func TestParseTopic(t *testing.T) {
	d, k, err := ParseTopic(Topic("edge-1", KindEvents))
	if err != nil || d != "edge-1" || k != KindEvents {
		t.Fatalf("%q %q %v", d, k, err)
	}
	for _, bad := range []string{"crosswatch/v2/e/events", "crosswatch/v1/e/x", "crosswatch/v1/e/events/x", "crosswatch/v1//events", "other"} {
		if _, _, err := ParseTopic(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	good, _ := os.ReadFile("testdata/event.golden.json")
	f.Add(good)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to a valid event again.
		out, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeEvent(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	good, _ := os.ReadFile("testdata/event.golden.json")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEvent(good); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	e := goldenPayloads()["event"].(Event)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Encode(e)
	}
}

// Phase messages and device statuses name the field that is wrong.
func TestDecodePhaseAndStatusReject(t *testing.T) {
	for _, c := range []struct {
		payload, want string
		decode        func([]byte) error
	}{
		{`{"v":1,"signal":"nb","state":"green","time":"2026-11-26T08:00:00Z"}`, "", func(b []byte) error { _, err := DecodePhase(b); return err }},
		{`{"v":1,"signal":"nb","state":"blue","time":"2026-11-26T08:00:00Z"}`, "state", func(b []byte) error { _, err := DecodePhase(b); return err }},
		{`{"v":1,"signal":"nb","state":"red"}`, "time", func(b []byte) error { _, err := DecodePhase(b); return err }},
		{`{"v":1,"signal":"n b","state":"red","time":"2026-11-26T08:00:00Z"}`, "signal", func(b []byte) error { _, err := DecodePhase(b); return err }},
		{`{"v":2,"signal":"nb","state":"red","time":"2026-11-26T08:00:00Z"}`, "v=2", func(b []byte) error { _, err := DecodePhase(b); return err }},
		{`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":-1,"oldest_pending_s":0}`, "backlog", func(b []byte) error { _, err := DecodeStatus(b); return err }},
		{`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"signal_disagreements":-3}`, "signal_disagreements", func(b []byte) error { _, err := DecodeStatus(b); return err }},
		{`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"view_changes":-1}`, "view_changes", func(b []byte) error { _, err := DecodeStatus(b); return err }},
		{`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"view_changes":2}`, "last_view_change", func(b []byte) error { _, err := DecodeStatus(b); return err }},
		{`{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"view_mismatch_since":"0001-01-01T00:00:00Z"}`, "view_mismatch_since", func(b []byte) error { _, err := DecodeStatus(b); return err }},
	} {
		err := c.decode([]byte(c.payload))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.payload, err, c.want)
		}
	}
}

// A status's cameras are each checked, and the error names the camera's field.
func TestDecodeStatusCamerasReject(t *testing.T) {
	good, err := os.ReadFile("testdata/status-cameras.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStatus(good); err != nil {
		t.Fatalf("golden: %v", err)
	}
	long := strings.Repeat("x", MaxCameraErrorLen)
	cams := func(c ...string) string {
		return `{"v":1,"device":"d","online":true,"time":"2026-11-26T08:00:00Z","backlog":0,"oldest_pending_s":0,"cameras":[` + strings.Join(c, ",") + `]}`
	}
	up := `{"id":"c1","state":"up","decoded_fps":25,"analysed_fps":15,"reconnects":0}`
	for _, c := range []struct{ payload, want string }{
		{cams(up), ""},
		{cams(up, `{"id":"c2","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":0,"error":"`+long+`"}`), ""},
		{cams(up, `{"id":"c2","state":"reconnecting","decoded_fps":1000,"analysed_fps":1000,"reconnects":1000000000,"view_changes":1000000000,"last_frame":"2026-11-26T07:59:59Z"}`), ""},
		{cams(up, up), `cameras[1].id: "c1" is also cameras[0].id`},
		{cams(`{"id":"c 1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0}`), "cameras[0].id"},
		{cams(`{"id":"","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0}`), "cameras[0].id: missing"},
		{cams(up, `{"id":"c2","state":"asleep","decoded_fps":0,"analysed_fps":0,"reconnects":0}`), "cameras[1].state"},
		{cams(`{"id":"c1","state":"","decoded_fps":0,"analysed_fps":0,"reconnects":0}`), "cameras[0].state"},
		{cams(`{"id":"c1","state":"up","decoded_fps":-1,"analysed_fps":0,"reconnects":0}`), "cameras[0].decoded_fps"},
		{cams(`{"id":"c1","state":"up","decoded_fps":1000.5,"analysed_fps":0,"reconnects":0}`), "cameras[0].decoded_fps"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":-0.1,"reconnects":0}`), "cameras[0].analysed_fps"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":1001,"reconnects":0}`), "cameras[0].analysed_fps"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":-1}`), "cameras[0].reconnects"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":1000000001}`), "cameras[0].reconnects"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"view_changes":-1}`), "cameras[0].view_changes"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"view_changes":1000000001}`), "cameras[0].view_changes"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"last_frame":"0001-01-01T00:00:00Z"}`), "cameras[0].last_frame"},
		{cams(`{"id":"c1","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":0,"error":"x` + long + `"}`), "cameras[0].error: 201 bytes, limit 200"},
		{cams(`{"id":"c1","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":0,"error":"a\nb"}`), "cameras[0].error: control character"},
		{cams(`{"id":"c1","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":0,"error":"a\u007fb"}`), "cameras[0].error: control character"},
		{cams(`{"id":"c1","state":"down","decoded_fps":0,"analysed_fps":0,"reconnects":0,"error":"a\u0085b"}`), "cameras[0].error: control character"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"fps":3}`), "unknown field"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[{"id":"s1","state":"green","source":"plan"},{"id":"s2","state":"unknown","source":"fixed"}]}`), ""},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[{"id":"s1","state":"blue","source":"camera"}]}`), `cameras[0].signals[0].state: "blue"`},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[{"id":"s1","state":"red","source":"guess"}]}`), `cameras[0].signals[0].source: "guess"`},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[{"id":"s1","state":"red","source":"camera"},{"id":"s 2","state":"red","source":"camera"}]}`), "cameras[0].signals[1].id"},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[{"id":"s1","state":"red","source":"camera"},{"id":"s1","state":"red","source":"feed"}]}`), `cameras[0].signals[1].id: "s1" is also cameras[0].signals[0].id`},
		{cams(`{"id":"c1","state":"up","decoded_fps":0,"analysed_fps":0,"reconnects":0,"signals":[` + strings.Repeat(`{"id":"s","state":"red","source":"camera"},`, MaxCameraSignals) + `{"id":"t","state":"red","source":"camera"}]}`), "cameras[0].signals: 17 signals, limit 16"},
	} {
		_, err := DecodeStatus([]byte(c.payload))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: %v, want %q", c.payload, err, c.want)
		}
	}
	// At most MaxStatusCameras cameras, and a status of that many with the longest errors fits.
	var many []string
	worst := strings.Repeat("<", MaxCameraErrorLen) // JSON writes each as \u003c
	for i := range MaxStatusCameras + 1 {
		many = append(many, fmt.Sprintf(`{"id":"%s","state":"down","decoded_fps":1000,"analysed_fps":1000,"reconnects":1000000000,"view_changes":1000000000,"view_mismatch":true,"last_frame":"2026-11-26T07:59:59.999Z","error":"%s"}`,
			strings.Repeat("c", MaxNameLen-3)+fmt.Sprintf("%03d", i), strings.Repeat(`\u003c`, len(worst))))
	}
	if _, err := DecodeStatus([]byte(cams(many...))); err == nil || !strings.Contains(err.Error(), "cameras: 33 cameras, limit 32") {
		t.Errorf("%d cameras: %v", len(many), err)
	}
	full := []byte(cams(many[:MaxStatusCameras]...))
	if _, err := DecodeStatus(full); err != nil {
		t.Errorf("%d cameras with the longest fields (%d bytes): %v", MaxStatusCameras, len(full), err)
	}
}

func TestCameraErrorText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"open rtsp://admin:s3cret@10.0.0.5:554/stream: timeout", "open rtsp://***@10.0.0.5:554/stream: timeout"},
		{"http://user@cam/x and rtsp://a:b@c/d", "http://***@cam/x and rtsp://***@c/d"},
		{"connecting to /dev/video0", "connecting to /dev/video0"},
		{"line 1\nline 2\tend\x7f", "line 1 line 2 end "},
	} {
		if got := CameraErrorText(c.in); got != c.want {
			t.Errorf("CameraErrorText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("é", MaxCameraErrorLen) // 2 bytes each: the cut must not split one
	got := CameraErrorText(long)
	if len(got) > MaxCameraErrorLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || len(got) < MaxCameraErrorLen-4 {
		t.Errorf("cut to %d bytes: %q", len(got), got)
	}
	if s := CameraErrorText(strings.Repeat("a", MaxCameraErrorLen)); s != strings.Repeat("a", MaxCameraErrorLen) {
		t.Errorf("a text of exactly the limit was cut: %q", s)
	}
	// What it makes is always a valid error field.
	for _, in := range []string{long, "rtsp://u:p@h\x00\x1b[31m" + long} {
		st := Status{V: Version, Device: "d", Online: true, Time: t0, Cameras: []CameraStatus{{ID: "c", State: CameraDown, Error: CameraErrorText(in)}}}
		b, _ := Encode(st)
		if _, err := DecodeStatus(b); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// decodeEventSlow is DecodeEvent's encoding/json path alone.
func decodeEventSlow(b []byte) (Event, error) {
	var e Event
	err := decode(b, MaxEventBytes, &e)
	return e, err
}

// The reflection-free parser must give exactly what encoding/json gives for every payload it
// accepts, and accept nothing that encoding/json refuses.
func FuzzDecodeEventFast(f *testing.F) {
	good, _ := os.ReadFile("testdata/event.golden.json")
	f.Add(good)
	for _, s := range []string{
		`{"v":1}`, `{}`, ` { "v" : 1 , "id" : "a" } `, `{"v":1,"evidence_jpeg":"/9j/4AAQ"}`, `{"v":1,"evidence_jpeg":""}`,
		`{"v":1,"evidence_jpeg":null,"signal":null}`, `{"v":1,"id":"a\u00e9"}`, `{"v":1,"id":"é"}`, `{"v":1,"id":"\xff"}`,
		`{"v":1,"v":2}`, `{"V":1}`, `{"v":1.0}`, `{"v":01}`, `{"v":-0}`, `{"v":1e2}`, `{"v":1,}`, `{"v":1}x`, `{"v":1}{}`,
		`{"v":1,"confidence":1e400}`, `{"v":1,"confidence":-0.5e-3}`, `{"v":1,"time":"2026-11-25T08:30:00.125+01:00"}`,
		`{"v":1,"time":"2026-11-25 08:30:00Z"}`, `{"v":1,"time":null}`, `{"v":1,"signal":{"onset_seen":true,"onset_seen":false}}`,
		`{"v":1,"signal":{"source":"camera","extra":1}}`, `{"v":1,"signal":{}}`, `{"v":1,"id":null}`, `null`, `[]`,
		`{"v":1,"evidence_jpeg":"not base64!"}`, `{"v":99999999999999999999}`, `{"v":1,"signal":{"onset_seen":nul}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Event
		if !decodeEventFast(b, &fast) {
			return // encoding/json decides
		}
		slow, err := decodeEventSlow(b)
		if err != nil && fast.V == Version {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
		}
		if err == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %#v\nslow %#v", b, fast, slow)
		}
	})
}

// What an aggregator sends a box is read leniently: a field a newer aggregator adds is ignored,
// so aggregators can be upgraded first. A payload of another version is still refused.
func TestFromAggregatorIgnoresUnknownFields(t *testing.T) {
	a, err := DecodeAck([]byte(`{"v":1,"committed":["a"],"rejected":[{"id":"b","reason":"r","code":"unknown_site","hint":"later"}],"next":{"x":1}}`))
	if err != nil {
		t.Fatalf("ack with fields this box does not know: %v", err)
	}
	if len(a.Committed) != 1 || a.Committed[0] != "a" || len(a.Rejected) != 1 || a.Rejected[0].ID != "b" || a.Rejected[0].Code != RejectUnknownSite {
		t.Fatalf("ack decoded as %+v", a)
	}
	if _, err := DecodeAck([]byte(`{"v":2,"committed":["a"],"next":1}`)); !errors.Is(err, ErrVersion) {
		t.Fatalf("ack of v2: %v, want ErrVersion", err)
	}
	if _, err := DecodeAck([]byte(`{"v":1,"committed":"a"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ack with a mistyped field: %v, want ErrInvalid", err)
	}
	b, _ := Encode(NewScene("cam-1", 3, "version: 1\n"))
	sc, err := DecodeScene([]byte(strings.Replace(string(b), `{"v":1,`, `{"v":1,"signed_by":"future",`, 1)))
	if err != nil {
		t.Fatalf("scene with a field this box does not know: %v", err)
	}
	if sc.Camera != "cam-1" || sc.Version != 3 {
		t.Fatalf("scene decoded as %+v", sc)
	}
}
