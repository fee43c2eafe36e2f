package e2e

import (
	"encoding/csv"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// TestTurningMovements: the synthetic intersection's scene, given legs and a count line across
// each leg's outbound lanes, sends turning movements with its counts, and the aggregator's
// count export shows them beside the approach's own count: northbound traffic goes straight on
// (south>north), southbound north>south, and no movement exceeds its approach's count.
func TestTurningMovements(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(edgeBin, "synth", "--seed", "7", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "scene.yaml")
	b, _ := os.ReadFile(path)
	scene := string(b)
	for _, r := range []struct{ after, leg string }{{"      site: synth-main-nb\n      stop_line:", "south"}, {"      site: synth-main-sb\n      stop_line:", "north"}} {
		if !strings.Contains(scene, r.after) {
			t.Fatalf("scene has no %q", r.after)
		}
		scene = strings.Replace(scene, r.after, "      leg: "+r.leg+"\n"+r.after, 1)
	}
	scene += `count_lines:
    - {id: out-north, site: synth-main-nb, leg: north, line: [[0.5031, 0.2], [0.6219, 0.2]], direction: [0, -1]}
    - {id: out-south, site: synth-main-sb, leg: south, line: [[0.3781, 0.8], [0.4969, 0.8]], direction: [0, 1]}
`
	if strings.Contains(string(b), "\ncount_lines:") {
		t.Fatal("the synthetic scene has count lines already: merge them")
	}
	os.WriteFile(path, []byte(scene), 0o644)
	if out, err := edgeCmd("check-config", "--scene", path).CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	agg := StartAggregator(t, aggBin, "embedded", filepath.Join(t.TempDir(), "agg.db"))
	replay(t, edgeBin, dir, agg.Broker, filepath.Join(t.TempDir(), "outbox.db"))

	q := url.Values{"bin": {"1h"}, "from": {time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)}, "to": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}
	for _, c := range []struct{ site, zone, movement, not string }{
		{"synth-main-nb", "nb-stop", "south>north", "north>south"},
		{"synth-main-sb", "sb-stop", "north>south", "south>north"},
	} {
		var s aggregator.CountStudy
		getJSON(t, agg.API+"/api/v1/sites/"+c.site+"/counts?"+q.Encode(), &s)
		moved, counted := 0, 0
		for _, n := range s.MovementTotals[c.movement] {
			moved += n
		}
		for _, n := range s.Totals[c.zone] {
			counted += n
		}
		if moved == 0 || moved > counted || s.MovementTotals[c.not] != nil {
			t.Errorf("%s: movements %v, %d road users counted at %s", c.site, s.MovementTotals, counted, c.zone)
		}
		t.Logf("%s: %s %d of the %d road users counted at %s", c.site, c.movement, moved, counted, c.zone)
		q.Set("format", "csv")
		resp, err := authGet(agg.API + "/api/v1/sites/" + c.site + "/counts?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		q.Del("format")
		if err != nil || rows[0][3] != "movement" {
			t.Fatalf("csv: %v %v", err, rows[:1])
		}
		n := 0
		for _, r := range rows[1:] {
			if r[3] == c.movement && r[2] == c.zone {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: no %s rows in the CSV", c.site, c.movement)
		}
	}
}
