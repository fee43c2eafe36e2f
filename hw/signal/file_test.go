package signal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
)

// A recorded feed file: one phase per line, blank lines skipped; a bad line is an error
// naming the file and the line, a missing file the file.
func TestFeedLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "phases.jsonl")
	at := t0.Format(time.RFC3339)
	os.WriteFile(good, []byte(`{"v":1,"signal":"nb-head","state":"red","time":"`+at+`"}`+"\n\n"), 0o644)
	f := NewFeed()
	if err := f.LoadFile(good); err != nil {
		t.Fatal(err)
	}
	if l, _, ok := f.State("nb-head", t0.Add(time.Second), Stale); !ok || l != edge.Red {
		t.Fatalf("nb-head after the file: %v %v", l, ok)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"v":1,"signal":"nb-head","state":"red","time":"`+at+`"}`+"\nnot json\n"), 0o644)
	if err := NewFeed().LoadFile(bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("bad line: %v", err)
	}
	if err := NewFeed().LoadFile(filepath.Join(dir, "none.jsonl")); err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Fatalf("missing file: %v", err)
	}
}
