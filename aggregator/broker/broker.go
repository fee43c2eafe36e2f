// Package broker runs an embedded MQTT broker (mochi-mqtt) for the one-box default, so that a
// small installation needs no separate Mosquitto.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// DefaultMaxPacketSize bounds one MQTT packet: an event with the largest evidence image
// (wire.MaxEvidenceBytes, base64 in JSON) fits with room to spare.
const DefaultMaxPacketSize = 1 << 20

// DefaultMaxClients bounds the connected clients.
const DefaultMaxClients = 10000

// Config says where and how the embedded broker listens.
type Config struct {
	// Listen is the plaintext listener's host:port (port 0 picks a free one); "" for none.
	Listen string
	// TLSListen is the TLS listener's host:port; "" for none. It needs TLS.
	TLSListen string
	// TLS holds the broker's certificate and, with ClientAuth VerifyClientCertIfGiven (or
	// Require…) and ClientCAs, the CA whose client certificates prove a device's id (its CN).
	TLS *tls.Config
	// MaxPacketSize is the largest packet accepted, checked on the fixed header before the
	// packet is read, so a declared 100 MB publish costs nothing (0: DefaultMaxPacketSize).
	MaxPacketSize uint32
	// MaxClients bounds the connected clients (0: DefaultMaxClients). Each device id has one
	// client id, so a device holds one connection at most.
	MaxClients int64
}

// Broker is a running embedded broker.
type Broker struct {
	srv           *mochi.Server
	addr, tlsAddr string
}

// Start listens as cfg says and serves until Close, with acl proving each client's identity and
// confining each device to its own topics.
func Start(cfg Config, acl *ACL, log *slog.Logger) (*Broker, error) {
	if cfg.Listen == "" && cfg.TLSListen == "" {
		return nil, errors.New("embedded broker: no listener")
	}
	if cfg.TLSListen != "" && cfg.TLS == nil {
		return nil, errors.New("embedded broker: a TLS listener needs a certificate")
	}
	// Listen first so that a busy port is a clear error, then hand the port to mochi.
	bind := func(addr string) (string, error) {
		if addr == "" {
			return "", nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("embedded broker: %w", err)
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	}
	bound, err := bind(cfg.Listen)
	if err != nil {
		return nil, err
	}
	tlsBound, err := bind(cfg.TLSListen)
	if err != nil {
		return nil, err
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketSize
	if caps.MaximumPacketSize == 0 {
		caps.MaximumPacketSize = DefaultMaxPacketSize
	}
	caps.MaximumClients = cfg.MaxClients
	if caps.MaximumClients == 0 {
		caps.MaximumClients = DefaultMaxClients
	}
	srv := mochi.New(&mochi.Options{Logger: log.With("component", "broker"), InlineClient: false, Capabilities: caps})
	if err := srv.AddHook(acl, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if bound != "" {
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: bound})); err != nil {
			return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
		}
	}
	if tlsBound != "" {
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: tlsBound, TLSConfig: cfg.TLS})); err != nil {
			return nil, fmt.Errorf("embedded broker on %s: %w", tlsBound, err)
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: bound, tlsAddr: tlsBound}, nil
}

// URL returns the plaintext listener's address for clients ("" without one).
func (b *Broker) URL() string {
	if b.addr == "" {
		return ""
	}
	return "tcp://" + b.addr
}

// TLSURL returns the TLS listener's address for clients ("" without one).
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "ssl://" + b.tlsAddr
}

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
