package pipeline

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// evidencePipeline builds a pipeline with a stills hook over obs.
func evidencePipeline(obs []edge.Observation) (*Pipeline, *stills) {
	r := &replay{obs: obs}
	ev := &stills{now: func() time.Duration { return r.cur.Pos }, tracks: map[time.Duration][]edge.Track{}}
	p := New(Config{Device: "dev-t", Scene: junctionScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute, Evidence: ev},
		r, &memOutbox{}, nil, discard)
	return p, ev
}

// With frames 50 ms apart and no event, a frame is kept exactly every edge.EvidenceEvery
// (250 ms): the first, then each one EvidenceEvery or more after the newest kept.
func TestEvidenceKeptEveryEvidenceEvery(t *testing.T) {
	const step = 50 * time.Millisecond
	obs := record(20, func(int) []edge.Detection { return nil }, func(i int, o *edge.Observation) {
		o.Pos, o.Time = time.Duration(i)*step, start.Add(time.Duration(i)*step)
	})
	p, ev := evidencePipeline(obs)
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	if !reflect.DeepEqual(ev.kept, want) {
		t.Errorf("frames kept at %v, want %v", ev.kept, want)
	}
}

// redEvent is a red-light event at stream time pos on track tk.
func redEvent(pos time.Duration, tk int) edge.Event {
	return edge.Event{Type: wire.RedLightRunning, Time: start.Add(pos), Site: "main-nb", Zone: "nb-stop", Class: edge.Car, Confidence: 0.8, Track: tk}
}

// Events waiting for their "after" still go out in the order of their times, those of the
// same time in the order raised; beyond evidenceWaiting the oldest goes out at once.
func TestEvidenceQueueOrderAndBound(t *testing.T) {
	p, ev := evidencePipeline(nil)
	// Raised out of order (a confirm line dates an event back): 2 s, 1 s, 2 s again.
	p.Event(redEvent(2*time.Second, 1))
	p.Event(redEvent(time.Second, 2))
	p.Event(redEvent(2*time.Second, 3))
	p.flushEvidence()
	var order []int
	for _, a := range ev.asked {
		order = append(order, a.event.Track)
	}
	if !reflect.DeepEqual(order, []int{2, 1, 3}) {
		t.Errorf("evidence asked for tracks %v, want [2 1 3]: by time, ties in the order raised", order)
	}

	p, ev = evidencePipeline(nil)
	for i := range evidenceWaiting {
		p.Event(redEvent(time.Duration(i)*time.Second, i+1))
	}
	if len(ev.asked) != 0 {
		t.Fatalf("%d events sent with %d waiting, want none yet", len(ev.asked), evidenceWaiting)
	}
	p.Event(redEvent(time.Hour, 1000))
	if len(ev.asked) != 1 || ev.asked[0].event.Track != 1 {
		t.Fatalf("after event %d: asked %+v, want the oldest (track 1) sent at once", evidenceWaiting+1, ev.asked)
	}
}

// slow yields obs, waiting pause before frame at.
type slow struct {
	Observations
	n     int
	at    int
	pause time.Duration
}

func (s *slow) Next(ctx context.Context) (*edge.Observation, error) {
	if s.n == s.at {
		time.Sleep(s.pause)
	}
	s.n++
	return s.Observations.Next(ctx)
}

// Run tells its progress at most every half second of wall time: not on fast frames, and
// once after a frame that took longer.
func TestProgressEveryHalfSecond(t *testing.T) {
	obs := record(60, func(int) []edge.Detection { return nil }, nil)
	p, _ := newPipeline(junctionScene(), obs, Config{})
	p.obs = &slow{Observations: p.obs, at: 40, pause: 600 * time.Millisecond}
	var told []Stats
	if _, err := p.Run(context.Background(), func(s Stats) { told = append(told, s) }); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0].Frames != 41 || told[0].Elapsed < 600*time.Millisecond {
		var frames []int
		for _, s := range told {
			frames = append(frames, s.Frames)
		}
		t.Fatalf("progress told %d times (at frames %v), want once, at frame 41 after the pause", len(told), frames)
	}
}

// logged keeps the records logged at Warn and above.
type logged struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logged) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *logged) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logged) WithGroup(string) slog.Handler      { return l }

// A camera swinging in the wind warns of its view changes once per viewWarnEvery of stream
// time, each warning with the changes since the last one.
func TestViewChangeWarnsOncePerInterval(t *testing.T) {
	// Changes at 6 s (warned: the first), 7 s (within 10 s of it), 16 s (10 s on: warned,
	// two changes), 17 s, 18 s (not warned).
	cuts := map[time.Duration]bool{6 * time.Second: true, 7 * time.Second: true, 16 * time.Second: true, 17 * time.Second: true, 18 * time.Second: true}
	obs := record(20*fps, func(int) []edge.Detection { return nil }, func(i int, o *edge.Observation) { o.ViewChanged = cuts[o.Pos] })
	l := &logged{}
	ob := &memOutbox{}
	p := New(Config{Device: "dev-t", Scene: platformScene(), Width: fw, Height: fh, Start: start, CountPeriod: time.Minute},
		&replay{obs: obs}, ob, nil, slog.New(l))
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ViewChanges != 5 {
		t.Fatalf("%d view changes, want 5", st.ViewChanges)
	}
	type warning struct {
		at    time.Duration
		since int64
	}
	var got []warning
	for _, r := range l.recs {
		w := warning{}
		view := false
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "stream_time":
				w.at = a.Value.Duration()
			case "changes_since_last_warning":
				w.since, view = a.Value.Int64(), true
			}
			return true
		})
		if view {
			got = append(got, w)
		}
	}
	want := []warning{{6 * time.Second, 1}, {16 * time.Second, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("view-change warnings %+v, want %+v", got, want)
	}
}

// Stats.QuarantineAt keeps the first maxQuarantineAt quarantines' times; Quarantines counts
// them all.
func TestQuarantineAtIsBounded(t *testing.T) {
	const n = maxQuarantineAt + 1
	obs := record(2*n, func(int) []edge.Detection { return nil }, func(i int, o *edge.Observation) {
		// Quarantined on each even frame, clear on each odd one.
		o.Quarantined, o.QuarantineChanged = i%2 == 0, true
		o.QuarantineSince = start.Add(at(i - i%2))
	})
	p, _ := newPipeline(platformScene(), obs, Config{})
	st, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Quarantines != n || len(st.QuarantineAt) != maxQuarantineAt || st.QuarantineAt[maxQuarantineAt-1] != at(2*(maxQuarantineAt-1)) {
		t.Errorf("%d quarantines, %d times kept (last %v), want %d and the first %d", st.Quarantines, len(st.QuarantineAt),
			st.QuarantineAt[len(st.QuarantineAt)-1], n, maxQuarantineAt)
	}
}
