package pipeline

import (
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// A count's turning movements go out by class name, only those with road users in them, and a
// count without any carries none (the payload stays as before).
func TestCountsPayloadMovements(t *testing.T) {
	var c edge.Count
	c.Site, c.Zone, c.Start, c.Period = "s", "nb", time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), time.Minute
	c.N[edge.Car], c.N[edge.Bus] = 3, 1
	wc := countsPayload("d", "cam", c)
	wc.ID = "x"
	if wc.Movements != nil || wc.Counts["car"] != 3 || wc.Counts["bus"] != 1 {
		t.Fatalf("without movements: %+v", wc)
	}
	var se, ss [edge.NumClasses]int
	se[edge.Car], se[edge.Bus] = 2, 1
	c.Movements = map[string][edge.NumClasses]int{"south>east": se, "south>west": ss}
	wc = countsPayload("d", "cam", c)
	wc.ID = "x"
	if len(wc.Movements) != 1 || wc.Movements["south>east"]["car"] != 2 || wc.Movements["south>east"]["bus"] != 1 {
		t.Fatalf("movements %v", wc.Movements)
	}
	b, err := wire.Encode(wc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.DecodeCounts(b); err != nil {
		t.Fatalf("the aggregator would refuse it: %v", err)
	}
}
