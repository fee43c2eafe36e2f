// Package mqtt connects the aggregator to the broker with paho: it subscribes to every device's
// events, counts and status, and publishes acknowledgements and cameras' scenes (retained)
// back to each device.
package mqtt

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// Options configure a Client.
type Options struct {
	Broker   string
	ClientID string
	Username string
	Password string
	// TLS, for an ssl:// broker: the CA of the broker's certificate and, for mTLS, the
	// aggregator's client certificate. Nil: the system's roots.
	TLS *tls.Config
	// Group, when set, subscribes through MQTT shared subscriptions so that several aggregators
	// split the stream.
	Group string
	// Submit queues a message without blocking and reports whether it was taken. It must not
	// block: a paho handler that blocks stalls the client's comms, acks included.
	Submit func(m ingest.Message) bool
	// SubmitFrame, if set, takes the cameras' reference frames (wire.FrameFilter) under the
	// same rule: it must not block.
	SubmitFrame func(m ingest.Message) bool
	// OnConnect, if set, runs in its own goroutine after each (re)connection: the aggregator
	// publishes every camera's latest scene again (an embedded broker forgets retained
	// messages when it restarts).
	OnConnect func()
	Log       *slog.Logger
}

// Client is the aggregator's connection. Safe for concurrent use.
type Client struct {
	c    paho.Client
	opts Options
	shed atomic.Int64
}

// New returns a client that is not connected yet.
func New(o Options) *Client {
	cl := &Client{opts: o}
	po := paho.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetKeepAlive(15 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetOnConnectHandler(cl.onConnect).
		SetDefaultPublishHandler(cl.handle).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			o.Log.Warn("broker connection lost; reconnecting", "broker", o.Broker, "err", err)
		})
	// Plain TCP (the only scheme the aggregator's configs use) gets coalesced writes; any other
	// scheme keeps paho's own dialer.
	if u, err := url.Parse(o.Broker); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
		po.SetCustomOpenConnectionFn(dialCoalescing)
	}
	if o.TLS != nil {
		po.SetTLSConfig(o.TLS)
	}
	cl.c = paho.NewClient(po)
	return cl
}

// Connect connects, waiting up to timeout for the first connection; after that the client
// keeps reconnecting by itself.
func (cl *Client) Connect(timeout time.Duration) error {
	o := cl.opts
	t := cl.c.Connect()
	deadline := time.Now().Add(timeout)
	for !cl.c.IsConnectionOpen() {
		if time.Now().After(deadline) {
			cl.c.Disconnect(0)
			err := t.Error()
			if err == nil {
				err = fmt.Errorf("no answer within %v", timeout)
			}
			return fmt.Errorf("broker %s unreachable: %w", o.Broker, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (cl *Client) onConnect(c paho.Client) {
	filters := map[string]byte{}
	for _, k := range []string{wire.KindEvents, wire.KindCounts, wire.KindGaps, wire.KindStatus} {
		f := wire.Filter(k)
		if cl.opts.Group != "" {
			f = wire.SharedFilter(cl.opts.Group, k)
		}
		filters[f] = 1
	}
	if cl.opts.SubmitFrame != nil {
		f := wire.FrameFilter()
		if cl.opts.Group != "" {
			f = "$share/" + cl.opts.Group + "/" + f
		}
		filters[f] = 1
	}
	// No callback: every message goes to the default handler, cl.handle. A callback per filter
	// makes paho split and match the topic against each filter for every message.
	if t := c.SubscribeMultiple(filters, nil); t.WaitTimeout(10*time.Second) && t.Error() != nil {
		cl.opts.Log.Error("subscribe", "err", t.Error())
	}
	cl.opts.Log.Info("subscribed", "broker", cl.opts.Broker)
	if cl.opts.OnConnect != nil {
		go cl.opts.OnConnect()
	}
}

// handle takes every message the client receives. It never blocks. A message shed here was not
// acknowledged, so its device resends it; the PUBACK that paho sends proves nothing to the device.
func (cl *Client) handle(_ paho.Client, m paho.Message) {
	if cl.opts.SubmitFrame != nil && strings.Contains(m.Topic(), "/"+wire.KindFrame+"/") {
		if !cl.opts.SubmitFrame(ingest.Message{Topic: m.Topic(), Payload: m.Payload(), Received: time.Now()}) {
			cl.opts.Log.Warn("frame queue full: frame dropped (the next request brings another)", "topic", m.Topic())
		}
		return
	}
	if !cl.opts.Submit(ingest.Message{Topic: m.Topic(), Payload: m.Payload(), Received: time.Now()}) {
		if n := cl.shed.Add(1); n%1000 == 1 {
			cl.opts.Log.Warn("ingest queue full: shedding; devices will resend", "shed_total", n)
		}
	}
}

// Ack publishes an acknowledgement to a device at QoS 1 without waiting for the broker: an ack
// that is lost only makes the device resend, and the resend is acknowledged again.
func (cl *Client) Ack(device string, a wire.Ack) error {
	b, err := wire.Encode(a)
	if err != nil {
		return err
	}
	if !cl.c.IsConnectionOpen() {
		return fmt.Errorf("ack to %s: not connected", device)
	}
	cl.c.Publish(wire.Topic(device, wire.KindAck), 1, false, b)
	return nil
}

// Close disconnects, waiting up to 250 ms for in-flight work.
func (cl *Client) Close() { cl.c.Disconnect(250) }

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }
