package deploy_test

import (
	"bytes"
	edgecli "github.com/crosswatch/crosswatch/edge/cli"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/cli"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

// Install paths shared by the images and the systemd units (README, "Run as a service").
const (
	binDir    = "/usr/local/bin"
	modelsDir = "/usr/share/crosswatch/models"
	stateDir  = "/var/lib/crosswatch"
	configDir = "/etc/crosswatch"
	runUser   = "crosswatch"
)

// The edge daemon's command, metrics address and health path, from edge/cli's defaults.
var (
	edgeRunArgs        = []string{"run", "--config", edgecli.DefaultConfigPath}
	edgeMetricsAddress = edgecli.DefaultMetrics // metrics.listen default: /metrics, /healthz, /readyz
	edgeHealthPath     = "/healthz"
)

// The aggregator's image runs the binary it built as a dedicated user, on the configuration it
// ships, with its database in the state volume, and probes the health endpoint where that
// configuration serves it: all read from the Dockerfile and checked against the binary's own
// defaults and handlers.
func TestAggregatorImageAgreesWithTheBinary(t *testing.T) {
	d := parseDockerfile(t, "../Dockerfile.aggregator")
	user, vol := d.runtimeUser(t)
	if user != runUser || vol != stateDir {
		t.Errorf("USER %s, VOLUME %s: want %s and %s (the systemd units' user and state directory)", user, vol, runUser, stateDir)
	}
	bin := d.buildOutput(t, "./aggregator/cmd/crosswatch-aggregator")
	copies := d.copies()
	if got := copies["build:"+bin]; got != binDir+"/crosswatch-aggregator" {
		t.Errorf("the built binary %s is copied to %q, want %s/crosswatch-aggregator", bin, got, binDir)
	}
	for _, i := range d.instrs {
		if i.Cmd == "RUN" && strings.Contains(i.Args, "opencv") {
			t.Errorf("%s:%d: the aggregator needs no OpenCV: %s", d.name, i.Line, i.Args)
		}
	}
	cmd := d.command(t)
	if len(cmd) < 2 || cmd[0] != "crosswatch-aggregator" || cmd[1] != "serve" {
		t.Fatalf("ENTRYPOINT+CMD %v: want crosswatch-aggregator serve …", cmd)
	}
	checkServeFlags(t, cmd[2:])
	cfgPath, db := flagValue(cmd, "config"), flagValue(cmd, "db")
	var src string
	for s, dst := range copies {
		if dst == cfgPath || strings.HasSuffix(s, "/aggregator.yaml") && dst == path.Dir(cfgPath)+"/" {
			src = s
		}
	}
	if src == "" {
		t.Fatalf("--config %s: no COPY puts a configuration there (copies %v)", cfgPath, copies)
	}
	if !under(db, vol) {
		t.Errorf("--db %s is not in the state volume %s", db, vol)
	}
	cfg, err := cli.LoadConfig(filepath.Join("..", src))
	if err != nil {
		t.Fatal(err)
	}
	// The catalog is read relative to the configuration: the image must have it beside it.
	if cat := path.Join(path.Dir(cfgPath), filepath.Base(cfg.Catalog)); !contains(values(copies), cat) {
		t.Errorf("the configuration's catalog would be %s; no COPY puts it there (copies %v)", cat, copies)
	}
	u, err := url.Parse(d.healthURL(t))
	if err != nil {
		t.Fatal(err)
	}
	checkSameListener(t, "HEALTHCHECK", u.Host, "http.listen", cfg.HTTP.Listen)
	ports := exposed(d)
	for field, addr := range map[string]string{"http.listen": cfg.HTTP.Listen, "mqtt.listen": cfg.MQTT.Listen} {
		if p := portOf(t, addr); !ports[p] {
			t.Errorf("EXPOSE %v lacks %s (%s)", ports, p, field)
		}
	}
	// The probed path answers 200 without credentials, from the API's own handler.
	a := newAggregator(t)
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.Path, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("HEALTHCHECK GET %s: %d without credentials, want 200", u.Path, rec.Code)
	}
	// The unit runs the same command line.
	unit := parseUnit(t, "systemd/crosswatch-aggregator.service")
	if got, want := unit.get("Service", "ExecStart"), binDir+"/"+strings.Join(cmd, " "); got != want {
		t.Errorf("crosswatch-aggregator.service ExecStart %q, the image runs %q", got, want)
	}
}

// values returns m's values.
func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// checkServeFlags fails for any --flag in args that 'crosswatch-aggregator serve' does not have.
func checkServeFlags(t *testing.T, args []string) {
	t.Helper()
	// The flag package prints the usage to os.Stderr: catch it there.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var out, errb bytes.Buffer
	cli.Main([]string{"serve", "-h"}, &out, &errb)
	os.Stderr = saved
	w.Close()
	printed, _ := io.ReadAll(r)
	usage := out.String() + errb.String() + string(printed)
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !strings.Contains(usage, "-"+name+" ") && !strings.Contains(usage, "-"+name+"\n") {
				t.Errorf("serve has no flag --%s:\n%s", name, usage)
			}
		}
	}
}

// checkSameListener fails unless probe (host:port from inside the container) reaches what
// listens on listen: the same port, on the same address or loopback when it listens on all.
func checkSameListener(t *testing.T, what, probe, field, listen string) {
	t.Helper()
	ph, pp, err1 := net.SplitHostPort(probe)
	lh, lp, err2 := net.SplitHostPort(listen)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s %q, %s %q: %v %v", what, probe, field, listen, err1, err2)
	}
	all := lh == "" || lh == "0.0.0.0" || lh == "::"
	if pp != lp || !(ph == lh || all && (ph == "127.0.0.1" || ph == "localhost")) {
		t.Errorf("%s probes %s but %s is %s", what, probe, field, listen)
	}
}

// The edge's image carries verified models where the binary looks for them, runs as a
// dedicated user in the group video, writes its outbox to the state volume, and runs the
// daemon the systemd unit runs.
func TestEdgeImageAgreesWithTheBinary(t *testing.T) {
	d := parseDockerfile(t, "../Dockerfile.edge")
	user, vol := d.runtimeUser(t)
	if user != runUser || vol != stateDir {
		t.Errorf("USER %s, VOLUME %s: want %s and %s", user, vol, runUser, stateDir)
	}
	inVideo := false
	for _, r := range d.final("RUN") {
		if strings.Contains(r.Args, "useradd") && strings.Contains(r.Args, "--groups video") {
			inVideo = true
		}
	}
	if !inVideo {
		t.Errorf("the runtime user is not in the group video: V4L2 cameras (/dev/video*) would be refused")
	}
	bin := d.buildOutput(t, "./edge/cmd/crosswatch-edge")
	copies := d.copies()
	if got := copies["build:"+bin]; got != binDir+"/crosswatch-edge" {
		t.Errorf("the built binary %s is copied to %q, want %s/crosswatch-edge", bin, got, binDir)
	}

	// Models: installed by models/install.sh in the build stage (hash-checked against the
	// manifest), from what 'make image' staged, and copied to the directory the binary reads.
	env := modelsEnv(t)
	if got := d.env()[env]; got != modelsDir {
		t.Errorf("ENV %s=%q: want %s (edge/vision.ModelsDir reads the models directory from %s)", env, got, modelsDir, env)
	}
	installed := false
	var staged string
	buildDir := ""
	for _, i := range d.instrs {
		if i.Stage == 0 && i.Cmd == "WORKDIR" {
			buildDir = i.Args
		}
		if i.Stage == 0 && i.Cmd == "RUN" && strings.Contains(i.Args, "models/install.sh") {
			installed = true
			for _, f := range strings.Fields(i.Args) {
				if v, ok := strings.CutPrefix(f, "CROSSWATCH_SHARED_MODELS="); ok {
					staged = v
				}
			}
		}
	}
	if !installed {
		t.Fatalf("no RUN models/install.sh in the build stage: the image would carry unverified models or none")
	}
	if got := copies["build:"+path.Join(buildDir, "models/files")+"/"]; strings.TrimSuffix(got, "/") != modelsDir {
		t.Errorf("the installed models (%s/models/files) are copied to %q, want %s", buildDir, got, modelsDir)
	}
	rel, ok := strings.CutPrefix(staged, buildDir+"/")
	if !ok {
		t.Fatalf("CROSSWATCH_SHARED_MODELS=%q is not inside the build context %s", staged, buildDir)
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "cp -L models/files/* "+rel+"/") {
		t.Errorf("make image does not stage the models into %s, where the build reads them", rel)
	}
	ignore := dockerignore(t)
	if !contains(ignore, "!"+rel+"/") || !contains(ignore, "out/") {
		t.Errorf(".dockerignore %v: want out/ excluded but !%s/ kept", ignore, rel)
	}

	cmd := d.command(t)
	if cmd[0] != "crosswatch-edge" || strings.Join(cmd[1:], " ") != strings.Join(edgeRunArgs, " ") {
		t.Errorf("ENTRYPOINT+CMD %v: want crosswatch-edge %v", cmd, edgeRunArgs)
	}
	if cfg := flagValue(cmd, "config"); copies["configs/"] != configDir+"/" || !under(cfg, configDir) {
		t.Errorf("--config %s: the image's configs are at %q", cfg, copies["configs/"])
	}
	u, err := url.Parse(d.healthURL(t))
	if err != nil {
		t.Fatal(err)
	}
	checkSameListener(t, "HEALTHCHECK", u.Host, "metrics.listen", edgeMetricsAddress)
	if u.Path != edgeHealthPath {
		t.Errorf("HEALTHCHECK path %s, want %s", u.Path, edgeHealthPath)
	}
	if p := portOf(t, edgeMetricsAddress); !exposed(d)[p] {
		t.Errorf("EXPOSE lacks the metrics port %s", p)
	}
	unit := parseUnit(t, "systemd/crosswatch-edge.service")
	if got, want := unit.get("Service", "ExecStart"), binDir+"/"+strings.Join(cmd, " "); got != want {
		t.Errorf("crosswatch-edge.service ExecStart %q, the image runs %q", got, want)
	}
	if got := unit.get("Service", "Environment"); got != env+"="+modelsDir {
		t.Errorf("crosswatch-edge.service Environment %q: want %s=%s", got, env, modelsDir)
	}
}

// modelsEnv returns the environment variable edge/vision's ModelsDir reads (the edge's commands'
// default models directory), from its source
// (parsed, not built: the edge needs OpenCV to build).
func modelsEnv(t *testing.T) string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../edge/vision", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var env string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Name.Name != "ModelsDir" {
					continue
				}
				ast.Inspect(fn, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok || len(call.Args) != 1 {
						return true
					}
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Getenv" {
						if lit, ok := call.Args[0].(*ast.BasicLit); ok {
							env, _ = strconv.Unquote(lit.Value)
						}
					}
					return true
				})
			}
		}
	}
	if env == "" {
		t.Fatal("edge/vision: no ModelsDir reading os.Getenv(\"…\"): where does the edge find its models now?")
	}
	return env
}

func dockerignore(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// The build context leaves out the history, the build output, databases, credentials and the
// models symlink, and keeps what the Dockerfiles copy.
func TestDockerignore(t *testing.T) {
	ignore := dockerignore(t)
	for _, p := range []string{".git", "bin/", "out/", "models/files", "**/*.db", "configs/*.passwd"} {
		if !contains(ignore, p) {
			t.Errorf(".dockerignore lacks %s", p)
		}
	}
	for _, d := range []string{"../Dockerfile.edge", "../Dockerfile.aggregator"} {
		for src := range parseDockerfile(t, d).copies() {
			if strings.Contains(src, ":") {
				continue // from a build stage
			}
			for _, p := range ignore {
				if strings.TrimSuffix(p, "/") == strings.TrimSuffix(src, "/") {
					t.Errorf("%s copies %s, which .dockerignore leaves out", d, src)
				}
			}
		}
	}
}

// With CROSSWATCH_DOCKER_BUILD=1 and a Docker daemon, make image builds both images (slow: the
// edge compiles against OpenCV in the image).
func TestImagesBuild(t *testing.T) {
	if os.Getenv("CROSSWATCH_DOCKER_BUILD") == "" {
		t.Skip("skipped: set CROSSWATCH_DOCKER_BUILD=1 to build the images (needs a Docker daemon)")
	}
	testenv.Need(t, exec.Command("docker", "info").Run(), "no Docker daemon")
	cmd := exec.Command("make", "-C", "..", "image", "IMAGE_TAG=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	for img, arg := range map[string]string{"crosswatch-aggregator:test": "--version", "crosswatch-edge:test": "--help"} {
		if out, err := exec.Command("docker", "run", "--rm", img, arg).CombinedOutput(); err != nil {
			t.Errorf("docker run %s %s: %v\n%s", img, arg, err, out)
		}
	}
}

// The edge image's model step works as the build runs it: the Dockerfile's RUN line, in a
// scratch copy of the build context (/src) holding what 'make image' stages, installs every
// file of the manifest, hash-checked, where the final stage copies them from, without the
// network.
func TestEdgeImageInstallsModels(t *testing.T) {
	if _, err := os.Stat("../models/files/MANIFEST.tsv"); err != nil {
		testenv.Need(t, err, "the models are not installed ('make models')")
	}
	d := parseDockerfile(t, "../Dockerfile.edge")
	var run string
	for _, i := range d.instrs {
		if i.Stage == 0 && i.Cmd == "RUN" && strings.Contains(i.Args, "models/install.sh") {
			run = i.Args
		}
	}
	src := t.TempDir()
	for _, f := range []string{"models/install.sh", "models/MANIFEST.tsv"} {
		b, err := os.ReadFile("../" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(src, "models"), 0o755)
		os.WriteFile(filepath.Join(src, f), b, 0o755)
	}
	// make image: cp -L models/files/* out/image-models/
	staged := filepath.Join(src, "out/image-models")
	os.MkdirAll(staged, 0o755)
	files, _ := filepath.Glob("../models/files/*")
	for _, f := range files {
		b, err := os.ReadFile(f) // follows the symlink, as cp -L
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(staged, filepath.Base(f)), b, 0o644)
	}
	cmd := exec.Command("sh", "-ec", strings.ReplaceAll(run, "/src/", src+"/"))
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "HTTPS_PROXY=http://127.0.0.1:9") // any fetch fails
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", run, err, out)
	}
	manifest, _ := os.ReadFile("../models/MANIFEST.tsv")
	for _, l := range strings.Split(string(manifest), "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 2 || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := os.Stat(filepath.Join(src, "models/files", f[0])); err != nil {
			t.Errorf("the build would lack %s: %v", f[0], err)
		}
	}
}
