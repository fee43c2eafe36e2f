package broker

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// DeviceClientIDPrefix begins every device's MQTT client id: a device id D connects as
// crosswatch-edge-D and with no other, so that no client can take over another's session.
const DeviceClientIDPrefix = "crosswatch-edge-"

// ACL proves who each client is and confines it to its own topics. A device proves its id with
// a client certificate whose subject CN is the id (on a TLS listener with a client CA) or with
// its token (checked against DeviceHashes); it may then publish only
// crosswatch/v1/{device}/{events,counts,status,gaps} and its cameras' reference frames
// (…/frame/{camera}), and subscribe only to its ack and phase topics, its cameras' scenes
// (crosswatch/v1/{device}/scene/{camera} or …/scene/+) and frame requests
// (…/frame-request/{camera} or …/frame-request/+), with the client id crosswatch-edge-{device}. The aggregator authenticates with a
// per-process secret, alone may use AggregatorClientID, and reads every device's topics. A signal
// controller (or a railway's door-status gateway) proves itself with its token, connects with
// its id as client id, and may only publish phases to the devices it serves: a forged phase
// could hide a red-light runner.
type ACL struct {
	mochi.HookBase
	AggregatorUser     string
	AggregatorSecret   string
	AggregatorClientID string // no other client may connect with it
	// DeviceHashes maps each device id to the hash of its token (HashToken, or mosquitto_passwd).
	DeviceHashes map[string]Hash
	// Insecure admits a device that presents neither certificate nor token by the id it claims.
	// For a closed lab network only: anyone who reaches the port can then be any device.
	Insecure bool
	// Controllers maps each controller id (its username) to its token hash and devices.
	Controllers map[string]Controller
}

// Controller is a publisher of phase messages: crosswatch/v1/{device}/phase for each of Devices.
type Controller struct {
	Hash    Hash
	Devices map[string]bool
}

// ID names the hook.
func (h *ACL) ID() string { return "crosswatch-acl" }

// Provides reports the hook's events.
func (h *ACL) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck}, []byte{b})
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// certCN returns the subject CN of the client's verified certificate, or "" when it connected
// without one (or not over TLS). The TLS handshake has finished: mochi read CONNECT through it.
func certCN(cl *mochi.Client) string {
	c, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := c.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}

// OnConnectAuthenticate admits the aggregator with its secret, controllers with their tokens
// and devices with their certificate or token, each only with its own client id.
func (h *ACL) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user, pass, id := string(pk.Connect.Username), string(pk.Connect.Password), cl.ID
	if user == h.AggregatorUser {
		return h.AggregatorSecret != "" && eq(pass, h.AggregatorSecret)
	}
	if id == h.AggregatorClientID || id == h.AggregatorUser {
		return false // taking it would disconnect the aggregator
	}
	cn := certCN(cl)
	if c, ok := h.Controllers[user]; ok {
		return id == user && c.Hash.Verify(pass)
	}
	if wire.CheckName("device", user) != nil || id != DeviceClientIDPrefix+user {
		return false
	}
	if cn != "" {
		// The certificate is the proof; a device claiming another's id with it is refused.
		return cn == user
	}
	if hash, ok := h.DeviceHashes[user]; ok {
		return hash.Verify(pass)
	}
	return h.Insecure && !strings.HasPrefix(user, DeviceClientIDPrefix)
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
	if d, k, _, cerr := wire.ParseCameraTopic(topic); cerr == nil {
		switch k {
		case wire.KindFrame:
			return write && d == user // its own cameras' reference frames, which only the aggregator reads
		default: // scenes and frame requests, which only the aggregator publishes
			return !write && d == user
		}
	}
	if err != nil || device != user {
		return false
	}
	if write {
		return kind == wire.KindEvents || kind == wire.KindCounts || kind == wire.KindStatus || kind == wire.KindGaps
	}
	return kind == wire.KindAck || kind == wire.KindPhase
}
