package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func TestServesPageAndAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, c := range []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html", 200},
		{"/assets/app.js", "text/javascript", 200},
		{"/assets/app.css", "text/css", 200},
		{"/assets/nope.js", "", 404},
		{"/api/v1/typo", "", 404}, // not answered with the page
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s: %d %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if c.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no content security policy", c.path)
		}
		if c.path == "/" && !strings.Contains(string(body), `src="assets/app.js"`) {
			t.Errorf("index does not load app.js")
		}
	}
}

// The dashboard works with no internet: no asset refers to another origin.
func TestNoThirdPartyReferences(t *testing.T) {
	foreign := regexp.MustCompile(`(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}`)
	fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, path)
		for _, m := range foreign.FindAllString(string(b), -1) {
			if m == "http://www.w3.org" { // the SVG namespace name, never fetched
				continue
			}
			t.Errorf("%s refers to %s", path, m)
		}
		return nil
	})
}

// The plan view's geometry (assets/plan.js: projection, tiles, label placement) under node's
// test runner: browsertest/plan.unit.test.mjs. Node is all it needs; without it the test skips
// (and fails in CI, where 'make test' installs it).
func TestPlanGeometry(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is missing; 'make test' installs it (scripts/browser-deps.sh)")
		}
		t.Skip("node is missing; 'make test' installs it (scripts/browser-deps.sh)")
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "plan.unit.test.mjs")
	cmd.Dir = "browsertest"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("plan.unit.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// plan.js is served with the rest, as a module app.js imports.
func TestServesPlanModule(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/assets/plan.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("plan.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	app, _ := fs.ReadFile(assets, "assets/app.js")
	if !strings.Contains(string(app), `from "./plan.js"`) {
		t.Error("app.js does not import plan.js")
	}
}
