package cli

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// sceneStore is where the published scenes come from.
type sceneStore interface {
	FindCameras(ctx context.Context) ([]aggregator.Camera, error)
	FindCamera(ctx context.Context, id string) (aggregator.Camera, error)
}

// scenePublisher is the MQTT client's side of the scenes.
type scenePublisher interface {
	PublishScene(device string, s wire.Scene) error
	ClearScene(device, camera string) error
}

// scenes publishes each camera's latest scene, retained, to the device that runs it: after each
// save through the API, and all of them after each connection to the broker. Safe for
// concurrent use; Wait waits for the republishing under way.
type scenes struct {
	st  sceneStore
	pub scenePublisher
	log *slog.Logger
	mu  sync.Mutex
	// device is the device each camera's scene was last published to, so that a camera moved
	// to another box leaves no retained scene on the old box's topic.
	device map[string]string
	wg     sync.WaitGroup
}

func newScenes(st sceneStore, log *slog.Logger) *scenes {
	return &scenes{st: st, log: log, device: map[string]string{}}
}

// publish sends c's scene to its device. A failure is logged: the scene is stored, and every
// scene is published again on the next connection.
func (s *scenes) publish(c aggregator.Camera) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.device[c.ID]; old != "" && old != c.Device {
		if err := s.pub.ClearScene(old, c.ID); err != nil {
			s.log.Warn("clear the scene of a camera moved to another device", "camera", c.ID, "old_device", old, "err", err)
		}
	}
	if err := s.pub.PublishScene(c.Device, wire.NewScene(c.ID, c.SceneVersion, c.Scene)); err != nil {
		s.log.Warn("publish scene; stored, published again on reconnect", "camera", c.ID, "device", c.Device, "version", c.SceneVersion, "err", err)
		return
	}
	s.device[c.ID] = c.Device
	s.log.Info("scene published", "camera", c.ID, "device", c.Device, "version", c.SceneVersion)
}

// republish publishes every camera's latest scene, in its own goroutine (paho's connect
// handler must not block).
func (s *scenes) republish() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := s.st.FindCameras(ctx)
		if err != nil {
			s.log.Warn("read the cameras to publish their scenes", "err", err)
			return
		}
		for _, c := range list {
			if c.SceneVersion == 0 {
				continue
			}
			full, err := s.st.FindCamera(ctx, c.ID)
			if err != nil {
				s.log.Warn("read a camera's scene to publish it", "camera", c.ID, "err", err)
				continue
			}
			s.publish(full)
		}
	}()
}

// Wait waits for the republishing under way.
func (s *scenes) Wait() { s.wg.Wait() }
