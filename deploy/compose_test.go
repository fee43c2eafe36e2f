package deploy_test

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/aggregator/cli"
	edgecli "github.com/crosswatch/crosswatch/edge/cli"
)

type composeFile struct {
	Services map[string]struct {
		Image      string `yaml:"image"`
		Build      struct{ Context, Dockerfile string }
		Network    string   `yaml:"network_mode"`
		Volumes    []string `yaml:"volumes"`
		Command    any      `yaml:"command"`
		Entrypoint any      `yaml:"entrypoint"`
		Restart    string   `yaml:"restart"`
		StopGrace  string   `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// mounts returns a service's volume targets → sources.
func mounts(vs []string) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		f := strings.Split(v, ":")
		if len(f) >= 2 {
			out[f[1]] = f[0]
		}
	}
	return out
}

// args returns a command as a list (a string is one shell script).
func args(c any) []string {
	switch v := c.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// The Compose file's services fit together and fit the images: each state volume is mounted
// where its Dockerfile declares it; the aggregator's configuration passes check-config and
// reaches Mosquitto with the password the credentials service makes; the edge runs the image's
// own command ('run') on the edge.yaml mounted for it, logs in with the token made for its
// device id, writes its outbox to its volume, serves its health check where the image probes,
// and its cameras are the camera services' looped live streams of the clips the clip service
// renders, with the scenes beside them; that edge.yaml passes check-config, and the aggregator
// knows the sites of both clips' scenes and takes their cameras.
func TestComposeFitsTogether(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, s := range []string{"credentials", "mosquitto", "aggregator", "clip", "edge"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("compose.yaml has no service %s", s)
		}
	}
	agg, edge, creds, mosq := c.Services["aggregator"], c.Services["edge"], c.Services["credentials"], c.Services["mosquitto"]
	script := strings.Join(args(creds.Command), "\n")
	aggImage := parseDockerfile(t, filepath.Join(agg.Build.Context, agg.Build.Dockerfile))
	edgeImage := parseDockerfile(t, filepath.Join(c.Services["clip"].Build.Context, c.Services["clip"].Build.Dockerfile))
	if c.Services["clip"].Image != edge.Image {
		t.Errorf("clip builds %s, edge runs %s", c.Services["clip"].Image, edge.Image)
	}
	_, aggVol := aggImage.runtimeUser(t)
	_, edgeVol := edgeImage.runtimeUser(t)
	am, em := mounts(agg.Volumes), mounts(edge.Volumes)
	if src := am[aggVol]; c.Volumes[src] == nil && src == "" {
		t.Errorf("aggregator: no named volume at its state volume %s (mounts %v)", aggVol, am)
	}
	if src := em[edgeVol]; src == "" || src != mounts(c.Services["clip"].Volumes)[edgeVol] {
		t.Errorf("edge and clip must share the edge volume at %s (edge %v)", edgeVol, em)
	}

	// The aggregator's configuration, as the image reads it.
	cfgPath := flagValue(aggImage.command(t), "config")
	src, ok := am[cfgPath]
	if !ok {
		t.Fatalf("aggregator: nothing mounted at the image's --config %s", cfgPath)
	}
	dir := t.TempDir()
	cfgBytes, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := os.ReadFile("../configs/catalog.yaml")
	os.WriteFile(filepath.Join(dir, "aggregator.yaml"), cfgBytes, 0o644)
	os.WriteFile(filepath.Join(dir, "catalog.yaml"), cat, 0o644)
	pw := filepath.Join(dir, "aggregator.password")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	var out, errb bytes.Buffer
	if code := cli.Main([]string{"check-config", "--config", filepath.Join(dir, "aggregator.yaml"), "--mqtt-password-file", pw}, &out, &errb); code != 0 {
		t.Fatalf("check-config of %s: exit %d: %s%s", src, code, out.String(), errb.String())
	}
	cfg, err := cli.LoadConfig(filepath.Join(dir, "aggregator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !under(cfg.Store.Path, aggVol) {
		t.Errorf("store.path %s is not in the aggregator's volume %s", cfg.Store.Path, aggVol)
	}
	u := aggImage.healthURL(t)
	checkSameListener(t, "the aggregator's HEALTHCHECK", strings.Split(strings.TrimPrefix(u, "http://"), "/")[0], "http.listen", cfg.HTTP.Listen)

	// Mosquitto, and who may log in to it.
	conf, err := os.ReadFile(mounts(mosq.Volumes)["/mosquitto/config/mosquitto.conf"])
	if err != nil {
		t.Fatal(err)
	}
	listener := regexp.MustCompile(`(?m)^listener (\d+) (\S+)$`).FindStringSubmatch(string(conf))
	if listener == nil {
		t.Fatal("mosquitto.conf: no listener")
	}
	broker := "tcp://" + listener[2] + ":" + listener[1]
	if cfg.MQTT.Broker != broker {
		t.Errorf("mqtt.broker %s, Mosquitto listens on %s", cfg.MQTT.Broker, broker)
	}
	passwd := regexp.MustCompile(`(?m)^password_file (\S+)$`).FindStringSubmatch(string(conf))
	if passwd == nil || !strings.Contains(script, "mosquitto_passwd -c -b "+path.Base(passwd[1])+" "+cfg.MQTT.Username+" ") {
		t.Errorf("the credentials service does not give %s a password in Mosquitto's %v", cfg.MQTT.Username, passwd)
	}
	for _, svc := range []string{"mosquitto", "aggregator", "edge"} {
		if mounts(c.Services[svc].Volumes)[path.Dir(passwd[1])] != "secrets" {
			t.Errorf("%s does not mount the secrets volume at %s", svc, path.Dir(passwd[1]))
		}
	}
	if !strings.Contains(script, path.Base(cfg.MQTT.PasswordFile)) || path.Dir(cfg.MQTT.PasswordFile) != path.Dir(passwd[1]) {
		t.Errorf("mqtt.password_file %s is not what the credentials service writes", cfg.MQTT.PasswordFile)
	}
	acl := mounts(mosq.Volumes)["/mosquitto/config/acl"]
	if _, err := os.Stat(acl); err != nil || !strings.Contains(string(conf), "acl_file /mosquitto/config/acl") {
		t.Errorf("Mosquitto's ACL %s: %v", acl, err)
	}

	// The edge: the image's own command, on the edge.yaml mounted where it reads it.
	if edge.Command != nil || edge.Entrypoint != nil {
		t.Errorf("edge: command %v entrypoint %v; want the image's own (%v)", edge.Command, edge.Entrypoint, edgeImage.command(t))
	}
	if cmd := edgeImage.command(t); len(cmd) < 1 || !slices.Equal(cmd[1:], edgeRunArgs) {
		t.Fatalf("the edge image runs %v, want crosswatch-edge %v", cmd, edgeRunArgs)
	}
	box := readComposeEdge(t, em)
	if !strings.Contains(script, "mosquitto_passwd -b "+path.Base(passwd[1])+" "+box.Device+" \"$$(cat "+path.Base(box.Broker.TokenFile)+")\"") ||
		path.Dir(box.Broker.TokenFile) != path.Dir(passwd[1]) {
		t.Errorf("the credentials service does not make %s's token %s", box.Device, box.Broker.TokenFile)
	}
	if box.Broker.URL != broker {
		t.Errorf("edge.yaml broker.url %s, Mosquitto listens on %s", box.Broker.URL, broker)
	}
	if box.Models != modelsDir {
		t.Errorf("edge.yaml models %s, the image has them in %s", box.Models, modelsDir)
	}
	if !under(box.Outbox.Path, edgeVol) {
		t.Errorf("edge.yaml outbox.path %s is not in its volume %s", box.Outbox.Path, edgeVol)
	}
	grace, err1 := time.ParseDuration(edge.StopGrace)
	drain, err2 := time.ParseDuration(box.Outbox.DrainTimeout)
	if err1 != nil || err2 != nil || grace <= drain {
		t.Errorf("edge: stop_grace_period %q, outbox.drain_timeout %q: Compose would kill the box mid-drain (%v %v)", edge.StopGrace, box.Outbox.DrainTimeout, err1, err2)
	}
	eu := edgeImage.healthURL(t)
	checkSameListener(t, "the edge's HEALTHCHECK", strings.Split(strings.TrimPrefix(eu, "http://"), "/")[0], "metrics.listen", box.Metrics.Listen)

	// Each camera: a live stream a camera service serves, looped, from a clip the clip service
	// renders into the edge volume; the scene beside that clip.
	outs := regexp.MustCompile(`synth .*--out (\S+)`).FindAllStringSubmatch(strings.Join(args(c.Services["clip"].Command), "\n"), -1)
	if len(box.Cameras) < 2 {
		t.Errorf("edge.yaml has %d cameras; the compose box shows two", len(box.Cameras))
	}
	served := map[string]string{} // stream URL → the clip it plays
	for name, svc := range c.Services {
		if !strings.HasPrefix(name, "camera-") {
			continue
		}
		a := append(args(svc.Entrypoint), args(svc.Command)...)
		if len(a) == 0 || a[0] != "ffmpeg" || !slices.Contains(a, "-re") || !strings.Contains(strings.Join(a, " "), "-stream_loop -1") || svc.Restart != "always" {
			t.Errorf("%s: %v, restart %q: want ffmpeg replaying its clip looped in real time (-re -stream_loop -1), restarted always (it serves one client)", name, a, svc.Restart)
		}
		if src := mounts(svc.Volumes)[edgeVol]; src != em[edgeVol] {
			t.Errorf("%s mounts %q at %s, not the edge volume the clips are in", name, src, edgeVol)
		}
		served[a[len(a)-1]] = flagValueDash(a, "i")
	}
	var scenes []string
	for i, cam := range box.Cameras {
		clip, ok := served[cam.Source]
		if !ok {
			t.Errorf("cameras[%d].source %s: no camera service serves it (served: %v)", i, cam.Source, served)
			continue
		}
		dir := path.Dir(clip)
		found := false
		for _, o := range outs {
			found = found || path.Join(edgeVol, o[1]) == dir
		}
		if !found || path.Base(clip) != "clip.avi" || cam.Scene != dir+"/scene.yaml" {
			t.Errorf("cameras[%d]: source plays %s, scene %s; the clip service renders into %v under %s", i, clip, cam.Scene, outs, edgeVol)
		}
		scenes = append(scenes, cam.Scene)
	}

	// What synth renders (edge/synth's test keeps these equal to the shipped scenes): the box's
	// config passes check-config with them, and the aggregator knows every site they report.
	shipped := map[string]string{"clip": "../configs/scenes/synth-intersection.yaml", "platform": "../configs/scenes/synth-platform.yaml"}
	if len(outs) != len(shipped) {
		t.Fatalf("the clip service renders %v, this test knows %v", outs, shipped)
	}
	var ids []string
	for _, st := range cfg.Sites {
		ids = append(ids, st.ID)
	}
	local := t.TempDir()
	for _, o := range outs {
		scene, err := os.ReadFile(shipped[o[1]])
		if err != nil {
			t.Fatalf("clip service output %s: %v", o[1], err)
		}
		os.MkdirAll(filepath.Join(local, "state", o[1]), 0o755)
		os.WriteFile(filepath.Join(local, "state", o[1], "scene.yaml"), scene, 0o644)
		cam := regexp.MustCompile(`(?m)^camera: (\S+)$`).FindSubmatch(scene)
		for _, m := range regexp.MustCompile(`site: (\S+)`).FindAllStringSubmatch(string(scene), -1) {
			if !slices.Contains(ids, m[1]) {
				t.Errorf("the %s scene reports site %s, which the compose aggregator does not know (events would be dead letters)", o[1], m[1])
			}
			for _, st := range cfg.Sites {
				if st.ID == m[1] && len(st.Cameras) > 0 && (cam == nil || !slices.Contains(st.Cameras, string(cam[1]))) {
					t.Errorf("site %s takes cameras %v, not the %s scene's camera %s", st.ID, st.Cameras, o[1], cam[1])
				}
			}
		}
	}
	os.MkdirAll(filepath.Join(local, "secrets"), 0o700)
	os.WriteFile(filepath.Join(local, "secrets", path.Base(box.Broker.TokenFile)), []byte("a-token\n"), 0o600)
	models, _ := filepath.Abs("../models/files")
	raw, _ := os.ReadFile(em[edgecli.DefaultConfigPath])
	cfgText := strings.NewReplacer(edgeVol+"/", filepath.Join(local, "state")+"/", path.Dir(passwd[1])+"/", filepath.Join(local, "secrets")+"/",
		modelsDir, models).Replace(string(raw))
	os.WriteFile(filepath.Join(local, "edge.yaml"), []byte(cfgText), 0o644)
	var eout, eerr bytes.Buffer
	if code := edgecli.Main([]string{"check-config", "--config", filepath.Join(local, "edge.yaml")}, &eout, &eerr); code != 0 {
		t.Errorf("check-config of compose/edge.yaml (paths moved under %s): exit %d: %s%s", local, code, eout.String(), eerr.String())
	}
	if len(scenes) != len(outs) {
		t.Errorf("the box runs %d cameras, the clip service renders %d clips", len(scenes), len(outs))
	}
}

// composeEdge is what the test reads of the compose box's edge.yaml (check-config reads all).
type composeEdge struct {
	Device string
	Broker struct {
		URL       string `yaml:"url"`
		TokenFile string `yaml:"token_file"`
	}
	Outbox struct {
		Path         string
		DrainTimeout string `yaml:"drain_timeout"`
	}
	Models  string
	Metrics struct{ Listen string }
	Cameras []struct{ ID, Source, Scene string }
}

// readComposeEdge reads the edge.yaml mounted (em: the edge service's mounts) where the image's
// command reads it.
func readComposeEdge(t *testing.T, em map[string]string) composeEdge {
	t.Helper()
	src, ok := em[edgecli.DefaultConfigPath]
	if !ok {
		t.Fatalf("edge: nothing mounted at %s, where the image's command reads its config (mounts %v)", edgecli.DefaultConfigPath, em)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var box composeEdge
	if err := yaml.Unmarshal(b, &box); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return box
}

// flagValueDash is the value after -name in args (ffmpeg's single-dash flags).
func flagValueDash(args []string, name string) string {
	for i, a := range args {
		if a == "-"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
