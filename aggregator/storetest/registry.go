package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

// The registry: sites created, edited and deleted by an admin at increasing versions, two
// editors never overwriting each other, the configuration file seeding without undoing an
// edit, and cameras with their scenes.
func testRegistrySites(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	all, err := st.FindSiteRecords(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "a" || all[0].Version != 1 || all[0].UpdatedBy != aggregator.ConfigActor ||
		!slices.Equal(all[0].Cameras, []string{"c", "spare"}) || all[1].Cameras == nil {
		t.Fatalf("seeded sites: %+v %v", all, err)
	}
	stamp0, _ := st.RegistryStamp(ctx)
	n := aggregator.Site{ID: "n", Name: "New", Kind: aggregator.Rail, Lat: 48.2, Lon: 16.4, Cameras: []string{"p1"}, TimeZone: "Europe/Vienna"}
	rec, err := st.CreateSite(ctx, n, "user:ann")
	if err != nil || rec.Version != 1 || rec.UpdatedBy != "user:ann" || rec.UpdatedAt.IsZero() {
		t.Fatalf("create: %+v %v", rec, err)
	}
	if _, err := st.CreateSite(ctx, aggregator.Site{ID: "n", Name: "Other", Kind: aggregator.Road}, "user:bob"); !errors.Is(err, aggregator.ErrExists) {
		t.Fatalf("create twice: %v, want ErrExists", err)
	}
	if got, err := st.FindSite(ctx, "n"); err != nil || got.Name != "New" || got.TimeZone != "Europe/Vienna" {
		t.Fatalf("a site created through the registry is a site: %+v %v", got, err)
	}
	// Two editors read version 1 of site a; the first saves, the second is refused.
	edit := sites[0]
	edit.Name = "A (renamed)"
	rec, err = st.UpdateSite(ctx, edit, 1, "user:ann")
	if err != nil || rec.Version != 2 || rec.Name != "A (renamed)" {
		t.Fatalf("update: %+v %v", rec, err)
	}
	late := sites[0]
	late.Name = "A (bob)"
	if _, err := st.UpdateSite(ctx, late, 1, "user:bob"); !errors.Is(err, aggregator.ErrConflict) || !strings.Contains(err.Error(), "version 2, not 1") {
		t.Fatalf("stale update: %v, want ErrConflict naming both versions", err)
	}
	if _, err := st.UpdateSite(ctx, aggregator.Site{ID: "nope", Name: "x", Kind: aggregator.Road}, 1, "user:bob"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if got, _ := st.FindSiteRecord(ctx, "a"); got.Name != "A (renamed)" || got.Version != 2 || got.UpdatedBy != "user:ann" {
		t.Fatalf("after the refused update: %+v", got)
	}
	if stamp, _ := st.RegistryStamp(ctx); stamp == stamp0 {
		t.Fatalf("stamp %s did not change with the registry", stamp)
	}
	// A restart seeds from the file again: a's edit stays, b (config-owned) follows the file,
	// a site only the file names is added.
	file := append([]aggregator.Site{}, sites...)
	file[0].Name, file[1].Name = "A from file", "B from file"
	file = append(file, aggregator.Site{ID: "f", Name: "F", Kind: aggregator.Road})
	kept, err := st.SeedSites(ctx, file)
	if err != nil || !slices.Equal(kept, []string{"a"}) {
		t.Fatalf("seed: kept %v %v, want [a]", kept, err)
	}
	if a, _ := st.FindSiteRecord(ctx, "a"); a.Name != "A (renamed)" || a.Version != 2 {
		t.Fatalf("the file overwrote an API edit: %+v", a)
	}
	if b, _ := st.FindSiteRecord(ctx, "b"); b.Name != "B from file" || b.Version != 2 || b.UpdatedBy != aggregator.ConfigActor {
		t.Fatalf("config-owned site not updated from the file: %+v", b)
	}
	if f, err := st.FindSiteRecord(ctx, "f"); err != nil || f.Version != 1 {
		t.Fatalf("site only the file names: %+v %v", f, err)
	}
	// Deleting: refused at a stale version, refused while events name the site, done otherwise.
	if err := st.DeleteSite(ctx, "f", 7, "user:ann"); !errors.Is(err, aggregator.ErrConflict) {
		t.Fatalf("delete at a stale version: %v", err)
	}
	v1 := catalog("v1", 25)
	if _, err := st.Commit(ctx, &aggregator.Batch{Events: []aggregator.PricedEvent{event("e1", "n", now, v1)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSite(ctx, "n", 1, "user:ann"); !errors.Is(err, aggregator.ErrInUse) || !strings.Contains(err.Error(), "1 events") {
		t.Fatalf("delete a site with events: %v, want ErrInUse saying why", err)
	}
	if err := st.DeleteSite(ctx, "f", 1, "user:ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindSite(ctx, "f"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("deleted site still found: %v", err)
	}
	if err := st.DeleteSite(ctx, "f", 1, "user:ann"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	audit, _ := st.FindAudit(ctx, 100, 0)
	var mine []string
	for _, e := range audit {
		if e.Actor == "user:ann" {
			mine = append(mine, e.Action)
		}
	}
	if !slices.Equal(mine, []string{"site.delete", "site.change", "site.add"}) {
		t.Fatalf("ann's audit entries %v, want delete, change, add (newest first)", mine)
	}
}

func testRegistryCameras(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	c, err := st.FindCamera(ctx, "c")
	if err != nil || c.SceneVersion != 0 || !slices.Equal(c.Sites, []string{"a"}) || c.Scene != "" {
		t.Fatalf("a camera site a lists, without a scene yet: %+v %v", c, err)
	}
	if _, err := st.FindCamera(ctx, "nobody"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("unknown camera: %v", err)
	}
	put, err := st.PutCamera(ctx, aggregator.Camera{ID: "c", Device: "box-1", Scene: "version: 1\ncamera: c\n"}, 0, "user:ann")
	if err != nil || put.SceneVersion != 1 || put.SceneSHA256 != sqlstore.SceneDigest("version: 1\ncamera: c\n") || !slices.Equal(put.Sites, []string{"a"}) {
		t.Fatalf("first scene: %+v %v", put, err)
	}
	// A second editor who also saw "no scene yet" is refused; one who read version 1 saves 2.
	if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "c", Device: "box-1", Scene: "other"}, 0, "user:bob"); !errors.Is(err, aggregator.ErrConflict) {
		t.Fatalf("stale first scene: %v, want ErrConflict", err)
	}
	put, err = st.PutCamera(ctx, aggregator.Camera{ID: "c", Device: "box-2", Scene: "version: 1\ncamera: c\n# v2\n"}, 1, "user:bob")
	if err != nil || put.SceneVersion != 2 || put.Device != "box-2" {
		t.Fatalf("second scene: %+v %v", put, err)
	}
	if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "c", Device: "box-2", Scene: "x"}, 1, "user:ann"); !errors.Is(err, aggregator.ErrConflict) || !strings.Contains(err.Error(), "version 2, not 1") {
		t.Fatalf("stale scene: %v", err)
	}
	got, err := st.FindCamera(ctx, "c")
	if err != nil || got.SceneVersion != 2 || got.Scene != "version: 1\ncamera: c\n# v2\n" || got.UpdatedBy != "user:bob" || got.Device != "box-2" ||
		got.SceneSHA256 != sqlstore.SceneDigest(got.Scene) {
		t.Fatalf("stored camera: %+v %v", got, err)
	}
	// A camera no site lists yet can be registered (a box installed before its site is).
	if _, err := st.PutCamera(ctx, aggregator.Camera{ID: "loose", Device: "box-3", Scene: "s"}, 0, "user:ann"); err != nil {
		t.Fatal(err)
	}
	list, err := st.FindCameras(ctx)
	if err != nil || len(list) != 3 || list[0].ID != "c" || list[0].SceneVersion != 2 || list[0].Scene != "" ||
		list[1].ID != "loose" || len(list[1].Sites) != 0 || list[2].ID != "spare" || list[2].SceneVersion != 0 || !slices.Equal(list[2].Sites, []string{"a"}) {
		t.Fatalf("cameras: %+v %v", list, err)
	}
	audit, _ := st.FindAudit(ctx, 1, 0)
	if len(audit) != 1 || audit[0].Action != "camera.scene" || audit[0].Actor != "user:ann" || !strings.Contains(audit[0].Detail, "loose on device box-3: scene version 0 → 1") {
		t.Fatalf("audit: %+v", audit)
	}
}
