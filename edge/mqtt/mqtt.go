// Package mqtt connects an edge device to the broker with paho: QoS 1 publishing, the device's
// retained status with a last will, and the aggregator's acknowledgements.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
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
	// Backlog reports the outbox for the status message; may be nil.
	Backlog func() (rows int, oldest time.Duration)
	// SignalDisagreements reports how often the signal-state sources disagreed; may be nil.
	SignalDisagreements func() int
	// ViewChanges reports how often the camera's view changed at once, and when last; may be nil.
	ViewChanges func() (n int, last time.Time)
	// ViewMismatch reports whether the camera's view does not match its scene now, and since
	// when; may be nil.
	ViewMismatch func() (bool, time.Time)
	// OnPhase, if set, receives the signal controller's phase messages from
	// crosswatch/v1/{device}/phase. It must not block.
	OnPhase func(wire.Phase)
	Log     *slog.Logger
	Now     func() time.Time
	// Reconnect backoff: exponential from MinBackoff to MaxBackoff, plus a random pause of up to
	// 4·MinBackoff before each attempt.
	MinBackoff, MaxBackoff time.Duration
}

// Client is the edge's connection. Safe for concurrent use.
type Client struct {
	c    paho.Client
	opts Options
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
	cl := &Client{opts: o}
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
			o.Log.Warn("broker connection lost; reconnecting", "broker", o.Broker, "err", err)
		})
	if o.TLS != nil {
		po.SetTLSConfig(o.TLS)
	}
	cl.c = paho.NewClient(po)
	cl.c.Connect() // with ConnectRetry, keeps trying in the background
	return cl, nil
}

// RunStatus publishes the retained status with the outbox backlog every period until ctx ends.
func (cl *Client) RunStatus(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if cl.c.IsConnectionOpen() {
				cl.publishStatus()
			}
		}
	}
}

func (cl *Client) onConnect(c paho.Client) {
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
	c.Subscribe(wire.Topic(cl.opts.Device, wire.KindAck), 1, func(_ paho.Client, m paho.Message) {
		a, err := wire.DecodeAck(m.Payload())
		if err != nil {
			cl.opts.Log.Warn("ignore malformed ack", "err", err)
			return
		}
		ids := a.Committed
		for _, r := range a.Rejected {
			cl.opts.Log.Warn("aggregator rejected an event; it keeps it as a dead letter", "id", r.ID, "reason", r.Reason)
			ids = append(ids, r.ID)
		}
		if cl.opts.OnAck != nil && len(ids) > 0 {
			cl.opts.OnAck(ids)
		}
	})
	cl.publishStatus()
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
	if cl.opts.ViewMismatch != nil {
		if on, since := cl.opts.ViewMismatch(); on {
			since = since.UTC()
			st.ViewMismatchSince = &since
		}
	}
	return st
}

// WaitConnected waits until the first connection or until ctx ends.
func (cl *Client) WaitConnected(ctx context.Context) bool {
	for !cl.c.IsConnectionOpen() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
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
