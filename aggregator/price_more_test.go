package aggregator

import "testing"

// Price: the entry's points for a listed site kind at or above min_confidence; nothing for an
// unknown type, another site kind or a confidence below the minimum.
func TestPrice(t *testing.T) {
	c := &Catalog{Version: "v", Entries: []CatalogEntry{
		{Type: "red_light_running", Points: 25, SiteKinds: []SiteKind{Road}, MinConfidence: 0.5},
		{Type: "track_intrusion", Points: 60, SiteKinds: []SiteKind{Rail, Road}},
	}}
	for _, tc := range []struct {
		typ    string
		kind   SiteKind
		conf   float64
		points int
		ok     bool
	}{
		{"red_light_running", Road, 0.5, 25, true}, // equal to the minimum: priced
		{"red_light_running", Road, 0.4999, 0, false},
		{"red_light_running", Road, 1, 25, true},
		{"red_light_running", Rail, 0.9, 0, false}, // not a rail entry
		{"track_intrusion", Rail, 0, 60, true},     // no minimum
		{"track_intrusion", Road, 0.1, 60, true},   // second kind listed
		{"jaywalking", Road, 0.9, 0, false},        // no entry
	} {
		p, ok := c.Price(tc.typ, tc.kind, tc.conf)
		if p != tc.points || ok != tc.ok {
			t.Errorf("Price(%s, %s, %v) = %d, %v; want %d, %v", tc.typ, tc.kind, tc.conf, p, ok, tc.points, tc.ok)
		}
	}
}
