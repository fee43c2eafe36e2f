package cli

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

// tokenEnv holds the device's token when --token-file is not given.
const tokenEnv = "CROSSWATCH_DEVICE_TOKEN"

// identityFlags adds the flags by which a device proves who it is to the broker and checks the
// broker's certificate; the returned function validates them for a broker URL and device.
func identityFlags(fs *flag.FlagSet) func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error) {
	tokenFile := fs.String("token-file", "", "file (mode 0600) holding this device's token (default: $"+tokenEnv+")")
	ca := fs.String("ca", "", "CA certificate that signs the broker's certificate, for an ssl:// broker (default: the system's)")
	cert := fs.String("cert", "", "this device's client certificate (mTLS: its subject CN is the device id)")
	key := fs.String("key", "", "the client certificate's key (mode 0600)")
	serverName := fs.String("server-name", "", "the name the broker's certificate carries, if not the URL's host")
	insecure := fs.Bool("insecure", false, "connect without proving who this device is, or in plaintext to another machine (a closed lab only)")
	return func(broker, device string, log *slog.Logger) (func(*mqtt.Options), error) {
		token := os.Getenv(tokenEnv)
		if *tokenFile != "" {
			b, err := secfile.ReadPrivate(*tokenFile)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		encrypted := mqtt.Encrypted(broker)
		if !encrypted && (*ca != "" || *cert != "" || *serverName != "") {
			return nil, fmt.Errorf("--ca, --cert, --key, --server-name: need an ssl:// broker, not %s", broker)
		}
		if token == "" && *cert == "" {
			if !*insecure {
				return nil, fmt.Errorf("device %s has no identity: give its token (--token-file or $%s, from 'crosswatch-aggregator device add') or --cert and --key, or --insecure for a broker that asks none", device, tokenEnv)
			}
			log.Warn("--insecure: this device does not prove who it is; any client can claim its id", "device", device)
		}
		if !encrypted && !mqtt.Loopback(broker) {
			if !*insecure {
				return nil, fmt.Errorf("--broker %s: plaintext MQTT to another machine would show the token and the events to the network; use ssl://, or --insecure", broker)
			}
			log.Warn("--insecure: plaintext MQTT to another machine", "broker", broker)
		}
		var set []func(*mqtt.Options)
		set = append(set, func(o *mqtt.Options) { o.Password = token })
		if encrypted {
			tc, err := secfile.ClientTLS(secfile.TLSFiles{CA: *ca, Cert: *cert, Key: *key, ServerName: *serverName})
			if err != nil {
				return nil, fmt.Errorf("--ca, --cert, --key: %w", err)
			}
			if len(tc.Certificates) > 0 && tc.Certificates[0].Leaf != nil && tc.Certificates[0].Leaf.Subject.CommonName != device {
				return nil, fmt.Errorf("--cert %s: its subject CN is %q, not the device id %q", *cert, tc.Certificates[0].Leaf.Subject.CommonName, device)
			}
			set = append(set, func(o *mqtt.Options) { o.TLS = tc })
		} else if *key != "" {
			return nil, errors.New("--key: needs an ssl:// broker")
		}
		return func(o *mqtt.Options) {
			for _, f := range set {
				f(o)
			}
		}, nil
	}
}
