package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/aggregator/broker"
)

// Every broker in these tests asks each client to prove who it is, as the shipped configuration
// does: the harness gives each device (and each other MQTT user) a token of its own, writes the
// embedded broker's device token file and Mosquitto's password file, and hands each edge its
// token in $CROSSWATCH_DEVICE_TOKEN.

// e2eDevices are the device ids the tests use.
var e2eDevices = []string{"e2e-edge", "fault-edge", "burst-edge", "cut-edge", "live-edge", "attacker", "victim", "edge-p", "edge-q",
	"bench-edge", "dash-cut-edge", "dash-edge-1", "dash-edge-2", "dash-edge-3", "dash-edge-4", "dash-edge-live", "tls-edge", "tls-other",
	"old-edge", "ret-edge", "dl-edge", "ghost-edge", "rv-edge", "rv-live", "daemon-edge", "study-edge", "dash-box", "dash-box-off", "oak-box",
	"unknown-edge", "unknown-box"}

// e2eUsers are Mosquitto's other users: controllers, the benchmark's raw clients, aggregators.
var e2eUsers = []string{"spat-1", "raw-sub", "raw-pub", "crosswatch-aggregator",
	"crosswatch-aggregator-0", "crosswatch-aggregator-1", "crosswatch-aggregator-2", "crosswatch-aggregator-3"}

// creds are made once per run by makeCreds.
var creds struct {
	dir           string
	tokens        map[string]string
	devicesFile   string // device-id:hash, for the embedded broker (mqtt.device_tokens_file)
	mosquittoFile string // every user, for Mosquitto's password_file
	aggPassword   string // file with the aggregators' password on Mosquitto
}

// makeCreds writes the run's credentials into a folder Mosquitto (which drops to its own user
// when started as root) can read.
func makeCreds() error {
	dir, err := os.MkdirTemp("", "crosswatch-e2e-creds")
	if err != nil {
		return err
	}
	os.Chmod(dir, 0o755)
	creds.dir, creds.tokens = dir, map[string]string{}
	var devices, all strings.Builder
	for _, id := range e2eDevices {
		creds.tokens[id] = broker.NewToken()
		fmt.Fprintf(&devices, "%s:%s\n", id, broker.HashToken(creds.tokens[id]))
	}
	var agg [16]byte
	rand.Read(agg[:])
	aggPass := hex.EncodeToString(agg[:])
	all.WriteString(devices.String())
	for _, u := range e2eUsers {
		creds.tokens[u] = broker.NewToken()
		if strings.HasPrefix(u, "crosswatch-aggregator") {
			creds.tokens[u] = aggPass
		}
		fmt.Fprintf(&all, "%s:%s\n", u, broker.HashToken(creds.tokens[u]))
	}
	creds.devicesFile = filepath.Join(dir, "devices.passwd")
	creds.mosquittoFile = filepath.Join(dir, "mosquitto.passwd")
	creds.aggPassword = filepath.Join(dir, "aggregator.password")
	for p, b := range map[string]string{creds.devicesFile: devices.String(), creds.mosquittoFile: all.String(), creds.aggPassword: aggPass + "\n"} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			return err
		}
	}
	return chownToMosquitto(creds.mosquittoFile)
}

// chownToMosquitto gives path to the mosquitto user when running as root: Mosquitto reads its
// password file after dropping to that user, and the file stays 0600.
func chownToMosquitto(paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("mosquitto")
	if err != nil {
		return nil // no such user: Mosquitto keeps running as root
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// token returns the run's token of an MQTT user; a user the harness does not know is a bug in
// the test, named here.
func token(user string) string {
	tok, ok := creds.tokens[user]
	if !ok {
		panic("e2e: no credentials for " + user + "; add it to e2eDevices or e2eUsers in creds_test.go")
	}
	return tok
}

// edgeCmd runs crosswatch-edge with args, giving it the token of the device its --device names.
func edgeCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(edgeBin, args...)
	cmd.Env = os.Environ()
	for i, a := range args {
		if a == "--device" && i+1 < len(args) {
			cmd.Env = append(cmd.Env, "CROSSWATCH_DEVICE_TOKEN="+token(args[i+1]))
		}
	}
	return cmd
}

// login is a paho client's options for user on url, with its token (and, for a device, the
// client id the brokers expect).
func login(url, user string) *paho.ClientOptions {
	id := user
	for _, d := range e2eDevices {
		if d == user {
			id = "crosswatch-edge-" + user
		}
	}
	return paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(token(user))
}
