// Package mbtilestest writes small MBTiles files for tests: given tiles, or a synthetic street
// grid rendered over an area, so no test needs map data from the internet.
package mbtilestest

import (
	"bytes"
	"database/sql"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"

	_ "github.com/mattn/go-sqlite3" // SQLite driver
)

// Tile is one tile at zoom Z, column X and row Y in the XYZ scheme (y grows southward).
type Tile struct {
	Z, X, Y int
	Data    []byte
}

// Write creates an MBTiles file at path with the metadata rows given and the tiles, each
// stored under its TMS row as the spec wants (y flipped).
func Write(path string, meta map[string]string, tiles []Tile) error {
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE metadata (name TEXT, value TEXT)`,
		`CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)`,
		`CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)`,
	} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for k, v := range meta {
		if _, err := db.Exec(`INSERT INTO metadata VALUES (?, ?)`, k, v); err != nil {
			return err
		}
	}
	for _, t := range tiles {
		if _, err := db.Exec(`INSERT INTO tiles VALUES (?, ?, ?, ?)`, t.Z, t.X, (1<<t.Z)-1-t.Y, t.Data); err != nil {
			return err
		}
	}
	return nil
}

// PNG is a 256 px tile of one colour.
func PNG(c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for i := 0; i < 256*256; i++ {
		img.Set(i%256, i/256, c)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// TileXY is the XYZ tile holding lon, lat at zoom z (Web-Mercator).
func TileXY(lon, lat float64, z int) (x, y int) {
	fx, fy := project(lon, lat, z)
	return int(fx / 256), int(fy / 256)
}

// project gives lon, lat in Web-Mercator pixels at zoom z (256 px tiles).
func project(lon, lat float64, z int) (x, y float64) {
	n := 256 * math.Exp2(float64(z))
	r := lat * math.Pi / 180
	return (lon + 180) / 360 * n, (1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n
}

// unproject is project's inverse.
func unproject(x, y float64, z int) (lon, lat float64) {
	n := 256 * math.Exp2(float64(z))
	return x/n*360 - 180, math.Atan(math.Sinh(math.Pi*(1-2*y/n))) * 180 / math.Pi
}

// Streets renders a synthetic town over bounds (west, south, east, north) at zoom levels
// minZ..maxZ: land, a street every spacing degrees of latitude and longitude, and a river
// along one diagonal, as PNG tiles. It is made up; it only gives a test a basemap to see.
func Streets(bounds [4]float64, minZ, maxZ int, spacing float64) []Tile {
	land := color.RGBA{0xee, 0xeb, 0xe3, 0xff}
	street := color.RGBA{0xff, 0xff, 0xff, 0xff}
	kerb := color.RGBA{0xc8, 0xc2, 0xb6, 0xff}
	water := color.RGBA{0xaa, 0xd3, 0xdf, 0xff}
	var out []Tile
	for z := minZ; z <= maxZ; z++ {
		x0, y0 := TileXY(bounds[0], bounds[3], z)
		x1, y1 := TileXY(bounds[2], bounds[1], z)
		// Streets about 12 m wide, at least 1 px.
		mpp := 156543.03 * math.Cos(bounds[1]*math.Pi/180) / math.Exp2(float64(z))
		half := math.Max(0.6, 6/mpp)
		for tx := x0; tx <= x1; tx++ {
			for ty := y0; ty <= y1; ty++ {
				img := image.NewRGBA(image.Rect(0, 0, 256, 256))
				for py := 0; py < 256; py++ {
					for px := 0; px < 256; px++ {
						lon, lat := unproject(float64(tx*256+px)+0.5, float64(ty*256+py)+0.5, z)
						// Distance in pixels to the nearest street of each direction.
						gx, gy := project(math.Round(lon/spacing)*spacing, math.Round(lat/spacing)*spacing, z)
						fx, fy := float64(tx*256+px)+0.5, float64(ty*256+py)+0.5
						d := math.Min(math.Abs(fx-gx), math.Abs(fy-gy))
						rx, ry := project(bounds[0]+(bounds[2]-bounds[0])*0.1, bounds[1], z)
						sx, sy := project(bounds[2], bounds[3]-(bounds[3]-bounds[1])*0.2, z)
						river := math.Abs((sy-ry)*fx-(sx-rx)*fy+sx*ry-sy*rx) / math.Hypot(sy-ry, sx-rx)
						switch {
						case river < 2.5*half+2:
							img.Set(px, py, water)
						case d < half:
							img.Set(px, py, street)
						case d < half+1:
							img.Set(px, py, kerb)
						default:
							img.Set(px, py, land)
						}
					}
				}
				var b bytes.Buffer
				png.Encode(&b, img)
				out = append(out, Tile{Z: z, X: tx, Y: ty, Data: b.Bytes()})
			}
		}
	}
	return out
}
