package vision

import (
	"testing"
	"time"
)

// The view check on a sequence of frames (15 per second): quarantine on a cut at once, or on
// a picture unlike the reference for viewHold; out again only after viewHold of frames that
// match; a dip shorter than the hold, or frames between the thresholds, change nothing.
func TestViewCheck(t *testing.T) {
	type frame struct {
		cut bool
		sim float64
	}
	run := func(n int, f frame) []frame {
		out := make([]frame, n)
		for i := range out {
			out[i] = f
		}
		return out
	}
	cat := func(parts ...[]frame) (out []frame) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	good, bad, between := frame{sim: 0.8}, frame{sim: 0.1}, frame{sim: 0.3}
	for _, tc := range []struct {
		name   string
		frames []frame
		// want is the quarantine state after each frame, as runs: frame index → state from it on.
		want map[int]bool
	}{
		{"fixed camera", run(150, good), map[int]bool{0: false}},
		{"a busy fixed camera between the thresholds", run(150, between), map[int]bool{0: false}},
		{"a cut to another view", cat(run(30, good), []frame{{cut: true, sim: 0.1}}, run(60, bad)), map[int]bool{0: false, 30: true}},
		{"a cut and back", cat(run(30, good), []frame{{cut: true, sim: 0.1}}, run(30, bad), []frame{{cut: true, sim: 0.8}}, run(30, good)),
			// back at frame 61; matching for 1 s (15 frames) from frame 62 (a cut frame never counts as matching)
			map[int]bool{0: false, 30: true, 62 + 15: false}},
		{"a cut that changes nothing (lights switched on)", cat(run(30, good), []frame{{cut: true, sim: 0.8}}, run(30, good)),
			map[int]bool{0: false, 30: true, 31 + 15: false}},
		{"a slow zoom: unlike the reference for 1 s", cat(run(30, good), run(40, bad)), map[int]bool{0: false, 30 + 15: true}},
		{"a dip shorter than the hold", cat(run(30, good), run(10, bad), run(30, good)), map[int]bool{0: false}},
		{"matching, but not for long enough", cat(run(30, good), []frame{{cut: true, sim: 0.1}}, run(10, good), run(10, bad), run(10, good)),
			map[int]bool{0: false, 30: true}},
		{"between the thresholds keeps a quarantine on", cat(run(10, good), []frame{{cut: true, sim: 0.1}}, run(60, between)),
			map[int]bool{0: false, 10: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v viewCheck
			t0 := time.Unix(1000, 0)
			state := false
			for i, f := range tc.frames {
				if s, ok := tc.want[i]; ok {
					state = s
				}
				now := t0.Add(time.Duration(i) * time.Second / 15)
				on, changed := v.step(now, f.cut, f.sim)
				if on != state {
					t.Fatalf("frame %d (%+v): quarantined %v, want %v", i, f, on, state)
				}
				if _, edge := tc.want[i]; changed != (edge && i > 0) {
					t.Fatalf("frame %d: changed %v", i, changed)
				}
			}
		})
	}
}

// A slow change is quarantined from when the picture stopped matching, not from when the hold
// ran out: the count periods it overlapped are withheld.
func TestViewCheckSince(t *testing.T) {
	var v viewCheck
	t0 := time.Unix(1000, 0)
	for i := 0; i < 40; i++ {
		sim := 0.8
		if i >= 10 {
			sim = 0.1
		}
		v.step(t0.Add(time.Duration(i)*time.Second/15), false, sim)
	}
	if want := t0.Add(10 * time.Second / 15); !v.on || !v.since.Equal(want) {
		t.Fatalf("on %v since %v, want since %v", v.on, v.since, want)
	}
}
