package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
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
