package catalog

import (
	"math"
	"os"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// Whatever the bytes, Parse returns an error or a catalog that prices every event it can
// within a site's whole score: never a panic, a NaN threshold or a negative deduction.
func FuzzParse(f *testing.F) {
	good, _ := os.ReadFile("../../configs/catalog.yaml")
	f.Add(good)
	for _, s := range []string{
		"version: v1\nentries:\n  - {type: jaywalking, points: 5, site_kinds: [road], min_confidence: .nan, description: x}\n",
		"version: v1\nentries:\n  - {type: jaywalking, points: 5, site_kinds: [road], min_confidence: .inf, description: x}\n",
		"version: v1\nentries:\n  - {type: jaywalking, points: 9223372036854775807, site_kinds: [road], description: x}\n",
		"version: v1\nentries:\n  - {type: jaywalking, points: -1, site_kinds: [road], description: x}\n",
		"version: \"../..\"\nentries: []\n", "", "---\n", "version: [1]\n", "entries: {a: 1}\n", "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		for _, e := range c.Entries {
			if math.IsNaN(e.MinConfidence) || e.MinConfidence < 0 || e.MinConfidence > 1 {
				t.Fatalf("accepted min_confidence %v", e.MinConfidence)
			}
			for _, k := range []aggregator.SiteKind{aggregator.Road, aggregator.Rail} {
				if p, ok := c.Price(e.Type, k, 1); ok && (p <= 0 || p > aggregator.StartScore) {
					t.Fatalf("prices %s at %d points", e.Type, p)
				}
			}
		}
	})
}
