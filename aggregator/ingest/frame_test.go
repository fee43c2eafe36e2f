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
