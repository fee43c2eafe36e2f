// Package edge holds the edge daemon's domain types: boxes, detections, tracks, signal states,
// events, the observation of a frame the analysis hands the logic, the messages the outbox keeps
// (with the severity policy that evicts them) and the frame counters. It imports only the
// standard library and the wire contract.
package edge

import (
	"time"
)

// Class is a road-user class.
type Class uint8

// Road-user classes. Their names are the wire classes.
const (
	ClassUnknown Class = iota
	Person
	Bicycle
	Motorbike
	Car
	Bus
	Truck
	numClasses
)

var classNames = [numClasses]string{"unknown", "person", "bicycle", "motorbike", "car", "bus", "truck"}

// NumClasses is the number of classes including ClassUnknown, for fixed-size per-class arrays.
const NumClasses = int(numClasses)

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// ParseClass returns the class named s, or ClassUnknown.
func ParseClass(s string) Class {
	for i, n := range classNames {
		if n == s {
			return Class(i)
		}
	}
	return ClassUnknown
}

// Motor reports whether the class is a motor vehicle bound by vehicle signals.
func (c Class) Motor() bool { return c == Motorbike || c == Car || c == Bus || c == Truck }

// Box is an axis-aligned rectangle in pixels of the analysed frame.
type Box struct{ X0, Y0, X1, Y1 float32 }

// W returns the width.
func (b Box) W() float32 { return b.X1 - b.X0 }

// H returns the height.
func (b Box) H() float32 { return b.Y1 - b.Y0 }

// Area returns the area, 0 for an empty box.
func (b Box) Area() float32 {
	if b.X1 <= b.X0 || b.Y1 <= b.Y0 {
		return 0
	}
	return (b.X1 - b.X0) * (b.Y1 - b.Y0)
}

// IoU returns the intersection over union of two boxes.
func (b Box) IoU(o Box) float32 {
	in := Box{max(b.X0, o.X0), max(b.Y0, o.Y0), min(b.X1, o.X1), min(b.Y1, o.Y1)}.Area()
	if in == 0 {
		return 0
	}
	return in / (b.Area() + o.Area() - in)
}

// Detection is one object found in one frame.
type Detection struct {
	Box   Box
	Class Class
	Score float32
}

// Track is an object followed across frames of one camera. Its ID lives only as long as the track
// and identifies no one.
type Track struct {
	ID  int
	Box Box // filtered: the Kalman anchor with a smoothed size
	// Meas is the detection matched in the latest matched frame, unfiltered. Rules that judge
	// where an object's edge is (a stop line, a zone's border) use it: a filter's velocity
	// carries the box past where a braking vehicle really stopped.
	Meas   Box
	Class  Class
	Score  float32
	Hits   int     // frames with a matched detection
	Misses int     // consecutive frames without one
	VX, VY float32 // anchor velocity, pixels per second
}

// Light is the state of a signal head.
type Light uint8

// Signal lights.
const (
	LightUnknown Light = iota
	Red
	Amber
	Green
)

func (l Light) String() string {
	return [...]string{"unknown", "red", "amber", "green"}[l]
}

// SignalState is a signal head's current light and when it began.
type SignalState struct {
	Light     Light
	Since     time.Time // when the light was first seen in this state
	OnsetSeen bool      // false when the light was already on when observation began
	Source    string    // wire.SignalCamera, wire.SignalFeed or wire.SignalPlan
}

// Event is a safety event found by the rules, before it is encoded for the wire.
type Event struct {
	Type       string
	Time       time.Time
	Site, Zone string
	Class      Class
	Confidence float64
	Track      int
	Signal     *SignalState // for signal-governed events
}

// Count is how many road users of each class entered a zone during one period.
type Count struct {
	Site, Zone string
	Start      time.Time
	Period     time.Duration
	N          [NumClasses]int
	// Movements are the turning movements of road users that entered by this zone (an approach
	// whose scene names its leg) and left by another leg in the period: "entry>exit" → per
	// class. nil when there were none; a new map each period, never changed once emitted.
	Movements map[string][NumClasses]int
}
