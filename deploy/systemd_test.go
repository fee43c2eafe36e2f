package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/internal/testenv"
)

// unit is a parsed systemd unit file: section → key → values (a key may repeat).
type unit struct {
	name string
	keys map[string]map[string][]string
}

func parseUnit(t *testing.T, name string) *unit {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	u := &unit{name: name, keys: map[string]map[string][]string{}}
	section := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
			u.keys[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", name, l)
			}
			u.keys[section][k] = append(u.keys[section][k], v)
		}
	}
	return u
}

// get returns the last value of key in section ("" if unset), as systemd reads it.
func (u *unit) get(section, key string) string {
	v := u.keys[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// The units are hardened and run the binaries where the README installs them, as the user the
// sysusers file makes, with the state directory the images use as their volume.
func TestUnitsHardened(t *testing.T) {
	common := map[string]string{
		"Type": "exec", "User": runUser, "Group": runUser, "StateDirectory": "crosswatch", "WorkingDirectory": stateDir,
		"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
	}
	if "/var/lib/"+common["StateDirectory"] != stateDir {
		t.Fatalf("StateDirectory %s is not %s", common["StateDirectory"], stateDir)
	}
	for name, extra := range map[string]map[string]string{
		"systemd/crosswatch-edge.service": {"SupplementaryGroups": "video", "DeviceAllow": "char-video4linux rw", "DevicePolicy": "closed",
			"ExecReload": "/bin/kill -HUP $MAINPID"},
		"systemd/crosswatch-aggregator.service": {"PrivateDevices": "yes", "MemoryDenyWriteExecute": "yes"},
	} {
		u := parseUnit(t, name)
		for k, want := range common {
			if got := u.get("Service", k); got != want {
				t.Errorf("%s: %s=%q, want %q", name, k, got, want)
			}
		}
		for k, want := range extra {
			if got := u.get("Service", k); got != want {
				t.Errorf("%s: %s=%q, want %q", name, k, got, want)
			}
		}
		if !strings.HasPrefix(u.get("Service", "ExecStart"), binDir+"/") {
			t.Errorf("%s: ExecStart %q is not in %s", name, u.get("Service", "ExecStart"), binDir)
		}
		if u.get("Install", "WantedBy") != "multi-user.target" {
			t.Errorf("%s: not enabled at boot (WantedBy=multi-user.target)", name)
		}
	}
	b, err := os.ReadFile("systemd/crosswatch.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && !strings.HasPrefix(l, "#") {
			lines[f[0]+" "+f[1]+" "+f[2]] = true
		}
	}
	if !lines["u "+runUser+" -"] || !lines["m "+runUser+" video"] {
		t.Errorf("crosswatch.sysusers does not make the user %s in the group video: %v", runUser, lines)
	}
}

// systemd-analyze verify accepts both units: every directive known and well-formed, every
// command present. It runs against a scratch root holding the system's units, a stub for each
// crosswatch binary (they need not be installed on the test machine) and the other commands the
// units run, so a misspelt key, a bad value or a wrong path fails here.
func TestUnitsVerify(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "systemd")
	units, err := filepath.Glob("systemd/*.service")
	if err != nil || len(units) != 2 {
		t.Fatalf("units %v: %v", units, err)
	}
	root := t.TempDir()
	if _, err := os.Stat("/usr/lib/systemd/system"); err != nil {
		testenv.Need(t, err, "systemd's units are missing (the Debian package systemd)")
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	etc := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range units {
		u := parseUnit(t, f)
		for k, vs := range u.keys["Service"] {
			if !strings.HasPrefix(k, "Exec") {
				continue
			}
			for _, v := range vs {
				cmd := strings.Fields(strings.TrimLeft(v, "-@:+!"))[0]
				dst := filepath.Join(root, cmd)
				os.MkdirAll(filepath.Dir(dst), 0o755)
				var data []byte
				if strings.HasPrefix(filepath.Base(cmd), "crosswatch-") && filepath.Dir(cmd) == binDir {
					data = []byte("#!/bin/sh\n")
				} else if data, err = os.ReadFile(cmd); err != nil {
					t.Fatalf("%s: %s runs %s, which this machine lacks: %v", f, k, cmd, err)
				}
				if err := os.WriteFile(dst, data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(f))
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--root=" + root}, names...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
