// Package archtest keeps the import graph the architecture: pixels (gocv) only where pixels are
// handled, logic that links neither SQLite nor YAML, an aggregator that takes nothing of the
// edge but its wire contract, and an aggregator that builds on a machine without OpenCV.
package archtest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/crosswatch/crosswatch/"

// graph is the import graph of pkgs and everything they depend on (tests left out: a test may
// use what its package must not).
type graph map[string][]string

func imports(t *testing.T, pkgs ...string) graph {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		g[f[0]] = f[1:]
	}
	return g
}

// chain returns a path of imports from pkg to a package forbidden reports, or nil if there is
// none.
func (g graph) chain(pkg string, forbidden func(string) bool) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != pkg && forbidden(p) {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, strings.TrimPrefix(p, mod))
			}
			slices.Reverse(path)
			return path
		}
		for _, d := range g[p] {
			if _, seen := prev[d]; !seen {
				prev[d] = p
				queue = append(queue, d)
			}
		}
	}
	return nil
}

// expand returns the module's packages matching each pattern (a path, or path/...).
func expand(t *testing.T, patterns []string) []string {
	t.Helper()
	var args []string
	for _, p := range patterns {
		args = append(args, mod+p)
	}
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	return strings.Fields(string(out))
}

// rule is one dependency the packages must not have, directly or not.
type rule struct {
	name      string
	pkgs      []string // patterns, relative to the module
	forbidden func(dep string) bool
}

// check fails the test for each package of r that depends on a forbidden one, with the chain.
func (r rule) check(t *testing.T) {
	t.Helper()
	pkgs := expand(t, r.pkgs)
	g := imports(t, pkgs...)
	for _, p := range pkgs {
		if c := g.chain(p, r.forbidden); c != nil {
			t.Errorf("%s: %s", r.name, strings.Join(c, " → "))
		}
	}
}

func gocv(dep string) bool { return strings.HasPrefix(dep, "gocv.io/") }

// sqlite is any SQLite driver (mattn/go-sqlite3, modernc.org/sqlite, …).
func sqlite(dep string) bool { return strings.Contains(strings.ToLower(dep), "sqlite") }

// yaml is any YAML package (gopkg.in/yaml.v3, sigs.k8s.io/yaml, goccy/go-yaml, …).
func yaml(dep string) bool { return strings.Contains(strings.ToLower(dep), "yaml") }

// The edge's logic: the domain, the scene as data, the signal sources, tracking, rules, the
// pipeline that runs them, and the relay that sends what the outbox holds.
var logic = []string{"edge", "edge/wire", "edge/scene", "hw/signal", "edge/track", "edge/rules", "edge/pipeline", "edge/relay"}

// Packages that must never import gocv, directly or not.
var noPixels = append([]string{"aggregator/...", "edge/outbox", "edge/mqtt", "edge/scene/scenefile"}, logic...)

func TestNoGocvOutsidePixelPackages(t *testing.T) {
	rule{"gocv outside the pixel packages", noPixels, gocv}.check(t)
}

// The logic links no database: the pipeline and the relay reach the outbox through
// edge.Message and interfaces, which edge/outbox implements.
func TestLogicLinksNoSQLite(t *testing.T) {
	rule{"SQLite in the edge's logic", logic, sqlite}.check(t)
}

// The logic links no file format: a scene reaches the rules, the vision and the signal sources
// as plain Go values; edge/scene/scenefile decodes the files.
func TestLogicLinksNoYAML(t *testing.T) {
	rule{"YAML in the edge's logic", append([]string{"edge/vision"}, logic...), yaml}.check(t)
}

// The aggregator takes nothing of the edge but the wire contract and the scene format: the site
// registry checks a camera's scene (edge/scene/scenefile, edge/scene and the plain types of
// edge they name) before it sends it to the box, with the very rules the box applies. Nothing
// that runs a camera (vision, pipeline, outbox, relay, mqtt, hw) may come in.
var aggregatorMayUse = map[string]bool{
	mod + "edge/wire": true, mod + "edge/scene": true, mod + "edge/scene/scenefile": true, mod + "edge": true,
}

func TestAggregatorImportsOnlyTheWireFromTheEdge(t *testing.T) {
	rule{"an edge package in the aggregator", []string{"aggregator/..."}, func(dep string) bool {
		return (strings.HasPrefix(dep, mod+"edge") || strings.HasPrefix(dep, mod+"hw/")) && !aggregatorMayUse[dep]
	}}.check(t)
}

// The rules see what they must: each fails on a graph with the dependency it forbids.
func TestRulesCatchForbiddenImports(t *testing.T) {
	g := graph{
		mod + "edge/pipeline":        {mod + "edge", mod + "edge/vision"},
		mod + "edge/vision":          {"gocv.io/x/gocv"},
		mod + "edge":                 {"time"},
		mod + "edge/relay":           {mod + "edge/outbox"},
		mod + "edge/outbox":          {"github.com/mattn/go-sqlite3"},
		mod + "edge/rules":           {mod + "edge/scene/scenefile"},
		mod + "edge/scene/scenefile": {"gopkg.in/yaml.v3"},
	}
	for _, c := range []struct {
		pkg       string
		forbidden func(string) bool
		want      string
	}{
		{"edge/pipeline", gocv, "edge/pipeline → edge/vision → gocv.io/x/gocv"},
		{"edge/relay", sqlite, "edge/relay → edge/outbox → github.com/mattn/go-sqlite3"},
		{"edge/rules", yaml, "edge/rules → edge/scene/scenefile → gopkg.in/yaml.v3"},
		{"edge", gocv, ""},
	} {
		if got := strings.Join(g.chain(mod+c.pkg, c.forbidden), " → "); got != c.want {
			t.Errorf("%s: chain %q, want %q", c.pkg, got, c.want)
		}
	}
}

// The wire contract is stdlib-only, so any client can vendor it.
func TestWireIsStdlibOnly(t *testing.T) {
	rule{"a non-stdlib package in the wire contract", []string{"edge/wire"}, func(dep string) bool {
		return strings.Contains(strings.SplitN(dep, "/", 2)[0], ".")
	}}.check(t)
}

// With cgo on but no OpenCV for pkg-config to find, the aggregator still builds from scratch
// (a fresh build cache, so no cached gocv object can hide a dependency).
func TestAggregatorBuildsWithoutOpenCV(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the aggregator from scratch")
	}
	env := append(os.Environ(), "CGO_ENABLED=1", "PKG_CONFIG_PATH=", "PKG_CONFIG_LIBDIR="+t.TempDir(), "GOCACHE="+t.TempDir())
	cmd := exec.Command("go", "build", "-o", os.DevNull, mod+"aggregator/cmd/crosswatch-aggregator")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aggregator does not build without OpenCV: %v\n%s", err, out)
	}
	// The check can fail: in the same environment gocv does not build.
	cmd = exec.Command("go", "build", "-o", os.DevNull, "gocv.io/x/gocv")
	cmd.Env = env
	if err := cmd.Run(); err == nil {
		t.Fatal("gocv built without OpenCV: the environment does not hide OpenCV")
	}
}
