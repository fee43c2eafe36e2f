package e2e

import (
	"encoding/json"
	"fmt"
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

	"github.com/crosswatch/crosswatch/edge/wire"
)

// putScene saves camera synth-cam-2's scene for device edge-p through the aggregator's API at
// version and returns the status and the scene version stored.
func putScene(t *testing.T, a *Aggregator, scene string, version int) (int, int64) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"device": "edge-p", "scene": scene, "version": version})
	req, _ := http.NewRequest(http.MethodPut, a.API+"/api/v1/registry/cameras/synth-cam-2", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		SceneVersion int64 `json:"scene_version"`
	}
	json.NewDecoder(resp.Body).Decode(&c)
	return resp.StatusCode, c.SceneVersion
}

// sceneReader subscribes as device user to filter and collects the scenes it receives.
type sceneReader struct {
	mu  sync.Mutex
	got []wire.Scene
	bad []string
}

func readScenes(t *testing.T, broker, user, filter string) *sceneReader {
	t.Helper()
	r := &sceneReader{}
	c := paho.NewClient(login(broker, user))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		s, err := wire.DecodeScene(m.Payload())
		if err != nil || m.Topic() != wire.SceneTopic(user, s.Camera) {
			r.bad = append(r.bad, m.Topic()+": "+string(m.Payload()))
			return
		}
		r.got = append(r.got, s)
	}).WaitTimeout(5 * time.Second)
	return r
}

func (r *sceneReader) scenes() ([]wire.Scene, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Scene{}, r.got...), append([]string{}, r.bad...)
}

// A camera's scene saved through the API reaches its device, retained: a device that
// subscribes afterwards gets the latest version (and only that), with its digest; another
// device may not subscribe to it. With the embedded broker, which forgets retained messages
// when the aggregator restarts, the aggregator publishes every scene again on connecting; with
// Mosquitto the shipped ACL confines the scene topics.
func TestSceneDistribution(t *testing.T) {
	text, err := os.ReadFile("../configs/scenes/synth-platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scene := string(text)
	acl, _ := filepath.Abs("../configs/mosquitto/acl")
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "agg.db")
			url := broker
			if broker == "mosquitto" {
				url = StartMosquitto(t, "acl_file "+acl).URL
			}
			agg := StartAggregator(t, aggBin, url, db)
			if code, v := putScene(t, agg, scene, 0); code != 200 || v != 1 {
				t.Fatalf("first scene: %d, version %d", code, v)
			}
			if code, v := putScene(t, agg, scene+"# moved the stop line\n", 1); code != 200 || v != 2 {
				t.Fatalf("second scene: %d, version %d", code, v)
			}
			if code, _ := putScene(t, agg, strings.Replace(scene, "[0, 0.6458]", "[1.5, 0.6458]", 1), 2); code != 400 {
				t.Fatalf("a scene drawn outside the frame: %d, want 400", code)
			}
			check := func(when string) {
				t.Helper()
				mine := readScenes(t, agg.Broker, "edge-p", wire.SceneFilter("edge-p"))
				spy := readScenes(t, agg.Broker, "edge-q", wire.SceneFilter("edge-p"))
				spyOne := readScenes(t, agg.Broker, "edge-q", wire.SceneTopic("edge-p", "synth-cam-2"))
				waitUntil(t, 10*time.Second, when+": edge-p's retained scene", func() bool { got, _ := mine.scenes(); return len(got) > 0 })
				time.Sleep(300 * time.Millisecond)
				got, bad := mine.scenes()
				if len(bad) > 0 || len(got) != 1 || got[0].Version != 2 || got[0].Camera != "synth-cam-2" || got[0].Scene != scene+"# moved the stop line\n" {
					t.Fatalf("%s: edge-p received %+v (bad %q), want version 2 only", when, got, bad)
				}
				for _, r := range []*sceneReader{spy, spyOne} {
					if got, bad := r.scenes(); len(got)+len(bad) > 0 {
						t.Fatalf("%s: edge-q read edge-p's scenes: %d messages", when, len(got)+len(bad))
					}
				}
			}
			check("after two saves")
			if broker == "embedded" {
				agg.Stop()
				agg = StartAggregator(t, aggBin, "embedded", db)
				check("after a restart with a new embedded broker")
			}
		})
	}
}

// The whole path on a box: a scene saved through the aggregator's API reaches `crosswatch-edge
// run`, which writes it over the camera's scene file and reloads; a scene drawn outside the
// frame never leaves the aggregator.
func TestSceneReachesTheBox(t *testing.T) {
	text, err := os.ReadFile("../configs/scenes/synth-platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	dir := t.TempDir()
	local := filepath.Join(dir, "synth-cam-2.yaml")
	os.WriteFile(local, text, 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token("edge-p")+"\n"), 0o600)
	config := filepath.Join(dir, "edge.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`device: edge-p
broker: {url: %q, token_file: %s}
outbox: {path: %s, drain_timeout: 2s}
models: ../models/files
evidence: false
metrics: {listen: "127.0.0.1:%d"}
cameras:
  - {id: synth-cam-2, source: "http://127.0.0.1:1/none", scene: %s}
`, agg.Broker, tokenFile, filepath.Join(dir, "state", "outbox.db"), freePort(t), local)), 0o644)
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
	if !waitCond(20*time.Second, func() bool { return strings.Contains(logs.String(), "connected to broker") }) {
		t.Fatalf("the box did not connect:\n%s", logs.String())
	}
	if code, _ := putScene(t, agg, strings.Replace(string(text), "[0, 0.6458]", "[1.5, 0.6458]", 1), 0); code != 400 {
		t.Fatalf("a scene drawn outside the frame: %d, want 400", code)
	}
	fromRegistry := string(text) + "# saved through the registry\n"
	if code, v := putScene(t, agg, fromRegistry, 0); code != 200 || v != 1 {
		t.Fatalf("save: %d, version %d", code, v)
	}
	if !waitCond(20*time.Second, func() bool {
		b, _ := os.ReadFile(local)
		return string(b) == fromRegistry && strings.Contains(logs.String(), "config reloaded")
	}) {
		b, _ := os.ReadFile(local)
		t.Fatalf("the box's scene file is not the registry's (%d bytes):\n%s", len(b), logs.String())
	}
	edge.Process.Signal(syscall.SIGTERM)
	if err := edge.Wait(); err != nil {
		t.Fatalf("edge run: %v\n%s", err, logs.String())
	}
}
