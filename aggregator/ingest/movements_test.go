package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// A count record's turning movements are stored with it; one with a malformed movement is
// dead-lettered whole, with the field named.
func TestCountsMovementsStored(t *testing.T) {
	st := openStore(t)
	good := wire.Counts{V: 1, ID: "k1", Device: "edge-1", Camera: "cam-1", Site: "main-nb", Zone: "z", Start: t0, PeriodS: 60,
		Counts: map[string]int{"car": 5}, Movements: map[string]map[string]int{"south>east": {"car": 2}, "south>north": {"car": 3}}}
	bad := good
	bad.ID, bad.Movements = "k2", map[string]map[string]int{"south>south": {"car": 1}}
	a := runCatalog(t, st, shippedCatalog(t), []Message{
		{Topic: wire.Topic("edge-1", wire.KindCounts), Payload: mustEncode(t, good)},
		{Topic: wire.Topic("edge-1", wire.KindCounts), Payload: mustEncode(t, bad)},
	})
	c, r := a.all("edge-1")
	if strings.Join(c, ",") != "k1" || len(r) != 1 || r[0].ID != "k2" || !strings.Contains(r[0].Reason, "movements") {
		t.Fatalf("committed %v rejected %+v", c, r)
	}
	got, err := st.FindCounts(context.Background(), aggregator.CountFilter{Site: "main-nb", From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(got) != 1 || got[0].Movements["south>east"]["car"] != 2 || got[0].Movements["south>north"]["car"] != 3 {
		t.Fatalf("stored %+v, %v", got, err)
	}
}
