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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/camtest"
	"github.com/crosswatch/crosswatch/internal/testenv"
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

// putCameraScene saves camera's scene for device through the API at version; it returns the
// status.
func putCameraScene(t *testing.T, a *Aggregator, camera, device, scene string, version int) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"device": device, "scene": scene, "version": version})
	req, _ := http.NewRequest(http.MethodPut, a.API+"/api/v1/registry/cameras/"+camera, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// frameInfo is a reference frame as the API serves it.
type frameInfo struct {
	time   time.Time
	reason string
	w, h   int
}

func readFrame(t *testing.T, a *Aggregator, camera string) (frameInfo, bool) {
	t.Helper()
	resp, err := authGet(a.API + "/api/v1/registry/cameras/" + camera + "/frame.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return frameInfo{}, false
	}
	b, _ := io.ReadAll(resp.Body)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("frame.jpg: %v, %v", err, resp.Header)
	}
	ft, err := time.Parse(time.RFC3339, resp.Header.Get("X-Frame-Time"))
	if err != nil {
		t.Fatalf("X-Frame-Time %q: %v", resp.Header.Get("X-Frame-Time"), err)
	}
	return frameInfo{time: ft, reason: resp.Header.Get("X-Frame-Reason"), w: cfg.Width, h: cfg.Height}, true
}

// TestBoxSendsReferenceFrames runs `crosswatch-edge run` with a camera (the synthetic
// intersection served as a live stream) whose scene is in the aggregator's registry: the box
// sends the camera's anonymised still when the camera starts, a newer one when an admin asks
// through the API and another when the scene is saved again; each is at most 640 px wide. The
// devices API shows the camera's two signal heads as the box reads them, and the northbound
// head's state follows the clip's signal (exact truth: green, red from 8.2 s to 20.2 s).
func TestBoxSendsReferenceFrames(t *testing.T) {
	testenv.Tool(t, "ffmpeg", "ffmpeg") // serves the camera stream
	testenv.File(t, "../models/files/MANIFEST.tsv", "the models (make models): the box's stills go through the evidence anonymiser")
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip")
	if b, err := exec.Command(edgeBin, "synth", "--seed", "7", "--duration", "30s", "--kind", synth.Intersection, "--out", clip).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, b)
	}
	var truth synth.Truth
	if b, err := os.ReadFile(filepath.Join(clip, "truth.json")); err != nil || json.Unmarshal(b, &truth) != nil || len(truth.Plan) != 1 {
		t.Fatalf("truth: %v %+v", err, truth.Plan)
	}
	text, err := os.ReadFile(filepath.Join(clip, "scene.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	models, _ := filepath.Abs("../models/files")
	const device, cam = "edge-p", "synth-cam-1"
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	if code := putCameraScene(t, agg, cam, device, string(text), 0); code != 200 {
		t.Fatalf("save the scene: %d", code)
	}
	port := freePort(t)
	stopCamera := camtest.Serve(t, filepath.Join(clip, synth.ClipName), port)
	local := filepath.Join(dir, cam+".yaml")
	os.WriteFile(local, text, 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token(device)+"\n"), 0o600)
	config := filepath.Join(dir, "edge.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`device: %s
broker: {url: %q, token_file: %s}
outbox: {path: %s, drain_timeout: 2s}
models: %s
evidence: true
metrics: {listen: "127.0.0.1:%d"}
cameras:
  - {id: %s, source: "http://127.0.0.1:%d", scene: %s}
`, device, agg.Broker, tokenFile, filepath.Join(dir, "state", "outbox.db"), models, freePort(t), cam, port, local)), 0o644)
	edge := exec.Command(edgeBin, "run", "--config", config)
	logs := &syncBuffer{}
	edge.Stdout, edge.Stderr = logs, logs
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if edge.ProcessState == nil {
			edge.Process.Kill()
			edge.Wait()
		}
	})
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		if !waitCond(d, cond) {
			t.Fatalf("timed out after %v waiting for %s\n%s", d, what, logs.String())
		}
	}
	var first frameInfo
	waitFor(40*time.Second, "the camera's first still", func() bool { var ok bool; first, ok = readFrame(t, agg, cam); return ok })
	if first.w > 640 || first.w < 1 || first.reason != wire.FrameStart && first.reason != wire.FrameScene {
		t.Fatalf("first still %+v: want ≤ 640 px wide, sent at the start", first)
	}

	// The live signal states: both heads, read by the camera; the northbound head goes from
	// green to red and back as the clip's plan says (the stream loops: 30 s a round).
	seen := map[string]bool{}
	waitFor(70*time.Second, "the northbound head green and red in the devices API", func() bool {
		var devices []aggregator.Device
		getJSON(t, agg.API+"/api/v1/devices", &devices)
		for _, d := range devices {
			for _, c := range d.Cameras {
				if d.ID != device || c.ID != cam || len(c.Signals) == 0 { // none: a status from before the first frame
					continue
				}
				if len(c.Signals) != 2 || c.Signals[0].ID != "nb-head" || c.Signals[1].ID != "sb-head" {
					t.Fatalf("camera %s's signals %+v, want nb-head and sb-head", cam, c.Signals)
				}
				for _, s := range c.Signals {
					if s.Source != wire.SignalCamera {
						t.Fatalf("signal %+v: want read by the camera", s)
					}
				}
				seen[c.Signals[0].State] = true
			}
		}
		return seen["red"] && seen["green"]
	})

	// An admin asks for a newer still.
	if code := requestFrame(t, agg, cam); code != http.StatusAccepted {
		t.Fatalf("frame-request: %d", code)
	}
	var asked frameInfo
	waitFor(20*time.Second, "the requested still", func() bool {
		f, _ := readFrame(t, agg, cam)
		asked = f
		return f.reason == wire.FrameRequest && f.time.After(first.time)
	})
	// A new scene version restarts the camera on it: another still.
	if code := putCameraScene(t, agg, cam, device, string(text)+"# saved again\n", 1); code != 200 {
		t.Fatalf("save the scene again: %d", code)
	}
	// The camera restarts on the new scene; ffmpeg serves one client, so serve it again.
	waitFor(20*time.Second, "the box reloading the new scene", func() bool { return strings.Contains(logs.String(), "config reloaded") })
	stopCamera()
	camtest.Serve(t, filepath.Join(clip, synth.ClipName), port)
	waitFor(40*time.Second, "the still after the scene change", func() bool {
		f, _ := readFrame(t, agg, cam)
		return f.reason == wire.FrameScene && f.time.After(asked.time) && f.w <= 640
	})
	edge.Process.Signal(syscall.SIGTERM)
	if err := edge.Wait(); err != nil {
		t.Fatalf("edge run: %v\n%s", err, logs.String())
	}
}
