package wire

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"strings"
	"time"
)

// Reference frames: a box sends each camera's latest anonymised still on
// crosswatch/v1/{device}/frame/{camera} (the scene editor draws the scene over it), and the
// aggregator asks for a new one on crosswatch/v1/{device}/frame-request/{camera}.
const (
	KindFrame        = "frame"
	KindFrameRequest = "frame-request"
)

// Reasons a box sends a reference frame.
const (
	FrameStart   = "start"   // the camera delivered its first frames (it started or restarted)
	FrameScene   = "scene"   // the camera restarted on a new scene (reload, or the registry's)
	FrameRequest = "request" // the aggregator asked (frame-request)
)

// Limits of a frame message: the JPEG as evidence is bounded (MaxEvidenceBytes, at most
// MaxEvidenceWidth × MaxEvidenceHeight), carried as base64 in JSON.
const (
	MaxFrameBytes        = 384 << 10
	MaxFrameRequestBytes = 1 << 10
)

// FrameTopic returns the topic a device publishes camera's reference frames on.
func FrameTopic(device, camera string) string { return cameraTopic(device, KindFrame, camera) }

// FrameFilter is the filter the aggregator subscribes to for every device's frames.
func FrameFilter() string { return topicPrefix + "+/" + KindFrame + "/+" }

// FrameRequestTopic returns the topic the aggregator asks device for camera's frame on.
func FrameRequestTopic(device, camera string) string {
	return cameraTopic(device, KindFrameRequest, camera)
}

// FrameRequestFilter returns the filter a device subscribes to for requests for its cameras.
func FrameRequestFilter(device string) string { return FrameRequestTopic(device, "+") }

func cameraTopic(device, kind, camera string) string {
	return topicPrefix + device + "/" + kind + "/" + camera
}

// ParseCameraTopic splits a per-camera topic, crosswatch/v1/{device}/{kind}/{camera} with kind
// scene, frame or frame-request (or a device's filter of one, whose camera is "+"), into its
// device, kind and camera.
func ParseCameraTopic(topic string) (device, kind, camera string, err error) {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 {
		return "", "", "", fmt.Errorf("%w: %q is not a camera's topic", ErrTopic, topic)
	}
	switch parts[1] {
	case KindScene, KindFrame, KindFrameRequest:
	default:
		return "", "", "", fmt.Errorf("%w: %q: unknown kind %q", ErrTopic, topic, parts[1])
	}
	if err := CheckName("device", parts[0]); err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrTopic, err)
	}
	if parts[2] != "+" {
		if err := CheckName("camera", parts[2]); err != nil {
			return "", "", "", fmt.Errorf("%w: %v", ErrTopic, err)
		}
	}
	return parts[0], parts[1], parts[2], nil
}

// Frame is a camera's reference still: what the camera sees, anonymised by the box as its
// evidence is (people and plates pixelated, faces blurred), at most MaxEvidenceWidth pixels
// wide. JPEG is base64 in the JSON.
type Frame struct {
	V      int       `json:"v"`
	Device string    `json:"device"`
	Camera string    `json:"camera"`
	Time   time.Time `json:"time"`   // when the frame was read (the box's clock)
	Reason string    `json:"reason"` // FrameStart, FrameScene or FrameRequest
	Width  int       `json:"width"`  // the JPEG's size in pixels
	Height int       `json:"height"`
	JPEG   []byte    `json:"jpeg"`
}

// DecodeFrame parses and validates a frame message received on topic: device and camera must
// be the topic's, the JPEG must decode whole at the size the message states.
func DecodeFrame(topic string, b []byte) (Frame, error) {
	device, kind, camera, err := ParseCameraTopic(topic)
	if err != nil || kind != KindFrame || camera == "+" {
		return Frame{}, fmt.Errorf("%w: %q is not a frame topic", ErrTopic, topic)
	}
	var f Frame
	if err := decode(b, MaxFrameBytes, &f); err != nil {
		return Frame{}, err
	}
	return f, f.validate(device, camera)
}

func (f *Frame) validate(device, camera string) error {
	switch {
	case f.Device != device:
		return invalid("device", "%q is not the topic's device %q", f.Device, device)
	case f.Camera != camera:
		return invalid("camera", "%q is not the topic's camera %q", f.Camera, camera)
	case f.Time.IsZero():
		return invalid("time", "missing")
	case f.Reason != FrameStart && f.Reason != FrameScene && f.Reason != FrameRequest:
		return invalid("reason", "%q: want start, scene or request", f.Reason)
	case len(f.JPEG) == 0:
		return invalid("jpeg", "missing")
	case len(f.JPEG) > MaxEvidenceBytes:
		return invalid("jpeg", "%d bytes, limit %d", len(f.JPEG), MaxEvidenceBytes)
	case f.Width < 1 || f.Width > MaxEvidenceWidth || f.Height < 1 || f.Height > MaxEvidenceHeight:
		return invalid("width", "%dx%d pixels, limit %dx%d", f.Width, f.Height, MaxEvidenceWidth, MaxEvidenceHeight)
	}
	if err := checkJPEG("jpeg", f.JPEG); err != nil {
		return err
	}
	// The header alone could hide a JPEG whose pixels do not decode: the dashboard draws it.
	img, err := jpeg.Decode(bytes.NewReader(f.JPEG))
	if err != nil {
		return invalid("jpeg", "does not decode: %v", err)
	}
	if s := img.Bounds().Size(); s.X != f.Width || s.Y != f.Height {
		return invalid("width", "the message says %dx%d, the JPEG is %dx%d", f.Width, f.Height, s.X, s.Y)
	}
	return nil
}

// FrameRequestMsg asks a device for a new reference frame of Camera.
type FrameRequestMsg struct {
	V      int       `json:"v"`
	Camera string    `json:"camera"`
	Time   time.Time `json:"time"` // when the aggregator asked
}

// DecodeFrameRequest parses and validates a frame request received on topic: its camera must
// be the topic's.
func DecodeFrameRequest(topic string, b []byte) (FrameRequestMsg, error) {
	_, kind, camera, err := ParseCameraTopic(topic)
	if err != nil || kind != KindFrameRequest || camera == "+" {
		return FrameRequestMsg{}, fmt.Errorf("%w: %q is not a frame-request topic", ErrTopic, topic)
	}
	var r FrameRequestMsg
	if err := decodeFromAggregator(b, MaxFrameRequestBytes, &r); err != nil {
		return FrameRequestMsg{}, err
	}
	switch {
	case r.Camera != camera:
		return FrameRequestMsg{}, invalid("camera", "%q is not the topic's camera %q", r.Camera, camera)
	case r.Time.IsZero():
		return FrameRequestMsg{}, invalid("time", "missing")
	}
	return r, nil
}
