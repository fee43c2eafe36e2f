package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/sender"
	"github.com/crosswatch/crosswatch/edge/vision"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/cfgfile"
)

// The defaults a packaged box runs with (deploy/ points the services at them).
const (
	DefaultConfigPath = "/etc/crosswatch/edge.yaml"
	DefaultOutbox     = "/var/lib/crosswatch/outbox.db"
	DefaultModelsDir  = "/usr/share/crosswatch/models"
	DefaultMetrics    = "127.0.0.1:9464"
)

// BoxConfig is edge.yaml: one box, its identity and uplink, and any number of cameras.
// Relative paths in it are relative to the file's folder.
type BoxConfig struct {
	Device string    `yaml:"device"` // the box's id: its MQTT username and the device of every record
	Broker BrokerCfg `yaml:"broker"`
	Outbox OutboxCfg `yaml:"outbox"`
	Models string    `yaml:"models"` // installed models directory (make models)
	// Evidence attaches an anonymised evidence image to each event; it needs the models.
	Evidence bool        `yaml:"evidence"`
	Metrics  MetricsCfg  `yaml:"metrics"`
	Log      LogCfg      `yaml:"log"`
	Cameras  []CameraCfg `yaml:"cameras"`
}

// BrokerCfg is the broker: section: where the box sends, and how it proves who it is
// (docs/SECURITY.md).
type BrokerCfg struct {
	URL             string `yaml:"url"`
	sender.Identity `yaml:",inline"`
}

// OutboxCfg is the outbox: section.
type OutboxCfg struct {
	Path         string `yaml:"path"`
	MaxRows      int    `yaml:"max_rows"`      // 0: unbounded
	MaxBytes     int64  `yaml:"max_bytes"`     // payload bytes; 0: unbounded
	ReserveBytes int64  `yaml:"reserve_bytes"` // kept free beside the outbox for the disk-full policy
	// DrainTimeout is how long a stop waits for the aggregator to acknowledge what is pending.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// MetricsCfg is the metrics: section: /metrics, /healthz and /readyz.
type MetricsCfg struct {
	Listen string `yaml:"listen"` // "" serves none
}

// LogCfg is the log: section; --log-level and --log-format override it.
type LogCfg struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// CameraCfg is one camera of the box.
type CameraCfg struct {
	ID string `yaml:"id"` // must be the scene's camera
	// Source is rtsp://…, http(s)://…, /dev/videoN, or a video file (played once).
	Source string `yaml:"source"`
	Scene  string `yaml:"scene"`
	// ViewReference is the scene's view reference (default: <scene>.view.pgm if there).
	ViewReference string `yaml:"view_reference,omitempty"`
	// Phases is a recorded signal-controller feed (JSON lines), for signals with feed: true.
	Phases string `yaml:"phases,omitempty"`
}

func defaultBoxConfig() BoxConfig {
	c := BoxConfig{Device: "", Models: DefaultModelsDir, Evidence: true}
	c.Broker.URL = "tcp://127.0.0.1:1883"
	c.Outbox = OutboxCfg{Path: DefaultOutbox, MaxRows: 2_000_000, MaxBytes: 1 << 30, ReserveBytes: 4 << 20, DrainTimeout: 30 * time.Second}
	c.Metrics.Listen = DefaultMetrics
	c.Log = LogCfg{Level: "info", Format: "text"}
	return c
}

// Box is a validated edge.yaml with what its cameras need, loaded.
type Box struct {
	Path   string
	Config BoxConfig
	// Cameras holds each camera's scene, in the order of Config.Cameras.
	Cameras []BoxCamera
}

// BoxCamera is one camera of a loaded box.
type BoxCamera struct {
	CameraCfg
	Scene     *scene.Scene
	Reference []byte // nil: learned from the video
	// sceneBytes and refPath tell a changed camera at reload.
	sceneBytes []byte
	refPath    string
	// loadErr is why the scene did not load at a reload: the camera stays down and retries.
	loadErr error
}

// parseBox decodes edge.yaml strictly over the defaults: an unknown key is an error naming its
// field path (cameras[2].sourc). Relative paths are made relative to path's folder. It does not
// validate.
func parseBox(b []byte, path string) (*BoxConfig, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, cfgfile.ErrEmpty
		}
		return nil, err
	}
	var problems cfgfile.Problems
	unknownFields(&root, reflect.TypeOf(BoxConfig{}), "", &problems)
	if err := problems.Err(); err != nil {
		return nil, err
	}
	c := defaultBoxConfig()
	if err := cfgfile.Decode(b, &c); err != nil {
		return nil, withFieldPaths(err, &root)
	}
	dir := filepath.Dir(path)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && !strings.Contains(*p, "://") && !strings.HasPrefix(*p, "/dev/") {
			*p = filepath.Join(dir, *p)
		}
	}
	for _, p := range []*string{&c.Broker.TokenFile, &c.Broker.CA, &c.Broker.Cert, &c.Broker.Key, &c.Outbox.Path, &c.Models} {
		rel(p)
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		for _, p := range []*string{&cam.Source, &cam.Scene, &cam.ViewReference, &cam.Phases} {
			rel(p)
		}
	}
	return &c, nil
}

// unknownFields reports every mapping key in n that the struct type t has no field for, by
// its field path. yaml.v3's own strict mode names only the line and the Go type.
func unknownFields(n *yaml.Node, t reflect.Type, path string, p *cfgfile.Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			unknownFields(c, t, path, p)
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return // a type error: the decoder names it
		}
		for i, c := range n.Content {
			unknownFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			field := key
			if path != "" {
				field = path + "." + key
			}
			ft, ok := fields[key]
			if !ok {
				p.Add(field, "unknown field (line %d)", n.Content[i].Line)
				continue
			}
			unknownFields(n.Content[i+1], ft, field, p)
		}
	}
}

// lineRef matches a line number in yaml.v3's type errors and the value it could not decode
// ("line 7: cannot unmarshal !!str `many` into int").
var lineRef = regexp.MustCompile("line (\\d+): (?:cannot unmarshal !!\\S+ `([^`]*)`)?")

// withFieldPaths names, in a decoding error, the field at each line it cites
// ("outbox.max_rows: line 7: cannot unmarshal …"): of the fields on that line, the one whose
// value is the value cited, else the deepest.
func withFieldPaths(err error, root *yaml.Node) error {
	type field struct{ path, value string }
	lines := map[int][]field{}
	note := func(v *yaml.Node, path string) {
		f := field{path, v.Value}
		if v.Kind != yaml.ScalarNode {
			f.value = "\x00" // matches no cited value
		}
		lines[v.Line] = append(lines[v.Line], f)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				note(c, p)
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				note(n.Content[i+1], p)
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(root, "")
	msg := lineRef.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := lineRef.FindStringSubmatch(m)
		line, _ := strconv.Atoi(sub[1])
		fs := lines[line]
		if len(fs) == 0 {
			return m
		}
		best := fs[len(fs)-1].path
		for _, f := range fs {
			if sub[2] != "" && (f.value == sub[2] || strings.HasSuffix(sub[2], "...") && strings.HasPrefix(f.value, strings.TrimSuffix(sub[2], "..."))) {
				best = f.path
				break
			}
		}
		return best + ": " + m
	})
	return errors.New(msg)
}

// yamlFields maps the YAML keys of struct type t, with inline structs' keys, to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// Validate reports every problem of the box-level settings and the camera list, each with its
// field path. Scenes and models are checked by loadBox.
func (c *BoxConfig) Validate() error {
	var problems cfgfile.Problems
	bad := problems.Add
	if c.Device == "" {
		bad("device", "required: the box's id, as 'crosswatch-aggregator device add' made its credentials")
	} else if err := wire.CheckName("device", c.Device); err != nil {
		bad("device", "%s", strings.TrimPrefix(err.Error(), wire.ErrInvalid.Error()+": device: "))
	}
	if err := mqtt.CheckBroker(c.Broker.URL); err != nil {
		bad("broker.url", "%v", err)
	}
	o := c.Outbox
	if o.Path == "" {
		bad("outbox.path", "required")
	}
	if o.MaxRows < 0 {
		bad("outbox.max_rows", "must not be negative (0: unbounded)")
	}
	if o.MaxBytes < 0 {
		bad("outbox.max_bytes", "must not be negative (0: unbounded)")
	}
	if o.DrainTimeout < 0 {
		bad("outbox.drain_timeout", "must not be negative")
	}
	if c.Models == "" {
		bad("models", "required: the installed models directory")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if len(c.Cameras) == 0 {
		bad("cameras", "at least one camera")
	} else if len(c.Cameras) > wire.MaxStatusCameras {
		bad("cameras", "%d cameras, at most %d on one box (its status to the aggregator carries each)", len(c.Cameras), wire.MaxStatusCameras)
	}
	seen := map[string]int{}
	for i, cam := range c.Cameras {
		f := fmt.Sprintf("cameras[%d]", i)
		switch {
		case cam.ID == "":
			bad(f+".id", "required: the scene's camera id")
		case wire.CheckName("camera", cam.ID) != nil:
			bad(f+".id", "%q: letters, digits, '.', '_' and '-' only, at most %d", cam.ID, wire.MaxNameLen)
		}
		if j, dup := seen[cam.ID]; dup && cam.ID != "" {
			bad(f+".id", "%q is also cameras[%d].id: camera ids are unique on a box", cam.ID, j)
		}
		seen[cam.ID] = i
		if cam.Source == "" {
			bad(f+".source", "required: rtsp://…, http://…, /dev/videoN or a video file")
		}
		if cam.Scene == "" {
			bad(f+".scene", "required: the camera's scene file")
		}
	}
	return problems.Err()
}

// loadBox reads, decodes and validates edge.yaml, then loads each camera's scene and view
// reference and checks that the models directory holds every model file the scenes need.
// The error is one line naming the field.
func loadBox(path string) (*Box, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseBox(b, path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	box := &Box{Path: path, Config: *c}
	var problems cfgfile.Problems
	models, modelsErr := vision.OpenModels(c.Models)
	for i, cc := range c.Cameras {
		f := fmt.Sprintf("cameras[%d]", i)
		cam, err := loadCamera(cc)
		if err != nil {
			problems.Add(f+".scene", "%v", err)
			continue
		}
		if cam.Scene.Detector.Kind == "dnn" {
			switch {
			case modelsErr != nil:
				problems.Add("models", "camera %s's scene needs detector model %s: %v", cc.ID, cam.Scene.Detector.Model, modelsErr)
			default:
				if err := models.CheckDetector(cam.Scene.Detector.Model); err != nil {
					problems.Add("models", "camera %s's scene needs detector model %s: %v", cc.ID, cam.Scene.Detector.Model, err)
				}
			}
		}
		if cc.Phases != "" {
			if _, err := os.Stat(cc.Phases); err != nil {
				problems.Add(f+".phases", "%v", err)
			}
		}
		box.Cameras = append(box.Cameras, *cam)
	}
	if err := problems.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return box, nil
}

// loadCamera loads a camera's scene and view reference; the scene's camera must be the id.
func loadCamera(cc CameraCfg) (*BoxCamera, error) {
	b, err := os.ReadFile(cc.Scene)
	if err != nil {
		return nil, err
	}
	s, err := scenefile.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cc.Scene, err)
	}
	if s.Camera != cc.ID {
		return nil, fmt.Errorf("%s: its camera is %q, not the camera's id %q", cc.Scene, s.Camera, cc.ID)
	}
	ref, refPath, err := scene.ReadReference(cc.ViewReference, cc.Scene)
	if err != nil {
		return nil, err
	}
	return &BoxCamera{CameraCfg: cc, Scene: s, Reference: ref, sceneBytes: b, refPath: refPath}, nil
}

// same reports whether a camera reloaded from the config is the one running: same settings,
// same scene file and view reference.
func (c *BoxCamera) same(o *BoxCamera) bool {
	return c.CameraCfg == o.CameraCfg && bytes.Equal(c.sceneBytes, o.sceneBytes) && bytes.Equal(c.Reference, o.Reference)
}

// logger makes the box's logger; the flags, when set, override the config.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
