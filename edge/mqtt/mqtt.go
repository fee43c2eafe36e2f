// Package mqtt connects an edge device to the broker with paho: QoS 1 publishing, the device's
// retained status with a last will, and the aggregator's acknowledgements.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/brokerurl"
)

// ClientIDPrefix and the device id make the device's MQTT client id (the embedded broker's
// broker.DeviceClientIDPrefix, and what Mosquitto's docs/SECURITY.md setup expects).
const ClientIDPrefix = "crosswatch-edge-"

// ErrNotConnected means the client is between connections; the relay will send again.
var ErrNotConnected = errors.New("mqtt: not connected")

// Options configure a Client.
type Options struct {
	Broker   string // tcp://host:port
	Device   string // also the MQTT username: brokers confine a device to its own topics by it
	Password string // the device's token, where the broker requires one
	// TLS, for an ssl:// (tls://, mqtts://) broker: the CA that signs the broker's certificate
	// and, for mTLS, the device's certificate (subject CN = Device). Nil: the system's roots.
	TLS      *tls.Config
	Software string
	// OnAck receives the ids that the aggregator committed or dead-lettered; it may block.
	OnAck func(ids []string)
	// OnAckPayload, if set, receives each acknowledgement whole (what was committed, what was
	// rejected and why), before OnAck is given its ids. It must not block.
	OnAckPayload func(wire.Ack)
	// Backlog reports the outbox for the status message; may be nil.
	Backlog func() (rows int, oldest time.Duration)
	// SignalDisagreements reports how often the signal-state sources disagreed; may be nil.
	SignalDisagreements func() int
	// ViewChanges reports how often the camera's view changed at once, and when last; may be nil.
	ViewChanges func() (n int, last time.Time)
	// ViewMismatch reports whether the camera's view does not match its scene now, and since
	// when; may be nil.
	ViewMismatch func() (bool, time.Time)
	// Cameras reports each of the box's cameras for the status (at most
	// wire.MaxStatusCameras, sorted by id); may be nil. Called from more than one goroutine.
	Cameras func() []wire.CameraStatus
	// OnPhase, if set, receives the signal controller's phase messages from
	// crosswatch/v1/{device}/phase. It must not block.
	OnPhase func(wire.Phase)
	// OnScene, if set, receives the aggregator's scenes for the device's cameras from
	// crosswatch/v1/{device}/scene/+ (retained: the latest of each on every connection). It
	// must not block for long.
	OnScene func(wire.Scene)
	// OnFrameRequest, if set, receives the aggregator's requests for a camera's reference frame
	// from crosswatch/v1/{device}/frame-request/+. It must not block.
	OnFrameRequest func(wire.FrameRequestMsg)
	// OnConnect, if set, runs after each (re)connection, on paho's goroutine: it must not block.
	OnConnect func()
	Log       *slog.Logger
	Now       func() time.Time
	// Reconnect backoff: exponential from MinBackoff to MaxBackoff, plus a random pause of up to
	// 4·MinBackoff before each attempt.
	MinBackoff, MaxBackoff time.Duration
}

// Client is the edge's connection. Safe for concurrent use.
type Client struct {
	c    paho.Client
	opts Options

	mu     sync.Mutex
	up     chan struct{} // closed while connected, a new one after each loss; guarded by mu
	isOpen bool          // whether up is closed; guarded by mu
	kick   chan struct{} // a status is wanted now (Kick); buffered, 1
}

// CheckBroker validates a broker URL (brokerurl.Check).
func CheckBroker(broker string) error { return brokerurl.Check(broker) }

// Encrypted reports whether broker's URL scheme is a TLS one (brokerurl.Encrypted).
func Encrypted(broker string) bool { return brokerurl.Encrypted(broker) }

// Loopback reports whether broker's host is this machine (brokerurl.Loopback).
func Loopback(broker string) bool { return brokerurl.Loopback(broker) }

// Dial starts connecting in the background and keeps reconnecting with jittered exponential
// backoff; use WaitConnected to wait. Close stops it.
func Dial(o Options) (*Client, error) {
	if err := CheckBroker(o.Broker); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	cl := &Client{opts: o, up: make(chan struct{}), kick: make(chan struct{}, 1)}
	will, _ := wire.Encode(wire.Status{V: wire.Version, Device: o.Device, Online: false, Software: o.Software})
	po := paho.NewClientOptions().
		AddBroker(o.Broker).
		// The broker admits a device only with this client id, so no one takes over its session.
		SetClientID(ClientIDPrefix+o.Device).
		SetUsername(o.Device).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetKeepAlive(15*time.Second).
		SetConnectTimeout(5*time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(o.MinBackoff).
		SetMaxReconnectInterval(o.MaxBackoff).
		// paho backs off exponentially but in step; a random pause before each attempt spreads
		// many devices' reconnections after a broker restart (full jitter over one base interval).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			time.Sleep(time.Duration(rand.Int64N(int64(o.MinBackoff)*4) + 1))
		}).
		SetWill(wire.Topic(o.Device, wire.KindStatus), string(will), 1, true).
		SetOnConnectHandler(cl.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cl.setUp(false)
			o.Log.Warn("broker connection lost; reconnecting", "broker", o.Broker, "err", err)
		})
	if o.TLS != nil {
		po.SetTLSConfig(o.TLS)
	}
	cl.c = paho.NewClient(po)
	cl.c.Connect() // with ConnectRetry, keeps trying in the background
	return cl, nil
}

// RunStatus publishes the retained status with the outbox backlog every period, and soon
// after each Kick, until ctx ends.
func (cl *Client) RunStatus(ctx context.Context, period time.Duration) {
	statusLoop(ctx, period, MinStatusGap, cl.kick, func() {
		if cl.c.IsConnectionOpen() {
			cl.publishStatus()
		}
	})
}

// MinStatusGap is the least time between two statuses that Kick asks for: a camera flapping
// many times a second sends one status a second, not one per flap.
const MinStatusGap = time.Second

// Kick asks RunStatus for a status now (a camera went down or came back) rather than at the
// next period; at most one per MinStatusGap. It never blocks.
func (cl *Client) Kick() {
	select {
	case cl.kick <- struct{}{}:
	default: // one is already asked for
	}
}

// statusLoop calls publish every period and after each value from kick, but a kicked
// publish no sooner than gap after the previous one (then it waits for the rest of the gap).
func statusLoop(ctx context.Context, period, gap time.Duration, kick <-chan struct{}, publish func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	var last time.Time
	var soon <-chan time.Time // a kicked publish waiting for the gap to pass
	send := func() {
		publish()
		last = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			send()
		case <-kick:
			if wait := gap - time.Since(last); wait > 0 {
				if soon == nil {
					soon = time.After(wait)
				}
			} else {
				send()
			}
		case <-soon:
			soon = nil
			send()
		}
	}
}

func (cl *Client) onConnect(c paho.Client) {
	cl.setUp(true)
	cl.opts.Log.Info("connected to broker", "broker", cl.opts.Broker)
	if cl.opts.OnPhase != nil {
		c.Subscribe(wire.Topic(cl.opts.Device, wire.KindPhase), 0, func(_ paho.Client, m paho.Message) {
			p, err := wire.DecodePhase(m.Payload())
			if err != nil {
				cl.opts.Log.Warn("ignore malformed phase message", "err", err)
				return
			}
			cl.opts.OnPhase(p)
		})
	}
	if cl.opts.OnScene != nil {
		c.Subscribe(wire.SceneFilter(cl.opts.Device), 1, func(_ paho.Client, m paho.Message) {
			if len(m.Payload()) == 0 {
				return // a cleared retained scene: the camera moved to another box
			}
			s, err := wire.DecodeScene(m.Payload())
			if err == nil && m.Topic() != wire.SceneTopic(cl.opts.Device, s.Camera) {
				err = fmt.Errorf("camera %q is not the topic's", s.Camera)
			}
			if err != nil {
				cl.opts.Log.Warn("ignore malformed scene message", "topic", m.Topic(), "err", err)
				return
			}
			cl.opts.OnScene(s)
		})
	}
	if cl.opts.OnFrameRequest != nil {
		c.Subscribe(wire.FrameRequestFilter(cl.opts.Device), 1, func(_ paho.Client, m paho.Message) {
			r, err := wire.DecodeFrameRequest(m.Topic(), m.Payload())
			if err != nil {
				cl.opts.Log.Warn("ignore malformed frame request", "topic", m.Topic(), "err", err)
				return
			}
			cl.opts.OnFrameRequest(r)
		})
	}
	c.Subscribe(wire.Topic(cl.opts.Device, wire.KindAck), 1, func(_ paho.Client, m paho.Message) {
		a, err := wire.DecodeAck(m.Payload())
		if err != nil {
			cl.opts.Log.Warn("ignore malformed ack", "err", err)
			return
		}
		if cl.opts.OnAckPayload != nil {
			cl.opts.OnAckPayload(a)
		}
		ids := a.Committed
		for _, r := range a.Rejected {
			cl.opts.Log.Warn("aggregator rejected a record; it keeps it as a dead letter", "id", r.ID, "reason", r.Reason, "code", r.Code, "camera", r.Camera)
			ids = append(ids, r.ID)
		}
		if cl.opts.OnAck != nil && len(ids) > 0 {
			cl.opts.OnAck(ids)
		}
	})
	cl.publishStatus()
	if cl.opts.OnConnect != nil {
		cl.opts.OnConnect()
	}
}

// publishStatus publishes the retained online status with the backlog.
func (cl *Client) publishStatus() {
	b, _ := wire.Encode(cl.status(true))
	cl.c.Publish(wire.Topic(cl.opts.Device, wire.KindStatus), 1, true, b)
}

// status returns the device's status now.
func (cl *Client) status(online bool) wire.Status {
	st := wire.Status{V: wire.Version, Device: cl.opts.Device, Online: online, Time: cl.opts.Now().UTC(), Software: cl.opts.Software}
	if cl.opts.Backlog != nil {
		var oldest time.Duration
		st.Backlog, oldest = cl.opts.Backlog()
		st.OldestPendingS = oldest.Seconds()
	}
	if cl.opts.SignalDisagreements != nil {
		st.SignalDisagreements = cl.opts.SignalDisagreements()
	}
	if cl.opts.ViewChanges != nil {
		if n, last := cl.opts.ViewChanges(); n > 0 {
			last = last.UTC()
			st.ViewChanges, st.LastViewChange = n, &last
		}
	}
	if cl.opts.Cameras != nil {
		st.Cameras = cl.opts.Cameras()
	}
	if cl.opts.ViewMismatch != nil {
		if on, since := cl.opts.ViewMismatch(); on {
			since = since.UTC()
			st.ViewMismatchSince = &since
		}
	}
	return st
}

// setUp records a connection made (on) or lost: WaitConnected wakes at the next one made.
func (cl *Client) setUp(on bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	switch {
	case on && !cl.isOpen:
		close(cl.up)
	case !on && cl.isOpen:
		cl.up = make(chan struct{})
	}
	cl.isOpen = on
}

// WaitConnected waits until the client is connected, woken by the connection (no polling),
// or until ctx ends. It reports whether it is connected.
func (cl *Client) WaitConnected(ctx context.Context) bool {
	for {
		cl.mu.Lock()
		up := cl.up
		cl.mu.Unlock()
		select {
		case <-up:
			if cl.c.IsConnectionOpen() {
				return true
			}
			cl.lost() // paho has not called the connection-lost handler yet
		case <-ctx.Done():
			return cl.c.IsConnectionOpen()
		}
	}
}

// lost records a loss that paho's handler has not reported yet. Checked under mu: paho opens
// the connection before it calls onConnect, so a connection still closed here is one whose
// setUp(true) comes after this and wakes the waiters.
func (cl *Client) lost() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.isOpen && !cl.c.IsConnectionOpen() {
		cl.up = make(chan struct{})
		cl.isOpen = false
	}
}

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

// Publish sends at QoS 1 without waiting for the PUBACK: the aggregator's ack is what counts.
func (cl *Client) Publish(topic string, payload []byte) error {
	if !cl.c.IsConnectionOpen() {
		return ErrNotConnected
	}
	t := cl.c.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
		return t.Error()
	default:
		return nil
	}
}

// Close publishes the offline status and disconnects, waiting up to 250 ms for in-flight work.
func (cl *Client) Close() {
	if cl.c.IsConnectionOpen() {
		// The last word, with the final backlog and counters (the broker's will, for a device
		// that vanishes, can only say offline).
		b, _ := wire.Encode(cl.status(false))
		cl.c.Publish(wire.Topic(cl.opts.Device, wire.KindStatus), 1, true, b).WaitTimeout(time.Second)
	}
	cl.c.Disconnect(250)
}
