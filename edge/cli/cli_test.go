package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/internal/synthclip"
)

func TestMain(m *testing.M) { synthclip.Main(m) }

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// modelsPresent reports whether dir is an installed models directory.
func modelsPresent(dir string) bool {
	_, err := vision.OpenModels(dir)
	return err == nil
}

func TestBadInputIsOneClearLine(t *testing.T) {
	dir := synthclip.Dir(t)
	tmp := t.TempDir()
	garbage := filepath.Join(tmp, "garbage.mp4")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a video "), 1000), 0o644)
	empty := filepath.Join(tmp, "empty.mp4")
	os.WriteFile(empty, nil, 0o644)
	token, openToken := filepath.Join(tmp, "token"), filepath.Join(tmp, "open-token")
	os.WriteFile(token, []byte("a-token-of-sixteen-or-more\n"), 0o600)
	os.WriteFile(openToken, []byte("a-token-of-sixteen-or-more\n"), 0o644)
	badScene := filepath.Join(tmp, "bad.yaml")
	os.WriteFile(badScene, []byte("version: 1\ncamera: c\napproaches:\n  - {id: a, site: s, stop_line: [[0.1, 0.5], [0.1, 0.5]], direction: [0, -1], signal: nope}\n"), 0o644)
	unknownKey := filepath.Join(tmp, "unknown.yaml")
	os.WriteFile(unknownKey, []byte("version: 1\ncamera: c\nstopline: []\n"), 0o644)
	scene := filepath.Join(dir, "scene.yaml")
	clip := filepath.Join(dir, synth.ClipName)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing clip", []string{"replay", "--scene", scene, "--clip", filepath.Join(tmp, "nope.mp4")}, []string{"clip", "nope.mp4", "no such file"}},
		{"empty clip", []string{"replay", "--scene", scene, "--clip", empty}, []string{"empty.mp4", "empty file"}},
		{"not a video", []string{"replay", "--scene", scene, "--clip", garbage}, []string{"garbage.mp4", "cannot open it as a video"}},
		{"directory as clip", []string{"replay", "--scene", scene, "--clip", tmp}, []string{"not a regular file"}},
		{"missing scene", []string{"replay", "--scene", filepath.Join(tmp, "x.yaml"), "--clip", clip}, []string{"scene", "x.yaml"}},
		{"bad scene fields", []string{"check-config", "--scene", badScene}, []string{"bad.yaml", "approaches[0].stop_line: needs 2 distinct points", `approaches[0].signal: no signal "nope"`}},
		{"unknown scene key", []string{"check-config", "--scene", unknownKey}, []string{"unknown.yaml", "field stopline not found"}},
		{"bad device", []string{"replay", "--scene", scene, "--clip", clip, "--device", "a/b"}, []string{"--device"}},
		{"bad broker", []string{"replay", "--scene", scene, "--clip", clip, "--broker", "http://x"}, []string{"--broker", "scheme"}},
		{"bad start", []string{"replay", "--scene", scene, "--clip", clip, "--start", "yesterday"}, []string{"--start"}},
		{"no out", []string{"synth"}, []string{"--out is required"}},
		{"no identity", []string{"replay", "--scene", scene, "--clip", clip}, []string{"has no identity", "--token-file", "--cert"}},
		{"token file others read", []string{"replay", "--scene", scene, "--clip", clip, "--token-file", openToken}, []string{"--token-file", "mode 0644"}},
		{"plaintext to another machine", []string{"replay", "--scene", scene, "--clip", clip, "--broker", "tcp://192.0.2.7:1883", "--token-file", token}, []string{"--broker", "plaintext", "ssl://"}},
		{"certificate over plaintext", []string{"replay", "--scene", scene, "--clip", clip, "--token-file", token, "--cert", "c.pem", "--key", "k.pem"}, []string{"need an ssl:// broker"}},
		{"key others read", []string{"replay", "--scene", scene, "--clip", clip, "--broker", "ssl://127.0.0.1:8883", "--cert", token, "--key", openToken}, []string{"--key", "open-token is mode 0644"}},
		{"burst without identity", []string{"burst", "--outbox", filepath.Join(tmp, "b.db")}, []string{"has no identity"}},
	}
	t.Setenv(sender.TokenEnv, "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(c.args...)
			if code == 0 {
				t.Fatalf("exit 0; stderr %q", stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %q", stderr, w)
				}
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(stderr, "Usage") {
				t.Errorf("more than one line: %q", stderr)
			}
		})
	}
}

// A broker that is not there: the run fails clearly, and every event it found is kept.
func TestUnreachableBrokerKeepsEvents(t *testing.T) {
	t.Setenv(sender.TokenEnv, "a-token-of-sixteen-or-more")
	dir := synthclip.Dir(t)
	ob := filepath.Join(t.TempDir(), "outbox.db")
	code, stdout, stderr := run("replay", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
		"--broker", "tcp://127.0.0.1:1", "--outbox", ob, "--drain-timeout", "1s")
	if code == 0 || !strings.Contains(stderr, "unreachable") || !strings.Contains(stderr, "kept in the outbox") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	o, err := outbox.Open(ob, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	st, _ := o.Stats(t.Context())
	if st.Rows == 0 || !strings.Contains(stdout, "red_light_running=") {
		t.Fatalf("outbox rows %d; stdout %q", st.Rows, stdout)
	}
}

// A clip cut short mid-file is read up to the cut, without an OpenCV abort.
func TestTruncatedClip(t *testing.T) {
	t.Setenv(sender.TokenEnv, "a-token-of-sixteen-or-more")
	dir := synthclip.Dir(t)
	b, err := os.ReadFile(filepath.Join(dir, synth.ClipName))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.avi")
	os.WriteFile(cut, b[:len(b)/3], 0o644)
	_, stdout, stderr := run("replay", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", cut,
		"--broker", "tcp://127.0.0.1:1", "--outbox", filepath.Join(t.TempDir(), "o.db"), "--drain-timeout", "100ms")
	if !strings.Contains(stdout, "replay: ") || strings.Contains(stderr, "panic") {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
}

// A view reference that is missing (when named), empty, not a PGM, truncated or of another
// size is refused with one line that says which, by eval and replay alike; scene draw
// --write-reference writes one that eval then uses.
func TestViewReferenceBadInput(t *testing.T) {
	dir := synthclip.Dir(t)
	scenePath, clip, truth := filepath.Join(dir, "scene.yaml"), filepath.Join(dir, synth.ClipName), filepath.Join(dir, "truth.json")
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("CROSSWATCH_DEVICE_TOKEN", "a-token") // replay's identity; no broker is reached
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(tmp, "none.view.pgm"), "no such file"},
		{write("empty.view.pgm", nil), "empty file"},
		{write("png.view.pgm", []byte("\x89PNG\r\n\x1a\nIHDR")), "not a binary PGM"},
		{write("small.view.pgm", []byte("P5\n64 48\n255\n"+strings.Repeat("x", 100))), "100 bytes of picture, want 64×48"},
		{write("size.view.pgm", []byte("P5\n64 36\n255\n"+strings.Repeat("x", 64*36))), "it is 64×36; this camera's view needs 64×48"},
	} {
		for _, cmd := range [][]string{
			{"eval", "--scene", scenePath, "--clip", clip, "--truth", truth, "--view-reference", tc.path},
			{"replay", "--scene", scenePath, "--clip", clip, "--outbox", filepath.Join(tmp, "ob.db"), "--broker", "tcp://127.0.0.1:1", "--drain-timeout", "1s", "--evidence=false", "--view-reference", tc.path},
		} {
			code, _, stderr := run(cmd...)
			if code == 0 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, filepath.Base(tc.path)) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("%s %s: exit %d, stderr %q; want one line naming the file with %q", cmd[0], filepath.Base(tc.path), code, stderr, tc.want)
			}
		}
	}
	// Written by scene draw, beside a copy of the scene, and found there by eval.
	b, _ := os.ReadFile(scenePath)
	sc := write("cam.yaml", b)
	code, stdout, stderr := run("scene", "draw", "--scene", sc, "--clip", clip, "--out", filepath.Join(tmp, "f.png"), "--at", "1s", "--write-reference")
	if code != 0 || !strings.Contains(stdout, filepath.Join(tmp, "cam.view.pgm")) {
		t.Fatalf("write-reference: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = run("eval", "--scene", sc, "--clip", clip, "--truth", truth)
	if code != 0 || !strings.Contains(stdout, "view reference "+filepath.Join(tmp, "cam.view.pgm")+"; the view matched its scene throughout") {
		t.Fatalf("eval with the written reference: %d\n%s\n%s", code, stdout, stderr)
	}
}
