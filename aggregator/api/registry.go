package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"

	// The one place the aggregator reads scenes: the edge's own parser and validation (pure Go
	// and YAML, no OpenCV; internal/archtest keeps it so), so that a scene the API accepts is
	// one the edge loads.
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
)

// RegistryStore is what the registry routes read and write: sites and cameras at versions.
type RegistryStore interface {
	FindSiteRecords(ctx context.Context) ([]aggregator.SiteRecord, error)
	// FindSiteRecord returns ErrNotFound for a site not in the registry.
	FindSiteRecord(ctx context.Context, id string) (aggregator.SiteRecord, error)
	// CreateSite returns ErrExists, changing nothing, for an id already stored.
	CreateSite(ctx context.Context, s aggregator.Site, actor string) (aggregator.SiteRecord, error)
	// UpdateSite returns ErrNotFound or ErrConflict (not at version), changing nothing.
	UpdateSite(ctx context.Context, s aggregator.Site, version int64, actor string) (aggregator.SiteRecord, error)
	// DeleteSite returns ErrNotFound, ErrConflict or ErrInUse (records name the site), changing
	// nothing.
	DeleteSite(ctx context.Context, id string, version int64, actor string) error
	FindCameras(ctx context.Context) ([]aggregator.Camera, error)
	// FindCamera returns ErrNotFound for a camera neither the registry nor a site knows.
	FindCamera(ctx context.Context, id string) (aggregator.Camera, error)
	// PutCamera returns ErrConflict, changing nothing, when the camera's scene is not at
	// version (0: no scene yet).
	PutCamera(ctx context.Context, c aggregator.Camera, version int64, actor string) (aggregator.Camera, error)
}

// RegistryHooks are told of each registry write after it is stored. Either may be nil.
type RegistryHooks struct {
	// Sites runs after a site is created, changed or deleted (the ingester reads them again).
	Sites func(ctx context.Context)
	// Camera runs after a camera's scene is saved at a new version (it is published to the
	// camera's device).
	Camera func(ctx context.Context, c aggregator.Camera)
}

// WithRegistryHooks makes the registry routes tell h of each write.
func WithRegistryHooks(h RegistryHooks) Option { return func(o *options) { o.registry = h } }

// MaxSceneBytes is the largest scene text the registry takes: far more than a busy
// intersection's scene, far less than the broker's 1 MiB packet limit it is published under.
const MaxSceneBytes = 256 << 10

// registry serves /api/v1/registry: viewers read, admins write, every write at the version the
// writer read (If-Match or "version") and audited by the store.
type registry struct {
	st    RegistryStore
	live  *Live // nil: none
	hooks RegistryHooks
	log   *slog.Logger
}

func (g *registry) register(handle func(string, aggregator.Role, http.HandlerFunc)) {
	handle("GET /api/v1/registry/sites", aggregator.Viewer, g.sites)
	handle("POST /api/v1/registry/sites", aggregator.Admin, g.createSite)
	handle("GET /api/v1/registry/sites/{id}", aggregator.Viewer, g.site)
	handle("PUT /api/v1/registry/sites/{id}", aggregator.Admin, g.updateSite)
	handle("DELETE /api/v1/registry/sites/{id}", aggregator.Admin, g.deleteSite)
	handle("GET /api/v1/registry/cameras", aggregator.Viewer, g.cameras)
	handle("GET /api/v1/registry/cameras/{id}", aggregator.Viewer, g.camera)
	handle("PUT /api/v1/registry/cameras/{id}", aggregator.Admin, g.putCamera)
	handle("GET /api/v1/registry/cameras/{id}/scene.json", aggregator.Viewer, g.sceneJSON)
	handle("PUT /api/v1/registry/cameras/{id}/scene.json", aggregator.Admin, g.putSceneJSON)
}

// fieldError answers code with {"error", "field"}: field is the request's field at fault.
func fieldError(w http.ResponseWriter, code int, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": field + ": " + msg, "field": field})
}

// writeError answers a store error: 404, 409 (exists, in use), 412 (another version) or 500.
func (g *registry) writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, aggregator.ErrConflict):
		fieldError(w, http.StatusPreconditionFailed, "version", err.Error()+"; read it again and reapply your change")
	case errors.Is(err, aggregator.ErrExists), errors.Is(err, aggregator.ErrInUse):
		errorJSON(w, http.StatusConflict, err.Error())
	default:
		reply(w, g.log, nil, err)
	}
}

// etag is a record's version as an entity tag.
func etag(version int64) string { return strconv.Quote(strconv.FormatInt(version, 10)) }

// readVersion returns the version the writer read: If-Match ("3" or 3) or the body's version
// (body < 0: none given). Without either it answers 428: a write that does not say what it
// replaces could silently undo another editor's. ok is false when it answered.
func readVersion(w http.ResponseWriter, r *http.Request, body int64) (int64, bool) {
	if m := strings.TrimSpace(r.Header.Get("If-Match")); m != "" {
		v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(m, "W/"), `"`), 10, 64)
		if err != nil || v < 0 {
			fieldError(w, http.StatusBadRequest, "If-Match", fmt.Sprintf("%q is not a version (the ETag you read, such as \"3\")", m))
			return 0, false
		}
		if body >= 0 && body != v {
			fieldError(w, http.StatusBadRequest, "version", fmt.Sprintf("%d differs from If-Match %d", body, v))
			return 0, false
		}
		return v, true
	}
	if body >= 0 {
		return body, true
	}
	fieldError(w, http.StatusPreconditionRequired, "version", "say which version you are replacing: If-Match with the ETag you read, or \"version\" in the body")
	return 0, false
}

// decodeBody decodes a JSON body of at most limit bytes into dst, refusing unknown fields; it
// answers the error itself and returns false then.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, dst any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fieldError(w, http.StatusUnsupportedMediaType, "Content-Type", "must be application/json")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, limit+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		field := "body"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field = te.Field
		} else if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = strings.Trim(f, `"`)
		}
		fieldError(w, http.StatusBadRequest, field, err.Error())
		return false
	}
	if dec.More() {
		fieldError(w, http.StatusBadRequest, "body", "one JSON object, nothing after it")
		return false
	}
	return true
}

// siteBody is a site as written: Site's fields and the version replaced (PUT).
type siteBody struct {
	ID       string              `json:"id"`
	Name     string              `json:"name"`
	Kind     aggregator.SiteKind `json:"kind"`
	Lat      *float64            `json:"lat"`
	Lon      *float64            `json:"lon"`
	Cameras  []string            `json:"cameras"`
	TimeZone string              `json:"time_zone"`
	Version  *int64              `json:"version"`
}

// otherSite is the metrics' label of the sites beyond metrics.max_sites (ingest.OtherSite).
const otherSite = "other"

// checkSite returns the first problem of a site with its field, as aggregator.yaml's sites:
// are checked (cli Config.Validate); "" when the site is valid.
func checkSite(b siteBody) (field, msg string) {
	switch {
	case wire.CheckName("id", b.ID) != nil:
		return "id", fmt.Sprintf("%q: letters, digits, '.', '_' or '-', at most %d", b.ID, wire.MaxNameLen)
	case b.ID == otherSite:
		return "id", fmt.Sprintf("%q names the sites past metrics.max_sites in /metrics; give this site another id", b.ID)
	case strings.TrimSpace(b.Name) == "":
		return "name", "missing"
	case len(b.Name) > 200:
		return "name", "at most 200 bytes"
	case b.Kind != aggregator.Road && b.Kind != aggregator.Rail:
		return "kind", fmt.Sprintf("must be road or rail, got %q", b.Kind)
	case b.Lat == nil:
		return "lat", "missing (degrees north, -90..90)"
	case math.IsNaN(*b.Lat) || *b.Lat < -90 || *b.Lat > 90:
		return "lat", fmt.Sprintf("must be within -90..90, got %v", *b.Lat)
	case b.Lon == nil:
		return "lon", "missing (degrees east, -180..180)"
	case math.IsNaN(*b.Lon) || *b.Lon < -180 || *b.Lon > 180:
		return "lon", fmt.Sprintf("must be within -180..180, got %v", *b.Lon)
	}
	if b.TimeZone != "" {
		// Local is the aggregator's own machine, not the site's: a zone must be named.
		if _, err := time.LoadLocation(b.TimeZone); err != nil || b.TimeZone == "Local" {
			return "time_zone", fmt.Sprintf("%q is not an IANA time zone such as Europe/Vienna or America/New_York", b.TimeZone)
		}
	}
	seen := map[string]bool{}
	for j, c := range b.Cameras {
		if wire.CheckName("camera", c) != nil {
			return fmt.Sprintf("cameras[%d]", j), fmt.Sprintf("%q: letters, digits, '.', '_' or '-'", c)
		}
		if seen[c] {
			return fmt.Sprintf("cameras[%d]", j), fmt.Sprintf("camera %q is listed twice", c)
		}
		seen[c] = true
	}
	return "", ""
}

func (b siteBody) site() aggregator.Site {
	return aggregator.Site{ID: b.ID, Name: b.Name, Kind: b.Kind, Lat: *b.Lat, Lon: *b.Lon, Cameras: append([]string{}, b.Cameras...), TimeZone: b.TimeZone}
}

func (g *registry) sitesChanged(r *http.Request, id string) {
	if g.hooks.Sites != nil {
		g.hooks.Sites(r.Context())
	}
	if g.live != nil {
		g.live.Publish(aggregator.Change{Sites: []string{id}})
	}
}

// sites is GET /api/v1/registry/sites: every site with its version, by id.
func (g *registry) sites(w http.ResponseWriter, r *http.Request) {
	s, err := g.st.FindSiteRecords(r.Context())
	reply(w, g.log, s, err)
}

// site is GET /api/v1/registry/sites/{id}, with its version as the ETag.
func (g *registry) site(w http.ResponseWriter, r *http.Request) {
	s, err := g.st.FindSiteRecord(r.Context(), r.PathValue("id"))
	if err == nil {
		w.Header().Set("ETag", etag(s.Version))
	}
	reply(w, g.log, s, err)
}

// createSite is POST /api/v1/registry/sites {id, name, kind, lat, lon, cameras, time_zone}:
// 201 with the site at version 1; 409 if the id is taken.
func (g *registry) createSite(w http.ResponseWriter, r *http.Request) {
	var b siteBody
	if !decodeBody(w, r, 16<<10, &b) {
		return
	}
	if b.Version != nil {
		fieldError(w, http.StatusBadRequest, "version", "a new site has none (it starts at 1); PUT /api/v1/registry/sites/{id} changes a site")
		return
	}
	if f, msg := checkSite(b); f != "" {
		fieldError(w, http.StatusBadRequest, f, msg)
		return
	}
	rec, err := g.st.CreateSite(r.Context(), b.site(), PrincipalFrom(r.Context()).Actor())
	if err != nil {
		g.writeError(w, err)
		return
	}
	g.sitesChanged(r, rec.ID)
	w.Header().Set("ETag", etag(rec.Version))
	w.Header().Set("Location", "/api/v1/registry/sites/"+rec.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(rec)
}

// updateSite is PUT /api/v1/registry/sites/{id}: the whole site, at the version read.
func (g *registry) updateSite(w http.ResponseWriter, r *http.Request) {
	var b siteBody
	if !decodeBody(w, r, 16<<10, &b) {
		return
	}
	id := r.PathValue("id")
	if b.ID == "" {
		b.ID = id
	} else if b.ID != id {
		fieldError(w, http.StatusBadRequest, "id", fmt.Sprintf("%q differs from the site in the path, %q: a site's id does not change", b.ID, id))
		return
	}
	version, ok := readVersion(w, r, optVersion(b.Version))
	if !ok {
		return
	}
	if f, msg := checkSite(b); f != "" {
		fieldError(w, http.StatusBadRequest, f, msg)
		return
	}
	rec, err := g.st.UpdateSite(r.Context(), b.site(), version, PrincipalFrom(r.Context()).Actor())
	if err != nil {
		g.writeError(w, err)
		return
	}
	g.sitesChanged(r, rec.ID)
	w.Header().Set("ETag", etag(rec.Version))
	reply(w, g.log, rec, nil)
}

func optVersion(v *int64) int64 {
	if v == nil {
		return -1
	}
	return *v
}

// deleteSite is DELETE /api/v1/registry/sites/{id} at the version read (If-Match or
// ?version=): 204; 409 while events, counts or recorded changes name the site.
func (g *registry) deleteSite(w http.ResponseWriter, r *http.Request) {
	body := int64(-1)
	if q := r.URL.Query().Get("version"); q != "" {
		v, err := strconv.ParseInt(q, 10, 64)
		if err != nil || v < 1 {
			fieldError(w, http.StatusBadRequest, "version", fmt.Sprintf("%q: the site's version, a whole number from 1", q))
			return
		}
		body = v
	}
	version, ok := readVersion(w, r, body)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := g.st.DeleteSite(r.Context(), id, version, PrincipalFrom(r.Context()).Actor()); err != nil {
		g.writeError(w, err)
		return
	}
	g.sitesChanged(r, id)
	w.WriteHeader(http.StatusNoContent)
}

// cameras is GET /api/v1/registry/cameras: every camera with its sites and scene version,
// without the scene's text.
func (g *registry) cameras(w http.ResponseWriter, r *http.Request) {
	c, err := g.st.FindCameras(r.Context())
	reply(w, g.log, c, err)
}

// camera is GET /api/v1/registry/cameras/{id}: with its scene, its version as the ETag.
func (g *registry) camera(w http.ResponseWriter, r *http.Request) {
	c, err := g.st.FindCamera(r.Context(), r.PathValue("id"))
	if err == nil {
		w.Header().Set("ETag", etag(c.SceneVersion))
	}
	reply(w, g.log, c, err)
}

// fieldPath is how a scene problem starts: a field path such as approaches[0].stop_line[1].
var fieldPath = regexp.MustCompile(`^[a-z_]+(\[\d+\])*(\.[a-z_]+(\[\d+\])*)*$`)

// sceneField returns the field a scene's parse error names ("scene.<path>"), or "scene" when it
// names none (a YAML error: "line 3: field bogus not found in scene.Scene").
func sceneField(err error) (field, msg string) {
	msg = err.Error()
	first, rest, _ := strings.Cut(msg, ": ")
	if fieldPath.MatchString(first) {
		return "scene." + first, rest // the answer says "scene.<path>: …" once
	}
	return "scene", msg
}

// CheckScene validates a camera's scene text with the edge's own validation (edge/scene) and
// returns the field at fault ("scene.<path>") and the problems, or "" when the edge would load
// it. The scene must be the camera's own (its camera: field is id), and each site its zones
// and lines name must be one of sites that lets this camera report (its cameras list is empty
// or names id): otherwise ingest would dead-letter everything the camera sends.
func CheckScene(id, text string, sites map[string]aggregator.Site) (field, msg string) {
	if strings.TrimSpace(text) == "" {
		return "scene", "missing: the camera's scene YAML (docs/SCENES.md)"
	}
	if len(text) > MaxSceneBytes {
		return "scene", fmt.Sprintf("%d bytes; at most %d", len(text), MaxSceneBytes)
	}
	s, err := scenefile.Parse([]byte(text))
	if err != nil {
		return sceneField(err)
	}
	if s.Camera != id {
		return "scene.camera", fmt.Sprintf("%q, but this is camera %q: a scene names the camera it belongs to", s.Camera, id)
	}
	type ref struct{ field, site string }
	var refs []ref
	for i, a := range s.Approaches {
		refs = append(refs, ref{fmt.Sprintf("approaches[%d].site", i), a.Site})
	}
	for i, c := range s.Crosswalks {
		refs = append(refs, ref{fmt.Sprintf("crosswalks[%d].site", i), c.Site})
	}
	for i, z := range s.Roadways {
		refs = append(refs, ref{fmt.Sprintf("roadways[%d].site", i), z.Site})
	}
	for i, z := range s.PlatformEdges {
		refs = append(refs, ref{fmt.Sprintf("platform_edges[%d].site", i), z.Site})
	}
	for i, z := range s.Tracks {
		refs = append(refs, ref{fmt.Sprintf("tracks[%d].site", i), z.Site})
	}
	for i, c := range s.CountLines {
		refs = append(refs, ref{fmt.Sprintf("count_lines[%d].site", i), c.Site})
	}
	for _, r := range refs {
		st, ok := sites[r.site]
		switch {
		case !ok:
			return "scene." + r.field, fmt.Sprintf("site %q is not in the registry; create it first (POST /api/v1/registry/sites)", r.site)
		case len(st.Cameras) > 0 && !slices.Contains(st.Cameras, id):
			return "scene." + r.field, fmt.Sprintf("site %q lists cameras %v, not %q: add the camera to the site first, or its records would be refused", r.site, st.Cameras, id)
		}
	}
	return "", ""
}

// putCamera is PUT /api/v1/registry/cameras/{id} {device, scene, version}: the scene is saved at
// the next version if it is valid and the camera's scene is still at the version read (0 for a
// camera with none yet). An invalid scene is a 400 naming the field and changes nothing.
func (g *registry) putCamera(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Device  string `json:"device"`
		Scene   string `json:"scene"`
		Version *int64 `json:"version"`
	}
	if !decodeBody(w, r, MaxSceneBytes+4<<10, &b) {
		return
	}
	id, version, ok := cameraWrite(w, r, b.Version)
	if !ok {
		return
	}
	if c, ok := g.saveScene(w, r, id, b.Device, b.Scene, version); ok {
		reply(w, g.log, c, nil)
	}
}

// saveScene checks and stores camera id's scene text at the version read, answering any
// problem itself (ok false); the caller answers with the camera saved.
func (g *registry) saveScene(w http.ResponseWriter, r *http.Request, id, device, text string, version int64) (c aggregator.Camera, ok bool) {
	if err := wire.CheckName("device", device); err != nil {
		fieldError(w, http.StatusBadRequest, "device", fmt.Sprintf("%q: the id of the box that runs the camera (letters, digits, '.', '_' or '-')", device))
		return c, false
	}
	recs, err := g.st.FindSiteRecords(r.Context())
	if err != nil {
		reply(w, g.log, nil, err)
		return c, false
	}
	sites := make(map[string]aggregator.Site, len(recs))
	for _, rec := range recs {
		sites[rec.ID] = rec.Site
	}
	if f, msg := CheckScene(id, text, sites); f != "" {
		fieldError(w, http.StatusBadRequest, f, msg)
		return c, false
	}
	c, err = g.st.PutCamera(r.Context(), aggregator.Camera{ID: id, Device: device, Scene: text}, version, PrincipalFrom(r.Context()).Actor())
	if err != nil {
		g.writeError(w, err)
		return c, false
	}
	if g.hooks.Camera != nil {
		g.hooks.Camera(r.Context(), c)
	}
	w.Header().Set("ETag", etag(c.SceneVersion))
	return c, true
}

// sceneDoc is a camera's scene as the dashboard's editor reads and writes it: JSON, converted
// losslessly from and to the scene YAML by edge/scene/scenefile, so that the browser needs no
// YAML parser.
type sceneDoc struct {
	Camera       string          `json:"camera"`
	Device       string          `json:"device"`
	Sites        []string        `json:"sites"`
	SceneVersion int64           `json:"scene_version"`        // 0: none stored yet
	Scene        json.RawMessage `json:"scene"`                // null: none stored yet
	UpdatedAt    time.Time       `json:"updated_at,omitzero"`  // of the scene version
	UpdatedBy    string          `json:"updated_by,omitempty"` // of the scene version
}

func (g *registry) sceneDoc(c aggregator.Camera) (sceneDoc, error) {
	d := sceneDoc{Camera: c.ID, Device: c.Device, Sites: c.Sites, SceneVersion: c.SceneVersion, Scene: json.RawMessage("null"),
		UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy}
	if d.Sites == nil {
		d.Sites = []string{}
	}
	if c.Scene != "" {
		j, err := scenefile.ToJSON([]byte(c.Scene))
		if err != nil {
			return d, fmt.Errorf("camera %s's stored scene version %d: %w", c.ID, c.SceneVersion, err)
		}
		d.Scene = j
	}
	return d, nil
}

// sceneJSON is GET /api/v1/registry/cameras/{id}/scene.json: the camera's scene as JSON (the
// keys its file sets, in its order), its version as the ETag.
func (g *registry) sceneJSON(w http.ResponseWriter, r *http.Request) {
	c, err := g.st.FindCamera(r.Context(), r.PathValue("id"))
	if err != nil {
		reply(w, g.log, nil, err)
		return
	}
	d, err := g.sceneDoc(c)
	if err == nil {
		w.Header().Set("ETag", etag(c.SceneVersion))
	}
	reply(w, g.log, d, err)
}

// cameraWrite reads a camera write's path id and the version it was read at (If-Match or the
// body's), answering the request itself when either is missing or bad.
func cameraWrite(w http.ResponseWriter, r *http.Request, body *int64) (string, int64, bool) {
	id := r.PathValue("id")
	if err := wire.CheckName("camera", id); err != nil {
		fieldError(w, http.StatusBadRequest, "id", fmt.Sprintf("%q: letters, digits, '.', '_' or '-', at most %d", id, wire.MaxNameLen))
		return "", 0, false
	}
	version, ok := readVersion(w, r, optVersion(body))
	return id, version, ok
}

// putSceneJSON is PUT /api/v1/registry/cameras/{id}/scene.json {device, scene, version}: scene
// is the scene as JSON; it is stored as YAML, checked and versioned as PUT
// /api/v1/registry/cameras/{id} does. The answer is the saved scene as GET returns it.
func (g *registry) putSceneJSON(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Device  string          `json:"device"`
		Scene   json.RawMessage `json:"scene"`
		Version *int64          `json:"version"`
	}
	if !decodeBody(w, r, MaxSceneBytes+4<<10, &b) {
		return
	}
	id, version, ok := cameraWrite(w, r, b.Version)
	if !ok {
		return
	}
	if len(b.Scene) == 0 || string(b.Scene) == "null" {
		fieldError(w, http.StatusBadRequest, "scene", "missing: the camera's scene as a JSON object (GET this URL for one)")
		return
	}
	text, err := scenefile.FromJSON(b.Scene)
	if err != nil {
		f, msg := sceneField(err)
		fieldError(w, http.StatusBadRequest, f, msg)
		return
	}
	c, ok := g.saveScene(w, r, id, b.Device, string(text), version)
	if !ok {
		return
	}
	d, err := g.sceneDoc(c)
	reply(w, g.log, d, err)
}
