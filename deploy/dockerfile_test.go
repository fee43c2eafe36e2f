package deploy_test

import (
	"encoding/json"
	"os"
	"path"
	"strings"
	"testing"
)

// instr is one Dockerfile instruction.
type instr struct {
	Cmd   string // upper case: FROM, RUN, COPY, …
	Args  string // the rest of the line, continuations joined
	Stage int    // index of the FROM it belongs to
	Line  int
}

// exec returns a JSON (exec form) argument list, or the shell form split on spaces.
func (i instr) exec() []string {
	var v []string
	if json.Unmarshal([]byte(i.Args), &v) == nil {
		return v
	}
	return strings.Fields(i.Args)
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name   string
	instrs []instr
}

func parseDockerfile(t *testing.T, name string) *dockerfile {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerfile{name: name}
	stage := -1
	var cur strings.Builder
	start := 0
	for n, l := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(l)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trim, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n + 1
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		d.instrs = append(d.instrs, instr{Cmd: cmd, Args: strings.TrimSpace(args), Stage: stage, Line: start})
		cur.Reset()
	}
	return d
}

// final returns the instructions named cmd of the last stage (the image that runs).
func (d *dockerfile) final(cmd string) []instr {
	last := d.instrs[len(d.instrs)-1].Stage
	var out []instr
	for _, i := range d.instrs {
		if i.Stage == last && i.Cmd == cmd {
			out = append(out, i)
		}
	}
	return out
}

// one returns the only instruction cmd of the final stage, or fails.
func (d *dockerfile) one(t *testing.T, cmd string) instr {
	t.Helper()
	is := d.final(cmd)
	if len(is) != 1 {
		t.Fatalf("%s: want one %s in the final stage, have %d", d.name, cmd, len(is))
	}
	return is[0]
}

// env returns the final stage's ENV values.
func (d *dockerfile) env() map[string]string {
	out := map[string]string{}
	for _, i := range d.final("ENV") {
		for _, kv := range strings.Fields(i.Args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				out[k] = v
			}
		}
	}
	return out
}

// copies returns the final stage's COPY instructions as source → destination pairs (a
// destination ending in / gets the source's base name), with --from=stage kept as "stage:".
func (d *dockerfile) copies() map[string]string {
	out := map[string]string{}
	for _, i := range d.final("COPY") {
		f := strings.Fields(i.Args)
		from := ""
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			if v, ok := strings.CutPrefix(f[0], "--from="); ok {
				from = v + ":"
			}
			f = f[1:]
		}
		dst := f[len(f)-1]
		for _, src := range f[:len(f)-1] {
			to := dst
			if strings.HasSuffix(dst, "/") && !strings.HasSuffix(src, "/") {
				to = path.Join(dst, path.Base(src))
			}
			out[from+src] = to
		}
	}
	return out
}

// healthURL returns the URL the HEALTHCHECK fetches with curl.
func (d *dockerfile) healthURL(t *testing.T) string {
	t.Helper()
	hc := d.one(t, "HEALTHCHECK")
	_, cmd, ok := strings.Cut(hc.Args, "CMD ")
	if !ok {
		t.Fatalf("%s:%d: HEALTHCHECK without CMD", d.name, hc.Line)
	}
	var args []string
	if err := json.Unmarshal([]byte(cmd), &args); err != nil {
		t.Fatalf("%s:%d: HEALTHCHECK CMD is not exec form: %v", d.name, hc.Line, err)
	}
	if args[0] != "curl" || !contains(args, "-f") && !strings.HasPrefix(args[1], "-f") {
		t.Fatalf("%s:%d: HEALTHCHECK %v: want curl -f (fail on an HTTP error)", d.name, hc.Line, args)
	}
	u := args[len(args)-1]
	if !strings.HasPrefix(u, "http://") {
		t.Fatalf("%s:%d: HEALTHCHECK URL %q", d.name, hc.Line, u)
	}
	return u
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// runtimeUser checks the final stage runs as a dedicated non-root user that a RUN creates and
// that owns the one VOLUME, made before the VOLUME is declared (else the volume starts as
// root's and the user cannot write it), and returns the user and the volume.
func (d *dockerfile) runtimeUser(t *testing.T) (user, volume string) {
	t.Helper()
	user = d.one(t, "USER").Args
	if user == "" || user == "root" || user == "0" || user == "nobody" {
		t.Fatalf("%s: USER %q: want a dedicated user", d.name, user)
	}
	var vols []string
	vi := d.one(t, "VOLUME")
	if json.Unmarshal([]byte(vi.Args), &vols) != nil {
		vols = strings.Fields(vi.Args)
	}
	if len(vols) != 1 {
		t.Fatalf("%s: VOLUME %v: want one state volume", d.name, vols)
	}
	volume = vols[0]
	created, owned := false, false
	for _, r := range d.final("RUN") {
		if r.Line > vi.Line {
			continue
		}
		for _, part := range strings.Split(r.Args, "&&") {
			f := strings.Fields(part)
			switch {
			case len(f) > 1 && f[0] == "useradd" && f[len(f)-1] == user:
				created = true
			case len(f) > 0 && f[0] == "install" && contains(f, "-d") && contains(f, volume) && contains(f, user):
				owned = true
			}
		}
	}
	if !created {
		t.Errorf("%s: no RUN useradd … %s before the VOLUME", d.name, user)
	}
	if !owned {
		t.Errorf("%s: the volume %s is not made (install -d -o %s) before VOLUME: it would be root's, not writable by %s", d.name, volume, user, user)
	}
	if w := d.one(t, "WORKDIR").Args; w != volume {
		t.Errorf("%s: WORKDIR %s: want the state volume %s, so that a relative path lands where the user may write", d.name, w, volume)
	}
	return user, volume
}

// command returns ENTRYPOINT + CMD.
func (d *dockerfile) command(t *testing.T) []string {
	t.Helper()
	return append(d.one(t, "ENTRYPOINT").exec(), d.one(t, "CMD").exec()...)
}

// flagValue returns the value after --name in args, or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	if i < 0 {
		t.Fatalf("%q has no port", hostport)
	}
	return hostport[i+1:]
}

func exposed(d *dockerfile) map[string]bool {
	out := map[string]bool{}
	for _, e := range d.final("EXPOSE") {
		for _, p := range strings.Fields(e.Args) {
			out[strings.TrimSuffix(p, "/tcp")] = true
		}
	}
	return out
}

// buildOutput returns the go build -o path of pkg in the Dockerfile's build stages.
func (d *dockerfile) buildOutput(t *testing.T, pkg string) string {
	t.Helper()
	for _, i := range d.instrs {
		if i.Cmd == "RUN" && strings.Contains(i.Args, "go build") && strings.HasSuffix(strings.TrimSpace(i.Args), pkg) {
			return flagValue(strings.Fields(strings.ReplaceAll(i.Args, " -o ", " --o ")), "o")
		}
	}
	t.Fatalf("%s: no RUN go build … %s", d.name, pkg)
	return ""
}
