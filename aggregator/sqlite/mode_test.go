package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// The database holds evidence images and password hashes: nobody else on the box may read it,
// whatever the umask, and a database left readable by an older version is tightened.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "a.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertSites(context.Background(), []aggregator.Site{{ID: "a", Name: "A", Kind: aggregator.Road}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	st.Close()
	os.Chmod(path, 0o644)
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened 0644 database: mode %v, want 0600", fi.Mode().Perm())
	}
}
