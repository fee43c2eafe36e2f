package vision

import "time"

// Thresholds of the view check, on vision.Reference.Similarity (the correlation of the edge
// picture with the scene's reference). Measured on every clip in ../shared/videos against a
// reference learned from its first steady seconds (docs/SCENES.md, "The view reference"):
// fixed cameras stay at or above 0.27 in every frame (the Hanoi queue covering the road at
// 63 s; the Shibuya crowd 0.43; most clips above 0.6); another view scores at most 0.21 (the
// daytime shot after the cut in rlv_gutomadon_redlight 0.14–0.20, the handheld news shots
// ≤ 0.20, the Calgary road after its zoom ≤ 0.04).
const (
	viewMismatch = 0.22            // below this in every frame for viewHold: the view is another
	viewMatch    = 0.35            // at or above this in every frame for viewHold: it is the scene's again
	viewHold     = 1 * time.Second // of stream time
)

// viewCheck decides, frame by frame, whether a camera's view is its scene's: after a view
// change (the gate saw most of the picture change at once) or when the picture has not looked
// like the scene's reference for a while, the camera is quarantined — it judges and counts
// nothing — until the picture has matched the reference again for a while.
// Pure: no pixels, for its unit test.
type viewCheck struct {
	on        bool
	since     time.Time // when the current quarantine began
	low, high time.Time // start of the current run of frames below viewMismatch / at or above viewMatch; zero: none
}

// step takes one analysed frame at now: cut reports that the gate saw the view change, sim
// the frame's similarity to the reference. It returns whether the camera is quarantined after
// this frame and whether that changed with it.
func (v *viewCheck) step(now time.Time, cut bool, sim float64) (on, changed bool) {
	if sim < viewMismatch {
		if v.low.IsZero() {
			v.low = now
		}
	} else {
		v.low = time.Time{}
	}
	if sim >= viewMatch && !cut {
		if v.high.IsZero() {
			v.high = now
		}
	} else {
		v.high = time.Time{}
	}
	switch {
	case !v.on && (cut || !v.low.IsZero() && now.Sub(v.low) >= viewHold):
		v.on, v.since = true, now
		if !cut {
			v.since = v.low // the view stopped matching then
		}
		return true, true
	case v.on && !v.high.IsZero() && now.Sub(v.high) >= viewHold:
		v.on = false
		return false, true
	}
	return v.on, false
}
