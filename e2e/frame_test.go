package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// getFrame reads camera's reference frame through the API: the status, the JPEG and its
// X-Frame-Time.
func getFrame(t *testing.T, a *Aggregator, camera string) (int, []byte, time.Time) {
	t.Helper()
	resp, err := authGet(a.API + "/api/v1/registry/cameras/" + camera + "/frame.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ft, _ := time.Parse(time.RFC3339, resp.Header.Get("X-Frame-Time"))
	return resp.StatusCode, b, ft
}

// requestFrame asks camera's box for a new frame through the API (as admin).
func requestFrame(t *testing.T, a *Aggregator, camera string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.API+"/api/v1/registry/cameras/"+camera+"/frame-request", nil)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dialAs connects as device user.
func dialAs(t *testing.T, broker, user string) paho.Client {
	t.Helper()
	c := paho.NewClient(login(broker, user))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// counter subscribes as user to filter and counts what arrives.
type counter struct {
	mu  sync.Mutex
	got []string
}

func (c *counter) n() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

func count(t *testing.T, broker, user, filter string) *counter {
	t.Helper()
	r := &counter{}
	dialAs(t, broker, user).Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		r.got = append(r.got, m.Topic())
		r.mu.Unlock()
	}).WaitTimeout(5 * time.Second)
	return r
}

func frameMsg(t *testing.T, device, camera string, at time.Time) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 64, 36))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var jb bytes.Buffer
	jpeg.Encode(&jb, img, nil)
	b, _ := json.Marshal(wire.Frame{V: wire.Version, Device: device, Camera: camera, Time: at.UTC(), Reason: wire.FrameStart, Width: 64, Height: 36, JPEG: jb.Bytes()})
	return b
}

// The frame topics' ACL, on the embedded broker and on Mosquitto with the shipped ACL: a device
// publishes its own cameras' frames (they reach the API) and may not publish another's; it
// reads its own frame requests, which only the aggregator publishes, and not another's
// (aggregator/broker TestACLFrameTopics covers the rest on the embedded broker).
func TestFrameTopicsConfined(t *testing.T) {
	text, err := os.ReadFile("../configs/scenes/synth-platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	acl, _ := filepath.Abs("../configs/mosquitto/acl")
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			url := broker
			if broker == "mosquitto" {
				url = StartMosquitto(t, "acl_file "+acl).URL
			}
			agg := StartAggregator(t, aggBin, url, filepath.Join(t.TempDir(), "agg.db"))
			if code, _ := putScene(t, agg, string(text), 0); code != 200 {
				t.Fatalf("save the scene: %d", code)
			}
			const cam = "synth-cam-2"
			if code, _, _ := getFrame(t, agg, cam); code != http.StatusNotFound {
				t.Fatalf("no frame yet: %d, want 404", code)
			}
			// One connection per device at a time: a second one with its client id takes over.
			t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
			p := dialAs(t, agg.Broker, "edge-p")
			p.Publish(wire.FrameTopic("edge-p", cam), 1, false, frameMsg(t, "edge-p", cam, t0)).WaitTimeout(5 * time.Second)
			p.Disconnect(50)
			waitUntil(t, 10*time.Second, "edge-p's frame through the API", func() bool { code, _, _ := getFrame(t, agg, cam); return code == 200 })
			// edge-q forges a newer frame of edge-p's camera on edge-p's topic, and a request
			// (a denied publish may cost it the connection: one each).
			for _, p := range []struct {
				topic   string
				payload []byte
			}{
				{wire.FrameTopic("edge-p", cam), frameMsg(t, "edge-p", cam, t0.Add(30*time.Second))},
				{wire.FrameRequestTopic("edge-p", cam), []byte(fmt.Sprintf(`{"v":1,"camera":%q,"time":%q}`, cam, time.Now().UTC().Format(time.RFC3339)))},
			} {
				q := dialAs(t, agg.Broker, "edge-q")
				q.Publish(p.topic, 1, false, p.payload).WaitTimeout(2 * time.Second)
				q.Disconnect(50)
			}
			time.Sleep(500 * time.Millisecond)
			if _, _, ft := getFrame(t, agg, cam); !ft.Equal(t0) {
				t.Fatalf("frame time %s, want %s: edge-q's forged frame was stored", ft, t0)
			}
			mine := count(t, agg.Broker, "edge-p", wire.FrameRequestFilter("edge-p"))
			spy := count(t, agg.Broker, "edge-q", wire.FrameRequestFilter("edge-p"))
			time.Sleep(300 * time.Millisecond)
			if n := mine.n(); n != 0 {
				t.Fatalf("edge-p received %d frame requests that the aggregator did not send", n)
			}
			if code := requestFrame(t, agg, cam); code != http.StatusAccepted {
				t.Fatalf("frame-request: %d, want 202", code)
			}
			waitUntil(t, 10*time.Second, "edge-p's frame request", func() bool { return mine.n() == 1 })
			time.Sleep(300 * time.Millisecond)
			if n := spy.n(); n != 0 {
				t.Fatalf("edge-q read %d of edge-p's frame messages", n)
			}
			if code := requestFrame(t, agg, "no-such-camera"); code != http.StatusNotFound {
				t.Fatalf("frame-request of an unknown camera: %d, want 404", code)
			}
		})
	}
}
