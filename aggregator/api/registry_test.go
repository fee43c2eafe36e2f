package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// call makes a request as token with a JSON body ("" for none) and extra headers.
func call(t *testing.T, method, url, token, body string, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

// registryScene is the synthetic platform's scene, as camera c's.
func registryScene(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/scenes/synth-platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.Replace(string(b), "camera: synth-cam-2", "camera: c", 1), "site: example-platform-5", "site: b")
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// Sites through the registry: viewers read, admins write at the version they read, bad input
// is a 400 naming the field and changes nothing, a site with events is not deleted.
func TestRegistrySites(t *testing.T) {
	var mu sync.Mutex
	var siteHooks int
	srv, _, st := serverStore(t, WithRegistryHooks(RegistryHooks{Sites: func(context.Context) { mu.Lock(); siteHooks++; mu.Unlock() }}))
	admin, viewer, reviewer := testTokens[aggregator.Admin], testTokens[aggregator.Viewer], testTokens[aggregator.Reviewer]
	base := srv.URL + "/api/v1/registry/sites"

	req, _ := http.NewRequest(http.MethodGet, base, nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list []aggregator.SiteRecord
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(list) != 2 || list[0].ID != "a" || list[0].Version != 1 || list[0].UpdatedBy != aggregator.ConfigActor {
		t.Fatalf("viewer lists: %d %+v", resp.StatusCode, list)
	}
	site := `{"id": "n", "name": "New St", "kind": "road", "lat": 48.1, "lon": 16.3, "cameras": ["cn"], "time_zone": "Europe/Vienna"}`
	for _, tok := range []string{viewer, reviewer} {
		if code, _, _ := call(t, http.MethodPost, base, tok, site); code != http.StatusForbidden {
			t.Fatalf("POST by a non-admin: %d, want 403", code)
		}
	}
	for _, c := range []struct{ body, field string }{
		{`{"id": "n", "name": "New St", "kind": "road", "lat": 95, "lon": 16.3}`, "lat"},
		{`{"id": "n", "name": "New St", "kind": "road", "lon": 16.3}`, "lat"},
		{`{"id": "n", "name": "New St", "kind": "bus", "lat": 1, "lon": 1}`, "kind"},
		{`{"id": "n x", "name": "New St", "kind": "road", "lat": 1, "lon": 1}`, "id"},
		{`{"id": "other", "name": "New St", "kind": "road", "lat": 1, "lon": 1}`, "id"},
		{`{"id": "n", "name": " ", "kind": "road", "lat": 1, "lon": 1}`, "name"},
		{`{"id": "n", "name": "New St", "kind": "road", "lat": 1, "lon": 1, "time_zone": "Mars/Olympus"}`, "time_zone"},
		{`{"id": "n", "name": "New St", "kind": "road", "lat": 1, "lon": 1, "cameras": ["x", "x"]}`, "cameras[1]"},
		{`{"id": "n", "name": "New St", "kind": "road", "lat": 1, "lon": 1, "colour": "red"}`, "colour"},
		{`{"id": "n", "name": "New St", "kind": "road", "lat": "north", "lon": 1}`, "lat"},
	} {
		code, _, m := call(t, http.MethodPost, base, admin, c.body)
		if code != http.StatusBadRequest || m["field"] != c.field || !strings.HasPrefix(m["error"].(string), c.field+": ") {
			t.Errorf("POST %s: %d %v, want 400 naming %s", c.body, code, m, c.field)
		}
	}
	if code, _, _ := call(t, http.MethodGet, base+"/n", viewer, ""); code != http.StatusNotFound {
		t.Fatalf("a refused site was stored: %d", code)
	}
	code, h, m := call(t, http.MethodPost, base, admin, site)
	if code != http.StatusCreated || h.Get("ETag") != `"1"` || m["version"] != 1.0 || m["updated_by"] != "token:admin" {
		t.Fatalf("create: %d %v %v", code, h, m)
	}
	if code, _, _ := call(t, http.MethodPost, base, admin, site); code != http.StatusConflict {
		t.Fatalf("create twice: %d, want 409", code)
	}
	// The new site is a site: its pages answer.
	if code, _, _ := getAs(t, viewer, srv.URL+"/api/v1/sites/n/events"); code != 200 {
		t.Fatalf("a created site's events: %d", code)
	}

	edit := `{"name": "New Street", "kind": "road", "lat": 48.1, "lon": 16.3, "cameras": ["cn"], "time_zone": "Europe/Vienna"}`
	if code, _, m := call(t, http.MethodPut, base+"/n", admin, edit); code != http.StatusPreconditionRequired || m["field"] != "version" {
		t.Fatalf("PUT without a version: %d %v, want 428", code, m)
	}
	if code, _, m := call(t, http.MethodPut, base+"/n", admin, `{"id": "m", "name": "x", "kind": "road", "lat": 1, "lon": 1, "version": 1}`); code != http.StatusBadRequest || m["field"] != "id" {
		t.Fatalf("PUT renaming the id: %d %v", code, m)
	}
	code, h, m = call(t, http.MethodPut, base+"/n", admin, edit, "If-Match", `"1"`)
	if code != 200 || h.Get("ETag") != `"2"` || m["name"] != "New Street" || m["version"] != 2.0 {
		t.Fatalf("PUT at version 1: %d %v %v", code, h, m)
	}
	// A second editor who also read version 1 is refused and told so; nothing changes.
	code, _, m = call(t, http.MethodPut, base+"/n", admin, strings.Replace(edit, "New Street", "Late St", 1), "If-Match", `"1"`)
	if code != http.StatusPreconditionFailed || m["field"] != "version" || !strings.Contains(m["error"].(string), "version 2, not 1") {
		t.Fatalf("stale PUT: %d %v, want 412", code, m)
	}
	if code, _, m = call(t, http.MethodPut, base+"/n", admin, strings.Replace(edit, `"lat": 48.1`, `"lat": -91`, 1), "If-Match", `"2"`); code != http.StatusBadRequest || m["field"] != "lat" {
		t.Fatalf("PUT with a bad lat: %d %v", code, m)
	}
	if got, _ := st.FindSiteRecord(context.Background(), "n"); got.Name != "New Street" || got.Lat != 48.1 || got.Version != 2 {
		t.Fatalf("after refused PUTs: %+v", got)
	}

	if code, _, _ := call(t, http.MethodDelete, base+"/n", admin, ""); code != http.StatusPreconditionRequired {
		t.Fatalf("DELETE without a version: %d", code)
	}
	code, _, m = call(t, http.MethodDelete, base+"/a", admin, "", "If-Match", `"1"`)
	if code != http.StatusConflict || !strings.Contains(m["error"].(string), "4 events") {
		t.Fatalf("DELETE a site with events: %d %v, want 409 saying why", code, m)
	}
	if code, _, _ := call(t, http.MethodDelete, base+"/n?version=2", admin, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if code, _, _ := call(t, http.MethodGet, base+"/n", viewer, ""); code != http.StatusNotFound {
		t.Fatalf("deleted site: %d", code)
	}
	mu.Lock()
	if siteHooks != 3 {
		t.Errorf("the sites hook ran %d times, want 3 (create, update, delete)", siteHooks)
	}
	mu.Unlock()
	audit, _ := st.FindAudit(context.Background(), 3, 0)
	if len(audit) != 3 || audit[0].Action != "site.delete" || audit[1].Action != "site.change" || audit[2].Action != "site.add" || audit[1].Actor != "token:admin" ||
		!strings.Contains(audit[1].Detail, `"New St"`) || !strings.Contains(audit[1].Detail, `"New Street"`) {
		t.Fatalf("audit: %+v", audit)
	}
}

// A camera's scene: validated by the edge's scene validation, a point outside the frame is a
// 400 naming the field that changes nothing, each saved scene bumps the version, and a stale
// editor is refused.
func TestRegistryCameraScene(t *testing.T) {
	var mu sync.Mutex
	var published []aggregator.Camera
	srv, _, st := serverStore(t, WithRegistryHooks(RegistryHooks{Camera: func(_ context.Context, c aggregator.Camera) {
		mu.Lock()
		published = append(published, c)
		mu.Unlock()
	}}))
	admin, viewer := testTokens[aggregator.Admin], testTokens[aggregator.Viewer]
	url := srv.URL + "/api/v1/registry/cameras/c"
	code, h, m := call(t, http.MethodGet, url, viewer, "")
	if code != 200 || h.Get("ETag") != `"0"` || m["scene_version"] != 0.0 || m["sites"].([]any)[0] != "a" {
		t.Fatalf("camera site a lists, no scene yet: %d %v %v", code, h, m)
	}
	good := registryScene(t)
	body := func(scene string, version int) string {
		return `{"device": "box-1", "scene": ` + jsonString(scene) + `, "version": ` + strconv.Itoa(version) + `}`
	}
	if code, _, _ := call(t, http.MethodPut, url, viewer, body(good, 0)); code != http.StatusForbidden {
		t.Fatalf("PUT as viewer: %d", code)
	}
	code, h, m = call(t, http.MethodPut, url, admin, body(good, 0))
	if code != 200 || h.Get("ETag") != `"1"` || m["scene_version"] != 1.0 || m["scene_sha256"] == "" {
		t.Fatalf("first scene: %d %v", code, m)
	}
	outside := strings.Replace(good, "- [0, 0.6458]", "- [1.5, 0.6458]", 1)
	for _, c := range []struct{ name, scene, field, says string }{
		{"drawn outside the frame", outside, "scene.platform_edges[0].polygon[0]", "outside the frame"},
		{"another camera's", strings.Replace(good, "camera: c", "camera: d", 1), "scene.camera", `"d", but this is camera "c"`},
		{"unknown key", good + "colour: red\n", "scene", "field colour not found"},
		{"empty", "", "scene", "missing"},
		{"too big", good + "#" + strings.Repeat("x", MaxSceneBytes) + "\n", "scene", "at most"},
		{"an unknown site", strings.Replace(good, "site: b", "site: nowhere", 1), "scene.platform_edges[0].site", `site "nowhere" is not in the registry`},
	} {
		code, _, m := call(t, http.MethodPut, url, admin, body(c.scene, 1))
		if code != http.StatusBadRequest || m["field"] != c.field || !strings.Contains(m["error"].(string), c.says) {
			t.Errorf("%s: %d %v, want 400 naming %s", c.name, code, m, c.field)
		}
	}
	if code, _, m := call(t, http.MethodPut, url, admin, `{"device": "box 1", "scene": `+jsonString(good)+`, "version": 1}`); code != http.StatusBadRequest || m["field"] != "device" {
		t.Errorf("bad device: %d %v", code, m)
	}
	// Site a lists its cameras (c only): camera d's scene may not name it.
	other := strings.Replace(strings.Replace(good, "camera: c", "camera: d", 1), "site: b", "site: a", 1)
	if code, _, m := call(t, http.MethodPut, srv.URL+"/api/v1/registry/cameras/d", admin, `{"device": "box-1", "scene": `+jsonString(other)+`, "version": 0}`); code != http.StatusBadRequest ||
		m["field"] != "scene.platform_edges[0].site" || !strings.Contains(m["error"].(string), `site "a" lists cameras [c], not "d"`) {
		t.Errorf("a scene naming a site that does not list the camera: %d %v", code, m)
	}
	got, err := st.FindCamera(context.Background(), "c")
	if err != nil || got.SceneVersion != 1 || got.Scene != good || got.Device != "box-1" {
		t.Fatalf("refused scenes changed the camera: %+v %v", got, err)
	}
	if code, _, m := call(t, http.MethodPut, url, admin, body(good+"# moved\n", 0)); code != http.StatusPreconditionFailed || m["field"] != "version" {
		t.Fatalf("stale scene: %d %v, want 412", code, m)
	}
	code, h, m = call(t, http.MethodPut, url, admin, `{"device": "box-1", "scene": `+jsonString(good+"# moved\n")+`}`, "If-Match", `"1"`)
	if code != 200 || h.Get("ETag") != `"2"` || m["scene_version"] != 2.0 {
		t.Fatalf("second scene: %d %v", code, m)
	}
	mu.Lock()
	if len(published) != 2 || published[0].SceneVersion != 1 || published[1].SceneVersion != 2 || published[1].Scene != good+"# moved\n" {
		t.Errorf("camera hook saw %+v, want versions 1 and 2", published)
	}
	mu.Unlock()
	code, _, _ = call(t, http.MethodGet, srv.URL+"/api/v1/registry/cameras", viewer, "")
	if code != 200 {
		t.Fatalf("list cameras: %d", code)
	}
	if code, _, _ := call(t, http.MethodGet, srv.URL+"/api/v1/registry/cameras/nobody", viewer, ""); code != http.StatusNotFound {
		t.Fatalf("unknown camera: %d", code)
	}
}
