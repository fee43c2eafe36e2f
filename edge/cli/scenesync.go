package cli

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// sceneSync applies the scenes the aggregator's registry publishes for this box's cameras
// (crosswatch/v1/{device}/scene/+, retained): each one valid for a camera the box runs is
// written over the camera's scene file atomically, and the daemon reloads as on SIGHUP, so
// the camera restarts with it and the others run on. A box that never hears from the
// aggregator keeps its local scene files. Safe for concurrent use.
type sceneSync struct {
	log *slog.Logger
	// path returns the scene file of a camera the box runs now.
	path func(camera string) (string, bool)
	// wake asks the daemon to reload; buffered 1, so scenes arriving together reload once.
	wake chan struct{}

	mu      sync.Mutex
	applied map[string]int64 // the version last applied per camera; an older one is ignored
}

func newSceneSync(log *slog.Logger, path func(camera string) (string, bool)) *sceneSync {
	return &sceneSync{log: log, path: path, wake: make(chan struct{}, 1), applied: map[string]int64{}}
}

// receive takes one scene message (from the MQTT client's goroutine: it does not block).
func (s *sceneSync) receive(m wire.Scene) {
	path, ok := s.path(m.Camera)
	if !ok {
		s.log.Warn("the aggregator sent a scene for a camera this box does not run; edge.yaml lists the box's cameras", "camera", m.Camera, "version", m.Version)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Version <= s.applied[m.Camera] {
		return
	}
	changed, err := writeScene(path, m)
	if err != nil {
		s.log.Error("scene from the aggregator not applied; the camera keeps its scene", "camera", m.Camera, "version", m.Version, "err", err)
		return
	}
	s.applied[m.Camera] = m.Version
	if !changed {
		return
	}
	s.log.Info("scene from the aggregator written; reloading", "camera", m.Camera, "version", m.Version, "sha256", m.SHA256, "file", path)
	select {
	case s.wake <- struct{}{}:
	default: // a reload is already due; it reads this file too
	}
}

// writeScene validates m's scene as the camera's own and, when it differs from the file at
// path, replaces the file atomically (a new file beside it, synced, renamed over it), so a
// crash never leaves half a scene. It reports whether the file changed.
func writeScene(path string, m wire.Scene) (bool, error) {
	sc, err := scenefile.Parse([]byte(m.Scene))
	if err != nil {
		return false, fmt.Errorf("scene version %d: %w", m.Version, err)
	}
	if sc.Camera != m.Camera {
		return false, fmt.Errorf("scene version %d names camera %q, not %q", m.Version, sc.Camera, m.Camera)
	}
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, []byte(m.Scene)) {
		return false, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return false, fmt.Errorf("write scene: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, there is nothing left to remove
	if _, err := f.WriteString(m.Scene); err != nil {
		f.Close()
		return false, fmt.Errorf("write scene %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return false, fmt.Errorf("write scene %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("write scene %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write scene %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return false, fmt.Errorf("write scene %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a power cut
		d.Close()
	}
	return true, nil
}

// scenePath returns the scene file of a camera the daemon runs now.
func (d *Daemon) scenePath(camera string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.cams[camera]
	if !ok || r.cam.CameraCfg.Scene == "" {
		return "", false
	}
	return r.cam.CameraCfg.Scene, true
}
