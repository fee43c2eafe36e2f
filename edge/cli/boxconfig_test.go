package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// boxDir writes a box config beside copies of the shipped synthetic scenes and returns its path.
func boxDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"synth-intersection.yaml", "synth-platform.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "configs", "scenes", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(p, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodBox = `device: box-1
broker: {url: "tcp://127.0.0.1:1883", insecure: true}
outbox: {path: outbox.db}
models: models
evidence: false
cameras:
  - {id: synth-cam-1, source: "http://127.0.0.1:8554", scene: synth-intersection.yaml}
  - {id: synth-cam-2, source: "http://127.0.0.1:8555", scene: synth-platform.yaml}
`

// check runs check-config --config on a config and returns its exit status and output.
func check(t *testing.T, path string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main([]string{"check-config", "--config", path}, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBoxConfigGood(t *testing.T) {
	p := boxDir(t, goodBox)
	code, out, errs := check(t, p)
	if code != 0 || !strings.Contains(out, "2 cameras") {
		t.Fatalf("check-config: %d\n%s%s", code, out, errs)
	}
	box, err := loadBox(p)
	if err != nil {
		t.Fatal(err)
	}
	c := box.Config
	// Relative paths are the config's folder's; defaults fill what the file leaves out.
	if c.Outbox.Path != filepath.Join(filepath.Dir(p), "outbox.db") || c.Cameras[0].Scene != filepath.Join(filepath.Dir(p), "synth-intersection.yaml") ||
		c.Cameras[0].Source != "http://127.0.0.1:8554" || c.Metrics.Listen != DefaultMetrics || c.Outbox.MaxRows != 2_000_000 || c.Log.Format != "text" {
		t.Fatalf("config %+v", c)
	}
	if len(box.Cameras) != 2 || box.Cameras[1].Scene.Camera != "synth-cam-2" {
		t.Fatalf("cameras %+v", box.Cameras)
	}
}

// The defaults a packaged box relies on (deploy/ points its units and images at them).
func TestBoxConfigDefaults(t *testing.T) {
	c := defaultBoxConfig()
	if c.Outbox.Path != "/var/lib/crosswatch/outbox.db" || c.Models != "/usr/share/crosswatch/models" || DefaultConfigPath != "/etc/crosswatch/edge.yaml" {
		t.Fatalf("defaults %+v", c)
	}
}

// Each bad input of issue 15's "Done when": one line naming the field, exit status 2.
func TestBoxConfigErrors(t *testing.T) {
	dnnScene := "version: 1\ncamera: dnn-cam\ndetector: {kind: dnn, model: yolo-fastest-1.1-xl}\ncount_lines:\n  - {id: c, site: s, line: [[0.1, 0.5], [0.9, 0.5]], direction: [0, 1]}\n"
	for _, c := range []struct {
		name, config, field string
		files               map[string]string
	}{
		{name: "unknown field", field: "cameras[1].sourc: unknown field",
			config: strings.Replace(goodBox, `source: "http://127.0.0.1:8555"`, `sourc: "http://127.0.0.1:8555"`, 1)},
		{name: "unknown top-level field", field: "metrics.listn: unknown field",
			config: goodBox + "metrics: {listn: x}\n"},
		{name: "duplicate camera id", field: `cameras[1].id: "synth-cam-1" is also cameras[0].id`,
			config: strings.Replace(goodBox, "id: synth-cam-2", "id: synth-cam-1", 1)},
		{name: "scene fails", field: "cameras[1].scene:",
			config: goodBox, files: map[string]string{"synth-platform.yaml": "version: 1\ncamera: synth-cam-2\nplatform_edges: [{id: e}]\n"}},
		{name: "scene of another camera", field: `cameras[1].scene: `, /* … its camera is "synth-cam-2", not … */
			config: strings.Replace(goodBox, "id: synth-cam-2", "id: cam-x", 1)},
		{name: "missing scene file", field: "cameras[0].scene:",
			config: strings.Replace(goodBox, "synth-intersection.yaml", "nowhere.yaml", 1)},
		{name: "models without the scene's files", field: "models: camera dnn-cam's scene needs detector model yolo-fastest-1.1-xl",
			config: goodBox + "  - {id: dnn-cam, source: /dev/video0, scene: dnn.yaml}\n", files: map[string]string{"dnn.yaml": dnnScene, "models/MANIFEST.tsv": ""}},
		{name: "no device", field: "device: required", config: strings.Replace(goodBox, "device: box-1\n", "", 1)},
		{name: "bad device", field: "device:", config: strings.Replace(goodBox, "device: box-1", "device: 'box 1/#'", 1)},
		{name: "bad broker", field: "broker.url:", config: strings.Replace(goodBox, "tcp://127.0.0.1:1883", "http://x", 1)},
		{name: "bad log level", field: "log.level:", config: goodBox + "log: {level: loud}\n"},
		{name: "bad log format", field: "log.format:", config: goodBox + "log: {format: xml}\n"},
		{name: "no cameras", field: "cameras: at least one camera", config: strings.Split(goodBox, "cameras:")[0]},
		{name: "too many cameras", field: "cameras: 33 cameras, at most 32 on one box", config: goodBox + manyCameras(31)},
		{name: "camera without source", field: "cameras[0].source: required",
			config: strings.Replace(goodBox, `source: "http://127.0.0.1:8554", `, "", 1)},
		{name: "negative bound", field: "outbox.max_rows:", config: strings.Replace(goodBox, "path: outbox.db", "path: outbox.db, max_rows: -1", 1)},
		{name: "empty file", field: "empty file", config: ""},
		{name: "wrong type", field: "outbox.max_rows: line 3: cannot unmarshal", config: strings.Replace(goodBox, "path: outbox.db", "max_rows: many, path: outbox.db", 1)},
		{name: "wrong type in a camera", field: "cameras[1]: line 8: cannot unmarshal", config: strings.Replace(goodBox, `  - {id: synth-cam-2, source: "http://127.0.0.1:8555", scene: synth-platform.yaml}`, "  - just-a-string", 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := boxDir(t, c.config)
			for name, body := range c.files {
				f := filepath.Join(filepath.Dir(p), name)
				os.MkdirAll(filepath.Dir(f), 0o755)
				if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errs := check(t, p)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errs)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, c.field) {
				t.Fatalf("want one line naming %q, got:\n%s", c.field, errs)
			}
		})
	}
}

// A camera with a dnn scene checks out when the models directory holds its model.
func TestBoxConfigModelsPresent(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "..", "models", "files"))
	if err != nil {
		t.Fatal(err)
	}
	if !modelsPresent(models) {
		t.Skip("models not installed (make models)")
	}
	p := boxDir(t, strings.Replace(goodBox, "models: models", "models: "+models, 1)+"  - {id: dnn-cam, source: /dev/video0, scene: dnn.yaml}\n")
	os.WriteFile(filepath.Join(filepath.Dir(p), "dnn.yaml"), []byte("version: 1\ncamera: dnn-cam\ndetector: {kind: dnn, model: yolo-fastest-1.1-xl}\ncount_lines:\n  - {id: c, site: s, line: [[0.1, 0.5], [0.9, 0.5]], direction: [0, 1]}\n"), 0o644)
	if code, out, errs := check(t, p); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// The shipped example loads.
func TestBoxConfigExample(t *testing.T) {
	p := filepath.Join("..", "..", "configs", "edge.example.yaml")
	box, err := loadBox(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Cameras) != 2 || box.Config.Device != "edge-example" {
		t.Fatalf("example: %+v", box.Config)
	}
}

func FuzzParseBox(f *testing.F) {
	f.Add([]byte(goodBox))
	f.Add([]byte("cameras: [{id: a, sourc: b}]"))
	f.Add([]byte("cameras: {id: a}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseBox(b, "/etc/crosswatch/edge.yaml")
		if err == nil {
			c.Validate()
		}
	})
}

// manyCameras is n more camera entries for goodBox.
func manyCameras(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {id: more-%d, source: /dev/video%d, scene: synth-intersection.yaml}\n", i, i)
	}
	return b.String()
}
