package catalog

import (
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

func TestShippedCatalog(t *testing.T) {
	c, err := Load("../../configs/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.Price("red_light_running", aggregator.Road, 0.9); !ok || p != 25 {
		t.Fatalf("price %d %v", p, ok)
	}
	if _, ok := c.Price("red_light_running", aggregator.Rail, 0.9); ok {
		t.Fatal("a road entry priced a rail site")
	}
	if _, ok := c.Price("red_light_running", aggregator.Road, 0.1); ok {
		t.Fatal("priced below min_confidence")
	}
}

func TestRejects(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"negative price": {`version: "1"
entries: [{type: jaywalking, points: -5, site_kinds: [road], description: x}]`, "entries[0].points"},
		"missing price": {`version: "1"
entries: [{type: jaywalking, site_kinds: [road], description: x}]`, "entries[0].points"},
		"unknown type": {`version: "1"
entries: [{type: speeding, points: 5, site_kinds: [road], description: x}]`, "entries[0].type"},
		"unknown key": {`version: "1"` + "\nowner: bob\n", "field owner not found"},
		"no version":  {`entries: [{type: jaywalking, points: 5, site_kinds: [road], description: x}]`, "version: missing"},
		"bad kind": {`version: "1"
entries: [{type: jaywalking, points: 5, site_kinds: [sea], description: x}]`, "entries[0].site_kinds[0]"},
		"duplicate": {`version: "1"
entries: [{type: jaywalking, points: 5, site_kinds: [road], description: x}, {type: jaywalking, points: 5, site_kinds: [road], description: x}]`, "entries[1].type: duplicate"},
		"empty": {``, "empty file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}
