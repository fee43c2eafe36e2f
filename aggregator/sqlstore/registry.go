package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// registrySchema is the registry's cameras (sites live in sites, which gains version,
// updated_ms and updated_by through the migrations in New).
const registrySchema = `CREATE TABLE IF NOT EXISTS cameras (id TEXT PRIMARY KEY, device TEXT NOT NULL, scene TEXT NOT NULL,
	scene_version {INT} NOT NULL, updated_ms {INT} NOT NULL, updated_by TEXT NOT NULL);`

// registryMigrations give a database made before the registry the sites' version columns. A
// site stored before is config-owned at version 1.
var registryMigrations = []struct{ probe, add string }{
	{`SELECT version FROM sites LIMIT 0`, `ALTER TABLE sites ADD COLUMN version {INT} NOT NULL DEFAULT 1`},
	{`SELECT updated_ms FROM sites LIMIT 0`, `ALTER TABLE sites ADD COLUMN updated_ms {INT} NOT NULL DEFAULT 0`},
	{`SELECT updated_by FROM sites LIMIT 0`, `ALTER TABLE sites ADD COLUMN updated_by TEXT NOT NULL DEFAULT 'config'`},
}

const siteRecordColumns = `id, name, kind, lat, lon, cameras, time_zone, version, updated_ms, updated_by`

func scanSiteRecord(sc interface{ Scan(...any) error }) (aggregator.SiteRecord, error) {
	var r aggregator.SiteRecord
	var cams string
	var ms int64
	if err := sc.Scan(&r.ID, &r.Name, &r.Kind, &r.Lat, &r.Lon, &cams, &r.TimeZone, &r.Version, &ms, &r.UpdatedBy); err != nil {
		return r, err
	}
	r.Cameras = []string{}
	json.Unmarshal([]byte(cams), &r.Cameras)
	if ms != 0 {
		r.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	return r, nil
}

func siteDetail(st aggregator.Site) string {
	cams, _ := json.Marshal(append([]string{}, st.Cameras...))
	return fmt.Sprintf("%s: %q, %s at %.6f,%.6f, cameras %s, time zone %s", st.ID, st.Name, st.Kind, st.Lat, st.Lon, cams, cmp.Or(st.TimeZone, "UTC"))
}

// SeedSites writes the configuration file's sites into the registry: a site not stored is
// added; a site last written by the configuration (ConfigActor) is updated to match it; a site
// an admin has edited through the API since is left as it is and its id returned in kept, so
// that a restart never undoes an edit. Each site added or changed is audited (actor "config")
// in the same transaction.
func (s *Store) SeedSites(ctx context.Context, sites []aggregator.Site) (kept []string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("seed sites: %w", err)
	}
	defer tx.Rollback()
	now := time.Now()
	for _, st := range sites {
		cams, _ := json.Marshal(append([]string{}, st.Cameras...))
		old, err := scanSiteRecord(tx.QueryRowContext(ctx, s.rebind(`SELECT `+siteRecordColumns+` FROM sites WHERE id = ?`), st.ID))
		oldCams, _ := json.Marshal(old.Cameras)
		action := "site.change"
		switch {
		case errors.Is(err, sql.ErrNoRows):
			action = "site.add"
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO sites (`+siteRecordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`),
				st.ID, st.Name, string(st.Kind), st.Lat, st.Lon, string(cams), st.TimeZone, now.UnixMilli(), aggregator.ConfigActor); err != nil {
				return nil, fmt.Errorf("seed site %s: %w", st.ID, err)
			}
		case err != nil:
			return nil, fmt.Errorf("seed site %s: %w", st.ID, err)
		case old.UpdatedBy != aggregator.ConfigActor:
			kept = append(kept, st.ID)
			continue
		case old.Name == st.Name && old.Kind == st.Kind && old.Lat == st.Lat && old.Lon == st.Lon && string(oldCams) == string(cams) && old.TimeZone == st.TimeZone:
			continue // unchanged
		default:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE sites SET name = ?, kind = ?, lat = ?, lon = ?, cameras = ?, time_zone = ?,
				version = version + 1, updated_ms = ?, updated_by = ? WHERE id = ?`),
				st.Name, string(st.Kind), st.Lat, st.Lon, string(cams), st.TimeZone, now.UnixMilli(), aggregator.ConfigActor, st.ID); err != nil {
				return nil, fmt.Errorf("seed site %s: %w", st.ID, err)
			}
		}
		if err := s.audit(ctx, tx, now, aggregator.ConfigActor, action, siteDetail(st)); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed sites: %w", err)
	}
	return kept, nil
}

// FindSiteRecords returns every site in the registry with its version, by id.
func (s *Store) FindSiteRecords(ctx context.Context) ([]aggregator.SiteRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+siteRecordColumns+` FROM sites ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find site records: %w", err)
	}
	defer rows.Close()
	out := []aggregator.SiteRecord{}
	for rows.Next() {
		r, err := scanSiteRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("find site records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FindSiteRecord returns one site with its version; ErrNotFound if it is not in the registry.
func (s *Store) FindSiteRecord(ctx context.Context, id string) (aggregator.SiteRecord, error) {
	r, err := scanSiteRecord(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+siteRecordColumns+` FROM sites WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("site %q: %w", id, aggregator.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("find site %s: %w", id, err)
	}
	return r, nil
}

// CreateSite adds a site at version 1 and audits it, as actor; ErrExists, changing nothing,
// if a site with its id is stored. The caller validates the site.
func (s *Store) CreateSite(ctx context.Context, st aggregator.Site, actor string) (aggregator.SiteRecord, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return aggregator.SiteRecord{}, fmt.Errorf("create site %s: %w", st.ID, err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Millisecond)
	cams, _ := json.Marshal(append([]string{}, st.Cameras...))
	res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO sites (`+siteRecordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO NOTHING`),
		st.ID, st.Name, string(st.Kind), st.Lat, st.Lon, string(cams), st.TimeZone, now.UnixMilli(), actor)
	if err != nil {
		return aggregator.SiteRecord{}, fmt.Errorf("create site %s: %w", st.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return aggregator.SiteRecord{}, fmt.Errorf("create site %s: %w", st.ID, err)
	} else if n == 0 {
		return aggregator.SiteRecord{}, fmt.Errorf("site %q: %w", st.ID, aggregator.ErrExists)
	}
	if err := s.audit(ctx, tx, now, actor, "site.add", siteDetail(st)); err != nil {
		return aggregator.SiteRecord{}, err
	}
	if err := tx.Commit(); err != nil {
		return aggregator.SiteRecord{}, fmt.Errorf("create site %s: %w", st.ID, err)
	}
	st.Cameras = append([]string{}, st.Cameras...)
	return aggregator.SiteRecord{Site: st, Version: 1, UpdatedAt: now, UpdatedBy: actor}, nil
}

// UpdateSite replaces a site's fields if it is still at version, bumps the version and
// audits the change with the old and new values, as actor. ErrNotFound for a site not
// stored, ErrConflict if its version is not version; either way nothing changes.
func (s *Store) UpdateSite(ctx context.Context, st aggregator.Site, version int64, actor string) (aggregator.SiteRecord, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return aggregator.SiteRecord{}, fmt.Errorf("update site %s: %w", st.ID, err)
	}
	defer tx.Rollback()
	old, err := scanSiteRecord(tx.QueryRowContext(ctx, s.rebind(`SELECT `+siteRecordColumns+` FROM sites WHERE id = ?`), st.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return old, fmt.Errorf("site %q: %w", st.ID, aggregator.ErrNotFound)
	} else if err != nil {
		return old, fmt.Errorf("update site %s: %w", st.ID, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cams, _ := json.Marshal(append([]string{}, st.Cameras...))
	// The version in the WHERE clause makes the check and the write one step: of two editors
	// who read the same version, the second matches no row.
	res, err := tx.ExecContext(ctx, s.rebind(`UPDATE sites SET name = ?, kind = ?, lat = ?, lon = ?, cameras = ?, time_zone = ?,
		version = version + 1, updated_ms = ?, updated_by = ? WHERE id = ? AND version = ?`),
		st.Name, string(st.Kind), st.Lat, st.Lon, string(cams), st.TimeZone, now.UnixMilli(), actor, st.ID, version)
	if err != nil {
		return old, fmt.Errorf("update site %s: %w", st.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return old, fmt.Errorf("update site %s: %w", st.ID, err)
	} else if n == 0 {
		return old, fmt.Errorf("site %q is at version %d, not %d: %w", st.ID, old.Version, version, aggregator.ErrConflict)
	}
	if err := s.audit(ctx, tx, now, actor, "site.change", fmt.Sprintf("version %d → %d; was %s; now %s", version, version+1, siteDetail(old.Site), siteDetail(st))); err != nil {
		return old, err
	}
	if err := tx.Commit(); err != nil {
		return old, fmt.Errorf("update site %s: %w", st.ID, err)
	}
	st.Cameras = append([]string{}, st.Cameras...)
	return aggregator.SiteRecord{Site: st, Version: version + 1, UpdatedAt: now, UpdatedBy: actor}, nil
}

// DeleteSite removes a site at version and audits it, as actor. ErrNotFound for a site not
// stored, ErrConflict if its version is not version, ErrInUse while events, counts or
// recorded changes name it (its scores, ledger and before/after studies would lose their
// site); nothing changes then.
func (s *Store) DeleteSite(ctx context.Context, id string, version int64, actor string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	defer tx.Rollback()
	old, err := scanSiteRecord(tx.QueryRowContext(ctx, s.rebind(`SELECT `+siteRecordColumns+` FROM sites WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("site %q: %w", id, aggregator.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	if old.Version != version {
		return fmt.Errorf("site %q is at version %d, not %d: %w", id, old.Version, version, aggregator.ErrConflict)
	}
	var events, counts, changes int64
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT (SELECT count(*) FROM events WHERE site = ?), (SELECT count(*) FROM counts WHERE site = ?),
		(SELECT count(*) FROM site_changes WHERE site = ?)`), id, id, id).Scan(&events, &counts, &changes); err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	if events+counts+changes > 0 {
		return fmt.Errorf("site %q has %d events, %d count records and %d recorded changes stored; its scores and ledger rest on them, so it cannot be deleted (edit it instead): %w",
			id, events, counts, changes, aggregator.ErrInUse)
	}
	res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM sites WHERE id = ? AND version = ?`), id, version)
	if err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("site %q changed meanwhile: %w", id, aggregator.ErrConflict)
	}
	if err := s.audit(ctx, tx, time.Now(), actor, "site.delete", fmt.Sprintf("version %d; was %s", version, siteDetail(old.Site))); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	return nil
}

// RegistryStamp returns a value that changes whenever a site is added, changed or deleted, so
// that an instance can tell cheaply whether to read the sites again (one indexed aggregate).
func (s *Store) RegistryStamp(ctx context.Context) (string, error) {
	var n, sum, ms int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*), CAST(coalesce(sum(version), 0) AS BIGINT), coalesce(max(updated_ms), 0) FROM sites`).Scan(&n, &sum, &ms); err != nil {
		return "", fmt.Errorf("registry stamp: %w", err)
	}
	return fmt.Sprintf("%d/%d/%d", n, sum, ms), nil
}

// cameraSites returns the ids of the sites whose cameras list id, by id.
func (s *Store) cameraSites(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, cameras FROM sites ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var site, cj string
		if err := rows.Scan(&site, &cj); err != nil {
			return nil, err
		}
		var cams []string
		json.Unmarshal([]byte(cj), &cams)
		if slices.Contains(cams, id) {
			out = append(out, site)
		}
	}
	return out, rows.Err()
}

// SceneDigest is the hex SHA-256 of a scene's YAML text as stored and published.
func SceneDigest(scene string) string {
	h := sha256.Sum256([]byte(scene))
	return hex.EncodeToString(h[:])
}

// FindCamera returns a camera with the sites that list it. A camera a site lists but that has
// no registry entry yet comes back at scene version 0 with no device or scene; ErrNotFound if
// neither the cameras nor any site know it.
func (s *Store) FindCamera(ctx context.Context, id string) (aggregator.Camera, error) {
	c := aggregator.Camera{ID: id}
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT device, scene, scene_version, updated_ms, updated_by FROM cameras WHERE id = ?`), id).
		Scan(&c.Device, &c.Scene, &c.SceneVersion, &ms, &c.UpdatedBy)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("find camera %s: %w", id, err)
	}
	stored := err == nil
	if c.Sites, err = s.cameraSites(ctx, s.db, id); err != nil {
		return c, fmt.Errorf("find camera %s: %w", id, err)
	}
	if !stored && len(c.Sites) == 0 {
		return c, fmt.Errorf("camera %q: %w", id, aggregator.ErrNotFound)
	}
	if stored {
		c.UpdatedAt = time.UnixMilli(ms).UTC()
		c.SceneSHA256 = SceneDigest(c.Scene)
	}
	return c, nil
}

// FindCameras returns every camera the registry or a site knows, by id, without their scenes'
// text (FindCamera has it).
func (s *Store) FindCameras(ctx context.Context) ([]aggregator.Camera, error) {
	byID := map[string]*aggregator.Camera{}
	rows, err := s.db.QueryContext(ctx, `SELECT id, device, scene, scene_version, updated_ms, updated_by FROM cameras`)
	if err != nil {
		return nil, fmt.Errorf("find cameras: %w", err)
	}
	for rows.Next() {
		c := &aggregator.Camera{Sites: []string{}}
		var ms int64
		var scene string
		if err := rows.Scan(&c.ID, &c.Device, &scene, &c.SceneVersion, &ms, &c.UpdatedBy); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find cameras: %w", err)
		}
		c.UpdatedAt, c.SceneSHA256 = time.UnixMilli(ms).UTC(), SceneDigest(scene)
		byID[c.ID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find cameras: %w", err)
	}
	sites, err := s.FindSiteRecords(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range sites {
		for _, id := range st.Cameras {
			c := byID[id]
			if c == nil {
				c = &aggregator.Camera{ID: id, Sites: []string{}}
				byID[id] = c
			}
			c.Sites = append(c.Sites, st.ID)
		}
	}
	out := make([]aggregator.Camera, 0, len(byID))
	for _, c := range byID {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b aggregator.Camera) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// PutCamera stores a camera's device and scene if its scene version is still version (0: the
// camera has no registry entry yet), bumps the version and audits it, as actor. ErrConflict,
// changing nothing, if the version moved on. The caller validates the scene.
func (s *Store) PutCamera(ctx context.Context, c aggregator.Camera, version int64, actor string) (aggregator.Camera, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return c, fmt.Errorf("put camera %s: %w", c.ID, err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var res sql.Result
	if version == 0 {
		res, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO cameras (id, device, scene, scene_version, updated_ms, updated_by) VALUES (?, ?, ?, 1, ?, ?)
			ON CONFLICT (id) DO NOTHING`), c.ID, c.Device, c.Scene, now.UnixMilli(), actor)
	} else {
		res, err = tx.ExecContext(ctx, s.rebind(`UPDATE cameras SET device = ?, scene = ?, scene_version = scene_version + 1, updated_ms = ?, updated_by = ?
			WHERE id = ? AND scene_version = ?`), c.Device, c.Scene, now.UnixMilli(), actor, c.ID, version)
	}
	if err != nil {
		return c, fmt.Errorf("put camera %s: %w", c.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return c, fmt.Errorf("put camera %s: %w", c.ID, err)
	} else if n == 0 {
		var cur int64
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT scene_version FROM cameras WHERE id = ?`), c.ID).Scan(&cur); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return c, fmt.Errorf("put camera %s: %w", c.ID, err)
		}
		return c, fmt.Errorf("camera %q's scene is at version %d, not %d: %w", c.ID, cur, version, aggregator.ErrConflict)
	}
	digest := SceneDigest(c.Scene)
	if err := s.audit(ctx, tx, now, actor, "camera.scene", fmt.Sprintf("%s on device %s: scene version %d → %d, sha256 %s", c.ID, c.Device, version, version+1, digest)); err != nil {
		return c, err
	}
	if c.Sites, err = s.cameraSites(ctx, tx, c.ID); err != nil {
		return c, fmt.Errorf("put camera %s: %w", c.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return c, fmt.Errorf("put camera %s: %w", c.ID, err)
	}
	c.SceneVersion, c.SceneSHA256, c.UpdatedAt, c.UpdatedBy = version+1, digest, now, actor
	return c, nil
}
