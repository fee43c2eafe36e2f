package pipeline

import (
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// What the camera shows now, for the scene editor: its signals' live states (Signals) and a
// reference still on request (Config.Stills).

// signalCode packs a signal's state for an atomic: the light in the low byte, the source's
// index in sourceNames above it; 0: not judged yet.
func signalCode(light edge.Light, source int) uint32 {
	return 1<<16 | uint32(source)<<8 | uint32(light)
}

var sourceNames = [...]string{wire.SignalCamera, wire.SignalFeed, wire.SignalPlan, wire.SignalFixed}

func sourceIndex(name string) int {
	for i, n := range sourceNames {
		if n == name {
			return i
		}
	}
	return 0
}

// unreadSource is the source reported for a signal no source reads now: fixed for a head the
// scene marks unknown, else the first it would be read by.
func unreadSource(g scene.Signal) string {
	switch {
	case g.State == "unknown":
		return wire.SignalFixed
	case len(g.Prefer) > 0:
		return g.Prefer[0]
	case g.Region != nil:
		return wire.SignalCamera
	case g.Feed:
		return wire.SignalFeed
	case g.Plan != nil:
		return wire.SignalPlan
	}
	return wire.SignalCamera
}

// noteSignals keeps the frame's combined signal states and tells OnSignals when one changed.
func (p *Pipeline) noteSignals(states []edge.SignalState) {
	changed := false
	for i := range p.signals {
		if i >= len(states) {
			break
		}
		src := p.unread[i]
		if states[i].Light != edge.LightUnknown {
			src = states[i].Source
		}
		c := signalCode(states[i].Light, sourceIndex(src))
		if p.signals[i].Load() != c {
			p.signals[i].Store(c)
			changed = true
		}
	}
	if changed && p.cfg.OnSignals != nil {
		p.cfg.OnSignals()
	}
}

// Signals returns each scene signal's state as the pipeline judges by it now, in scene order
// (at most wire.MaxCameraSignals), or nil before the first frame. Safe for concurrent use.
func (p *Pipeline) Signals() []wire.SignalState {
	if len(p.signals) == 0 || p.signals[0].Load() == 0 {
		return nil
	}
	out := make([]wire.SignalState, 0, len(p.signals))
	for i := range p.signals {
		c := p.signals[i].Load()
		out = append(out, wire.SignalState{ID: p.cfg.Scene.Signals[i].ID, State: edge.Light(c & 0xff).String(), Source: sourceNames[(c>>8)&0xff]})
	}
	return out
}

// sendStill has the reference still of the frame being analysed made and handed on.
func (p *Pipeline) sendStill(at time.Time, reason string) {
	b, err := p.cfg.Still.Still(p.curTracks, p.curDets)
	switch {
	case err != nil:
		p.log.Warn("reference still not made", "reason", reason, "err", err)
	case b == nil:
		p.log.Debug("no reference still: no anonymiser (evidence off)", "reason", reason)
	default:
		p.cfg.OnStill(b, at, reason)
	}
}
