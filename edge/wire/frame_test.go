package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"
)

func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameTopics(t *testing.T) {
	for got, want := range map[string]string{
		FrameTopic("edge-1", "cam-2"):        "crosswatch/v1/edge-1/frame/cam-2",
		FrameFilter():                        "crosswatch/v1/+/frame/+",
		FrameRequestTopic("edge-1", "cam-2"): "crosswatch/v1/edge-1/frame-request/cam-2",
		FrameRequestFilter("edge-1"):         "crosswatch/v1/edge-1/frame-request/+",
	} {
		if got != want {
			t.Errorf("topic %s, want %s", got, want)
		}
	}
	for topic, want := range map[string][3]string{
		"crosswatch/v1/edge-1/frame/cam-2":         {"edge-1", "frame", "cam-2"},
		"crosswatch/v1/edge-1/frame-request/cam-2": {"edge-1", "frame-request", "cam-2"},
		"crosswatch/v1/edge-1/frame-request/+":     {"edge-1", "frame-request", "+"},
		"crosswatch/v1/edge-1/scene/cam-2":         {"edge-1", "scene", "cam-2"},
	} {
		d, k, c, err := ParseCameraTopic(topic)
		if err != nil || [3]string{d, k, c} != want {
			t.Errorf("%s: %s %s %s %v", topic, d, k, c, err)
		}
	}
	for _, bad := range []string{"crosswatch/v1/edge-1/frame", "crosswatch/v1/+/frame/c", "crosswatch/v1/edge-1/frame/#",
		"crosswatch/v1/edge-1/events/c", "crosswatch/v1/edge-1/frame/a/b", "crosswatch/v1/edge-1/frame/a b", "crosswatch/v2/edge-1/frame/c"} {
		if _, _, _, err := ParseCameraTopic(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%s: %v, want ErrTopic", bad, err)
		}
	}
	// The event topics' parser does not take a camera's topic for one of its kinds.
	if _, _, err := ParseTopic("crosswatch/v1/edge-1/frame/cam-2"); !errors.Is(err, ErrTopic) {
		t.Errorf("ParseTopic of a frame topic: %v", err)
	}
}

// A frame round-trips with its JPEG as base64; every bad field is refused naming it.
func TestFrameRoundTripAndBadPayloads(t *testing.T) {
	const topic = "crosswatch/v1/edge-1/frame/cam-2"
	img := testJPEG(t, 64, 36)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	good := Frame{V: Version, Device: "edge-1", Camera: "cam-2", Time: t0, Reason: FrameScene, Width: 64, Height: 36, JPEG: img}
	b, err := Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"jpeg":"`+base64.StdEncoding.EncodeToString(img)+`"`) || !strings.Contains(string(b), `"reason":"scene"`) {
		t.Fatalf("encoded: %.200s", b)
	}
	f, err := DecodeFrame(topic, b)
	if err != nil || !bytes.Equal(f.JPEG, img) || f.Width != 64 || f.Height != 36 || !f.Time.Equal(t0) || f.Reason != FrameScene {
		t.Fatalf("round trip: %+v %v", f, err)
	}
	wide := testJPEG(t, 641, 10)
	truncated := append(append([]byte{}, img[:len(img)*2/3]...), 0xff, 0xd9)
	for _, c := range []struct {
		name  string
		topic string
		edit  func(*Frame)
		want  string
	}{
		{"another device than the topic's", topic, func(f *Frame) { f.Device = "edge-9" }, `device: "edge-9" is not the topic's device "edge-1"`},
		{"another camera than the topic's", topic, func(f *Frame) { f.Camera = "cam-3" }, `camera: "cam-3" is not the topic's camera "cam-2"`},
		{"no time", topic, func(f *Frame) { f.Time = time.Time{} }, "time: missing"},
		{"an unknown reason", topic, func(f *Frame) { f.Reason = "boredom" }, `reason: "boredom"`},
		{"no JPEG", topic, func(f *Frame) { f.JPEG = nil }, "jpeg: missing"},
		{"not a JPEG", topic, func(f *Frame) { f.JPEG = []byte("GIF89a....") }, "jpeg: not a JPEG"},
		{"wider than 640 px", topic, func(f *Frame) { f.JPEG, f.Width, f.Height = wide, 641, 10 }, "641x10 pixels, limit 640x1280"},
		{"a JPEG whose pixels do not decode", topic, func(f *Frame) { f.JPEG = truncated }, "jpeg: does not decode"},
		{"a size that is not the JPEG's", topic, func(f *Frame) { f.Width = 60 }, "the message says 60x36, the JPEG is 64x36"},
		{"a scene topic", "crosswatch/v1/edge-1/scene/cam-2", func(*Frame) {}, "not a frame topic"},
		{"a filter", "crosswatch/v1/edge-1/frame/+", func(*Frame) {}, "not a frame topic"},
	} {
		f := good
		c.edit(&f)
		b, _ := Encode(f)
		if _, err := DecodeFrame(c.topic, b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := DecodeFrame(topic, append(bytes.Repeat([]byte(" "), MaxFrameBytes), b...)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := DecodeFrame(topic, []byte(strings.Replace(string(b), `"v":1`, `"v":2`, 1))); !errors.Is(err, ErrVersion) {
		t.Errorf("v=2: %v", err)
	}
	if _, err := DecodeFrame(topic, []byte(strings.Replace(string(b), `"v":1`, `"v":1,"raw":true`, 1))); !errors.Is(err, ErrInvalid) {
		t.Errorf("an unknown field: %v", err)
	}
}

func TestFrameRequestBad(t *testing.T) {
	const topic = "crosswatch/v1/edge-1/frame-request/cam-2"
	for _, c := range []struct{ topic, payload, want string }{
		{topic, `{"v":1,"camera":"cam-2","time":"2026-12-02T10:00:00Z"}`, ""},
		{topic, `{"v":1,"camera":"cam-3","time":"2026-12-02T10:00:00Z"}`, `camera: "cam-3" is not the topic's camera`},
		{topic, `{"v":1,"camera":"cam-2"}`, "time: missing"},
		{"crosswatch/v1/edge-1/frame/cam-2", `{"v":1,"camera":"cam-2","time":"2026-12-02T10:00:00Z"}`, "not a frame-request topic"},
		// From the aggregator: a field this box does not know is ignored (aggregators upgrade first).
		{topic, `{"v":1,"camera":"cam-2","time":"2026-12-02T10:00:00Z","all":true}`, ""},
		{topic, `{"v":2,"camera":"cam-2","time":"2026-12-02T10:00:00Z"}`, "v=2"},
	} {
		_, err := DecodeFrameRequest(c.topic, []byte(c.payload))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %s: %v, want %q", c.topic, c.payload, err, c.want)
		}
	}
}
