package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/mattn/go-sqlite3"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// burst is a running crosswatch-edge burst.
type burst struct {
	cmd      *exec.Cmd
	accepted atomic.Int64 // last event number reported accepted, -1 before any
	refused  atomic.Int64 // events the full disk refused (never accepted)
	drained  atomic.Bool
	done     chan error
	stderr   *strings.Builder
}

func startBurst(t *testing.T, args ...string) *burst {
	t.Helper()
	b := &burst{done: make(chan error, 1), stderr: &strings.Builder{}}
	b.accepted.Store(-1)
	b.cmd = edgeCmd(append([]string{"burst", "--device", "fault-edge"}, args...)...)
	out, _ := b.cmd.StdoutPipe()
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "accepted" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				b.accepted.Store(n)
			}
			if len(f) == 3 && f[0] == "refused" {
				a, _ := strconv.ParseInt(f[1], 10, 64)
				z, _ := strconv.ParseInt(f[2], 10, 64)
				b.refused.Add(z - a + 1)
				b.accepted.Store(z) // the burst moves on past a refused batch
			}
			if len(f) > 0 && f[0] == "drained" {
				b.drained.Store(true)
			}
		}
	}()
	go func() { wg.Wait(); b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.cmd.Process.Kill() })
	return b
}

func (b *burst) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("burst: %v\n%s%s", err, b.stderr, logTails())
		}
	case <-time.After(d):
		b.cmd.Process.Signal(syscall.SIGQUIT) // Go prints every goroutine's stack: where it is stuck
		select {
		case <-b.done:
		case <-time.After(3 * time.Second):
			b.cmd.Process.Kill()
		}
		aggProcs.Range(func(k, v any) bool {
			k.(*exec.Cmd).Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
			if data, err := os.ReadFile(v.(string)); err == nil {
				dump := filepath.Join(os.TempDir(), fmt.Sprintf("crosswatch-aggregator-dump-%d.log", k.(*exec.Cmd).Process.Pid))
				os.WriteFile(dump, data, 0o644)
				t.Logf("aggregator goroutine dump: %s", dump)
			}
			return true
		})
		t.Fatalf("burst did not finish within %v\n%s%s", d, b.stderr, logTails())
	}
}

// logFiles are the logs of the processes a test started, shown when it fails; aggProcs maps
// running aggregators to their logs, for a goroutine dump when a test stalls.
var logFiles, aggProcs sync.Map

func logTails() string {
	var sb strings.Builder
	logFiles.Range(func(k, _ any) bool {
		b, _ := os.ReadFile(k.(string))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(&sb, "\n--- %s (tail)\n%s", k, b)
		return true
	})
	return sb.String()
}

func (b *burst) kill() {
	b.cmd.Process.Kill()
	<-b.done
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// reconcile checks the aggregator's records against the edge: every event burst-0..n-1 is
// recorded exactly once with exactly one ledger row, and nothing else is. lost lists events the
// policy evicted (reported in gap records); they may be absent.
func reconcile(t *testing.T, db string, n int, lost int) {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	reconcileDB(t, d, n, lost)
}

// reconcileDB is reconcile on an open database (SQLite or PostgreSQL).
func reconcileDB(t *testing.T, d *sql.DB, n int, lost int) {
	t.Helper()
	events := map[string]bool{}
	rows, err := d.Query(`SELECT id FROM events WHERE device = 'fault-edge'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		events[id] = true
	}
	rows.Close()
	var ledgerRows, ledgerDistinct int
	d.QueryRow(`SELECT count(*), count(DISTINCT event_id) FROM ledger WHERE device = 'fault-edge'`).Scan(&ledgerRows, &ledgerDistinct)
	missing := 0
	for i := 0; i < n; i++ {
		if !events["burst-"+strconv.Itoa(i)] {
			missing++
		}
	}
	extra := len(events) - (n - missing)
	t.Logf("reconcile: %d accepted at the edge, %d recorded, %d missing (%d reported lost by policy), %d unexpected, %d ledger rows (%d distinct)",
		n, len(events), missing, lost, extra, ledgerRows, ledgerDistinct)
	if missing != lost || extra != 0 || ledgerRows != len(events) || ledgerDistinct != ledgerRows {
		t.Fatalf("lost %d accepted events (policy reported %d), %d unexpected, %d ledger rows for %d events",
			missing, lost, extra, ledgerRows, len(events))
	}
}

func faultSetup(t *testing.T) (*Mosquitto, *Aggregator) {
	mq := StartMosquitto(t)
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	return mq, agg
}

// The edge is killed with SIGKILL mid-burst, 20 times in a row; each restart resumes from the
// last event it reported accepted. Nothing accepted is lost, nothing is recorded twice.
func TestFaultEdgeSIGKILL(t *testing.T) {
	mq, agg := faultSetup(t)
	ob := filepath.Join(t.TempDir(), "outbox.db")
	const total = 30000
	next := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 20; k++ {
		b := startBurst(t, "--broker", mq.URL, "--outbox", ob, "--from", strconv.Itoa(next), "--to", strconv.Itoa(total), "--rate", "20000")
		time.Sleep(time.Duration(80+rng.IntN(250)) * time.Millisecond)
		b.kill()
		if a := int(b.accepted.Load()); a >= next {
			next = a + 1
		}
	}
	t.Logf("after 20 kills, %d events reported accepted", next)
	b := startBurst(t, "--broker", mq.URL, "--outbox", ob, "--from", strconv.Itoa(next), "--to", strconv.Itoa(total), "--drain")
	b.wait(t, 3*time.Minute)
	agg.Stop()
	reconcile(t, agg.DB, total, 0)
}

// The broker is killed (SIGKILL, no persistence: everything it held is gone) and restarted
// mid-burst. The edge resends what the aggregator had not acknowledged.
func TestFaultBrokerKillRestart(t *testing.T) {
	mq, agg := faultSetup(t)
	const total = 20000
	b := startBurst(t, "--broker", mq.URL, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", strconv.Itoa(total), "--rate", "8000", "--drain")
	waitUntil(t, 30*time.Second, "a quarter of the burst", func() bool { return b.accepted.Load() > total/4 })
	mq.Kill()
	time.Sleep(700 * time.Millisecond)
	mq.Start(t)
	waitUntil(t, 30*time.Second, "half of the burst", func() bool { return b.accepted.Load() > total/2 })
	mq.Kill()
	time.Sleep(300 * time.Millisecond)
	mq.Start(t)
	b.wait(t, 3*time.Minute)
	agg.Stop()
	reconcile(t, agg.DB, total, 0)
}

// The broker is down while the edge buffers 100,000 events; then it comes back and the backlog drains.
func TestFaultBrokerDownBuffer100k(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	total := 100000
	if n, _ := strconv.Atoi(os.Getenv("CROSSWATCH_DRAIN_N")); n > 0 { // 1000000 for docs/BENCHMARKS.md
		total = n
	}
	args := []string{"--broker", url, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", strconv.Itoa(total), "--batch", "500", "--drain", "--drain-timeout", "20m"}
	if w := os.Getenv("CROSSWATCH_RELAY_WINDOW"); w != "" { // docs/BENCHMARKS.md: the drain rate by window
		args = append(args, "--window", w)
	}
	b := startBurst(t, args...)
	waitUntil(t, 20*time.Minute, "the backlog buffered", func() bool { return b.accepted.Load() == int64(total-1) })
	mq := startMosquittoOn(t, mosquittoBin(), port, "")
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	began := time.Now()
	b.wait(t, 10*time.Minute)
	t.Logf("%d backlog drained in %.1f s after the broker came back (%.0f events/s)", total, time.Since(began).Seconds(), float64(total)/time.Since(began).Seconds())
	agg.Stop()
	reconcile(t, agg.DB, total, 0)
}

// The aggregator is killed with SIGKILL mid-ingest, 10 times, and restarted on the same
// database each time. Kills at random moments land between receipt, commit and ack.
func TestFaultAggregatorSIGKILL(t *testing.T) {
	mq, agg := faultSetup(t)
	const total = 40000
	b := startBurst(t, "--broker", mq.URL, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", strconv.Itoa(total), "--rate", "8000", "--drain")
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 10; i++ {
		time.Sleep(time.Duration(150+rng.IntN(300)) * time.Millisecond)
		agg.Kill()
		agg = StartAggregator(t, aggBin, mq.URL, agg.DB)
	}
	b.wait(t, 3*time.Minute)
	agg.Stop()
	reconcile(t, agg.DB, total, 0)
}

// Every payload delivered twice, in shuffled order: recorded once each, and each is acknowledged.
func TestFaultDuplicatedReordered(t *testing.T) {
	mq, agg := faultSetup(t)
	const n = 2000
	var payloads [][]byte
	for i := 0; i < n; i++ {
		b, _ := wire.Encode(wire.Event{V: 1, ID: "burst-" + strconv.Itoa(i), Device: "fault-edge", Camera: "synth-cam-1", Site: "synth-main-nb",
			Zone: "z", Type: wire.RedLightRunning, Time: time.Date(2026, 1, 1, 0, 0, 0, i*1e6, time.UTC), Class: "car", Confidence: 0.9})
		payloads = append(payloads, b, b)
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(payloads), func(i, j int) { payloads[i], payloads[j] = payloads[j], payloads[i] })
	acked := map[string]int{}
	var mu sync.Mutex
	c := paho.NewClient(login(mq.URL, "fault-edge").SetOrderMatters(false))
	if t := c.Connect(); t.Wait() && t.Error() != nil {
		panic(t.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(wire.Topic("fault-edge", wire.KindAck), 1, func(_ paho.Client, m paho.Message) {
		var a wire.Ack
		json.Unmarshal(m.Payload(), &a)
		mu.Lock()
		for _, id := range a.Committed {
			acked[id]++
		}
		mu.Unlock()
	}).Wait()
	for _, p := range payloads {
		c.Publish(wire.Topic("fault-edge", wire.KindEvents), 1, false, p)
	}
	waitUntil(t, time.Minute, "every event acknowledged", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) == n })
	agg.Stop()
	reconcile(t, agg.DB, n, 0)
}

// The edge's disk fills (a small tmpfs) while the broker is down: the on-full policy evicts and
// reports gaps; once the broker is back, what was not evicted arrives, and the gap records say
// exactly how many were evicted.
func TestFaultEdgeDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (%s): this test needs root", strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	const total = 40000
	b := startBurst(t, "--broker", url, "--outbox", filepath.Join(dir, "o.db"), "--outbox-reserve", "524288",
		"--to", strconv.Itoa(total), "--batch", "200", "--drain", "--drain-timeout", "3m")
	waitUntil(t, 2*time.Minute, "the burst to be accepted", func() bool { return b.accepted.Load() == total-1 })
	mq := startMosquittoOn(t, mosquittoBin(), port, "")
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"))
	b.wait(t, 4*time.Minute)
	agg.Stop()
	d, err := sql.Open("sqlite3", "file:"+agg.DB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT reason, evicted, not_accepted FROM gaps WHERE device = 'fault-edge'`)
	if err != nil {
		t.Fatal(err)
	}
	lost, notAccepted, records := 0, 0, 0
	for rows.Next() {
		var reason, evicted string
		var na int
		rows.Scan(&reason, &evicted, &na)
		var ev map[string]int
		json.Unmarshal([]byte(evicted), &ev)
		if reason != wire.GapDiskFull {
			t.Fatalf("gap reason %q", reason)
		}
		lost += ev[wire.RedLightRunning]
		notAccepted += na
		records++
	}
	rows.Close()
	if lost == 0 {
		t.Fatal("the disk never filled: make the tmpfs smaller")
	}
	refused := int(b.refused.Load())
	t.Logf("disk full: %d evicted by policy in %d gap records, %d refused (never accepted), %d reported not accepted", lost, records, refused, notAccepted)
	if notAccepted != refused {
		t.Fatalf("%d refused at the edge, %d reported in gap records", refused, notAccepted)
	}
	reconcile(t, agg.DB, total, lost+refused)
}

// With the shipped Mosquitto ACL, a device cannot publish under another device's topic, nor
// read its acknowledgements; its own events are recorded.
func TestMosquittoACL(t *testing.T) {
	acl, err := filepath.Abs("../configs/mosquitto/acl")
	if err != nil {
		t.Fatal(err)
	}
	mq := startMosquittoOn(t, mosquittoBin(), freePort(t), "acl_file "+acl+"\n")
	agg := StartAggregator(t, aggBin, mq.URL, filepath.Join(t.TempDir(), "agg.db"), "--config", writeConfig(t, ""))
	spoof, _ := wire.Encode(wire.Event{V: 1, ID: "spoof-1", Device: "victim", Camera: "c", Site: "synth-main-nb", Zone: "z",
		Type: wire.RedLightRunning, Time: time.Now().UTC(), Class: "car", Confidence: 0.9})
	// One attempt: the broker may drop the connection of a client publishing where it may not,
	// and paho's reconnect, resending that QoS 1 message, races its own writer (paho.mqtt.golang
	// issue 703, open), which fails the race run.
	o := login(mq.URL, "attacker")
	o.SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Publish(wire.Topic("victim", wire.KindEvents), 1, false, spoof).Wait()
	b := startBurst(t, "--broker", mq.URL, "--outbox", filepath.Join(t.TempDir(), "o.db"), "--to", "50", "--drain", "--drain-timeout", "30s")
	b.wait(t, time.Minute)
	c.Disconnect(50)
	agg.Stop()
	reconcile(t, agg.DB, 50, 0)
	d, _ := sql.Open("sqlite3", "file:"+agg.DB+"?mode=ro")
	defer d.Close()
	var n int
	d.QueryRow(`SELECT count(*) FROM events WHERE device = 'victim'`).Scan(&n)
	if n != 0 {
		t.Fatalf("a spoofed event under another device's topic was recorded")
	}

	// A controller granted one device's phase topic (as the file's example shows) reaches that
	// device, which may read its own phases; a phase for another device is refused.
	shipped, _ := os.ReadFile(acl)
	// Mosquitto reads its ACL after dropping to its own user: the file's folder must be open to it
	// (t.TempDir's parent is not).
	dir, err := os.MkdirTemp("", "crosswatch-acl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	withCtl := filepath.Join(dir, "acl")
	os.WriteFile(withCtl, append(shipped, "\nuser spat-1\ntopic write crosswatch/v1/edge-p/phase\n"...), 0o644)
	mq2 := startMosquittoOn(t, mosquittoBin(), freePort(t), "acl_file "+withCtl+"\n")
	var got sync.Map
	for _, dev := range []string{"edge-p", "edge-q"} {
		c := paho.NewClient(login(mq2.URL, dev))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		defer c.Disconnect(50)
		c.Subscribe(wire.Topic(dev, wire.KindPhase), 1, func(_ paho.Client, m paho.Message) { got.Store(m.Topic(), true) }).Wait()
	}
	ctl := paho.NewClient(login(mq2.URL, "spat-1"))
	if tok := ctl.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer ctl.Disconnect(50)
	phase, _ := wire.Encode(wire.Phase{V: 1, Signal: "nb-head", State: "red", Time: time.Now().UTC()})
	ctl.Publish(wire.Topic("edge-q", wire.KindPhase), 1, false, phase).Wait()
	ctl.Publish(wire.Topic("edge-p", wire.KindPhase), 1, false, phase).Wait()
	waitUntil(t, 5*time.Second, "the granted phase", func() bool { _, ok := got.Load(wire.Topic("edge-p", wire.KindPhase)); return ok })
	time.Sleep(100 * time.Millisecond)
	if _, ok := got.Load(wire.Topic("edge-q", wire.KindPhase)); ok {
		t.Fatal("a controller published a phase to a device it was not granted")
	}
}
