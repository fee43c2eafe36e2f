package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

// testGap records every gap it builds, so tests can reconcile accepted = queued + reported lost.
type testGap struct {
	mu          sync.Mutex
	n           int
	lost        map[string]string // id -> reason
	notAccepted int
}

func (g *testGap) build(info edge.GapInfo) edge.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	if g.lost == nil {
		g.lost = map[string]string{}
	}
	for _, l := range info.Lost {
		g.lost[l.ID] = info.Reason
	}
	g.notAccepted += info.NotAccepted
	id := fmt.Sprintf("gap-%d", g.n)
	// The payload lists what the record reports, so a test can reconcile against the records
	// that were really committed (a builder call inside a rolled-back transaction reports nothing).
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d", id, info.Reason, info.NotAccepted)
	for _, l := range info.Lost {
		b.WriteString(" " + l.ID)
	}
	return edge.Message{ID: id, Topic: "gaps", Payload: []byte(b.String())}
}

// reported returns what the committed gap records report: lost id -> reason, and not-accepted.
func reported(t *testing.T, o *Outbox) (map[string]string, int) {
	t.Helper()
	got, err := o.Pending(context.Background(), 0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	lost, notAccepted := map[string]string{}, 0
	for _, m := range got {
		if !strings.HasPrefix(m.ID, "gap-") {
			continue
		}
		f := strings.Fields(string(m.Payload))
		var n int
		fmt.Sscan(f[2], &n)
		notAccepted += n
		for _, id := range f[3:] {
			lost[id] = f[1]
		}
	}
	return lost, notAccepted
}

func ids(t *testing.T, o *Outbox) map[string]int {
	t.Helper()
	got, err := o.Pending(context.Background(), 0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, x := range got {
		m[x.ID] = x.Severity
	}
	return m
}

func TestRowBoundEvictsLowestSeverityOldestFirst(t *testing.T) {
	g := &testGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxRows: 10, Gap: g.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	for i := 0; i < 8; i++ {
		sev := 4
		if i%2 == 0 {
			sev = 1 // counts
		}
		if err := o.Append(ctx, edge.Message{ID: fmt.Sprintf("m%d", i), Topic: "t", Payload: []byte("x"), Severity: sev}); err != nil {
			t.Fatal(err)
		}
	}
	// Five more: 13 rows wanted, 10 allowed.
	for i := 8; i < 13; i++ {
		if err := o.Append(ctx, edge.Message{ID: fmt.Sprintf("m%d", i), Topic: "t", Payload: []byte("x"), Severity: 4}); err != nil {
			t.Fatal(err)
		}
	}
	have := ids(t, o)
	if len(have) > 10 {
		t.Fatalf("%d rows, bound 10", len(have))
	}
	// The low-severity rows went first, oldest first.
	for _, id := range []string{"m0", "m2", "m4", "m6"} {
		if _, ok := have[id]; ok {
			t.Errorf("%s (severity 1) survived while the bound evicted", id)
		}
	}
	// Every message is either queued or reported lost: none vanished.
	for i := 0; i < 13; i++ {
		id := fmt.Sprintf("m%d", i)
		_, queued := have[id]
		_, lost := g.lost[id]
		if queued == lost {
			t.Errorf("%s: queued %v, reported lost %v", id, queued, lost)
		}
	}
	gaps := 0
	for id, sev := range have {
		if strings.HasPrefix(id, "gap-") {
			gaps++
			if sev != edge.GapSeverity {
				t.Errorf("gap %s severity %d", id, sev)
			}
		}
	}
	if gaps == 0 || gaps != g.n {
		t.Fatalf("%d gap records queued, %d built", gaps, g.n)
	}
	st, _ := o.Stats(ctx)
	if st.Rows != len(have) || st.Evicted != int64(len(g.lost)) {
		t.Fatalf("stats %+v, rows %d lost %d", st, len(have), len(g.lost))
	}
}

func TestByteBound(t *testing.T) {
	g := &testGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxBytes: 10_000, Gap: g.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i := 0; i < 40; i++ {
		if err := o.Append(context.Background(), edge.Message{ID: fmt.Sprintf("m%d", i), Topic: "t", Payload: make([]byte, 1000), Severity: 2}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := o.Stats(context.Background())
	lost, _ := reported(t, o)
	if st.Bytes > 10_000 || len(lost)+st.Rows-g.n != 40 {
		t.Fatalf("stats %+v, lost %d, gaps %d", st, len(g.lost), g.n)
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := o.Append(context.Background(), edge.Message{ID: fmt.Sprintf("w%d-%d", w, i), Topic: "t", Payload: []byte("p")}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(ids(t, o)); n != 400 {
		t.Fatalf("%d rows, want 400", n)
	}
	o.Close()
	if err := o.Append(context.Background(), edge.Message{ID: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

// mountTmpfs mounts a small tmpfs for a real full disk; it skips where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v): the disk-full test needs root", strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A real full disk: the policy evicts by severity to make room, the gap is reported, and every
// accepted message is either still queued or reported. When nothing can be evicted, Append
// refuses with ErrFull, and the refusal is reported once space returns.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	g := &testGap{}
	o, err := Open(filepath.Join(dir, "o.db"), Options{Gap: g.build, ReserveBytes: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	accepted := map[string]bool{}
	refused := 0
	for i := 0; i < 6000; i++ {
		sev := 4
		if i%3 == 0 {
			sev = 1
		}
		id := fmt.Sprintf("m%d", i)
		err := o.Append(ctx, edge.Message{ID: id, Topic: "t", Payload: make([]byte, 700), Severity: sev})
		switch {
		case err == nil:
			accepted[id] = true
		case errors.Is(err, ErrFull):
			refused++
		default:
			t.Fatalf("append %s: %v", id, err)
		}
	}
	have := ids(t, o)
	lostIDs, _ := reported(t, o)
	if len(lostIDs) == 0 {
		t.Fatal("the disk never filled: make the tmpfs smaller")
	}
	for id := range accepted {
		_, queued := have[id]
		_, lost := lostIDs[id]
		if !queued && !lost {
			t.Fatalf("accepted %s vanished without a gap record", id)
		}
	}
	for id, reason := range lostIDs {
		if reason != "disk_full" {
			t.Fatalf("%s lost for %q", id, reason)
		}
	}
	st, _ := o.Stats(ctx)
	t.Logf("accepted %d, refused %d, evicted %d, queued %d", len(accepted), refused, st.Evicted, st.Rows)
	if refused > len(accepted)/10 {
		t.Fatalf("the policy made little room: %d refused, %d accepted", refused, len(accepted))
	}

	// Nothing evictable and no reserve: fill the disk with another file.
	g2 := &testGap{}
	dir2 := mountTmpfs(t, "512k")
	o2, err := Open(filepath.Join(dir2, "o.db"), Options{Gap: g2.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	filler := filepath.Join(dir2, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").Run() // runs until ENOSPC
	if err := o2.Append(ctx, edge.Message{ID: "x1", Topic: "t", Payload: make([]byte, 8000), Severity: 4}); !errors.Is(err, ErrFull) {
		t.Fatalf("append on a full disk: %v", err)
	}
	os.Remove(filler)
	if err := o2.Append(ctx, edge.Message{ID: "x2", Topic: "t", Payload: []byte("y"), Severity: 4}); err != nil {
		t.Fatal(err)
	}
	if _, na := reported(t, o2); na != 1 || len(ids(t, o2)) != 2 {
		t.Fatalf("not accepted reported %d, rows %v", na, ids(t, o2))
	}
}

// The pipeline appends while the relay deletes acknowledged rows; the backlog counters must still
// match the table, or a drained outbox reports a phantom backlog forever. This forces the exact
// interleaving: a Delete commits between an insert's commit and its counter update.
func TestCountersDeleteBetweenCommitAndUpdate(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	if err := o.Append(ctx, edge.Message{ID: "a", Topic: "t", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	testHookAfterInsertCommit = func() {
		testHookAfterInsertCommit = nil
		if n, err := o.Delete(ctx, []string{"a"}); n != 1 || err != nil {
			t.Errorf("delete %d %v", n, err)
		}
	}
	defer func() { testHookAfterInsertCommit = nil }()
	if err := o.Append(ctx, edge.Message{ID: "b", Topic: "t", Payload: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.Stats(ctx); st.Rows != 1 || st.Bytes != 1 {
		t.Fatalf("counters %d rows %d bytes, want 1 and 1 (one row left)", st.Rows, st.Bytes)
	}
}
