package catalog

import (
	"fmt"
	"strings"
	"testing"
)

// The limits are inclusive: points 1..1000 (a site's whole score), min_confidence 0..1. One step
// past each limit names the field.
func TestBounds(t *testing.T) {
	entry := func(points int, conf string) []byte {
		return []byte(fmt.Sprintf("version: \"1\"\nentries: [{type: jaywalking, points: %d, site_kinds: [road], min_confidence: %s, description: x}]", points, conf))
	}
	for _, c := range []struct {
		points int
		conf   string
		want   string // "" accepted
	}{
		{1, "0", ""},
		{1000, "1", ""},
		{1001, "0.5", "entries[0].points: 1001 is more than a site's whole score"},
		{0, "0.5", "entries[0].points: must be a positive number"},
		{5, "1.01", "entries[0].min_confidence"},
		{5, "-0.01", "entries[0].min_confidence"},
	} {
		_, err := Parse(entry(c.points, c.conf))
		if c.want == "" && err != nil {
			t.Errorf("points %d, min_confidence %s: %v", c.points, c.conf, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("points %d, min_confidence %s: got %v, want %q", c.points, c.conf, err, c.want)
		}
	}
}
