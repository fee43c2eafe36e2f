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
	"syscall"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/crosswatch/crosswatch/edge"
)

// infoGap records the edge.GapInfo of every gap record it builds.
type infoGap struct {
	mu    sync.Mutex
	infos []edge.GapInfo
}

func (g *infoGap) build(info edge.GapInfo) edge.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.infos = append(g.infos, info)
	return edge.Message{ID: fmt.Sprintf("gap-%d", len(g.infos)), Topic: "gaps", Payload: []byte("gap")}
}

func (g *infoGap) all() []edge.GapInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]edge.GapInfo(nil), g.infos...)
}

// lostIDsOf lists the ids a gap record reports lost, in its order.
func lostIDsOf(info edge.GapInfo) string {
	var s []string
	for _, l := range info.Lost {
		s = append(s, l.ID)
	}
	return strings.Join(s, " ")
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// The reserve file beside the database is the size asked for: 4 MiB by default, none when
// negative, and one of the wrong size left from an earlier run is written again at the right size.
func TestReserveFileSize(t *testing.T) {
	for _, c := range []struct {
		name    string
		reserve int64
		want    int64 // -1: no file
	}{
		{"default", 0, 4 << 20},
		{"asked for", 64 << 10, 64 << 10},
		{"none", -1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "o.db")
			o, err := Open(path, Options{ReserveBytes: c.reserve})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			st, err := os.Stat(path + ".reserve")
			switch {
			case c.want < 0 && err == nil:
				t.Fatalf("a reserve of %d bytes, want none", st.Size())
			case c.want < 0:
			case err != nil:
				t.Fatalf("no reserve: %v", err)
			case st.Size() != c.want:
				t.Fatalf("reserve of %d bytes, want %d", st.Size(), c.want)
			}
		})
	}
	t.Run("wrong size left over", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "o.db")
		if err := os.WriteFile(path+".reserve", make([]byte, 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(path, Options{ReserveBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if st, err := os.Stat(path + ".reserve"); err != nil || st.Size() != 64<<10 {
			t.Fatalf("reserve %v %v, want 64 KiB", st, err)
		}
	})
}

// A gap record spans the creation times of what it reports lost, whatever their order in it
// (the policy lists them by severity first, so the oldest need not come first).
func TestGapSpansLostMessages(t *testing.T) {
	ts := []time.Time{t0.Add(2 * time.Second), t0.Add(1 * time.Second), t0.Add(3 * time.Second), t0.Add(2500 * time.Millisecond)}
	var lost []edge.Lost
	for i, c := range ts {
		lost = append(lost, edge.Lost{ID: fmt.Sprint(i), Created: c})
	}
	g := gapInfo(gapOutboxFull, lost, t0.Add(time.Minute))
	if !g.Oldest.Equal(t0.Add(time.Second)) || !g.Newest.Equal(t0.Add(3*time.Second)) || !g.Now.Equal(t0.Add(time.Minute)) || g.Reason != gapOutboxFull || len(g.Lost) != 4 {
		t.Fatalf("gap %+v, want oldest 08:00:01, newest 08:00:03", g)
	}
	// Through the policy: a low-severity message newer than the high-severity one lost with it.
	c := &clock{t: t0}
	ig := &infoGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxRows: 3, Gap: ig.build, ReserveBytes: -1, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	for i, m := range []edge.Message{{ID: "old-high", Severity: 3}, {ID: "new-low", Severity: 1}, {ID: "keep", Severity: 5}} {
		c.set(t0.Add(time.Duration(i) * time.Second))
		m.Topic, m.Payload = "t", []byte("x")
		if err := o.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c.set(t0.Add(10 * time.Second))
	if err := o.Append(ctx, edge.Message{ID: "last", Topic: "t", Payload: []byte("x"), Severity: 5}); err != nil {
		t.Fatal(err)
	}
	infos := ig.all()
	if len(infos) != 1 || lostIDsOf(infos[0]) != "new-low old-high" {
		t.Fatalf("gaps %+v, want one reporting new-low then old-high", infos)
	}
	if g := infos[0]; !g.Oldest.Equal(t0) || !g.Newest.Equal(t0.Add(time.Second)) || !g.Now.Equal(t0.Add(10*time.Second)) || g.Reason != "outbox_full" {
		t.Fatalf("gap %+v, want oldest 08:00:00, newest 08:00:01, now 08:00:10", g)
	}
}

// Group commit: appends that queue up while a commit runs go in the next transaction together.
// The first commit is held until five more appends wait in the queue; they make one commit.
func TestGroupCommitOneTransactionForWaitingAppends(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	const waiting = 5
	held := make(chan struct{})
	testHookAfterInsertCommit = func() {
		testHookAfterInsertCommit = nil // runs on the writer's goroutine, before its next commit
		close(held)
		for deadline := time.Now().Add(10 * time.Second); len(o.reqs) < waiting; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the appends never queued")
				return
			}
		}
	}
	defer func() { testHookAfterInsertCommit = nil }()
	var wg sync.WaitGroup
	appendAsync := func(id string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Append(ctx, edge.Message{ID: id, Topic: "t", Payload: []byte("x")}); err != nil {
				t.Error(err)
			}
		}()
	}
	appendAsync("first")
	<-held
	for i := range waiting {
		appendAsync(fmt.Sprint("w", i))
	}
	wg.Wait()
	if o.commits != 2 {
		t.Fatalf("%d commits for 1 + %d appends, want 2: the waiting ones in one transaction", o.commits, waiting)
	}
	if n := len(ids(t, o)); n != 1+waiting {
		t.Fatalf("%d rows, want %d", n, 1+waiting)
	}
}

// After a full disk took the reserve file, it is written again once space is back, at every
// 64th commit (not at each one: writing megabytes on a nearly full disk at every append would
// fill it again).
func TestReserveRestoredAfterDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	o, err := Open(path, Options{ReserveBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	// What commit does on a full disk; set before the next Append, which the writer receives.
	if err := os.Remove(path + ".reserve"); err != nil {
		t.Fatal(err)
	}
	o.reserveGone = true
	for i := 1; i <= 64; i++ {
		if err := o.Append(ctx, edge.Message{ID: fmt.Sprint(i), Topic: "t", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path + ".reserve")
		switch {
		case i < 64 && err == nil:
			t.Fatalf("reserve written again at commit %d, want at the 64th", i)
		case i == 64 && (err != nil || st.Size() != 64<<10):
			t.Fatalf("no 64 KiB reserve after 64 commits: %v %v", st, err)
		}
	}
}

// failInserts makes the next n inserts fail as on a full disk (n < 0: every one) until the
// test ends.
func failInserts(t *testing.T, n int) {
	t.Helper()
	var mu sync.Mutex
	testHookInsert = func([]edge.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if n == 0 {
			return nil
		}
		n--
		return fmt.Errorf("append: %w", ErrFull)
	}
	t.Cleanup(func() { testHookInsert = nil })
}

// fill appends n messages "v00".."vNN" of size bytes at severity 1, in one batch.
func fill(t *testing.T, o *Outbox, n, size int) {
	t.Helper()
	var batch []edge.Message
	for i := range n {
		batch = append(batch, edge.Message{ID: fmt.Sprintf("v%02d", i), Topic: "t", Payload: make([]byte, size), Severity: 1})
	}
	if err := o.Append(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
}

// checkCounters fails t unless Stats' rows and bytes are what the table holds.
func checkCounters(t *testing.T, o *Outbox) Stats {
	t.Helper()
	st, err := o.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	var bytes int64
	if err := o.db.QueryRow(`SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox`).Scan(&rows, &bytes); err != nil {
		t.Fatal(err)
	}
	if st.Rows != rows || st.Bytes != bytes {
		t.Fatalf("stats %d rows %d bytes, the table holds %d and %d", st.Rows, st.Bytes, rows, bytes)
	}
	return st
}

// When an insert finds the disk full, the policy evicts, oldest of the lowest severity first,
// at least the batch's payload plus 4 KiB and 64 bytes a message, and at least one message
// more than the batch holds, and the insert is tried again: accepted, with a disk_full gap.
func TestDiskFullEvictsWhatTheBatchNeeds(t *testing.T) {
	for _, c := range []struct {
		name     string
		victims  int // of severity 1, queued before
		size     int // of each victim
		batch    int // size of each of the 2 messages appended on the full disk
		wantLost string
	}{
		// 4096 + 2·(3000+64) = 10224 bytes: eleven 1000-byte messages (ten are 10000).
		{"bytes", 20, 1000, 3000, "v00 v01 v02 v03 v04 v05 v06 v07 v08 v09 v10"},
		// 4096 + 2·(10+64) bytes is one 20000-byte message, but 2 + 1 rows must go.
		{"rows", 5, 20000, 10, "v00 v01 v02"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ig := &infoGap{}
			o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Gap: ig.build, ReserveBytes: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			fill(t, o, c.victims, c.size)
			failInserts(t, 1)
			batch := []edge.Message{{ID: "a", Topic: "t", Payload: make([]byte, c.batch), Severity: 5}, {ID: "b", Topic: "t", Payload: make([]byte, c.batch), Severity: 5}}
			if err := o.Append(context.Background(), batch...); err != nil {
				t.Fatalf("append on a full disk with room to evict: %v", err)
			}
			infos := ig.all()
			if len(infos) != 1 || infos[0].Reason != "disk_full" || lostIDsOf(infos[0]) != c.wantLost {
				t.Fatalf("gaps %+v, want one disk_full gap losing %s", infos, c.wantLost)
			}
			have := ids(t, o)
			if _, ok := have["a"]; !ok {
				t.Fatalf("the batch was not stored: %v", have)
			}
			st := checkCounters(t, o)
			if st.Evicted != int64(len(infos[0].Lost)) || st.NotAccepted != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// On a full disk the reserve file goes first, and the policy frees at least the reserve's size
// (here 40000 bytes: forty 1000-byte messages) in transactions of at most 16 messages, each
// with its own gap record, oldest first; the 41st message stays.
func TestDiskFullFreesTheReserveAndEvictsInChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	ig := &infoGap{}
	o, err := Open(path, Options{Gap: ig.build, ReserveBytes: 40000})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fill(t, o, 41, 1000)
	failInserts(t, 1)
	if err := o.Append(context.Background(), edge.Message{ID: "a", Topic: "t", Payload: []byte("x"), Severity: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".reserve"); err == nil {
		t.Error("the reserve file is still there after a full disk")
	}
	var got []string
	for _, g := range ig.all() {
		got = append(got, lostIDsOf(g))
	}
	want := []string{
		"v00 v01 v02 v03 v04 v05 v06 v07 v08 v09 v10 v11 v12 v13 v14 v15",
		"v16 v17 v18 v19 v20 v21 v22 v23 v24 v25 v26 v27 v28 v29 v30 v31",
		"v32 v33 v34 v35 v36 v37 v38 v39",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("gap records lost\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := ids(t, o)["v40"]; !ok {
		t.Error("v40 evicted: more than the reserve's size was freed")
	}
	if st := checkCounters(t, o); st.Evicted != 40 {
		t.Fatalf("stats %+v, want 40 evicted", st)
	}
}

// What a full disk refused is counted, and reported in one disk_full gap record, spanning the
// refusals, by the first insert once space is back; only once.
func TestDiskFullRefusalReportedWhenSpaceReturns(t *testing.T) {
	c := &clock{t: t0}
	ig := &infoGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Gap: ig.build, ReserveBytes: -1, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	failInserts(t, -1) // nothing queued to evict: refused
	c.set(t0.Add(time.Second))
	if err := o.Append(ctx, edge.Message{ID: "x1", Topic: "t", Payload: []byte("x")}); !errors.Is(err, ErrFull) {
		t.Fatalf("append on a full disk: %v, want ErrFull", err)
	}
	c.set(t0.Add(2 * time.Second))
	if err := o.Append(ctx, edge.Message{ID: "x2", Topic: "t", Payload: []byte("x")}, edge.Message{ID: "x3", Topic: "t", Payload: []byte("x")}); !errors.Is(err, ErrFull) {
		t.Fatalf("append on a full disk: %v, want ErrFull", err)
	}
	if st := checkCounters(t, o); st.NotAccepted != 3 || st.Rows != 0 {
		t.Fatalf("stats %+v, want 3 not accepted", st)
	}
	if len(ig.all()) != 0 {
		t.Fatalf("a gap record while the disk is full: %+v", ig.all())
	}
	testHookInsert = nil
	c.set(t0.Add(3 * time.Second))
	if err := o.Append(ctx, edge.Message{ID: "y", Topic: "t", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c.set(t0.Add(4 * time.Second))
	if err := o.Append(ctx, edge.Message{ID: "z", Topic: "t", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	infos := ig.all()
	if len(infos) != 1 {
		t.Fatalf("gaps %+v, want one", infos)
	}
	if g := infos[0]; g.Reason != "disk_full" || g.NotAccepted != 3 || len(g.Lost) != 0 || !g.Oldest.Equal(t0.Add(time.Second)) || !g.Newest.Equal(t0.Add(2*time.Second)) || !g.Now.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("gap %+v, want disk_full, 3 not accepted from 08:00:01 to 08:00:02, reported at 08:00:03", g)
	}
	if st := checkCounters(t, o); st.Rows != 3 || st.NotAccepted != 3 {
		t.Fatalf("stats %+v, want y, z and the gap", st)
	}
}

// On a nearly full disk the database file must not grow: before inserting, the policy frees
// pages for the batch (8 pages, and 5/4 of each payload plus 128 bytes) and a quarter of the
// low-water mark more, in one transaction; with free pages enough, to the byte, it evicts nothing.
func TestRoomInFileOnALowDisk(t *testing.T) {
	ig := &infoGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Gap: ig.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fill(t, o, 700, 1000)
	freePages := func() int64 {
		var n int64
		o.db.QueryRow(`PRAGMA freelist_count`).Scan(&n)
		return n
	}
	var pageSize int64
	o.db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	if free := freePages(); free != 0 || pageSize != 4096 {
		t.Fatalf("fixture: %d free pages of %d bytes, want none of 4096", free, pageSize)
	}
	// 8·4096 + 4000·5/4 + 128 = 37896 bytes, + 1 MiB / 4 = 300040: 301 messages of 1000.
	o.roomInFile([]edge.Message{{ID: "a", Payload: make([]byte, 4000)}})
	infos := ig.all()
	if len(infos) != 1 || len(infos[0].Lost) != 301 || infos[0].Lost[0].ID != "v00" || infos[0].Lost[300].ID != "v300" || infos[0].Reason != "disk_full" {
		t.Fatalf("gaps %+v, want one disk_full gap losing v00..v300", infos)
	}
	// A batch that needs exactly the free pages' bytes: two payloads whose 5/4 + 128 each, with
	// the 8 pages, add up to them.
	have := freePages() * pageSize
	want := have - 8*pageSize - 2*128
	var a, b int
	for a = int(want*4/5) / 2; ; a++ {
		if rest := want - int64(a*5/4); rest > 0 && int64(int(rest*4/5)*5/4) == rest {
			b = int(rest * 4 / 5)
			break
		}
	}
	exact := []edge.Message{{ID: "a", Payload: make([]byte, a)}, {ID: "b", Payload: make([]byte, b)}}
	o.roomInFile(exact)
	if n := len(ig.all()); n != 1 {
		t.Fatalf("%d gap records with free pages enough (%d bytes) for the batch, want no more eviction", n, have)
	}
	// 5 bytes short (5/4 of 4 more payload bytes): free what is missing and a quarter of the
	// low-water mark, 5 + 262144 bytes: 263 messages.
	exact[1].Payload = make([]byte, b+4)
	o.roomInFile(exact)
	infos = ig.all()
	if len(infos) != 2 || len(infos[1].Lost) != 263 || infos[1].Lost[0].ID != "v301" {
		t.Fatalf("with 5 bytes too few free: %d gaps, the last losing %d, want 263 from v301", len(infos), len(infos[len(infos)-1].Lost))
	}
	checkCounters(t, o)
}

// The outbox is low on disk when the filesystem has less free than the low-water mark (the
// reserve's size, at least 1 MiB).
func TestLowOnDisk(t *testing.T) {
	dir := mountTmpfs(t, "3m")
	o, err := Open(filepath.Join(dir, "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.lowOnDisk() {
		t.Fatal("low on disk with most of 3 MiB free")
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 2<<20+512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if !o.lowOnDisk() {
		t.Fatal("not low on disk with under 1 MiB free")
	}
}

// The byte bound: at the bound nothing goes; over it, the policy frees the excess and 1 KiB
// more (room for the gap record), oldest of the lowest severity first.
func TestByteBoundFreesTheExcessAndAKiB(t *testing.T) {
	ig := &infoGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxBytes: 10_000, Gap: ig.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fill(t, o, 10, 1000)
	if n := len(ig.all()); n != 0 {
		t.Fatalf("%d gap records at exactly the bound, want none", n)
	}
	// 11000 bytes: 1000 over, 2024 to free: three messages.
	if err := o.Append(context.Background(), edge.Message{ID: "new", Topic: "t", Payload: make([]byte, 1000), Severity: 1}); err != nil {
		t.Fatal(err)
	}
	infos := ig.all()
	if len(infos) != 1 || lostIDsOf(infos[0]) != "v00 v01 v02" || infos[0].Reason != "outbox_full" {
		t.Fatalf("gaps %+v, want one outbox_full gap losing v00 v01 v02", infos)
	}
	if st := checkCounters(t, o); st.Bytes != 8000+3 || st.Evicted != 3 { // 8 messages and the gap's "gap"
		t.Fatalf("stats %+v, want 8003 bytes, 3 evicted", st)
	}
}

// Appending a queued id again stores nothing and counts nothing: the backlog counters stay
// what the table holds, or a drained outbox would report a phantom backlog.
func TestReappendCountsNothing(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	m := edge.Message{ID: "a", Topic: "t", Payload: []byte("12345")}
	for range 3 {
		if err := o.Append(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if st := checkCounters(t, o); st.Rows != 1 || st.Bytes != 5 {
		t.Fatalf("stats %+v, want 1 row of 5 bytes", st)
	}
}

// The disk_full gap record written when space returns counts against the bounds like any row:
// with it the outbox is over, and the policy evicts for it in the same transaction.
func TestDiskFullGapCountsAgainstTheBounds(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		// 2 queued + y + the disk_full gap = 4 rows over 3: 4 - 3 + 1 = 2 go.
		{"rows", Options{MaxRows: 3}},
		// 2000 + 1000 + the gap's 3 bytes = 3003 over 3000: 1003 + 1024 to free, 2 go.
		{"bytes", Options{MaxBytes: 3000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ig := &infoGap{}
			opts := c.opts
			opts.Gap, opts.ReserveBytes = ig.build, -1
			o, err := Open(filepath.Join(t.TempDir(), "o.db"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			fill(t, o, 2, 1000)
			// As after a refusal on a full disk (TestDiskFullRefusalReportedWhenSpaceReturns).
			o.mu.Lock()
			o.pendingLoss, o.lossFirst, o.lossLast = 1, t0, t0
			o.mu.Unlock()
			if err := o.Append(context.Background(), edge.Message{ID: "y", Topic: "t", Payload: make([]byte, 1000), Severity: 9}); err != nil {
				t.Fatal(err)
			}
			infos := ig.all()
			if len(infos) != 2 || infos[0].Reason != "disk_full" || infos[0].NotAccepted != 1 || infos[1].Reason != "outbox_full" || lostIDsOf(infos[1]) != "v00 v01" {
				t.Fatalf("gaps %+v, want the disk_full gap, then an outbox_full one losing v00 v01", infos)
			}
			checkCounters(t, o)
		})
	}
}

// Acknowledgements are deleted in statements of at most 500 ids: 2000 ids, half of them
// unknown, all go, and the counters follow. The policy, too, deletes its victims 500 at a time.
func TestDeleteAndEvictManyIDs(t *testing.T) {
	ig := &infoGap{}
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{MaxRows: 1300, Gap: ig.build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	more := func(prefix string, n int) []string {
		var b []edge.Message
		var acks []string
		for i := range n {
			id := fmt.Sprintf("%s%04d", prefix, i)
			b = append(b, edge.Message{ID: id, Topic: "t", Payload: []byte("xy"), Severity: 1})
			acks = append(acks, id, "unknown-"+id)
		}
		if err := o.Append(ctx, b...); err != nil {
			t.Fatal(err)
		}
		return acks
	}
	acks := more("m", 1201)
	if n, err := o.Delete(ctx, acks[:2000]); n != 1000 || err != nil {
		t.Fatalf("deleted %d (%v), want 1000", n, err)
	}
	if st := checkCounters(t, o); st.Rows != 201 || st.Bytes != 402 {
		t.Fatalf("stats %+v, want 201 rows of 2 bytes", st)
	}
	more("n", 1099) // 1300: at the bound
	more("p", 999)  // 2299 over 1300: 1000 go (one for the gap record), in two statements
	infos := ig.all()
	if len(infos) != 1 || len(infos[0].Lost) != 1000 || infos[0].Lost[0].ID != "m1000" || infos[0].Lost[999].ID != "n0798" {
		t.Fatalf("%d gaps, want 1 losing m1000..n0798", len(infos))
	}
	if st := checkCounters(t, o); st.Rows != 1300 || st.Evicted != 1000 {
		t.Fatalf("stats %+v, want 1300 rows, 1000 evicted", st)
	}
}

// Pending pages through the queue by Seq, oldest first, at most limit at a time.
func TestPendingPages(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	fill(t, o, 5, 1)
	var got []string
	var after int64
	for range 4 {
		page, err := o.Pending(ctx, after, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d, limit 2", len(page))
		}
		for _, m := range page {
			got = append(got, m.ID)
			after = m.Seq
		}
	}
	if strings.Join(got, " ") != "v00 v01 v02 v03 v04" {
		t.Fatalf("pages gave %v", got)
	}
}

// A reserve that does not fit on the disk leaves no partial file: a partial reserve would
// hide how full the disk really is.
func TestReserveThatDoesNotFitLeavesNothing(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := filepath.Join(dir, "o.db")
	o, err := Open(path, Options{ReserveBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if st, err := os.Stat(path + ".reserve"); err == nil {
		t.Fatalf("a partial reserve of %d bytes was left", st.Size())
	}
}

// On a full disk with nothing to evict, Append refuses at once: the policy made no room, so
// the insert is not tried again.
func TestDiskFullNothingToEvictRefuses(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Gap: (&infoGap{}).build, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	failInserts(t, 1) // a second attempt would succeed
	if err := o.Append(context.Background(), edge.Message{ID: "x", Topic: "t", Payload: []byte("x")}); !errors.Is(err, ErrFull) {
		t.Fatalf("append with nothing to evict: %v, want ErrFull", err)
	}
	if st := checkCounters(t, o); st.NotAccepted != 1 || st.Rows != 0 {
		t.Fatalf("stats %+v, want 1 not accepted, nothing queued", st)
	}
}

// SQLite's "database or disk is full", or an I/O error that says full, is ErrFull; another
// error is not.
func TestClassifyFull(t *testing.T) {
	if err := classify(sqlite3.Error{Code: sqlite3.ErrFull}); !errors.Is(err, ErrFull) {
		t.Errorf("SQLITE_FULL: %v, want ErrFull", err)
	}
	// An I/O error whose system error says full ("exchange full": the one errno with the word).
	if err := classify(sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EXFULL}); !errors.Is(err, ErrFull) {
		t.Errorf("I/O error, full: %v, want ErrFull", err)
	}
	for _, e := range []error{sqlite3.Error{Code: sqlite3.ErrIoErr}, sqlite3.Error{Code: sqlite3.ErrBusy, SystemErrno: syscall.EXFULL}, errors.New("disk full")} {
		if err := classify(e); errors.Is(err, ErrFull) || err != e {
			t.Errorf("%v: %v, want it unchanged", e, err)
		}
	}
}

// A reserve that could not be written again (the disk still too full) is tried again at the
// next 64th commit, until it fits.
func TestReserveRetriedUntilItFits(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := filepath.Join(dir, "o.db")
	o, err := Open(path, Options{ReserveBytes: 2 << 20}) // does not fit: no reserve
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.reserveGone = true // as after a full disk; set before the next Append, which the writer receives
	appendN := func(prefix string, n int) {
		for i := range n {
			if err := o.Append(context.Background(), edge.Message{ID: fmt.Sprint(prefix, i), Topic: "t", Payload: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN("a", 64)
	if _, err := os.Stat(path + ".reserve"); err == nil || !o.reserveGone {
		t.Fatalf("after a reserve that did not fit: stat %v, reserve gone %v; want it still to make", err, o.reserveGone)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=8m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	appendN("b", 64)
	if st, err := os.Stat(path + ".reserve"); err != nil || st.Size() != 2<<20 || o.reserveGone {
		t.Fatalf("with room again: reserve %v %v, gone %v; want 2 MiB", st, err, o.reserveGone)
	}
}
