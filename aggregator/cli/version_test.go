package cli

import (
	"bytes"
	"regexp"
	"testing"
)

// --version prints the program, the build's version and the Go toolchain, and exits 0.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"--version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !regexp.MustCompile(`^crosswatch-aggregator (v\S+|devel\S*) \(go1\.\S+\)\n$`).MatchString(out.String()) {
		t.Fatalf("--version printed %q", out.String())
	}
}
