// Package obsrec is the format of a recorded clip's messages (edge/pipeline/testdata/*.messages.jsonl):
// edge/vision's TestRecordedObservations writes them from the live path and edge/pipeline's
// TestRecordedClip compares the messages its replay of the observations commits against them.
// One definition, so that the two tests cannot drift apart.
package obsrec

import (
	"bytes"
	"encoding/json"

	"github.com/crosswatch/crosswatch/edge"
)

// Messages writes msgs one a line, the payload as its JSON.
func Messages(msgs []edge.Message) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		line, _ := json.Marshal(struct {
			ID, Topic string
			Severity  int
			Payload   json.RawMessage
		}{m.ID, m.Topic, m.Severity, m.Payload})
		b.Write(append(line, '\n'))
	}
	return bytes.TrimSpace(b.Bytes())
}
