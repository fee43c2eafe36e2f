// Package brokerurl checks MQTT broker URLs, for the edge and the aggregator alike (they share
// the broker; the aggregator links nothing of the edge's but the wire contract). Stdlib only.
package brokerurl

import (
	"fmt"
	"net"
	"net/url"
)

// Check validates a broker URL: a scheme paho dials (tcp, mqtt, ssl, tls, mqtts, tcps, ws,
// wss) and a host.
func Check(broker string) error {
	u, err := url.Parse(broker)
	if err != nil {
		return fmt.Errorf("broker %q: %w", broker, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
	default:
		return fmt.Errorf("broker %q: scheme must be tcp, mqtt, ssl, tls, mqtts, tcps, ws or wss", broker)
	}
	if u.Host == "" {
		return fmt.Errorf("broker %q: no host", broker)
	}
	return nil
}

// Encrypted reports whether broker's URL scheme is a TLS one.
func Encrypted(broker string) bool {
	u, err := url.Parse(broker)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "tcps", "wss":
		return true
	}
	return false
}

// Loopback reports whether broker's host is this machine (127.0.0.0/8, ::1 or localhost), where
// plaintext crosses no network.
func Loopback(broker string) bool {
	u, err := url.Parse(broker)
	if err != nil {
		return false
	}
	return LoopbackHost(u.Hostname())
}

// LoopbackHost reports whether host is a loopback address or localhost.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
