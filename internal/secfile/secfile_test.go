package secfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WritePrivate leaves a file 0600 even where one with a wider mode was; CheckPrivate refuses any
// group or other permission and names the file and its mode.
func TestPrivateFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(p, []byte("old"), 0o644)
	if err := CheckPrivate(p); err == nil || !strings.Contains(err.Error(), p+" is mode 0644") {
		t.Fatalf("0644: %v", err)
	}
	if err := WritePrivate(p, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after WritePrivate", fi.Mode())
	}
	if b, err := ReadPrivate(p); err != nil || string(b) != "secret" {
		t.Fatalf("%q %v", b, err)
	}
	for _, m := range []os.FileMode{0o640, 0o604, 0o620, 0o601} {
		os.Chmod(p, m)
		if err := CheckPrivate(p); err == nil {
			t.Errorf("mode %04o accepted", m)
		}
	}
}
