package sender

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/crosswatch/crosswatch/edge/mqtt"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// TokenEnv holds the device's token when --token-file is not given.
const TokenEnv = "CROSSWATCH_DEVICE_TOKEN"

// Identity is how a device proves who it is to the broker and checks the broker's
// certificate: the flags of replay and burst, or the broker: section of edge.yaml.
type Identity struct {
	TokenFile  string `yaml:"token_file"`
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
	Insecure   bool   `yaml:"insecure"`
}

// IdentityFlags adds the flags by which a device proves who it is to the broker and checks the
// broker's certificate; the returned function validates them for a broker URL and device.
// (Declared here, not in each command: replay and the lab's burst take the same flags.)
func IdentityFlags(fs *flag.FlagSet) func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error) {
	var id Identity
	fs.StringVar(&id.TokenFile, "token-file", "", "file (mode 0600) holding this device's token (default: $"+TokenEnv+")")
	fs.StringVar(&id.CA, "ca", "", "CA certificate that signs the broker's certificate, for an ssl:// broker (default: the system's)")
	fs.StringVar(&id.Cert, "cert", "", "this device's client certificate (mTLS: its subject CN is the device id)")
	fs.StringVar(&id.Key, "key", "", "the client certificate's key (mode 0600)")
	fs.StringVar(&id.ServerName, "server-name", "", "the name the broker's certificate carries, if not the URL's host")
	fs.BoolVar(&id.Insecure, "insecure", false, "connect without proving who this device is, or in plaintext to another machine (a closed lab only)")
	return func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error) {
		return id.Options(broker, device, log, FlagNames)
	}
}

// IdentityNames names Identity's fields in error messages: flags or config field paths. TLS
// names the TLS fields together.
type IdentityNames struct{ TokenFile, CA, Cert, Key, ServerName, TLS, Insecure, Broker string }

// FlagNames names Identity's fields as IdentityFlags declares them.
var FlagNames = IdentityNames{TokenFile: "--token-file", CA: "--ca", Cert: "--cert", Key: "--key", ServerName: "--server-name",
	TLS: "--ca, --cert, --key, --server-name", Insecure: "--insecure", Broker: "--broker"}

// Options validates the identity for a broker URL and device and returns what it sets on the
// MQTT client. It logs a warning for each thing insecure allows.
func (id Identity) Options(broker, device string, log *slog.Logger, n IdentityNames) (func(*mqtt.Options), error) {
	token := os.Getenv(TokenEnv)
	if id.TokenFile != "" {
		b, err := secfile.ReadPrivate(id.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.TokenFile, err)
		}
		token = strings.TrimSpace(string(b))
	}
	encrypted := mqtt.Encrypted(broker)
	if !encrypted && (id.CA != "" || id.Cert != "" || id.ServerName != "") {
		return nil, fmt.Errorf("%s: need an ssl:// broker, not %s", n.TLS, broker)
	}
	if token == "" && id.Cert == "" {
		if !id.Insecure {
			return nil, fmt.Errorf("device %s has no identity: give its token (%s or $%s, from 'crosswatch-aggregator device add') or %s and %s, or %s for a broker that asks none", device, n.TokenFile, TokenEnv, n.Cert, n.Key, n.Insecure)
		}
		log.Warn(n.Insecure+": this device does not prove who it is; any client can claim its id", "device", device)
	}
	if !encrypted && !mqtt.Loopback(broker) {
		if !id.Insecure {
			return nil, fmt.Errorf("%s %s: plaintext MQTT to another machine would show the token and the events to the network; use ssl://, or %s", n.Broker, broker, n.Insecure)
		}
		log.Warn(n.Insecure+": plaintext MQTT to another machine", "broker", broker)
	}
	var set []func(*mqtt.Options)
	set = append(set, func(o *mqtt.Options) { o.Password = token })
	if encrypted {
		tc, err := secfile.ClientTLS(secfile.TLSFiles{CA: id.CA, Cert: id.Cert, Key: id.Key, ServerName: id.ServerName})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.TLS, err)
		}
		if len(tc.Certificates) > 0 && tc.Certificates[0].Leaf != nil && tc.Certificates[0].Leaf.Subject.CommonName != device {
			return nil, fmt.Errorf("%s %s: its subject CN is %q, not the device id %q", n.Cert, id.Cert, tc.Certificates[0].Leaf.Subject.CommonName, device)
		}
		set = append(set, func(o *mqtt.Options) { o.TLS = tc })
	} else if id.Key != "" {
		return nil, errors.New(n.Key + ": needs an ssl:// broker")
	}
	return func(o *mqtt.Options) {
		for _, f := range set {
			f(o)
		}
	}, nil
}
