package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// The on-full policy evicts the lowest severity first. Count records go first, then the event
// types from least to most dangerous. Each kind has its own severity, so a gap record can say
// what it lost.
var severities = []string{"counts", wire.Jaywalking, wire.PedAgainstSignal, wire.RedLightRunning, wire.PlatformEdgeIntrusion, wire.TrackIntrusion}

// Severity returns the eviction rank of an event type, or of count records for "counts".
func Severity(kind string) int {
	for i, k := range severities {
		if k == kind {
			return i + 1
		}
	}
	return 0
}

// GapBuilder returns the outbox's gap-record builder for device.
func GapBuilder(device string) func(outbox.GapInfo) outbox.Message {
	return func(g outbox.GapInfo) outbox.Message {
		var nonce [4]byte
		rand.Read(nonce[:])
		w := wire.Gap{V: wire.Version, Device: device, Time: g.Now.UTC(), Reason: g.Reason, NotAccepted: g.NotAccepted,
			Oldest: g.Oldest.UTC(), Newest: g.Newest.UTC()}
		// Unique across restarts and clock jumps: time plus a random nonce.
		w.ID = "gap-" + strconv.FormatInt(g.Now.UnixNano(), 36) + "-" + hex.EncodeToString(nonce[:])
		for _, l := range g.Lost {
			if l.Severity >= 1 && l.Severity <= len(severities) {
				if w.Evicted == nil {
					w.Evicted = map[string]int{}
				}
				w.Evicted[severities[l.Severity-1]]++
			}
		}
		b, _ := wire.Encode(w)
		return outbox.Message{ID: w.ID, Topic: wire.Topic(device, wire.KindGaps), Payload: b}
	}
}
