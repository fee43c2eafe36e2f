package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/internal/obsrec"
)

// The pipeline, fed a real clip's observations as recorded from vision.Analyser
// (testdata/*.obs.jsonl, written by edge/vision's TestRecordedObservations -record), commits
// the very messages the analyser and the pipeline together committed from the clip
// (testdata/*.messages.jsonl): a red light run and the approach's count, byte for byte.
func TestRecordedClip(t *testing.T) {
	const name = "testdata/rlv_webserver105_demo1"
	f, err := os.Open(name + ".obs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var header struct {
		Scene         string
		Width, Height int
		Start         time.Time
	}
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &header) != nil {
		t.Fatalf("%s: no header", f.Name())
	}
	var obs []edge.Observation
	for sc.Scan() {
		var o edge.Observation
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s:%d: %v", f.Name(), len(obs)+2, err)
		}
		obs = append(obs, o)
	}
	s, err := scenefile.Load(header.Scene)
	if err != nil {
		t.Fatal(err)
	}
	ob := &memOutbox{}
	p := New(Config{Device: "dev-rec", Scene: s, Width: header.Width, Height: header.Height, Start: header.Start, CountPeriod: time.Minute},
		&replay{obs: obs}, ob, nil, discard)
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(name + ".messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got := obsrec.Messages(ob.msgs); !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Errorf("messages from the recorded observations:\n%s\nwant (from the clip):\n%s", got, want)
	}
	if st.Frames != obs[len(obs)-1].Seq || st.Events["red_light_running"] != 1 {
		t.Errorf("stats %+v", st)
	}
}
