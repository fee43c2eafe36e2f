package broker

import (
	"bytes"
	"crypto/subtle"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// ACL confines each device to its own topics: a client whose username is a device id may
// publish only crosswatch/v1/{device}/{events,counts,status,gaps} and subscribe only to
// crosswatch/v1/{device}/ack. The aggregator authenticates with a per-process secret and may
// read every device's topics and publish acks. Usernames are claimed, not proven, unless
// device tokens are configured. A signal controller (or a railway's door-status gateway) always
// proves itself with its token and may only publish phases to the devices it serves: a forged
// phase could hide a red-light runner.
type ACL struct {
	mochi.HookBase
	AggregatorUser   string
	AggregatorSecret string
	// DeviceTokens, when not nil, maps each device id to the password it must present.
	DeviceTokens map[string]string
	// Controllers maps each controller id (its username) to its token and devices.
	Controllers map[string]Controller
}

// Controller is a publisher of phase messages: crosswatch/v1/{device}/phase for each of Devices.
type Controller struct {
	Token   string
	Devices map[string]bool
}

// ID names the hook.
func (h *ACL) ID() string { return "crosswatch-acl" }

// Provides reports the hook's events.
func (h *ACL) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck}, []byte{b})
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// OnConnectAuthenticate admits the aggregator with its secret, and devices by id (and token).
func (h *ACL) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	if user == h.AggregatorUser {
		return eq(pass, h.AggregatorSecret)
	}
	if c, ok := h.Controllers[user]; ok {
		return eq(pass, c.Token)
	}
	if wire.CheckName("device", user) != nil {
		return false
	}
	if h.DeviceTokens != nil {
		tok, ok := h.DeviceTokens[user]
		return ok && eq(pass, tok)
	}
	return true
}

// OnACLCheck allows a device only its own topics, and a controller only its devices' phases.
func (h *ACL) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == h.AggregatorUser {
		return true // authenticated by secret at connect
	}
	device, kind, err := wire.ParseTopic(topic)
	if c, ok := h.Controllers[user]; ok {
		return err == nil && write && kind == wire.KindPhase && c.Devices[device]
	}
	if err != nil || device != user {
		return false
	}
	if write {
		return kind == wire.KindEvents || kind == wire.KindCounts || kind == wire.KindStatus || kind == wire.KindGaps
	}
	return kind == wire.KindAck || kind == wire.KindPhase
}
