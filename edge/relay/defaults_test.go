package relay

import (
	"testing"
	"time"
)

// The roadside defaults docs/ARCHITECTURE.md states: a window of 2,048 in flight, a resend after
// 10 s without an acknowledgement.
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Window != 2048 || c.ResendAfter != 10*time.Second || c.Poll != 200*time.Millisecond {
		t.Fatalf("DefaultConfig() = %+v, want window 2048, resend after 10s, poll 200ms", c)
	}
}
