package camtest

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// catalogRow matches a clip's row in ../shared/videos/CATALOG.md: "| 11 | `name.mp4` | …".
var catalogRow = regexp.MustCompile("(?m)^\\|\\s*\\d+\\s*\\|\\s*`([^`]+)`")

// Clips returns the paths of the real clips in dir (../shared/videos seen from the test's
// package): every clip its CATALOG.md lists and every video file beside it. Without dir it
// skips the test, saying why; with CI set it fails instead. A clip the catalog lists but dir
// lacks is returned all the same: run it with Clip, which skips it (or fails in CI).
func Clips(t testing.TB, dir string) []string {
	t.Helper()
	cat, err := os.ReadFile(filepath.Join(dir, "CATALOG.md"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no real clips: %v (CI needs ../shared/videos)", err)
		}
		t.Skipf("no real clips (%v): they stay outside the repository", err)
	}
	seen := map[string]bool{}
	for _, m := range catalogRow.FindAllStringSubmatch(string(cat), -1) {
		seen[m[1]] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".mp4", ".m4v", ".avi", ".mkv", ".mov", ".gif", ".webm":
			seen[e.Name()] = true
		}
	}
	paths := make([]string, 0, len(seen))
	for name := range seen {
		paths = append(paths, filepath.Join(dir, name))
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		t.Fatalf("%s: CATALOG.md lists no clips", dir)
	}
	return paths
}

// Clip checks that the clip at path is there: when it is not, it skips the test (fails in CI).
func Clip(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("clip missing: %v", err)
		}
		t.Skipf("clip missing: %v", err)
	}
}
