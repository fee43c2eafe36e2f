package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// KindScene is the segment of a camera's scene topic, crosswatch/v1/{device}/scene/{camera}:
// the aggregator publishes each camera's latest scene there, retained, and the device that
// runs the camera subscribes to crosswatch/v1/{device}/scene/+.
const KindScene = "scene"

// MaxSceneBytes bounds a scene message: the registry's largest scene text (256 KiB) with its
// JSON escaping, within the broker's 1 MiB packet limit.
const MaxSceneBytes = 768 << 10

// SceneTopic returns the topic of a camera's scene for the device that runs it.
func SceneTopic(device, camera string) string {
	return topicPrefix + device + "/" + KindScene + "/" + camera
}

// SceneFilter returns the filter a device subscribes to for its cameras' scenes.
func SceneFilter(device string) string { return SceneTopic(device, "+") }

// ParseSceneTopic splits a scene topic (or a device's scene filter, whose camera is "+") into
// its device and camera.
func ParseSceneTopic(topic string) (device, camera string, err error) {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[1] != KindScene {
		return "", "", fmt.Errorf("%w: %q is not a scene topic", ErrTopic, topic)
	}
	if err := CheckName("device", parts[0]); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrTopic, err)
	}
	if parts[2] != "+" {
		if err := CheckName("camera", parts[2]); err != nil {
			return "", "", fmt.Errorf("%w: %v", ErrTopic, err)
		}
	}
	return parts[0], parts[2], nil
}

// Scene is a camera's scene as the aggregator's registry holds it: the edge's scene YAML at a
// version that increases by one with every change, and the text's SHA-256 (hex) so that a box
// can tell a scene it already applied.
type Scene struct {
	V       int    `json:"v"`
	Camera  string `json:"camera"`
	Version int64  `json:"version"`
	Scene   string `json:"scene"`
	SHA256  string `json:"sha256"`
}

// NewScene returns the message of a camera's scene at version.
func NewScene(camera string, version int64, scene string) Scene {
	h := sha256.Sum256([]byte(scene))
	return Scene{V: Version, Camera: camera, Version: version, Scene: scene, SHA256: hex.EncodeToString(h[:])}
}

// DecodeScene parses a scene message and checks that its digest is its text's. The scene text
// itself is validated by the edge's scene package before it is applied.
func DecodeScene(b []byte) (Scene, error) {
	var s Scene
	if err := decodeFromAggregator(b, MaxSceneBytes, &s); err != nil {
		return Scene{}, err
	}
	if err := CheckName("camera", s.Camera); err != nil {
		return Scene{}, err
	}
	if s.Version < 1 {
		return Scene{}, invalid("version", "must be 1 or more, got %d", s.Version)
	}
	if want := NewScene(s.Camera, s.Version, s.Scene).SHA256; s.SHA256 != want {
		return Scene{}, invalid("sha256", "%q is not the scene's digest %s", s.SHA256, want)
	}
	return s, nil
}
