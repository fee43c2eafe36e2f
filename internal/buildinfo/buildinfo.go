// Package buildinfo describes the running binary from the build information Go embeds in it,
// for --version, the status messages and the build_info metric.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version returns the module version the binary was built at ("v1.2.3"), or, for a build from
// a checkout, "devel" with the commit ("devel+3f2a9c1e7b0d", "+dirty" when it had local
// changes); "unknown" without build information.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return version(bi)
}

func version(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v != "" && v != "(devel)" && !strings.Contains(v, "+dirty") {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if rev != "" && !strings.Contains(v, rev[:min(len(rev), 12)]) {
		v += "+" + rev[:min(len(rev), 12)]
	}
	if dirty && !strings.HasSuffix(v, "+dirty") {
		v += "+dirty"
	}
	return v
}

// Line is what --version prints: the program, its version and the Go toolchain.
func Line(program string) string {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	return program + " " + Version() + " (" + goVersion + ")"
}
