package mqtt

import (
	"fmt"
	"time"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// PublishScene publishes a camera's scene to the device that runs it, retained at QoS 1, and
// waits up to 10 s for the broker to take it: the device receives the latest version when it
// subscribes, also after being offline. Safe for concurrent use.
func (cl *Client) PublishScene(device string, s wire.Scene) error {
	b, err := wire.Encode(s)
	if err != nil {
		return fmt.Errorf("publish scene %s/%s: %w", device, s.Camera, err)
	}
	return cl.retain(wire.SceneTopic(device, s.Camera), b)
}

// ClearScene removes the retained scene of a camera from a device's topic (the camera moved to
// another device), so that the old device is not handed it again.
func (cl *Client) ClearScene(device, camera string) error {
	return cl.retain(wire.SceneTopic(device, camera), nil)
}

func (cl *Client) retain(topic string, b []byte) error {
	if !cl.c.IsConnectionOpen() {
		return fmt.Errorf("publish %s: not connected (published again on reconnect)", topic)
	}
	t := cl.c.Publish(topic, 1, true, b)
	if !t.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publish %s: no PUBACK within 10 s (published again on reconnect)", topic)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// RequestFrame asks device for a new reference frame of camera, at QoS 1, not retained (a
// request is for now, not for a box that connects tomorrow), waiting up to 10 s for the broker.
// Safe for concurrent use.
func (cl *Client) RequestFrame(device, camera string, now time.Time) error {
	b, err := wire.Encode(wire.FrameRequestMsg{V: wire.Version, Camera: camera, Time: now.UTC()})
	if err != nil {
		return fmt.Errorf("request frame %s/%s: %w", device, camera, err)
	}
	topic := wire.FrameRequestTopic(device, camera)
	if !cl.c.IsConnectionOpen() {
		return fmt.Errorf("publish %s: not connected to the broker", topic)
	}
	t := cl.c.Publish(topic, 1, false, b)
	if !t.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publish %s: no PUBACK within 10 s", topic)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
