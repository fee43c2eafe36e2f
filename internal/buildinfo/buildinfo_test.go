package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, c := range []struct {
		main     string
		settings map[string]string
		want     string
	}{
		{"v1.4.0", nil, "v1.4.0"},
		{"(devel)", map[string]string{"vcs.revision": "3f2a9c1e7b0d55aa", "vcs.modified": "false"}, "devel+3f2a9c1e7b0d"},
		{"(devel)", map[string]string{"vcs.revision": "3f2a9c1e7b0d55aa", "vcs.modified": "true"}, "devel+3f2a9c1e7b0d+dirty"},
		{"", nil, "devel"},
		{"v0.0.0-20261202003000-3f2a9c1e7b0d+dirty", map[string]string{"vcs.revision": "3f2a9c1e7b0d55aa", "vcs.modified": "true"}, "v0.0.0-20261202003000-3f2a9c1e7b0d+dirty"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Version: c.main}}
		for k, v := range c.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := version(bi); got != c.want {
			t.Errorf("version(%q, %v) = %q, want %q", c.main, c.settings, got, c.want)
		}
	}
}
