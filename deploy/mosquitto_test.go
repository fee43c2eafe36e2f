package deploy_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/internal/testenv"
)

// The Compose file's credentials script and Mosquitto configuration work with a real Mosquitto:
// the script (run as written, in a scratch directory for /secrets) makes a password file the
// broker accepts; the aggregator logs in with its password and reads device topics; edge-1
// logs in with its token and publishes under its own topic only; a wrong token is refused.
func TestComposeMosquitto(t *testing.T) {
	bin := "/usr/sbin/mosquitto"
	if p, err := exec.LookPath("mosquitto"); err == nil {
		bin = p
	}
	_, err := os.Stat(bin)
	testenv.Need(t, err, "mosquitto is missing: install the Debian package mosquitto ('make deps' does)")
	testenv.Tool(t, "mosquitto_passwd", "mosquitto")

	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := strings.Join(args(c.Services["credentials"].Command), "\n")
	script = strings.ReplaceAll(strings.ReplaceAll(script, "$$", "$"), "/secrets", dir)
	if os.Geteuid() != 0 {
		// Only root may give the files to Mosquitto's and crosswatch's users.
		script = regexp.MustCompile(`(?m)^\s*chown .*$`).ReplaceAllString(script, "")
	}
	if out, err := exec.Command("sh", "-ec", script).CombinedOutput(); err != nil {
		t.Fatalf("the credentials script: %v\n%s", err, out)
	}
	for _, f := range []string{"mosquitto.passwd", "aggregator.password", "edge-1.token"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("the credentials script wrote %s mode %v: want 0600", f, fi.Mode().Perm())
		}
	}

	confB, err := os.ReadFile(mounts(c.Services["mosquitto"].Volumes)["/mosquitto/config/mosquitto.conf"])
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	acl, _ := filepath.Abs(mounts(c.Services["mosquitto"].Volumes)["/mosquitto/config/acl"])
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	conf := strings.NewReplacer("listener 1883 127.0.0.1", fmt.Sprintf("listener %d 127.0.0.1", port),
		"/secrets/", dir+"/", "/mosquitto/config/acl", acl, "/mosquitto/data/", dir+"/data/").Replace(string(confB))
	if regexp.MustCompile(`(?m)^[^#\n]*(/secrets/|/mosquitto/config|/mosquitto/data)`).MatchString(conf) || !strings.Contains(conf, fmt.Sprint(port)) {
		t.Fatalf("mosquitto.conf has a path or listener this test does not replace:\n%s", conf)
	}
	if os.Geteuid() == 0 {
		conf += "user root\n" // the scratch files are root's; the image runs it as mosquitto
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(cf, []byte(conf), 0o644)
	var log bytes.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %d:\n%s", port, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	secret := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	connect := func(user, pass string) (paho.Client, error) {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(user).SetUsername(user).SetPassword(pass).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second))
		tk := cl.Connect()
		if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
			return nil, fmt.Errorf("connect as %s: %v", user, tk.Error())
		}
		t.Cleanup(func() { cl.Disconnect(100) })
		return cl, nil
	}
	agg, err := connect("crosswatch-aggregator", secret("aggregator.password"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	got := make(chan string, 4)
	if tk := agg.Subscribe("crosswatch/v1/+/events", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	edge, err := connect("edge-1", secret("edge-1.token"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	edge.Publish("crosswatch/v1/edge-1/events", 1, false, `{"v":1}`).WaitTimeout(5 * time.Second)
	select {
	case topic := <-got:
		if topic != "crosswatch/v1/edge-1/events" {
			t.Fatalf("the aggregator received %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the aggregator received nothing from edge-1\n%s", log.String())
	}
	// Under another device's topic: not delivered (Mosquitto may also drop the connection).
	edge.Publish("crosswatch/v1/edge-2/events", 1, false, `{"v":1}`).WaitTimeout(2 * time.Second)
	select {
	case topic := <-got:
		t.Fatalf("the aggregator received %s from edge-1: the ACL let it publish as another device", topic)
	case <-time.After(time.Second):
	}
	if _, err := connect("edge-1", secret("edge-1.token")+"x"); err == nil {
		t.Fatal("edge-1 connected with a wrong token")
	}
}
