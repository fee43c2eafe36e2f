package broker

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/crosswatch/crosswatch/edge/wire"
)

func connect(t *testing.T, url, user, pass string) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("t-" + user).SetUsername(user).SetPassword(pass).SetConnectTimeout(2 * time.Second))
	tok := c.Connect()
	tok.Wait()
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(50) })
	}
	return c, tok.Error()
}

// startWatched starts a broker with acl and connects the aggregator (user agg, secret s3cret),
// which reads everything; seen reports how many messages arrived on a topic.
func startWatched(t *testing.T, acl *ACL) (url string, agg paho.Client, seen func(topic string) int) {
	t.Helper()
	b, err := Start("127.0.0.1:0", acl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	agg, err = connect(t, b.URL(), "agg", "s3cret")
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
	url, agg, seen := startWatched(t, &ACL{AggregatorUser: "agg", AggregatorSecret: "s3cret"})
	if _, err := connect(t, url, "agg", "wrong"); err == nil {
		t.Fatal("aggregator admitted with a wrong secret")
	}
	if _, err := connect(t, url, "edge/+", ""); err == nil {
		t.Fatal("a username that is not a device id was admitted")
	}

	// A denied publish may cost the spoofer its connection: each attempt gets its own.
	for _, topic := range []string{wire.Topic("edge-b", wire.KindEvents), wire.Topic("edge-a", wire.KindAck)} {
		spoofer, err := connect(t, url, "edge-a", "")
		if err != nil {
			t.Fatal(err)
		}
		spoofer.Publish(topic, 1, false, "spoof").WaitTimeout(time.Second)
	}
	a, err := connect(t, url, "edge-a", "")
	if err != nil {
		t.Fatal(err)
	}
	a.Publish(wire.Topic("edge-a", wire.KindEvents), 1, false, "mine").Wait()
	// edge-a may not read edge-b's acks, nor everything.
	var spy sync.Mutex
	leaked := 0
	for _, filter := range []string{wire.Topic("edge-b", wire.KindAck), "crosswatch/#"} {
		reader, err := connect(t, url, "edge-a", "")
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
	b, err := Start("127.0.0.1:0", &ACL{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Start(b.URL()[len("tcp://"):], &ACL{}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("a second broker started on a busy port")
	}
}

// With device tokens, a device is admitted only with its own token.
func TestDeviceTokens(t *testing.T) {
	acl := &ACL{AggregatorUser: "agg", AggregatorSecret: "s3cret", DeviceTokens: map[string]string{"edge-a": "token-of-edge-a-0001"}}
	b, err := Start("127.0.0.1:0", acl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := connect(t, b.URL(), "edge-a", "token-of-edge-a-0001"); err != nil {
		t.Fatalf("own token refused: %v", err)
	}
	for _, c := range []struct{ user, pass string }{{"edge-a", "wrong"}, {"edge-a", ""}, {"edge-b", "token-of-edge-a-0001"}} {
		if _, err := connect(t, b.URL(), c.user, c.pass); err == nil {
			t.Errorf("%s with %q admitted", c.user, c.pass)
		}
	}
}

// A controller, with its token, publishes phases to its own devices and nothing else; a device
// may not publish phases, and a controller's id with a wrong token is refused.
func TestControllersPublishPhasesOnly(t *testing.T) {
	url, _, seen := startWatched(t, &ACL{AggregatorUser: "agg", AggregatorSecret: "s3cret",
		Controllers: map[string]Controller{"spat-1": {Token: "token-of-spat-1-0001", Devices: map[string]bool{"edge-a": true}}}})
	if _, err := connect(t, url, "spat-1", "wrong"); err == nil {
		t.Fatal("controller admitted with a wrong token")
	}
	if _, err := connect(t, url, "spat-1", ""); err == nil {
		t.Fatal("controller admitted without its token")
	}
	// Denied publishes, each on its own connection (a denial may cost the connection).
	for _, c := range []struct{ user, pass, topic string }{
		{"spat-1", "token-of-spat-1-0001", wire.Topic("edge-b", wire.KindPhase)},  // not its device
		{"spat-1", "token-of-spat-1-0001", wire.Topic("edge-a", wire.KindEvents)}, // not a phase
		{"spat-1", "token-of-spat-1-0001", wire.Topic("edge-a", wire.KindAck)},
		{"edge-a", "", wire.Topic("edge-a", wire.KindPhase)}, // a device may not set its own signals
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
	reader, err := connect(t, url, "spat-1", "token-of-spat-1-0001")
	if err != nil {
		t.Fatal(err)
	}
	reader.Subscribe("crosswatch/#", 1, func(paho.Client, paho.Message) { spy.Lock(); leaked++; spy.Unlock() }).WaitTimeout(time.Second)
	// The edge device reads the phases meant for it.
	var phases sync.WaitGroup
	phases.Add(1)
	dev, err := connect(t, url, "edge-a", "")
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	dev.Subscribe(wire.Topic("edge-a", wire.KindPhase), 1, func(paho.Client, paho.Message) { once.Do(phases.Done) }).Wait()
	ctl, err := connect(t, url, "spat-1", "token-of-spat-1-0001")
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
