// Package broker runs an embedded MQTT broker (mochi-mqtt) for the one-box default, so that a
// small installation needs no separate Mosquitto.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves until Close, with acl
// confining each device to its own topics.
func Start(addr string, acl *ACL, log *slog.Logger) (*Broker, error) {
	// Listen first so that a busy port is a clear error, then hand the port to mochi.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	bound := ln.Addr().String()
	ln.Close()
	srv := mochi.New(&mochi.Options{Logger: log.With("component", "broker"), InlineClient: false})
	if err := srv.AddHook(acl, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: bound})); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	return &Broker{srv: srv, addr: bound}, nil
}

// URL returns the broker's address for clients.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// closeTimeout bounds Close: mochi's Close can wait forever for a connection goroutine that a
// race left uncounted (mochi-mqtt/server#424, seen here once in a test run).
const closeTimeout = 5 * time.Second

// ErrCloseTimeout means the broker did not finish closing in time; its listener may still be
// open, and the process should exit anyway.
var ErrCloseTimeout = errors.New("embedded broker: close did not finish in time")

// Close stops the broker, waiting at most closeTimeout.
func (b *Broker) Close() error {
	done := make(chan error, 1)
	go func() { done <- b.srv.Close() }() // owned by mochi; returns when mochi does, or never (#424)
	select {
	case err := <-done:
		return err
	case <-time.After(closeTimeout):
		return ErrCloseTimeout
	}
}
