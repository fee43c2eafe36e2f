package pipeline

import (
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// An event's evidence shows it before, at and after the moment judged, edge.EvidenceSpan
// apart. The stills come from the frames Config.Evidence keeps: one every
// edge.EvidenceEvery of stream time, plus the frame of each event and the first frame after
// each event's "after" time. An event waits for its "after" still before it goes to the
// outbox.
//
// evidenceWaiting bounds the events waiting for their "after" still: beyond it the oldest goes
// out at once with the latest frame as its "after".
const evidenceWaiting = 64

// waiting is an event raised and encoded, waiting for its "after" still.
type waiting struct {
	we  wire.Event
	ev  edge.Event
	pos time.Duration // stream time of the moment judged
}

// evidence holds the events waiting for their evidence.
type evidence struct {
	waiting []waiting
}

// evidenceFrame runs after the rules on each analysed frame: it keeps a still every
// edge.EvidenceEvery and sends the events whose "after" still has come.
func (p *Pipeline) evidenceFrame(pos time.Duration, tracks []edge.Track, dets []edge.Detection) {
	ev, kept := p.ev, p.cfg.Evidence
	if newest, ok := kept.NewestStill(); !ok || pos-newest >= edge.EvidenceEvery {
		kept.KeepStill(tracks, dets)
	}
	for len(ev.waiting) > 0 && pos >= ev.waiting[0].pos+edge.EvidenceSpan {
		kept.KeepStill(tracks, dets) // the "after" still: the first frame from its time
		p.sendWaiting()
	}
}

// holdEvent keeps an encoded event until its "after" still has come. An event raised on the
// frame being analysed has that frame kept: it is the "at" still.
func (p *Pipeline) holdEvent(we wire.Event, e edge.Event) {
	ev := p.ev
	if p.inFrame {
		p.cfg.Evidence.KeepStill(p.curTracks, p.curDets)
	}
	if len(ev.waiting) >= evidenceWaiting {
		p.sendWaiting()
	}
	// Events arrive in the order raised, not always of their times (a confirm line): keep the
	// queue sorted by when each one's "after" still comes.
	w := waiting{we: we, ev: e, pos: e.Time.Sub(p.cfg.Start)}
	i := len(ev.waiting)
	for i > 0 && ev.waiting[i-1].pos > w.pos {
		i--
	}
	ev.waiting = append(ev.waiting, waiting{})
	copy(ev.waiting[i+1:], ev.waiting[i:])
	ev.waiting[i] = w
}

// flushEvidence sends every waiting event with the stills there are (the stream ended).
func (p *Pipeline) flushEvidence() {
	for p.ev != nil && len(p.ev.waiting) > 0 {
		p.sendWaiting()
	}
}

// sendWaiting has the evidence of the first waiting event made and adds the event to the
// outbox batch.
func (p *Pipeline) sendWaiting() {
	ev := p.ev
	w := ev.waiting[0]
	copy(ev.waiting, ev.waiting[1:])
	ev.waiting = ev.waiting[:len(ev.waiting)-1]
	jpg, err := p.cfg.Evidence.Evidence(w.ev, w.pos)
	if err != nil {
		p.log.Warn("event without evidence image", "id", w.we.ID, "err", err)
	} else if jpg != nil {
		w.we.Evidence = jpg
	}
	p.add(w.we.ID, wire.KindEvents, edge.Severity(w.ev.Type), w.we)
	p.newEvents++
}
