package cli

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/aggregator/mqtt"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// mqttLink is how the aggregator reaches its broker.
type mqttLink struct {
	mqtt.Options        // the aggregator's own client, without Log and Submit
	TLSListener  string // the embedded broker's TLS URL, if it has one
}

// startMQTT starts the embedded broker when the config asks for it and returns the link to the
// broker and a function that stops the embedded broker.
func startMQTT(cfg *Config, stderr io.Writer, log *slog.Logger) (mqttLink, func(), error) {
	m := cfg.MQTT
	if m.Insecure {
		log.Warn("mqtt.insecure is true: devices are not asked to prove who they are and plaintext MQTT may cross the network; anyone who reaches the broker can publish as any device")
	}
	o := mqtt.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: m.Password, Group: m.Group}
	if m.Broker != "embedded" {
		if m.PasswordFile != "" {
			b, err := secfile.ReadPrivate(m.PasswordFile)
			if err != nil {
				return mqttLink{}, nil, fmt.Errorf("mqtt.password_file: %w", err)
			}
			o.Password = strings.TrimSpace(string(b))
		}
		if m.TLS.CA != "" || m.TLS.Cert != "" || m.TLS.ServerName != "" {
			tc, err := secfile.ClientTLS(secfile.TLSFiles{CA: m.TLS.CA, Cert: m.TLS.Cert, Key: m.TLS.Key, ServerName: m.TLS.ServerName})
			if err != nil {
				return mqttLink{}, nil, fmt.Errorf("mqtt.tls: %w", err)
			}
			o.TLS = tc
		}
		return mqttLink{Options: o}, func() {}, nil
	}
	// The aggregator's own client proves itself with a secret made for this process.
	var secret [16]byte
	rand.Read(secret[:])
	o.Username, o.Password = aggregatorUser, hex.EncodeToString(secret[:])
	acl := &broker.ACL{AggregatorUser: o.Username, AggregatorSecret: o.Password, AggregatorClientID: m.ClientID, Insecure: m.Insecure}
	var err error
	if f := m.DeviceTokensFile; f != "" {
		if acl.DeviceHashes, err = loadDeviceHashes(f, m.ClientID); err != nil {
			return mqttLink{}, nil, err
		}
	}
	if f := m.ControllersFile; f != "" {
		if acl.Controllers, err = loadControllers(f, m.ClientID, acl.DeviceHashes); err != nil {
			return mqttLink{}, nil, err
		}
	}
	bc := broker.Config{Listen: m.Listen, TLSListen: m.TLSListen, MaxPacketSize: uint32(m.MaxPacketSize), MaxClients: int64(m.MaxConnections)}
	if m.TLSListen != "" {
		if bc.TLS, err = serverTLS(m.TLS.Cert, m.TLS.Key, m.TLS.CA); err != nil {
			return mqttLink{}, nil, err
		}
	}
	b, err := broker.Start(bc, acl, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return mqttLink{}, nil, err
	}
	o.Broker = b.URL()
	if b.TLSURL() != "" {
		log.Info("embedded broker: TLS listener", "url", b.TLSURL(), "client_certificates", m.TLS.CA != "")
	}
	return mqttLink{Options: o, TLSListener: b.TLSURL()}, func() { b.Close() }, nil
}

// serverTLS is the embedded broker's TLS configuration: its certificate and, when ca is given,
// the CA whose client certificates prove a device's id. A device may still come with a token
// instead: the certificate is verified if given.
func serverTLS(cert, key, ca string) (*tls.Config, error) {
	pair, err := secfile.LoadKeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("mqtt.tls: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca: %w", err)
		}
		c.ClientCAs = x509.NewCertPool()
		if !c.ClientCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("mqtt.tls.ca %s: no PEM certificate in it", ca)
		}
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// checkCredentials loads the embedded broker's credential files as serve would, so that
// check-config finds a bad line or a file others can read before a restart does. A token file
// that does not exist yet is reported, not refused: 'device add' makes it.
func checkCredentials(m *MQTTConfig) (string, error) {
	if m.Broker != "embedded" {
		return "", nil
	}
	var note string
	var devices map[string]broker.Hash
	if f := m.DeviceTokensFile; f != "" {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			note = fmt.Sprintf(", no device yet (%s does not exist: 'crosswatch-aggregator device add ID --tokens %s')", f, f)
		} else {
			var err error
			if devices, err = loadDeviceHashes(f, m.ClientID); err != nil {
				return "", err
			}
			note = fmt.Sprintf(", %d devices with tokens", len(devices))
		}
	}
	if f := m.ControllersFile; f != "" {
		c, err := loadControllers(f, m.ClientID, devices)
		if err != nil {
			return "", err
		}
		note += fmt.Sprintf(", %d controllers", len(c))
	}
	if m.TLSListen != "" {
		if _, err := serverTLS(m.TLS.Cert, m.TLS.Key, m.TLS.CA); err != nil {
			return "", err
		}
		note += ", TLS on " + m.TLSListen
	}
	return note, nil
}
