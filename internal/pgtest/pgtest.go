// Package pgtest starts a throwaway PostgreSQL cluster on a free loopback port for tests, as the
// postgres user when running as root (PostgreSQL refuses root), and makes empty databases in it.
package pgtest

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver
)

// Cluster is a running test cluster.
type Cluster struct {
	dsn     string // with %s for the database name
	stop    func()
	seq     atomic.Int32
	durable bool
	data    string // the cluster's data directory
}

// Start starts a cluster without fsync (tests need no durability); call Stop when done.
func Start() (*Cluster, error) { return start(&Cluster{}) }

// StartDurable starts a cluster with PostgreSQL's own durable defaults (fsync and
// synchronous_commit on), as a production server runs: for benchmarks whose figure includes
// the cost of making a commit durable.
func StartDurable() (*Cluster, error) { return start(&Cluster{durable: true}) }

func start(cl *Cluster) (*Cluster, error) {
	stop, err := cl.start()
	cl.stop = stop
	return cl, err
}

// Stop stops the cluster and removes its files.
func (cl *Cluster) Stop() {
	if cl != nil && cl.stop != nil {
		cl.stop()
	}
}

func (cl *Cluster) start() (func(), error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		return nil, fmt.Errorf("no PostgreSQL server installed (Debian package postgresql; 'make deps' installs it)")
	}
	bin := bins[len(bins)-1]
	dir, err := os.MkdirTemp("", "crosswatch-pg")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(dir, uid, gid)
		run = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "crosswatch", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, dir)
	if !cl.durable {
		opts += " -c fsync=off"
	}
	if out, err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	cl.data = data
	cl.dsn = fmt.Sprintf("postgres://crosswatch@127.0.0.1:%d/%%s?sslmode=disable", port)
	return func() {
		run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	}, nil
}

// FreshDB creates an empty database and returns its DSN.
func (cl *Cluster) FreshDB(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", fmt.Sprintf(cl.dsn, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("t%d", cl.seq.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(cl.dsn, name)
}

// ServerCPU is the CPU time (user and system) the cluster's processes have used so far: the
// postmaster, its live children (backends, writers) and the children it has reaped. Benchmarks
// take it before and after, with their own process's, since PostgreSQL's work is not in theirs.
func (cl *Cluster) ServerCPU() time.Duration {
	b, err := os.ReadFile(filepath.Join(cl.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0
	}
	tick := time.Second / 100 // USER_HZ on Linux
	var total time.Duration
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// After the command's ")": state ppid … utime stime cutime cstime (fields 14-17).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		n := 2 // utime, stime
		if pid == pm {
			n = 4 // and the reaped children's
		}
		for _, v := range f[11 : 11+n] {
			t, _ := strconv.ParseInt(v, 10, 64)
			total += time.Duration(t) * tick
		}
	}
	return total
}
