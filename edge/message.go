package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// Message is one encoded payload on its way to the aggregator: what the pipeline writes to the
// outbox and the relay sends.
type Message struct {
	Seq      int64 // insertion order, assigned by the outbox
	ID       string
	Topic    string
	Payload  []byte
	Severity int // eviction order under the outbox's on-full policy: lowest first (Severity)
	Created  time.Time
}

// Outbox stores messages durably before they are sent.
type Outbox interface {
	// Append commits messages; when it returns nil they survive a crash. The outbox copies
	// nothing it keeps: msgs may be reused once Append returns.
	Append(ctx context.Context, msgs ...Message) error
}

// GapSeverity marks gap records; they are never evicted.
const GapSeverity = 1 << 20

// Lost describes a message evicted by the on-full policy, or a batch that was not accepted.
type Lost struct {
	ID       string
	Topic    string
	Severity int
	Created  time.Time
}

// GapInfo describes what a gap record reports.
type GapInfo struct {
	Reason         string // "outbox_full" or "disk_full", as in the wire contract
	Lost           []Lost // messages evicted by the on-full policy
	NotAccepted    int    // messages that could not be stored at all (disk full)
	Oldest, Newest time.Time
	Now            time.Time
}

// The on-full policy evicts the lowest severity first. Count records go first, then the event
// types from least to most dangerous. Each kind has its own severity, so a gap record can say
// what it lost.
var severities = []string{"counts", wire.Jaywalking, wire.PedAgainstSignal, wire.RedLightRunning, wire.PlatformEdgeIntrusion, wire.TrackIntrusion}

// Severity returns the eviction rank of an event type, or of count records for "counts"; 0 for
// a kind it does not know.
func Severity(kind string) int {
	for i, k := range severities {
		if k == kind {
			return i + 1
		}
	}
	return 0
}

// GapBuilder returns the outbox's gap-record builder for device: the wire gap record of what
// the on-full policy lost, by kind.
func GapBuilder(device string) func(GapInfo) Message {
	return func(g GapInfo) Message {
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
		return Message{ID: w.ID, Topic: wire.Topic(device, wire.KindGaps), Payload: b}
	}
}
