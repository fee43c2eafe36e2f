package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// A camera's reference frame: 404 JSON until its box sent one, then the JPEG as stored with
// its time, never cached; an admin's frame-request reaches the camera's device (202), an
// unknown camera is a 404 and asks nobody.
func TestCameraFrame(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv, _, st := serverStore(t, WithFrameRequests(func(_ context.Context, device, camera string) error {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, device+"/"+camera)
		return nil
	}))
	ctx := context.Background()
	if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "c", Device: "edge-7", Scene: registryScene(t)}, 0, "user:ann"); err != nil {
		t.Fatal(err)
	}
	admin, viewer := testTokens[aggregator.Admin], testTokens[aggregator.Viewer]
	url := srv.URL + "/api/v1/registry/cameras/c/frame.jpg"
	if code, ctype, body := getAs(t, viewer, url); code != http.StatusNotFound || ctype != "application/json" {
		t.Fatalf("no frame yet: %d %s %s", code, ctype, body)
	}
	at := time.Date(2026, 12, 2, 10, 30, 15, 250e6, time.UTC)
	img := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9}
	if _, err := st.PutFrame(ctx, aggregator.Frame{Camera: "c", Device: "edge-7", Time: at, Received: at.Add(time.Second), Reason: "start", Width: 640, Height: 360, JPEG: img}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ft, perr := time.Parse(time.RFC3339, resp.Header.Get("X-Frame-Time"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Cache-Control") != "no-store" ||
		!bytes.Equal(b, img) || perr != nil || !ft.Equal(at) {
		t.Fatalf("frame: %d %v %d bytes, X-Frame-Time %q (%v)", resp.StatusCode, resp.Header, len(b), resp.Header.Get("X-Frame-Time"), perr)
	}
	if code, _, body := call(t, http.MethodPost, srv.URL+"/api/v1/registry/cameras/c/frame-request", admin, ""); code != http.StatusAccepted || body["device"] != "edge-7" {
		t.Fatalf("frame-request: %d %v", code, body)
	}
	if code, _, body := call(t, http.MethodPost, srv.URL+"/api/v1/registry/cameras/nope/frame-request", admin, ""); code != http.StatusNotFound || body["error"] == nil {
		t.Fatalf("frame-request of an unknown camera: %d %v, want 404", code, body)
	}
	if code, _, _ := getAs(t, viewer, srv.URL+"/api/v1/registry/cameras/nope/frame.jpg"); code != http.StatusNotFound {
		t.Fatalf("frame of an unknown camera: %d, want 404", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "edge-7/c" {
		t.Fatalf("requests published: %v, want edge-7/c once", asked)
	}
}
