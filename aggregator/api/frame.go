package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// FrameStore holds each camera's latest reference frame.
type FrameStore interface {
	// FindFrame returns the camera's latest frame with its JPEG; ErrNotFound if it has none.
	FindFrame(ctx context.Context, camera string) (aggregator.Frame, error)
}

// RequestFrame asks device for a new reference frame of camera (crosswatch/v1/{device}/
// frame-request/{camera}); an error means the request did not reach the broker.
type RequestFrame func(ctx context.Context, device, camera string) error

// WithFrameRequests serves POST /api/v1/registry/cameras/{id}/frame-request with f. Without it
// the route answers 503: this process has no broker connection.
func WithFrameRequests(f RequestFrame) Option { return func(o *options) { o.requestFrame = f } }

// frames serves the cameras' reference frames: viewers read the latest, admins ask the box for
// a new one.
type frames struct {
	st      FrameStore
	cameras RegistryStore
	request RequestFrame // nil: 503
	log     *slog.Logger
}

func (g *frames) register(handle func(string, aggregator.Role, http.HandlerFunc)) {
	handle("GET /api/v1/registry/cameras/{id}/frame.jpg", aggregator.Viewer, g.frame)
	handle("POST /api/v1/registry/cameras/{id}/frame-request", aggregator.Admin, g.requestFrame)
}

// frame is GET /api/v1/registry/cameras/{id}/frame.jpg: the camera's latest reference frame,
// anonymised at the edge, with the time the box read it in X-Frame-Time (RFC 3339); 404 JSON
// when it has none. Never cached: the editor asks again after a request.
func (g *frames) frame(w http.ResponseWriter, r *http.Request) {
	f, err := g.st.FindFrame(r.Context(), r.PathValue("id"))
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		if errors.Is(err, aggregator.ErrNotFound) {
			err = fmt.Errorf("camera %q has sent no reference frame yet (POST …/frame-request asks its box for one): %w", r.PathValue("id"), aggregator.ErrNotFound)
		}
		reply(w, g.log, nil, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(f.JPEG)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Time", f.Time.UTC().Format(time.RFC3339Nano))
	h.Set("X-Frame-Reason", f.Reason)
	w.Write(f.JPEG)
}

// requestFrame is POST /api/v1/registry/cameras/{id}/frame-request: 202 once the request is
// with the broker (the box answers within seconds, at most once per 10 s per camera); 404 for
// a camera the registry does not know, 409 for one with no device yet.
func (g *frames) requestFrame(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := g.cameras.FindCamera(r.Context(), id)
	if err != nil {
		reply(w, g.log, nil, err)
		return
	}
	if c.Device == "" {
		errorJSON(w, http.StatusConflict, fmt.Sprintf("camera %q has no device yet: save its scene with its device first", id))
		return
	}
	if g.request == nil {
		errorJSON(w, http.StatusServiceUnavailable, "this aggregator has no broker connection to ask the box")
		return
	}
	if err := g.request(r.Context(), c.Device, id); err != nil {
		g.log.Warn("frame request", "camera", id, "device", c.Device, "err", err)
		errorJSON(w, http.StatusServiceUnavailable, "the request did not reach the broker: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "{\"camera\":%q,\"device\":%q}\n", id, c.Device)
}
