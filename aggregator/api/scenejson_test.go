package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
)

// The scene editor's JSON: GET gives the stored scene's keys in its order; a PUT of it changed
// is stored as YAML at the next version, every field the editor does not touch kept; a point
// outside the frame is a 400 naming the field that changes nothing; stale and viewer writes
// are refused.
func TestRegistrySceneJSON(t *testing.T) {
	var published []aggregator.Camera
	srv, _, st := serverStore(t, WithRegistryHooks(RegistryHooks{Camera: func(_ context.Context, c aggregator.Camera) { published = append(published, c) }}))
	admin, viewer := testTokens[aggregator.Admin], testTokens[aggregator.Viewer]
	url := srv.URL + "/api/v1/registry/cameras/c/scene.json"

	code, h, m := call(t, http.MethodGet, url, viewer, "")
	if code != 200 || h.Get("ETag") != `"0"` || m["scene"] != nil || m["scene_version"] != 0.0 || m["sites"].([]any)[0] != "a" {
		t.Fatalf("no scene yet: %d %v %v", code, h, m)
	}
	if code, _, _ := call(t, http.MethodGet, srv.URL+"/api/v1/registry/cameras/nobody/scene.json", viewer, ""); code != http.StatusNotFound {
		t.Fatalf("unknown camera: %d", code)
	}
	// A scene with a detector section and a comment, saved as YAML.
	good := registryScene(t)
	if !strings.Contains(good, "detector:") {
		t.Fatal("the test scene should set detector fields (kept on save)")
	}
	if code, _, m := call(t, http.MethodPut, srv.URL+"/api/v1/registry/cameras/c", admin, `{"device": "box-1", "version": 0, "scene": `+jsonString(good)+`}`); code != 200 {
		t.Fatalf("save YAML: %d %v", code, m)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Device       string          `json:"device"`
		SceneVersion int64           `json:"scene_version"`
		Scene        json.RawMessage `json:"scene"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"1"` || doc.Device != "box-1" || doc.SceneVersion != 1 ||
		!strings.HasPrefix(string(doc.Scene), `{"version":1,"camera":"c",`) {
		t.Fatalf("GET: %d %+v %s", resp.StatusCode, doc, doc.Scene)
	}
	// The editor moves the platform edge's first point and saves (the JSON edited as text: a
	// Go map would sort the keys, a browser's object keeps their order).
	scene := strings.Replace(string(doc.Scene), "[0,0.6458]", "[0.01,0.65]", 1)
	put := func(s string, version int64, who string) (int, http.Header, map[string]any) {
		return call(t, http.MethodPut, url, who, `{"device": "box-1", "scene": `+s+`, "version": `+strconv.FormatInt(version, 10)+`}`)
	}
	if code, _, _ := put(scene, 1, viewer); code != http.StatusForbidden {
		t.Fatalf("PUT as viewer: %d", code)
	}
	code, h, m = put(scene, 1, admin)
	if code != 200 || h.Get("ETag") != `"2"` || m["scene_version"] != 2.0 {
		t.Fatalf("save: %d %v", code, m)
	}
	got, _ := st.FindCamera(context.Background(), "c")
	if !strings.Contains(got.Scene, "[0.01, 0.65]") || !strings.Contains(got.Scene, "detector:") || got.SceneVersion != 2 || len(published) != 2 {
		t.Fatalf("stored scene:\n%s", got.Scene)
	}
	// Every key of the old file is still there, in its order.
	var before, after []string
	for _, l := range strings.Split(good, "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")), ":"); ok && !strings.HasPrefix(k, "#") && !strings.Contains(k, "[") {
			before = append(before, k)
		}
	}
	for _, l := range strings.Split(got.Scene, "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")), ":"); ok && !strings.Contains(k, "[") {
			after = append(after, k)
		}
	}
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Fatalf("keys changed:\n%v\n%v", before, after)
	}

	code, _, m = put(strings.Replace(scene, "[1,0.6458]", "[1.2,0.65]", 1), 2, admin)
	if code != http.StatusBadRequest || m["field"] != "scene.platform_edges[0].polygon[1]" || !strings.Contains(m["error"].(string), "outside the frame") {
		t.Fatalf("outside the frame: %d %v", code, m)
	}
	if code, _, m = put(strings.Replace(scene, "[1,0.6458]", "[0.5]", 1), 2, admin); code != http.StatusBadRequest || !strings.Contains(m["error"].(string), "a point is [x, y]") {
		t.Fatalf("a point of one number: %d %v", code, m)
	}
	if code, _, m = put(scene, 1, admin); code != http.StatusPreconditionFailed || m["field"] != "version" {
		t.Fatalf("stale: %d %v", code, m)
	}
	if code, _, m := call(t, http.MethodPut, url, admin, `{"device": "box-1", "version": 2}`); code != http.StatusBadRequest || m["field"] != "scene" {
		t.Fatalf("no scene: %d %v", code, m)
	}
	if after, _ := st.FindCamera(context.Background(), "c"); after.SceneVersion != 2 || after.Scene != got.Scene || len(published) != 2 {
		t.Fatalf("refused writes changed the camera: version %d", after.SceneVersion)
	}
}
