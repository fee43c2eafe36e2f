// Package mbtiles serves raster map tiles from an MBTiles file the operator provides, so the
// dashboard's plan view can draw a basemap with no tile server on the internet.
package mbtiles

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	_ "github.com/mattn/go-sqlite3" // SQLite driver: an MBTiles file is an SQLite database
)

// MaxZoom is the deepest zoom level a tileset may claim (MBTiles 1.3 allows 0..30; beyond 22
// no raster set exists, and 2^z must stay far from overflowing).
const MaxZoom = 24

// Mercator's latitude limit: the square world of Web-Mercator tiles ends there.
const maxLat = 85.05112878

// Tileset is an open MBTiles file of PNG or JPEG tiles. Safe for concurrent use.
type Tileset struct {
	db *sql.DB
	// Metadata, checked at Open.
	Name, Attribution string
	Format            string     // "png" or "jpg"
	MinZoom, MaxZoom  int        // the zoom levels it holds
	Bounds            [4]float64 // west, south, east, north in degrees (WGS84)
}

// Open opens path read-only and checks that it is an MBTiles file of raster tiles: a tiles
// table (or view) with the four columns of the spec, and metadata whose format, bounds,
// minzoom and maxzoom make sense (those missing are taken from the tiles). The error says
// what is wrong with the file.
func Open(path string) (*Tileset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not an MBTiles file", path)
	}
	q := url.Values{"mode": {"ro"}, "_query_only": {"1"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	t := &Tileset{db: db}
	if err := t.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Close closes the file.
func (t *Tileset) Close() error { return t.db.Close() }

func (t *Tileset) load() error {
	var n int
	if err := t.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tiles' AND type IN ('table', 'view')`).Scan(&n); err != nil {
		// SQLite's own words ("file is not a database") say it best.
		return fmt.Errorf("not an MBTiles file: %w", err)
	}
	if n == 0 {
		return errors.New("not an MBTiles file: no tiles table")
	}
	meta := map[string]string{}
	rows, err := t.db.Query(`SELECT name, value FROM metadata`)
	if err != nil {
		return fmt.Errorf("not an MBTiles file: metadata: %w", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("metadata: %w", err)
		}
		meta[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var minZ, maxZ sql.NullInt64
	if err := t.db.QueryRow(`SELECT min(zoom_level), max(zoom_level) FROM tiles`).Scan(&minZ, &maxZ); err != nil {
		return fmt.Errorf("tiles: %w", err)
	}
	if !minZ.Valid {
		return errors.New("holds no tiles")
	}
	t.Name, t.Attribution = meta["name"], meta["attribution"]
	switch f := strings.ToLower(meta["format"]); f {
	case "png", "jpg":
		t.Format = f
	case "jpeg":
		t.Format = "jpg"
	case "":
		// Older files leave it out: the first tile says.
		var b []byte
		if err := t.db.QueryRow(`SELECT tile_data FROM tiles LIMIT 1`).Scan(&b); err != nil {
			return fmt.Errorf("tiles: %w", err)
		}
		if t.Format = sniff(b); t.Format == "" {
			return errors.New("metadata format missing and the first tile is neither PNG nor JPEG")
		}
	case "pbf", "mvt":
		return fmt.Errorf("metadata format %q: vector tiles are not supported; give a raster (PNG or JPEG) MBTiles file", f)
	default:
		return fmt.Errorf("metadata format %q: want png or jpg", meta["format"])
	}
	t.MinZoom, t.MaxZoom = int(minZ.Int64), int(maxZ.Int64)
	for _, z := range []struct {
		key string
		v   *int
	}{{"minzoom", &t.MinZoom}, {"maxzoom", &t.MaxZoom}} {
		if s, ok := meta[z.key]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("metadata %s %q: not an integer", z.key, s)
			}
			*z.v = n
		}
	}
	if t.MinZoom < 0 || t.MaxZoom > MaxZoom || t.MinZoom > t.MaxZoom {
		return fmt.Errorf("zoom levels %d..%d: want 0 <= minzoom <= maxzoom <= %d", t.MinZoom, t.MaxZoom, MaxZoom)
	}
	t.Bounds = [4]float64{-180, -maxLat, 180, maxLat}
	if s, ok := meta["bounds"]; ok {
		b, err := parseBounds(s)
		if err != nil {
			return fmt.Errorf("metadata bounds %q: %v", s, err)
		}
		t.Bounds = b
	}
	return nil
}

// parseBounds reads "west,south,east,north" in degrees.
func parseBounds(s string) ([4]float64, error) {
	var b [4]float64
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, errors.New("want west,south,east,north")
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("%q is not a number", p)
		}
		b[i] = v
	}
	switch {
	case b[0] < -180 || b[2] > 180 || b[0] >= b[2]:
		return b, errors.New("want -180 <= west < east <= 180")
	case b[1] < -90 || b[3] > 90 || b[1] >= b[3]:
		return b, errors.New("want -90 <= south < north <= 90")
	}
	return b, nil
}

// sniff names the raster format of a tile by its first bytes, or "".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpg"
	}
	return ""
}

// Tile returns the tile at zoom z, column x and row y in the XYZ scheme of web maps (y
// grows southward); MBTiles stores rows in the TMS scheme (y grows northward), so the row
// is flipped. It returns nil and no error when the file has no such tile.
func (t *Tileset) Tile(z, x, y int) ([]byte, error) {
	var b []byte
	err := t.db.QueryRow(`SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?`,
		z, x, (1<<z)-1-y).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", z, x, y, err)
	}
	return b, nil
}

// TileJSON is what the dashboard reads to draw the basemap (the TileJSON 3.0 fields it needs).
type TileJSON struct {
	TileJSON    string     `json:"tilejson"`
	Name        string     `json:"name,omitempty"`
	Attribution string     `json:"attribution,omitempty"`
	Format      string     `json:"format"`
	Tiles       []string   `json:"tiles"`
	MinZoom     int        `json:"minzoom"`
	MaxZoom     int        `json:"maxzoom"`
	Bounds      [4]float64 `json:"bounds"`
}

// Handler serves the tileset under /tiles/: GET /tiles/tilejson (its TileJSON) and GET
// /tiles/{z}/{x}/{y} (one tile, XYZ scheme). A tile the file does not hold inside its zoom
// levels is 204 (the plan shows the background there); a position no tileset can have is
// 404, and one that is not a number 400. With t nil (no tiles configured) /tiles/tilejson is
// 204 and every tile 404: the plan view then draws no basemap.
// Authentication is the caller's (the same as the dashboard's API). A tile that cannot be
// read is a 500, logged to log.
func Handler(t *Tileset, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tiles/tilejson", func(w http.ResponseWriter, r *http.Request) {
		if t == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		json.NewEncoder(w).Encode(TileJSON{TileJSON: "3.0.0", Name: t.Name, Attribution: t.Attribution, Format: t.Format,
			Tiles: []string{"/tiles/{z}/{x}/{y}"}, MinZoom: t.MinZoom, MaxZoom: t.MaxZoom, Bounds: t.Bounds})
	})
	mux.HandleFunc("GET /tiles/{z}/{x}/{y}", func(w http.ResponseWriter, r *http.Request) {
		var zxy [3]int
		for i, k := range []string{"z", "x", "y"} {
			v, err := strconv.Atoi(r.PathValue(k))
			if err != nil {
				http.Error(w, fmt.Sprintf("%s: %q is not an integer", k, r.PathValue(k)), http.StatusBadRequest)
				return
			}
			zxy[i] = v
		}
		z, x, y := zxy[0], zxy[1], zxy[2]
		if t == nil {
			http.Error(w, "no tiles configured (dashboard.tiles)", http.StatusNotFound)
			return
		}
		if z < t.MinZoom || z > t.MaxZoom {
			http.Error(w, fmt.Sprintf("z: %d is outside the tileset's zoom levels %d..%d", z, t.MinZoom, t.MaxZoom), http.StatusNotFound)
			return
		}
		if n := 1 << z; x < 0 || x >= n || y < 0 || y >= n {
			http.Error(w, fmt.Sprintf("x, y: %d, %d is outside 0..%d at zoom %d", x, y, n-1, z), http.StatusNotFound)
			return
		}
		b, err := t.Tile(z, x, y)
		if err != nil {
			log.Error("map tiles", "err", err)
			http.Error(w, "reading the tile failed", http.StatusInternalServerError)
			return
		}
		// Tiles sit behind sign-in: the browser may keep them, shared caches may not.
		w.Header().Set("Cache-Control", "private, max-age=3600")
		if b == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ctype := "image/png"
		if t.Format == "jpg" {
			ctype = "image/jpeg"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(b)
	})
	return mux
}
