package camera

import "time"

// clock turns the timestamps a source reports, frame by frame, into stream time that strictly
// increases. Containers lie at the edges: many MP4s report CAP_PROP_POS_MSEC 0 on their last
// one or two frames (../shared/videos/CATALOG.md), some report none at all, and a live source's
// wall-clock reading may stand still or step back. A timestamp that does not advance is replaced
// by the last one plus the frame period (the last step observed between two reported
// timestamps, else the container's nominal rate), so a frame is never timed before the one
// before it. Pure: no OpenCV, for its unit test.
type clock struct {
	nominal time.Duration // the frame period the container claims
	step    time.Duration // the last step between two frames both timed from the source; 0: none yet
	last    time.Duration // stream time of the last frame
	n       int           // frames timed
	trusted bool          // the last frame's time came from the source, not from extrapolation
}

// newClock returns a clock for a source that claims fps frames per second (≤ 0: 25).
func newClock(fps float64) clock {
	if fps <= 0 || fps > 1000 {
		fps = 25
	}
	return clock{nominal: time.Duration(float64(time.Second) / fps)}
}

// period is the expected time between two frames.
func (c *clock) period() time.Duration {
	if c.step > 0 {
		return c.step
	}
	return c.nominal
}

// next predicts the stream time of the next frame.
func (c *clock) next() time.Duration {
	if c.n == 0 {
		return 0
	}
	return c.last + c.period()
}

// frame times the next frame from the timestamp the source reported for it and returns its
// stream time, and whether that timestamp advanced (false: the time was extrapolated).
func (c *clock) frame(reported time.Duration) (time.Duration, bool) {
	if c.n == 0 {
		c.n, c.last, c.trusted = 1, max(reported, 0), true
		return c.last, true
	}
	c.n++
	if reported > c.last {
		if c.trusted {
			c.step = reported - c.last // variable-rate clips: the last step predicts the next
		}
		c.last, c.trusted = reported, true
		return c.last, true
	}
	c.last += c.period()
	c.trusted = false
	return c.last, false
}
