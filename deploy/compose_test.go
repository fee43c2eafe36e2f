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

	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/aggregator/cli"
)

type composeFile struct {
	Services map[string]struct {
		Image   string `yaml:"image"`
		Build   struct{ Context, Dockerfile string }
		Network string   `yaml:"network_mode"`
		Volumes []string `yaml:"volumes"`
		Command any      `yaml:"command"`
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
// reaches Mosquitto with the password the credentials service makes; the edge logs in with the
// token made for its device id, finds the clip the clip service renders, writes its outbox to
// its volume, and the aggregator knows the sites of the clip's scene.
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

	// The edge.
	ea := args(edge.Command)
	device, token := flagValue(ea, "device"), flagValue(ea, "token-file")
	if !strings.Contains(script, "mosquitto_passwd -b "+path.Base(passwd[1])+" "+device+" \"$$(cat "+path.Base(token)+")\"") {
		t.Errorf("the credentials service does not make %s's token %s", device, token)
	}
	if got := flagValue(ea, "broker"); got != broker {
		t.Errorf("edge --broker %s, Mosquitto listens on %s", got, broker)
	}
	if got := flagValue(ea, "models"); got != modelsDir {
		t.Errorf("edge --models %s, the image has them in %s", got, modelsDir)
	}
	if ob := flagValue(ea, "outbox"); !under(ob, edgeVol) {
		t.Errorf("edge --outbox %s is not in its volume %s", ob, edgeVol)
	}
	out1 := regexp.MustCompile(`synth .*--out (\S+)`).FindStringSubmatch(strings.Join(args(c.Services["clip"].Command), " "))
	if out1 == nil || flagValue(ea, "scene") != out1[1]+"/scene.yaml" || flagValue(ea, "clip") != out1[1]+"/clip.avi" {
		t.Errorf("edge --scene %s --clip %s: the clip service renders into %v", flagValue(ea, "scene"), flagValue(ea, "clip"), out1)
	}
	scene, err := os.ReadFile("../configs/scenes/synth-intersection.yaml") // what synth renders (edge/synth's test keeps them equal)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range cfg.Sites {
		ids = append(ids, s.ID)
		if len(s.Cameras) > 0 && !regexp.MustCompile(`(?m)^camera: `+regexp.QuoteMeta(s.Cameras[0])+`$`).Match(scene) {
			t.Errorf("site %s takes camera %v, the synthetic scene's camera is another", s.ID, s.Cameras)
		}
	}
	for _, m := range regexp.MustCompile(`site: (\S+)`).FindAllStringSubmatch(string(scene), -1) {
		if !slices.Contains(ids, m[1]) {
			t.Errorf("the clip's scene reports site %s, which the compose aggregator does not know (events would be dead letters)", m[1])
		}
	}
}
