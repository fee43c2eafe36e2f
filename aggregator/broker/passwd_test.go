package broker

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A hash from HashToken verifies its token and no other; so does one that mosquitto_passwd
// wrote, so one password file serves both brokers.
func TestHashToken(t *testing.T) {
	tok := NewToken()
	if len(tok) != 43 {
		t.Fatalf("token %q", tok)
	}
	s := HashToken(tok)
	h, err := ParseHash(s)
	if err != nil || !h.Verify(tok) || h.Verify(tok+"x") || h.Verify("") {
		t.Fatalf("%s: %v", s, err)
	}
	if HashToken(tok) == s {
		t.Fatal("two hashes of one token are equal: no salt")
	}
	if (Hash{}).Verify("") {
		t.Fatal("the zero Hash verifies")
	}
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd is not installed")
	}
	f := filepath.Join(t.TempDir(), "pw")
	if out, err := exec.Command(bin, "-c", "-b", f, "edge-1", tok).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	b, _ := exec.Command("cat", f).Output()
	_, mh, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
	if h, err := ParseHash(mh); err != nil || !h.Verify(tok) {
		t.Fatalf("mosquitto_passwd's %q: %v", mh, err)
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add(HashToken("0123456789abcdef"))
	for _, s := range []string{"", "$7$", "$7$101$$", "$7$0$AAAA$AAAA", "$6$101$AAAA$AAAA", "$7$999999999999$AAAA$AAAA", "plain-token"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.iter > 1_000_000 || len(h.hash) != hashBytes {
			t.Fatalf("%q parsed to %d iterations, %d hash bytes", s, h.iter, len(h.hash))
		}
		h.Verify("x")
	})
}
