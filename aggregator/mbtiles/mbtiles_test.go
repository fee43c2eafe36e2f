package mbtiles_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"image/color"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator/mbtiles"
	"github.com/crosswatch/crosswatch/aggregator/mbtiles/mbtilestest"
)

var (
	red  = mbtilestest.PNG(color.RGBA{255, 0, 0, 255})
	blue = mbtilestest.PNG(color.RGBA{0, 0, 255, 255})
)

func goodMeta() map[string]string {
	return map[string]string{"name": "test town", "format": "png", "minzoom": "1", "maxzoom": "2",
		"bounds": "16.30,48.18,16.42,48.24", "attribution": "made up by the test"}
}

// writeFile makes an MBTiles file with the metadata and one tile at XYZ 1/1/0; it returns
// the path.
func writeFile(t *testing.T, meta map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "town.mbtiles")
	if err := mbtilestest.Write(p, meta, []mbtilestest.Tile{{Z: 1, X: 1, Y: 0, Data: red}}); err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, h http.Handler, path string) (int, http.Header, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func TestServesTilesAndTileJSON(t *testing.T) {
	p := writeFile(t, goodMeta())
	// A tile written the way other tools write it, straight in the TMS scheme: row 0 is the
	// southernmost, so at zoom 2 it is XYZ row 3.
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO tiles VALUES (2, 1, 0, ?)`, blue); err != nil {
		t.Fatal(err)
	}
	db.Close()

	ts, err := mbtiles.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	h := mbtiles.Handler(ts, slog.Default())

	code, _, body := get(t, h, "/tiles/tilejson")
	var tj mbtiles.TileJSON
	if code != 200 || json.Unmarshal(body, &tj) != nil {
		t.Fatalf("tilejson: %d %s", code, body)
	}
	want := mbtiles.TileJSON{TileJSON: "3.0.0", Name: "test town", Attribution: "made up by the test", Format: "png",
		Tiles: []string{"/tiles/{z}/{x}/{y}"}, MinZoom: 1, MaxZoom: 2, Bounds: [4]float64{16.30, 48.18, 16.42, 48.24}}
	if tj.Name != want.Name || tj.Attribution != want.Attribution || tj.Format != want.Format || tj.MinZoom != 1 || tj.MaxZoom != 2 ||
		tj.Bounds != want.Bounds || len(tj.Tiles) != 1 || tj.Tiles[0] != want.Tiles[0] {
		t.Errorf("tilejson %+v, want %+v", tj, want)
	}

	for _, c := range []struct {
		path  string
		code  int
		tile  []byte
		error string
	}{
		{"/tiles/1/1/0", 200, red, ""},
		{"/tiles/1/1/1", 204, nil, ""}, // where the TMS row 0 of zoom 1 would be read without the flip
		{"/tiles/2/1/3", 200, blue, ""},
		{"/tiles/2/1/0", 204, nil, ""},
		{"/tiles/0/0/0", 404, nil, "z: 0 is outside the tileset's zoom levels 1..2"},
		{"/tiles/3/0/0", 404, nil, "z: 3 is outside"},
		{"/tiles/1/2/0", 404, nil, "x, y: 2, 0 is outside 0..1 at zoom 1"},
		{"/tiles/1/0/-1", 404, nil, "outside"},
		{"/tiles/1/x/0", 400, nil, `x: "x" is not an integer`},
		{"/tiles/1/0/0.png", 400, nil, `y: "0.png" is not an integer`},
	} {
		code, hdr, body := get(t, h, c.path)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.path, code, body, c.code)
			continue
		}
		if c.tile != nil && (!bytes.Equal(body, c.tile) || hdr.Get("Content-Type") != "image/png") {
			t.Errorf("%s: %s, %d bytes: not the tile stored there", c.path, hdr.Get("Content-Type"), len(body))
		}
		if c.error != "" && !strings.Contains(string(body), c.error) {
			t.Errorf("%s: %q, want it to say %q", c.path, body, c.error)
		}
		if c.code == 200 && hdr.Get("Cache-Control") != "private, max-age=3600" {
			t.Errorf("%s: Cache-Control %q", c.path, hdr.Get("Cache-Control"))
		}
	}
}

// Without a tiles file the plan view asks and hears there is none (204, no console error),
// and no tile is served.
func TestNoTileset(t *testing.T) {
	h := mbtiles.Handler(nil, slog.Default())
	if code, _, body := get(t, h, "/tiles/tilejson"); code != 204 || len(body) != 0 {
		t.Errorf("tilejson without tiles: %d %q", code, body)
	}
	if code, _, _ := get(t, h, "/tiles/1/1/0"); code != 404 {
		t.Errorf("tile without tiles: %d", code)
	}
}

// Metadata left out is taken from the tiles: zoom levels from the rows, the format from the
// first tile's bytes, the bounds the whole Mercator world.
func TestMetadataFromTiles(t *testing.T) {
	p := writeFile(t, map[string]string{"name": "bare"})
	ts, err := mbtiles.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if ts.Format != "png" || ts.MinZoom != 1 || ts.MaxZoom != 1 || ts.Bounds != [4]float64{-180, -85.05112878, 180, 85.05112878} {
		t.Errorf("got format %q zoom %d..%d bounds %v", ts.Format, ts.MinZoom, ts.MaxZoom, ts.Bounds)
	}
	jpg := writeFile(t, map[string]string{"format": "jpeg"})
	tj, err := mbtiles.Open(jpg)
	if err != nil {
		t.Fatal(err)
	}
	defer tj.Close()
	if tj.Format != "jpg" {
		t.Errorf("format jpeg read as %q", tj.Format)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.mbtiles")
	os.WriteFile(text, []byte(strings.Repeat("not a database\n", 100)), 0o644)
	noTiles := filepath.Join(dir, "empty.mbtiles")
	if db, err := sql.Open("sqlite3", noTiles); err == nil {
		db.Exec(`CREATE TABLE metadata (name TEXT, value TEXT)`)
		db.Close()
	}
	noRows := filepath.Join(dir, "norows.mbtiles")
	if err := mbtilestest.Write(noRows, goodMeta(), nil); err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) string {
		m := goodMeta()
		m[k] = v
		return writeFile(t, m)
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.mbtiles"), "no such file"},
		{"directory", dir, "is a directory"},
		{"text", text, "not an MBTiles file: file is not a database"},
		{"no tiles table", noTiles, "no tiles table"},
		{"no tiles", noRows, "holds no tiles"},
		{"vector", with("format", "pbf"), `format "pbf": vector tiles are not supported`},
		{"webp", with("format", "webp"), `format "webp": want png or jpg`},
		{"minzoom", with("minzoom", "one"), `minzoom "one": not an integer`},
		{"zoom order", with("minzoom", "5"), "zoom levels 5..2"},
		{"zoom too deep", with("maxzoom", "31"), "maxzoom <= 24"},
		{"bounds count", with("bounds", "1,2,3"), "want west,south,east,north"},
		{"bounds number", with("bounds", "16.3,x,16.4,48.2"), `"x" is not a number`},
		{"bounds order", with("bounds", "16.4,48.1,16.3,48.2"), "west < east"},
		{"bounds lat", with("bounds", "16.3,48.1,16.4,95"), "north <= 90"},
	} {
		ts, err := mbtiles.Open(c.path)
		if err == nil {
			ts.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.want)
		}
	}
}

// The synthetic town covers its bounds at every zoom level asked for, as decodable PNGs.
func TestStreetsCoverBounds(t *testing.T) {
	b := [4]float64{16.36, 48.20, 16.38, 48.21}
	tiles := mbtilestest.Streets(b, 14, 15, 0.002)
	p := filepath.Join(t.TempDir(), "streets.mbtiles")
	if err := mbtilestest.Write(p, map[string]string{"format": "png"}, tiles); err != nil {
		t.Fatal(err)
	}
	ts, err := mbtiles.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	h := mbtiles.Handler(ts, slog.Default())
	for z := 14; z <= 15; z++ {
		x0, y0 := mbtilestest.TileXY(b[0], b[3], z)
		x1, y1 := mbtilestest.TileXY(b[2], b[1], z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				code, hdr, body := get(t, h, fmt.Sprintf("/tiles/%d/%d/%d", z, x, y))
				if code != 200 || hdr.Get("Content-Type") != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG")) {
					t.Errorf("tile %d/%d/%d: %d %s", z, x, y, code, hdr.Get("Content-Type"))
				}
			}
		}
	}
}

// A tile that cannot be read is a 500 and logged, not an empty 204.
func TestUnreadableTile(t *testing.T) {
	ts, err := mbtiles.Open(writeFile(t, goodMeta()))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	h := mbtiles.Handler(ts, slog.New(slog.NewTextHandler(&logged, nil)))
	ts.Close()
	if code, _, _ := get(t, h, "/tiles/1/1/0"); code != 500 || !strings.Contains(logged.String(), "tile 1/1/0") {
		t.Errorf("closed file: %d, logged %q", code, logged.String())
	}
}
