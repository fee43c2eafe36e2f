package camera

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// The clock keeps stream time strictly increasing whatever the source reports, and trusts the
// source whenever its timestamps advance.
func TestClock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fps      float64
		reported []time.Duration
		want     []time.Duration
	}{
		{"first frame at 0, then steady 25 fps", 25, []time.Duration{0, 40 * ms, 80 * ms, 120 * ms}, []time.Duration{0, 40 * ms, 80 * ms, 120 * ms}},
		// CATALOG.md, "Added 2026-12-01": the last frames of many MP4s report 0.
		{"last two frames report 0", 25, []time.Duration{0, 40 * ms, 80 * ms, 0, 0}, []time.Duration{0, 40 * ms, 80 * ms, 120 * ms, 160 * ms}},
		{"variable rate: the last observed step predicts", 30, []time.Duration{0, 100 * ms, 200 * ms, 266 * ms, 0}, []time.Duration{0, 100 * ms, 200 * ms, 266 * ms, 332 * ms}},
		{"no timestamps at all: the nominal rate", 10, []time.Duration{0, 0, 0, 0}, []time.Duration{0, 100 * ms, 200 * ms, 300 * ms}},
		{"a timestamp that stands still, then the source catches up", 25, []time.Duration{0, 40 * ms, 40 * ms, 120 * ms, 160 * ms}, []time.Duration{0, 40 * ms, 80 * ms, 120 * ms, 160 * ms}},
		// A live source's wall clock stepping back (an injected or NTP-stepped clock, or a
		// reconnect that restarts the source's own time): time goes on from before.
		{"a step back continues from before", 25, []time.Duration{0, 40 * ms, 80 * ms, 10 * ms, 90 * ms, 200 * ms}, []time.Duration{0, 40 * ms, 80 * ms, 120 * ms, 160 * ms, 200 * ms}},
		{"a negative first timestamp is the start", 25, []time.Duration{-5 * ms, 40 * ms}, []time.Duration{0, 40 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock(tc.fps)
			if c.next() != 0 {
				t.Fatalf("next before any frame: %v, want 0", c.next())
			}
			var prev time.Duration = -1
			for i, r := range tc.reported {
				got, _ := c.frame(r)
				if got != tc.want[i] {
					t.Fatalf("frame %d reported %v: stream time %v, want %v", i, r, got, tc.want[i])
				}
				if got <= prev {
					t.Fatalf("frame %d: %v is not after %v", i, got, prev)
				}
				prev = got
			}
		})
	}
}

// next predicts one period after the last frame, which is what ReadAfter skips by.
func TestClockNext(t *testing.T) {
	c := newClock(0) // no rate claimed: 25 fps
	c.frame(0)
	if got := c.next(); got != 40*ms {
		t.Fatalf("next %v, want 40ms", got)
	}
	c.frame(100 * ms)
	c.frame(250 * ms)
	if got := c.next(); got != 400*ms {
		t.Fatalf("next %v after a 150 ms step, want 400ms", got)
	}
}
