package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"

	"github.com/crosswatch/crosswatch/edge/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Tokens of the test devices and controller; the ACL holds only their hashes.
var tokens = map[string]string{"edge-a": "token-of-edge-a-0001", "edge-b": "token-of-edge-b-0001", "spat-1": "token-of-spat-1-0001"}

func hashes(ids ...string) map[string]Hash {
	m := map[string]Hash{}
	for _, id := range ids {
		h, err := ParseHash(HashToken(tokens[id]))
		if err != nil {
			panic(err)
		}
		m[id] = h
	}
	return m
}

// newACL is the aggregator (user agg, secret s3cret, client id agg-client) and devices edge-a
// and edge-b with their tokens.
func newACL() *ACL {
	return &ACL{AggregatorUser: "agg", AggregatorSecret: "s3cret", AggregatorClientID: "agg-client", DeviceHashes: hashes("edge-a", "edge-b")}
}

func dial(t *testing.T, url, clientID, user, pass string, tc *tls.Config) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).SetConnectTimeout(2 * time.Second)
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	tok.Wait()
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(50) })
	}
	return c, tok.Error()
}

// connect connects as user with the client id the broker expects of it.
func connect(t *testing.T, url, user, pass string) (paho.Client, error) {
	t.Helper()
	id := DeviceClientIDPrefix + user
	if user == "agg" {
		id = "agg-client"
	} else if user == "spat-1" {
		id = user
	}
	return dial(t, url, id, user, pass, nil)
}

func start(t *testing.T, cfg Config, acl *ACL) *Broker {
	t.Helper()
	if cfg.Listen == "" && cfg.TLSListen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	b, err := Start(cfg, acl, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// startWatched starts a broker with acl and connects the aggregator, which reads everything;
// seen reports how many messages arrived on a topic.
func startWatched(t *testing.T, acl *ACL) (url string, agg paho.Client, seen func(topic string) int) {
	t.Helper()
	b := start(t, Config{}, acl)
	agg, err := connect(t, b.URL(), "agg", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	agg.Subscribe("crosswatch/v1/#", 1, func(_ paho.Client, m paho.Message) { mu.Lock(); got[m.Topic()]++; mu.Unlock() }).Wait()
	return b.URL(), agg, func(topic string) int { mu.Lock(); defer mu.Unlock(); return got[topic] }
}

// waitSeen waits up to 2 s for a message on topic, then 100 ms more for any that should not come.
func waitSeen(t *testing.T, seen func(string) int, topic string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); seen(topic) == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
}

// A device publishes only under its own topic and reads only its own acks; only the
// aggregator, with its secret, reads everything.
func TestACLConfinesDevices(t *testing.T) {
	url, agg, seen := startWatched(t, newACL())
	if _, err := connect(t, url, "agg", "wrong"); err == nil {
		t.Fatal("aggregator admitted with a wrong secret")
	}
	if _, err := connect(t, url, "edge/+", ""); err == nil {
		t.Fatal("a username that is not a device id was admitted")
	}
	a := tokens["edge-a"]
	// A denied publish may cost the spoofer its connection: each attempt gets its own.
	for _, topic := range []string{wire.Topic("edge-b", wire.KindEvents), wire.Topic("edge-a", wire.KindAck)} {
		spoofer, err := connect(t, url, "edge-a", a)
		if err != nil {
			t.Fatal(err)
		}
		spoofer.Publish(topic, 1, false, "spoof").WaitTimeout(time.Second)
	}
	dev, err := connect(t, url, "edge-a", a)
	if err != nil {
		t.Fatal(err)
	}
	dev.Publish(wire.Topic("edge-a", wire.KindEvents), 1, false, "mine").Wait()
	// edge-a may not read edge-b's acks, nor everything.
	var spy sync.Mutex
	leaked := 0
	for _, filter := range []string{wire.Topic("edge-b", wire.KindAck), "crosswatch/#"} {
		reader, err := connect(t, url, "edge-a", a)
		if err != nil {
			t.Fatal(err)
		}
		reader.Subscribe(filter, 1, func(paho.Client, paho.Message) { spy.Lock(); leaked++; spy.Unlock() }).WaitTimeout(time.Second)
	}
	agg.Publish(wire.Topic("edge-b", wire.KindAck), 1, false, "for b").Wait()

	waitSeen(t, seen, wire.Topic("edge-a", wire.KindEvents))
	if n := seen(wire.Topic("edge-a", wire.KindEvents)); n != 1 {
		t.Fatalf("a device's own event arrived %d times", n)
	}
	if seen(wire.Topic("edge-b", wire.KindEvents)) != 0 || seen(wire.Topic("edge-a", wire.KindAck)) != 0 {
		t.Fatal("spoofed publishes reached the aggregator")
	}
	spy.Lock()
	defer spy.Unlock()
	if leaked != 0 {
		t.Fatalf("edge-a read %d messages of another device", leaked)
	}
}

func TestBusyPort(t *testing.T) {
	b := start(t, Config{}, newACL())
	if _, err := Start(Config{Listen: b.URL()[len("tcp://"):]}, newACL(), quiet); err == nil {
		t.Fatal("a second broker started on a busy port")
	}
}

// A device is admitted only with its own token, and, unless the ACL is Insecure, never without
// one: the forged device of issue 16 (username good-1, no password) is refused.
func TestDeviceTokens(t *testing.T) {
	b := start(t, Config{}, newACL())
	if _, err := connect(t, b.URL(), "edge-a", tokens["edge-a"]); err != nil {
		t.Fatalf("own token refused: %v", err)
	}
	for _, c := range []struct{ user, pass string }{{"edge-a", "wrong"}, {"edge-a", ""}, {"edge-b", tokens["edge-a"]}, {"good-1", ""}, {"good-1", tokens["edge-a"]}} {
		if _, err := connect(t, b.URL(), c.user, c.pass); err == nil {
			t.Errorf("%s with %q admitted", c.user, c.pass)
		}
	}
	insecure := newACL()
	insecure.Insecure = true
	bi := start(t, Config{}, insecure)
	if _, err := connect(t, bi.URL(), "good-1", ""); err != nil {
		t.Errorf("insecure: a device without a token refused: %v", err)
	}
	if _, err := connect(t, bi.URL(), "edge-a", "wrong"); err == nil {
		t.Error("insecure: a device with a token listed was admitted with a wrong one")
	}
}

// No client takes the aggregator's client id, nor another device's: the aggregator stays
// connected and keeps receiving.
func TestClientIDTakeover(t *testing.T) {
	url, _, seen := startWatched(t, newACL())
	a := tokens["edge-a"]
	for _, c := range []struct{ id, user, pass string }{
		{"agg-client", "edge-a", a},             // the aggregator's client id
		{"agg", "edge-a", a},                    // its username as client id
		{"crosswatch-edge-edge-b", "edge-a", a}, // edge-b's session
		{"anything", "edge-a", a},               // a device has one client id
		{"agg-client", "spat-1", tokens["spat-1"]},
	} {
		if _, err := dial(t, url, c.id, c.user, c.pass, nil); err == nil {
			t.Errorf("%s admitted with client id %s", c.user, c.id)
		}
	}
	time.Sleep(100 * time.Millisecond)
	dev, err := connect(t, url, "edge-a", a)
	if err != nil {
		t.Fatal(err)
	}
	dev.Publish(wire.Topic("edge-a", wire.KindEvents), 1, false, "after").Wait()
	waitSeen(t, seen, wire.Topic("edge-a", wire.KindEvents))
	if seen(wire.Topic("edge-a", wire.KindEvents)) != 1 {
		t.Fatal("the aggregator lost its connection (or its subscription) to a client id takeover")
	}
}

// A controller, with its token, publishes phases to its own devices and nothing else; a device
// may not publish phases, and a controller's id with a wrong token is refused.
func TestControllersPublishPhasesOnly(t *testing.T) {
	acl := newACL()
	acl.Controllers = map[string]Controller{"spat-1": {Hash: hashes("spat-1")["spat-1"], Devices: map[string]bool{"edge-a": true}}}
	url, _, seen := startWatched(t, acl)
	ctlTok, devTok := tokens["spat-1"], tokens["edge-a"]
	if _, err := connect(t, url, "spat-1", "wrong"); err == nil {
		t.Fatal("controller admitted with a wrong token")
	}
	if _, err := connect(t, url, "spat-1", ""); err == nil {
		t.Fatal("controller admitted without its token")
	}
	// Denied publishes, each on its own connection (a denial may cost the connection).
	for _, c := range []struct{ user, pass, topic string }{
		{"spat-1", ctlTok, wire.Topic("edge-b", wire.KindPhase)},  // not its device
		{"spat-1", ctlTok, wire.Topic("edge-a", wire.KindEvents)}, // not a phase
		{"spat-1", ctlTok, wire.Topic("edge-a", wire.KindAck)},
		{"edge-a", devTok, wire.Topic("edge-a", wire.KindPhase)}, // a device may not set its own signals
	} {
		cl, err := connect(t, url, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		cl.Publish(c.topic, 1, false, "spoof").WaitTimeout(time.Second)
	}
	// A controller reads nothing.
	var spy sync.Mutex
	leaked := 0
	reader, err := connect(t, url, "spat-1", ctlTok)
	if err != nil {
		t.Fatal(err)
	}
	reader.Subscribe("crosswatch/#", 1, func(paho.Client, paho.Message) { spy.Lock(); leaked++; spy.Unlock() }).WaitTimeout(time.Second)
	// The edge device reads the phases meant for it.
	var phases sync.WaitGroup
	phases.Add(1)
	dev, err := connect(t, url, "edge-a", devTok)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	dev.Subscribe(wire.Topic("edge-a", wire.KindPhase), 1, func(paho.Client, paho.Message) { once.Do(phases.Done) }).Wait()
	ctl, err := connect(t, url, "spat-1", ctlTok)
	if err != nil {
		t.Fatal(err)
	}
	ctl.Publish(wire.Topic("edge-a", wire.KindPhase), 1, false, "phase").Wait()
	done := make(chan struct{})
	go func() { phases.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the device did not get its controller's phase")
	}
	waitSeen(t, seen, wire.Topic("edge-a", wire.KindPhase))
	for _, topic := range []string{wire.Topic("edge-b", wire.KindPhase), wire.Topic("edge-a", wire.KindEvents), wire.Topic("edge-a", wire.KindAck)} {
		if seen(topic) != 0 {
			t.Errorf("denied publish to %s arrived", topic)
		}
	}
	if n := seen(wire.Topic("edge-a", wire.KindPhase)); n != 1 {
		t.Errorf("%d phases to edge-a arrived, want 1 (the controller's)", n)
	}
	spy.Lock()
	defer spy.Unlock()
	if leaked != 0 {
		t.Errorf("the controller read %d messages", leaked)
	}
}

// mqttString encodes an MQTT UTF-8 string.
func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// remainingLength encodes MQTT's variable-length integer.
func remainingLength(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// A packet that declares more than the maximum is refused on its fixed header, before the
// broker allocates for it: the 100 MB publish of issue 16 (and a 200 MB CONNECT, before any
// authentication) cost the broker a few MB, not hundreds.
func TestMaxPacketSizeBeforeAllocation(t *testing.T) {
	// The broker logs a warning as each refused connection's goroutine ends. Waiting for them
	// before the broker closes orders those goroutines before mochi's Close (through the log
	// handler's lock): mochi's Close races with a connection still being set up (the race
	// detector saw it once in CI), which no product path waits on.
	warned := &countHandler{}
	b, err := Start(Config{Listen: "127.0.0.1:0", MaxPacketSize: 1 << 20}, newACL(), slog.New(warned))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addr := b.URL()[len("tcp://"):]
	const declared = 200 << 20
	send := func(t *testing.T, head []byte, authenticate bool) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if authenticate {
			var v []byte
			v = append(v, mqttString("MQTT")...)
			v = append(v, 4, 0xC2, 0, 30) // 3.1.1, username+password+clean session, keepalive 30 s
			v = append(v, mqttString(DeviceClientIDPrefix+"edge-a")...)
			v = append(v, mqttString("edge-a")...)
			v = append(v, mqttString(tokens["edge-a"])...)
			c.Write(append(append([]byte{0x10}, remainingLength(len(v))...), v...))
			ack := make([]byte, 4)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
				t.Fatalf("CONNACK %x, %v", ack, err)
			}
		}
		c.Write(append(head, remainingLength(declared)...))
		// Then send 8 MB of the body: a broker that allocated would be reading it.
		chunk := make([]byte, 64<<10)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < 128; i++ {
			if _, err := c.Write(chunk); err != nil {
				break // refused: the broker closed the connection
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !isReset(err) {
			t.Fatalf("the broker kept the connection open: %v", err)
		}
	}
	for _, c := range []struct {
		name string
		head []byte
		auth bool
	}{{"publish", []byte{0x32}, true}, {"connect", []byte{0x10}, false}} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			send(t, c.head, c.auth)
			runtime.ReadMemStats(&after)
			grew := after.TotalAlloc - before.TotalAlloc
			t.Logf("a declared %d MB %s: %.1f MB allocated in the test process", declared>>20, c.name, float64(grew)/(1<<20))
			if grew > 32<<20 {
				t.Fatalf("a declared %d MB packet made the broker allocate %d MB", declared>>20, grew>>20)
			}
		})
	}
	for end := time.Now().Add(5 * time.Second); warned.count() < 2 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	// The broker still serves.
	if _, err := connect(t, b.URL(), "edge-a", tokens["edge-a"]); err != nil {
		t.Fatal(err)
	}
}

// countHandler is a log handler that counts warnings and errors, and writes nothing.
type countHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	if r.Level >= slog.LevelWarn {
		h.n++
	}
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
func (h *countHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// isReset: a connection the broker closed with our bytes unread ends in a reset, not EOF.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// pki is a CA with the broker's certificate and client certificates.
type pki struct {
	ca     *CA
	server tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := ca.IssueServer([]string{"127.0.0.1", "localhost"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(s.CertPEM, s.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: ca, server: pair}
}

func (p *pki) client(t *testing.T, id string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	c, err := p.ca.IssueClient(id, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return pool
}

// On the TLS listener a device proves its id with a client certificate (subject CN = id): its
// own is admitted; another device's, an expired one, one from another CA, or none (and no
// token) is refused.
func TestMutualTLS(t *testing.T) {
	p, other := newPKI(t), newPKI(t)
	acl := newACL()
	acl.DeviceHashes = nil // certificates only
	b := start(t, Config{TLSListen: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool(), ClientAuth: tls.VerifyClientCertIfGiven}}, acl)
	url := b.TLSURL()
	now := time.Now()
	withCert := func(c ...tls.Certificate) *tls.Config { return &tls.Config{RootCAs: p.pool(), Certificates: c} }
	if _, err := dial(t, url, DeviceClientIDPrefix+"edge-a", "edge-a", "", withCert(p.client(t, "edge-a", now.Add(-time.Minute), now.Add(time.Hour)))); err != nil {
		t.Fatalf("a device with its own certificate refused: %v", err)
	}
	for name, tc := range map[string]*tls.Config{
		"another device's certificate": withCert(p.client(t, "edge-b", now.Add(-time.Minute), now.Add(time.Hour))),
		"an expired certificate":       withCert(p.client(t, "edge-a", now.Add(-2*time.Hour), now.Add(-time.Hour))),
		"a certificate of another CA":  withCert(other.client(t, "edge-a", now.Add(-time.Minute), now.Add(time.Hour))),
		"no certificate":               withCert(),
	} {
		if _, err := dial(t, url, DeviceClientIDPrefix+"edge-a", "edge-a", "", tc); err == nil {
			t.Errorf("edge-a admitted with %s", name)
		}
	}
	// The client checks the broker too: a broker with another CA's certificate is not trusted.
	if _, err := dial(t, url, DeviceClientIDPrefix+"edge-a", "edge-a", "", &tls.Config{RootCAs: other.pool(), Certificates: []tls.Certificate{p.client(t, "edge-a", now.Add(-time.Minute), now.Add(time.Hour))}}); err == nil {
		t.Error("a client trusted a broker whose certificate its CA did not sign")
	}
}

// The broker holds at most MaxClients connections.
func TestMaxClients(t *testing.T) {
	b := start(t, Config{MaxClients: 2}, newACL())
	for _, id := range []string{"edge-a", "edge-b"} {
		if _, err := connect(t, b.URL(), id, tokens[id]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := connect(t, b.URL(), "agg", "s3cret"); err == nil {
		t.Fatal("a third client admitted with MaxClients 2")
	}
}

// The camera topics of the frame path: a device publishes its own cameras' frames only and
// reads its own frame requests only; nobody but the aggregator publishes a request, not even to
// itself.
func TestACLFrameTopics(t *testing.T) {
	acl := newACL()
	cl := func(user string) *mochi.Client {
		c := &mochi.Client{}
		c.Properties.Username = []byte(user)
		return c
	}
	a, agg := cl("edge-a"), cl(acl.AggregatorUser)
	for _, c := range []struct {
		who   *mochi.Client
		topic string
		write bool
		want  bool
	}{
		{a, wire.FrameTopic("edge-a", "cam-1"), true, true},
		{a, wire.FrameTopic("edge-b", "cam-1"), true, false},
		{a, wire.FrameTopic("edge-a", "cam-1"), false, false},
		{a, wire.FrameFilter(), false, false},
		{a, wire.FrameRequestFilter("edge-a"), false, true},
		{a, wire.FrameRequestTopic("edge-a", "cam-1"), false, true},
		{a, wire.FrameRequestFilter("edge-b"), false, false},
		{a, wire.FrameRequestTopic("edge-a", "cam-1"), true, false},
		{a, wire.FrameRequestTopic("edge-b", "cam-1"), true, false},
		{agg, wire.FrameRequestTopic("edge-a", "cam-1"), true, true},
		{agg, wire.FrameFilter(), false, true},
	} {
		if got := acl.OnACLCheck(c.who, c.topic, c.write); got != c.want {
			t.Errorf("%s on %s (write %v): %v, want %v", c.who.Properties.Username, c.topic, c.write, got, c.want)
		}
	}
}
