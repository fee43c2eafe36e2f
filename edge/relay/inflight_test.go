package relay

import (
	"testing"
	"time"
)

// Stats.InFlight is how many messages are sent and not yet acknowledged: the window's
// worth while nothing is acked, fewer as acks come, none when all are.
func TestInFlight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.ResendAfter = 4, time.Hour
	ob, _, r, _, _ := setup(t, 10, cfg)
	waitFor(t, "a full window", func() bool { return r.Stats().InFlight == 4 })
	r.Ack([]string{"m0", "m1"})
	waitFor(t, "the window refilled after two acks", func() bool { return r.Stats().InFlight == 4 && rows(t, ob) == 8 })
	var all []string
	for i := 0; i < 10; i++ {
		all = append(all, "m"+string(rune('0'+i)))
	}
	r.Ack(all)
	waitFor(t, "nothing in flight", func() bool { return r.Stats().InFlight == 0 && rows(t, ob) == 0 })
}
