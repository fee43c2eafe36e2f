package sender

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/crosswatch/crosswatch/edge"
	"github.com/crosswatch/crosswatch/edge/outbox"
	"github.com/crosswatch/crosswatch/edge/pipeline"
	"github.com/crosswatch/crosswatch/edge/relay"
)

// Watched is the box's outbox as the pipelines and the relay see it: it remembers
// whether the last append failed (readiness) and wakes the drain after each delete.
type Watched struct {
	*outbox.Outbox
	appendErr atomic.Pointer[error]
	mu        sync.Mutex
	wake      chan struct{} // closed after a delete; guarded by mu
}

// NewWatched watches o. The caller closes o.
func NewWatched(o *outbox.Outbox) *Watched {
	return &Watched{Outbox: o, wake: make(chan struct{})}
}

// Append implements pipeline.Outbox.
func (w *Watched) Append(ctx context.Context, msgs ...edge.Message) error {
	err := w.Outbox.Append(ctx, msgs...)
	if err != nil {
		w.appendErr.Store(&err)
	} else if w.appendErr.Load() != nil {
		w.appendErr.Store(nil)
	}
	return err
}

// Delete implements relay.Store.
func (w *Watched) Delete(ctx context.Context, ids []string) (int, error) {
	n, err := w.Outbox.Delete(ctx, ids)
	w.mu.Lock()
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
	return n, err
}

// Changed returns a channel closed at the next delete.
func (w *Watched) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// LastAppendErr is the error of the last append, nil when it succeeded.
func (w *Watched) LastAppendErr() error {
	if e := w.appendErr.Load(); e != nil {
		return *e
	}
	return nil
}

var (
	_ pipeline.Outbox = (*Watched)(nil)
	_ relay.Store     = (*Watched)(nil)
)
