package ingest

import (
	"context"
	"fmt"
	"slices"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// ReprocessStore is what reprocessing dead letters reads and writes.
type ReprocessStore interface {
	// FindDeadLetterPayloads returns the dead letters f selects, newest first, with their
	// payloads as stored.
	FindDeadLetterPayloads(ctx context.Context, f aggregator.DeadLetterFilter) ([]aggregator.DeadLetter, error)
	// ResolveDeadLetters applies one page's decisions in one transaction and returns how many
	// events were new; an event already stored is not stored again.
	ResolveDeadLetters(ctx context.Context, r aggregator.DeadLetterResolution) (int, error)
}

// reprocessPage is how many dead letters one reprocessing transaction handles.
const reprocessPage = 256

// Reprocess validates the dead letters f selects again, with the sites, cameras and catalog
// the ingester has now (after a fix: a site created through the registry API, or added to
// the configuration and the aggregator restarted), and the times judged against the aggregator's clock when each was received.
// Those valid now are stored exactly once and leave the dead letters; an event that was
// stored meanwhile (its device sent it again) is not stored twice. Those still invalid stay,
// with the reason they fail now. So reprocessing twice does what reprocessing once did.
// Status reports are skipped: a newer one has replaced each. A payload kept only in part
// cannot be validated again and stays as it is. Each page is audited as done by actor.
// Safe to call while Run runs.
func (g *Ingester) Reprocess(ctx context.Context, st ReprocessStore, f aggregator.DeadLetterFilter, actor string) (aggregator.Reprocessed, aggregator.Change, error) {
	var res aggregator.Reprocessed
	var change aggregator.Change
	f.Limit = reprocessPage
	for {
		page, err := st.FindDeadLetterPayloads(ctx, f)
		if err != nil {
			return res, change, fmt.Errorf("reprocess dead letters: %w", err)
		}
		if len(page) == 0 {
			return res, change, nil
		}
		f.Before = page[len(page)-1].Seq
		var r aggregator.DeadLetterResolution
		var pr aggregator.Reprocessed
		for _, d := range page {
			pr.Examined++
			if _, kind, err := wire.ParseTopic(d.Topic); err == nil && kind == wire.KindStatus {
				pr.Skipped++
				continue
			}
			if d.Size > len(d.Payload) {
				pr.Incomplete++
				continue
			}
			var p pending
			g.classifyAt(Message{Topic: d.Topic, Payload: d.Payload, Received: d.Received}, &p, d.Received)
			one := &p.b
			if len(one.DeadLetters) > 0 {
				pr.StillInvalid++
				now := one.DeadLetters[0]
				if now.Reason != d.Reason {
					pr.NewReason++
					d.Reason, d.PayloadID = now.Reason, now.PayloadID
					r.Renamed = append(r.Renamed, d)
				}
				continue
			}
			r.Resolved = append(r.Resolved, d.Seq)
			r.Records.Events = append(r.Records.Events, one.Events...)
			r.Records.Counts = append(r.Records.Counts, one.Counts...)
			r.Records.Gaps = append(r.Records.Gaps, one.Gaps...)
		}
		if len(r.Resolved) > 0 || len(r.Renamed) > 0 {
			r.Actor = actor
			r.Detail = fmt.Sprintf("filter reason=%q device=%q: %d examined, %d events, %d counts and %d gaps valid now, %d still invalid (%d for a new reason)",
				f.Reason, f.Device, pr.Examined, len(r.Records.Events), len(r.Records.Counts), len(r.Records.Gaps), pr.StillInvalid, pr.NewReason)
			inserted, err := st.ResolveDeadLetters(ctx, r)
			if err != nil {
				return res, change, fmt.Errorf("reprocess dead letters: %w", err)
			}
			pr.Recorded = inserted + len(r.Records.Counts) + len(r.Records.Gaps)
			pr.Duplicates = len(r.Records.Events) - inserted
			change.Events += inserted
			for _, e := range r.Records.Events {
				if !slices.Contains(change.Sites, e.Site) {
					change.Sites = append(change.Sites, e.Site)
				}
			}
			for _, c := range r.Records.Counts {
				change.Counts++
				if !slices.Contains(change.Sites, c.Site) {
					change.Sites = append(change.Sites, c.Site)
				}
			}
			change.Gaps += len(r.Records.Gaps)
		}
		res.Examined += pr.Examined
		res.Recorded += pr.Recorded
		res.Duplicates += pr.Duplicates
		res.StillInvalid += pr.StillInvalid
		res.NewReason += pr.NewReason
		res.Incomplete += pr.Incomplete
		res.Skipped += pr.Skipped
		if f.Seq > 0 {
			return res, change, nil
		}
	}
}
