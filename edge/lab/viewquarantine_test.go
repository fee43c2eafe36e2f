package lab

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge/analysis"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/hw/camera"
	"github.com/crosswatch/crosswatch/internal/camtest"
)

// quarantineExpected is, per real clip that is not a fixed camera, the stream time window in
// which a quarantine must begin, and the reference to use (written from the frame at
// refAt; 0: learned from the clip's first steady seconds). Every other clip is a fixed camera
// and must never be quarantined.
var quarantineExpected = map[string]struct {
	from, to, refAt time.Duration
}{
	// The cut to the daytime camera at 6.08 s.
	"rlv_gutomadon_redlight.mp4": {6 * time.Second, 6200 * time.Millisecond, 0},
	// The zoom out at 13–15 s, against a reference of the view the scene fits (3.6–13 s; the
	// camera tilts up at 2.5–3.6 s, so the first seconds are quarantined too).
	"general_bilal11123_calgary_road_lrt_station.mp4": {12500 * time.Millisecond, 15500 * time.Millisecond, 8 * time.Second},
	// Handheld shots cut together: the first cut comes within seconds.
	"ped_changcv2021_midblock_jaywalking_news.mp4": {0, 6 * time.Second, 0},
	// Stock footage of a drifting camera that jumps 44 px up at 16.3–17.8 s (the labelled
	// scene's comment): its first seconds are steady enough to count as fixed.
	"conflict_shivam25_nyc_intersection_crash.mp4": {16 * time.Second, 19 * time.Second, 0},
}

// The view quarantine fires on every real clip whose view changes, where it changes, and never
// on a fixed camera (issue 14, item 6): the scene is a bare one, with a reference learned from
// the clip or written with scene draw --write-reference.
func TestViewQuarantineRealClips(t *testing.T) {
	if testing.Short() {
		t.Skip("analyses every real clip")
	}
	sc, err := scenefile.Parse([]byte(drawScene))
	if err != nil {
		t.Fatal(err)
	}
	for _, clip := range camtest.Clips(t, "../../../shared/videos") {
		name := filepath.Base(clip)
		t.Run(name, func(t *testing.T) {
			camtest.Clip(t, clip)
			want, moves := quarantineExpected[name]
			var ref []byte
			if moves && want.refAt > 0 {
				r, _, _, err := learnReference(sc, clip, want.refAt)
				if err != nil {
					t.Fatal(err)
				}
				ref = r.EncodePGM()
			}
			src, err := camera.OpenFile(clip)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var mem memOutbox
			sc.Detector = scene.Classical() // the view check alone is measured here, not what is detected
			p, err := analysis.New(analysis.Config{Device: "q", Scene: sc, Width: src.Width, Height: src.Height, Start: time.Unix(0, 0).UTC(),
				CountPeriod: time.Minute, Reference: ref}, src, &mem, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			st, err := p.Run(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("quarantines %d at %v, %.1f s in all; view changes %d", st.Quarantines, st.QuarantineAt, st.Quarantined.Seconds(), st.ViewChanges)
			switch {
			case !moves && st.Quarantines > 0:
				t.Errorf("a fixed camera quarantined %d times, first at %v", st.Quarantines, st.QuarantineAt[0])
			case moves && st.Quarantines == 0:
				t.Errorf("never quarantined; want from %v–%v", want.from, want.to)
			case moves:
				in := false
				for _, at := range st.QuarantineAt {
					in = in || at >= want.from && at <= want.to
				}
				if !in {
					t.Errorf("quarantined at %v; want one beginning %v–%v", st.QuarantineAt, want.from, want.to)
				}
			}
		})
	}
}
