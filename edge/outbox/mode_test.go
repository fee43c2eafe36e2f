package outbox

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

// The outbox holds evidence images until the aggregator has them: nobody else on the box may
// read it, whatever the umask, and an outbox left readable by an older version is tightened.
func TestOutboxFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Append(context.Background(), edge.Message{ID: "a", Topic: "t", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
	o.Close()
	os.Chmod(path, 0o644)
	o, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("reopened 0644 outbox: mode %v, want 0600", st.Mode().Perm())
	}
}
