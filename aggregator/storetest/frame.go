package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// Each camera keeps its latest reference frame: a newer one replaces it, a late older one does
// not, and a camera without one is ErrNotFound.
func testFrames(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	if _, err := st.FindFrame(ctx, "c"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("no frame yet: %v, want ErrNotFound", err)
	}
	first := aggregator.Frame{Camera: "c", Device: "edge-1", Time: now.Add(-time.Minute), Received: now, Reason: "start",
		Width: 640, Height: 360, JPEG: []byte{0xff, 0xd8, 1, 2, 3, 0xff, 0xd9}}
	if ok, err := st.PutFrame(ctx, first); err != nil || !ok {
		t.Fatalf("put the first frame: %v %v", ok, err)
	}
	newer := first
	newer.Time, newer.Reason, newer.Width, newer.Height, newer.JPEG = now.Add(-time.Second), "request", 320, 180, []byte{0xff, 0xd8, 9, 0xff, 0xd9}
	if ok, err := st.PutFrame(ctx, newer); err != nil || !ok {
		t.Fatalf("put a newer frame: %v %v", ok, err)
	}
	if ok, err := st.PutFrame(ctx, first); err != nil || ok {
		t.Fatalf("a late older frame: stored %v (%v), want kept out", ok, err)
	}
	other := first
	other.Camera = "spare"
	if _, err := st.PutFrame(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindFrame(ctx, "c")
	if err != nil || !got.Time.Equal(newer.Time) || got.Reason != "request" || got.Width != 320 || got.Height != 180 ||
		!bytes.Equal(got.JPEG, newer.JPEG) || got.Device != "edge-1" || !got.Received.Equal(now.Truncate(time.Millisecond)) || got.Time.Location() != time.UTC {
		t.Fatalf("latest frame of c: %+v %v, want the newer one", got, err)
	}
	if got, _ := st.FindFrame(ctx, "spare"); !bytes.Equal(got.JPEG, first.JPEG) {
		t.Fatalf("spare's frame: %+v", got)
	}
}
