package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/mbtiles/mbtilestest"
)

// planSites are thirteen sites, ten of them the approaches and crossings of one junction
// within 60 m of each other: the plan view must label them without overlaps.
const planSites = `
  - {id: mill-n, name: "Mill Rd & 5th Ave, northbound", kind: road, lat: 48.20800, lon: 16.37060}
  - {id: mill-s, name: "Mill Rd & 5th Ave, southbound", kind: road, lat: 48.20770, lon: 16.37045}
  - {id: mill-e, name: "Mill Rd & 5th Ave, eastbound", kind: road, lat: 48.20785, lon: 16.37020}
  - {id: mill-w, name: "Mill Rd & 5th Ave, westbound", kind: road, lat: 48.20790, lon: 16.37085}
  - {id: mill-xn, name: "Mill Rd & 5th Ave, north crosswalk", kind: road, lat: 48.20812, lon: 16.37050}
  - {id: mill-xs, name: "Mill Rd & 5th Ave, south crosswalk", kind: road, lat: 48.20760, lon: 16.37058}
  - {id: mill-xe, name: "Mill Rd & 5th Ave, east crosswalk", kind: road, lat: 48.20795, lon: 16.37098}
  - {id: mill-xw, name: "Mill Rd & 5th Ave, west crosswalk", kind: road, lat: 48.20778, lon: 16.37008}
  - {id: mill-tram-1, name: "Mill Rd tram stop, platform 1", kind: rail, lat: 48.20822, lon: 16.37110}
  - {id: mill-tram-2, name: "Mill Rd tram stop, platform 2", kind: rail, lat: 48.20748, lon: 16.36990}
  - {id: harbour-wb, name: "Harbour St, westbound", kind: road, lat: 48.21400, lon: 16.36200}
  - {id: ring-eb, name: "Ring Rd, eastbound", kind: road, lat: 48.20150, lon: 16.38600}
  - {id: central-3, name: "Central station, platform 3", kind: rail, lat: 48.20050, lon: 16.36000}
`

// TestPlanViewInBrowser drives the plan view in chromium: an aggregator whose dashboard.tiles
// is an MBTiles file of a synthetic town made here, and one without tiles. The browser side,
// aggregator/dashboard/browsertest/plan.test.mjs, checks that no two labels overlap (getBBox),
// that the tiles lie under the sites, and that without tiles none is asked for. With
// -update-screenshots it writes docs/screenshots/plan.png.
func TestPlanViewInBrowser(t *testing.T) {
	node, chromium, testDir := browserTools(t)
	dir := t.TempDir()
	tiles := filepath.Join(dir, "town.mbtiles")
	bounds := [4]float64{16.335, 48.190, 16.405, 48.225}
	meta := map[string]string{"name": "synthetic town", "format": "png", "minzoom": "12", "maxzoom": "16",
		"bounds":      fmt.Sprintf("%g,%g,%g,%g", bounds[0], bounds[1], bounds[2], bounds[3]),
		"attribution": "Synthetic town (made by the test, no real map)"}
	if err := mbtilestest.Write(tiles, meta, mbtilestest.Streets(bounds, 12, 16, 0.0025)); err != nil {
		t.Fatal(err)
	}
	start := func(name, extra string) (*Aggregator, string) {
		p := writeConfig(t, "")
		b, _ := os.ReadFile(p)
		// The example's sites stay (the synthetic clip's); these join them.
		s := strings.Replace(string(b), "sites:\n", extra+"sites:\n", 1) + planSites
		os.WriteFile(p, []byte(s), 0o644)
		agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), name+".db"), "--config", p)
		return agg, agg.AddUser(t, "plan-"+name, "viewer")
	}
	withTiles, pw1 := start("tiles", "dashboard:\n  tiles: "+tiles+"\n")
	plain, pw2 := start("plain", "")

	// Events and counts at a few sites, so the pins have scores and colours.
	for i, f := range []struct {
		site, types string
		roadUsers   int
	}{
		{"mill-n", "red_light_running,red_light_running,jaywalking", 3000},
		{"mill-xe", "ped_against_signal,jaywalking", 2500},
		{"ring-eb", "red_light_running", 40000},
		{"mill-tram-1", "platform_edge_intrusion", 8000},
		{"harbour-wb", "red_light_running,ped_against_signal", 6000},
	} {
		for _, agg := range []*Aggregator{withTiles, plain} {
			args := []string{"burst", "--broker", agg.Broker, "--device", "burst-edge", "--site", f.site, "--camera", "plan-cam",
				"--outbox", filepath.Join(dir, fmt.Sprintf("%d-%p.db", i, agg)), "--from", "0", "--to", "40", "--batch", "40",
				"--span", "600h", "--road-users", fmt.Sprint(f.roadUsers), "--types", f.types, "--id-prefix", f.site + "-",
				"--drain", "--drain-timeout", "1m"}
			if out, err := edgeCmd(args...).CombinedOutput(); err != nil {
				t.Fatalf("burst %s: %v\n%s", f.site, err, out)
			}
		}
	}

	shots := t.TempDir()
	if *updateScreenshots {
		shots, _ = filepath.Abs("../docs/screenshots")
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(testDir, "plan.test.mjs"))
	cmd.Dir = testDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "CROSSWATCH_SCREENSHOTS="+shots,
		"CROSSWATCH_URL="+withTiles.API, "CROSSWATCH_USER=plan-tiles", "CROSSWATCH_PASSWORD="+pw1,
		"CROSSWATCH_PLAIN_URL="+plain.API, "CROSSWATCH_PLAIN_USER=plan-plain", "CROSSWATCH_PLAIN_PASSWORD="+pw2)
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	if st, err := os.Stat(filepath.Join(shots, "plan.png")); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot plan.png: %v", err)
	}
}
