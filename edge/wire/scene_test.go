package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestSceneTopicAndMessage(t *testing.T) {
	if got := SceneTopic("edge-1", "cam-2"); got != "crosswatch/v1/edge-1/scene/cam-2" {
		t.Fatalf("topic %s", got)
	}
	for topic, want := range map[string][2]string{
		"crosswatch/v1/edge-1/scene/cam-2": {"edge-1", "cam-2"},
		SceneFilter("edge-1"):              {"edge-1", "+"},
	} {
		d, c, err := ParseSceneTopic(topic)
		if err != nil || d != want[0] || c != want[1] {
			t.Errorf("%s: %s %s %v", topic, d, c, err)
		}
	}
	for _, bad := range []string{"crosswatch/v1/edge-1/scene", "crosswatch/v1/+/scene/c", "crosswatch/v1/edge-1/scene/#", "crosswatch/v1/edge-1/ack", "crosswatch/v1/edge-1/scene/a/b"} {
		if _, _, err := ParseSceneTopic(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%s: %v, want ErrTopic", bad, err)
		}
	}
	b, _ := Encode(NewScene("cam-2", 3, "version: 1\ncamera: cam-2\n"))
	s, err := DecodeScene(b)
	if err != nil || s.Version != 3 || s.Camera != "cam-2" || len(s.SHA256) != 64 {
		t.Fatalf("round trip: %+v %v", s, err)
	}
	tampered := strings.Replace(string(b), "cam-2\\n", "cam-3\\n", 1)
	if _, err := DecodeScene([]byte(tampered)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("a scene whose text does not match its digest: %v", err)
	}
	if _, err := DecodeScene([]byte(strings.Replace(string(b), `"version":3`, `"version":0`, 1))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("version 0: %v", err)
	}
}
