package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Outside CI a missing input skips with its reason; with CI=true the same test fails. Each case
// runs in a child process, so that its failure is observed rather than suffered.
func TestSkipOutsideCIFailInCI(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		Need(t, errors.New("no such file"), "the clip is missing")
		t.Log("not reached")
		return
	}
	for _, c := range []struct {
		ci, want string
		fails    bool
	}{{"", "skipped: the clip is missing: no such file", false}, {"true", "the clip is missing: no such file (CI must have it)", true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipOutsideCIFailInCI$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+c.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != c.fails || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "not reached") {
			t.Errorf("CI=%q: err %v, output:\n%s", c.ci, err, out)
		}
	}
}
