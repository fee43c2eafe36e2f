// Package catalog loads and validates the versioned catalog of severity points.
package catalog

import (
	"fmt"
	"os"
	"strings"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/cfgfile"
)

// Load reads and validates a catalog file.
func Load(path string) (*aggregator.Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes strictly (unknown keys are errors) and validates.
func Parse(b []byte) (*aggregator.Catalog, error) {
	var c aggregator.Catalog
	if err := cfgfile.Decode(b, &c); err != nil {
		return nil, err
	}
	if err := Validate(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate reports every problem with its field path.
func Validate(c *aggregator.Catalog) error {
	var problems cfgfile.Problems
	bad := problems.Add
	if strings.TrimSpace(c.Version) == "" {
		bad("version", "missing")
	} else if err := wire.CheckName("version", c.Version); err != nil {
		bad("version", "use letters, digits, '.', '_' or '-'")
	}
	if len(c.Entries) == 0 {
		bad("entries", "missing")
	}
	seen := map[string]bool{}
	for i, e := range c.Entries {
		f := fmt.Sprintf("entries[%d]", i)
		known := false
		for _, t := range wire.EventTypes {
			known = known || t == e.Type
		}
		if !known {
			bad(f+".type", "unknown event type %q (one of %s)", e.Type, strings.Join(wire.EventTypes, ", "))
		}
		if seen[e.Type] {
			bad(f+".type", "duplicate entry for %q", e.Type)
		}
		seen[e.Type] = true
		if e.Points <= 0 {
			bad(f+".points", "must be a positive number of points, got %d", e.Points)
		}
		if e.Points > aggregator.StartScore {
			bad(f+".points", "%d is more than a site's whole score (%d)", e.Points, aggregator.StartScore)
		}
		if len(e.SiteKinds) == 0 {
			bad(f+".site_kinds", "missing (road, rail)")
		}
		for j, k := range e.SiteKinds {
			if k != aggregator.Road && k != aggregator.Rail {
				bad(fmt.Sprintf("%s.site_kinds[%d]", f, j), "must be road or rail, got %q", k)
			}
		}
		if !(e.MinConfidence >= 0 && e.MinConfidence <= 1) { // NaN (.nan in YAML) too
			bad(f+".min_confidence", "must be within 0..1, got %v", e.MinConfidence)
		}
		if strings.TrimSpace(e.Description) == "" {
			bad(f+".description", "missing")
		}
	}
	return problems.Err()
}
