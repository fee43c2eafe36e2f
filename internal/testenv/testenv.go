// Package testenv decides what a test does when something it needs from outside the
// repository is missing: the real clips in ../shared/videos, the installed models, a Debian
// tool such as ffmpeg. Outside CI the test skips and says what is missing and how to get it;
// with CI=true (as .ci/run and 'make test' in CI set it) it fails, because CI always has them.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI (CI is set and not "false").
func CI() bool { v := os.Getenv("CI"); return v != "" && v != "false" && v != "0" }

// Need skips t (fails it in CI) with why when err is not nil: what is missing, and how to get it.
func Need(t testing.TB, err error, why string) {
	t.Helper()
	if err == nil {
		return
	}
	if CI() {
		t.Fatalf("%s: %v (CI must have it)", why, err)
	}
	t.Skipf("skipped: %s: %v", why, err)
}

// File returns path if it exists; otherwise it skips (fails in CI) saying why.
func File(t testing.TB, path, why string) string {
	t.Helper()
	_, err := os.Stat(path)
	Need(t, err, why)
	return path
}

// SharedClip returns the real clip at path (under ../shared/videos), or skips (fails in CI).
func SharedClip(t testing.TB, path string) string {
	t.Helper()
	return File(t, path, "real clip missing: the real clips stay outside the repository, in ../shared/videos")
}

// Tool returns the path of the command name, or skips (fails in CI) saying which Debian
// package has it.
func Tool(t testing.TB, name, debian string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err, name+" is missing: install the Debian package "+debian+" ('make deps' does)")
	return p
}

// Shared returns the path of ../shared for a test whose relative path to it is rel, or
// $CROSSWATCH_SHARED when set: 'make mutate' runs tests in a copy of the module elsewhere.
func Shared(rel string) string {
	if d := os.Getenv("CROSSWATCH_SHARED"); d != "" {
		return d
	}
	return rel
}
