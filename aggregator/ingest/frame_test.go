package ingest

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A box's reference frame is stored as its camera's latest when the camera is the device's in
// the registry; a frame from another device, of an unknown camera, that does not decode or
// whose device is not the topic's is a dead letter with its reason, and nothing is stored.
func TestFramesStoredForTheCamerasOwner(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "cam-1", Device: "edge-1", Scene: "version: 1\n"}, 0, "user:ann"); err != nil {
		t.Fatal(err)
	}
	fr := NewFrames(st, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), testNow)
	var stored []string
	fr.SetOnStored(func(c string) { stored = append(stored, c) })
	img := jpegOf(t, 64, 36)
	msg := func(topicDevice, topicCamera string, f wire.Frame) Message {
		return Message{Topic: wire.FrameTopic(topicDevice, topicCamera), Payload: mustEncode(t, f), Received: testNow()}
	}
	good := wire.Frame{V: wire.Version, Device: "edge-1", Camera: "cam-1", Time: testNow().Add(-time.Second), Reason: wire.FrameStart, Width: 64, Height: 36, JPEG: img}
	if err := fr.Handle(ctx, msg("edge-1", "cam-1", good)); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindFrame(ctx, "cam-1")
	if err != nil || !bytes.Equal(got.JPEG, img) || got.Device != "edge-1" || got.Reason != "start" || len(stored) != 1 {
		t.Fatalf("stored frame %+v %v (stored %v)", got, err, stored)
	}
	other := good
	other.Device = "edge-2"
	unknown := good
	unknown.Camera = "cam-9"
	broken := good
	broken.JPEG = append(append([]byte{}, img[:len(img)/2]...), 0xff, 0xd9)
	lying := good
	lying.Device = "edge-2"
	newer := func(f wire.Frame) wire.Frame { f.Time = testNow(); return f }
	for _, c := range []struct {
		name   string
		m      Message
		reason string
	}{
		{"another device's camera", msg("edge-2", "cam-1", newer(other)), "device \"edge-1\"'s in the registry"},
		{"an unknown camera", msg("edge-1", "cam-9", newer(unknown)), "camera \"cam-9\" is not in the registry"},
		{"a JPEG that does not decode", msg("edge-1", "cam-1", newer(broken)), "jpeg"},
		{"a payload naming another device", msg("edge-1", "cam-1", newer(lying)), "not the topic's device"},
	} {
		err := fr.Handle(ctx, c.m)
		if !errors.Is(err, errFrame) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want refused naming %q", c.name, err, c.reason)
		}
	}
	dl, err := st.FindDeadLetters(ctx, 10, 0)
	if err != nil || len(dl) != 4 {
		t.Fatalf("dead letters: %d %v, want 4", len(dl), err)
	}
	if got, _ := st.FindFrame(ctx, "cam-1"); !got.Time.Equal(good.Time) || len(stored) != 1 {
		t.Fatalf("a refused frame replaced the stored one: %+v", got)
	}
}

// A refused frame reprocessed with the dead letters stays a dead letter and says why: frames
// are not reprocessed, the camera is asked for a new one.
func TestFrameIsNotReprocessed(t *testing.T) {
	st := openStore(t)
	run(t, st, []Message{{Topic: wire.FrameTopic("edge-1", "cam-1"), Payload: []byte(`{"v":1}`), Received: testNow()}})
	dl, err := st.FindDeadLetters(context.Background(), 10, 0)
	if err != nil || len(dl) != 1 || !strings.Contains(dl[0].Reason, "frame-request") || dl[0].Device != "edge-1" {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
}

// The frame ingester's clock window and dead-letter size: the defaults when the config leaves
// them zero, the config's own otherwise; no clock means the real one.
func TestFramesWindowAndDeadLetterBytes(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	img := jpegOf(t, 640, 360) // its payload is over DefaultConfig's DeadLetterBytes
	frame := func(at time.Time) Message {
		return Message{Topic: wire.FrameTopic("edge-1", "cam-1"), Received: at,
			Payload: mustEncode(t, wire.Frame{V: wire.Version, Device: "edge-1", Camera: "cam-1", Time: at, Reason: wire.FrameStart, Width: 640, Height: 360, JPEG: img})}
	}
	newStore := func(t *testing.T) *sqlite.Store {
		st := openStore(t)
		if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "cam-1", Device: "edge-1", Scene: "version: 1\n"}, 0, "user:ann"); err != nil {
			t.Fatal(err)
		}
		return st
	}
	def := DefaultConfig()
	for _, c := range []struct {
		name   string
		cfg    Config
		ahead  time.Duration
		refuse bool
	}{
		{"the default window takes a frame a minute ahead", Config{}, time.Minute, false},
		{"nor one just inside it", Config{}, def.MaxAhead - time.Second, false},
		{"but not one past it", Config{}, def.MaxAhead + time.Second, true},
		{"a window of 30 s refuses a frame a minute ahead", Config{MaxAhead: 30 * time.Second}, time.Minute, true},
	} {
		fr := NewFrames(newStore(t), c.cfg, quiet, testNow)
		err := fr.Handle(ctx, frame(testNow().Add(c.ahead)))
		if refused := errors.Is(err, errFrame) && strings.Contains(err.Error(), "after the aggregator's clock"); refused != c.refuse || !refused && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// No clock: the real one (a frame from now is taken, one from testNow's week is too: the
	// window only bounds the future).
	fr := NewFrames(newStore(t), Config{}, quiet, nil)
	if err := fr.Handle(ctx, frame(time.Now())); err != nil {
		t.Fatalf("with the real clock, a frame from now: %v", err)
	}
	if err := fr.Handle(ctx, frame(time.Now().Add(def.MaxAhead+time.Minute))); !errors.Is(err, errFrame) {
		t.Fatalf("with the real clock, a frame from the future: %v", err)
	}
	// A refused frame keeps DeadLetterBytes of its payload: the default, or the config's.
	for _, keep := range []int{0, 100} {
		st := newStore(t)
		bad := frame(testNow())
		bad.Topic = wire.FrameTopic("edge-2", "cam-1") // another device's camera
		bad.Payload = bytes.Replace(bad.Payload, []byte(`"device":"edge-1"`), []byte(`"device":"edge-2"`), 1)
		if err := NewFrames(st, Config{DeadLetterBytes: keep}, quiet, testNow).Handle(ctx, bad); !errors.Is(err, errFrame) {
			t.Fatalf("another device's frame: %v", err)
		}
		dl, err := st.FindDeadLetters(ctx, 10, 0)
		want := keep
		if keep == 0 {
			want = def.DeadLetterBytes
		}
		if err != nil || len(dl) != 1 || len(dl[0].Payload) != want || dl[0].Size != len(bad.Payload) {
			t.Fatalf("DeadLetterBytes %d: dead letters %d (%v), want one keeping %d of %d bytes", keep, len(dl), err, want, len(bad.Payload))
		}
	}
}
