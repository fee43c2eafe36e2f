package cli

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/aggregator/mbtiles"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/brokerurl"
	"github.com/crosswatch/crosswatch/internal/cfgfile"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// Config is the aggregator's configuration file.
type Config struct {
	HTTP struct {
		Listen string `yaml:"listen"`
		// TLSCert and TLSKey (PEM, relative to the config file) serve the API and dashboard
		// over HTTPS; then the session cookie is Secure.
		TLSCert string `yaml:"tls_cert"`
		TLSKey  string `yaml:"tls_key"`
		// Insecure serves the API and dashboard with no authentication at all; the aggregator
		// logs a warning at every start with it.
		Insecure     bool          `yaml:"insecure"`
		ReadTimeout  time.Duration `yaml:"read_timeout"`
		WriteTimeout time.Duration `yaml:"write_timeout"`
		IdleTimeout  time.Duration `yaml:"idle_timeout"`
		MaxStreams   int           `yaml:"max_streams"` // open /api/v1/stream connections; the next gets 503
	} `yaml:"http"`
	Ingest struct {
		// Event, count and gap times must lie within MaxEventAge before and MaxClockAhead after
		// the aggregator's clock; others are dead-lettered with the reason.
		MaxEventAge   time.Duration `yaml:"max_event_age"`
		MaxClockAhead time.Duration `yaml:"max_clock_ahead"`
		// DeadLetterBytes is how much of each rejected payload is kept.
		DeadLetterBytes int `yaml:"dead_letter_bytes"`
	} `yaml:"ingest"`
	Retention struct {
		Evidence    time.Duration `yaml:"evidence"`     // evidence images; events and ledger stay (0: for ever)
		DeadLetters time.Duration `yaml:"dead_letters"` // dead letters (0: for ever)
	} `yaml:"retention"`
	MQTT  MQTTConfig `yaml:"mqtt"`
	Store struct {
		Driver string `yaml:"driver"` // sqlite (one box) or postgres (several instances)
		Path   string `yaml:"path"`   // sqlite
		DSN    string `yaml:"dsn"`    // postgres: postgres://user@host:5432/db?sslmode=…
	} `yaml:"store"`
	Score struct {
		Window       time.Duration `yaml:"window"`         // rolling window of the score and rates
		MinRoadUsers int           `yaml:"min_road_users"` // exposure below which rates are "insufficient data"
	} `yaml:"score"`
	Metrics struct {
		// MaxSites bounds crosswatch_site_events_total: the first max_sites sites listed under
		// sites: have their own site label, the rest are counted under site="other".
		MaxSites int `yaml:"max_sites"`
	} `yaml:"metrics"`
	Dashboard struct {
		// Tiles is an MBTiles file of raster (PNG or JPEG) map tiles, relative to the config
		// file, that the plan view draws under the sites; served at /tiles/ to signed-in users,
		// so the dashboard never asks a tile server on the internet. Empty: no basemap.
		Tiles string `yaml:"tiles"`
	} `yaml:"dashboard"`
	Catalog string            `yaml:"catalog"` // relative to the config file
	Sites   []aggregator.Site `yaml:"sites"`
}

// MQTTConfig is the mqtt: section: the embedded broker, or the aggregator's link to an external
// one, and who may connect (docs/SECURITY.md).
type MQTTConfig struct {
	Broker   string `yaml:"broker"` // "embedded" or a URL such as tcp://127.0.0.1:1883, ssl://broker:8883
	Listen   string `yaml:"listen"` // the embedded broker's plaintext address (loopback unless insecure)
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"` // for an external broker
	Password string `yaml:"password"` // for an external broker; better password_file
	// PasswordFile holds the aggregator's password for an external broker (mode 0600).
	PasswordFile string `yaml:"password_file"`
	Group        string `yaml:"group"` // shared-subscription group, for several aggregators
	// DeviceTokensFile lists "device-id:hash" per line (Mosquitto's password-file format;
	// 'crosswatch-aggregator device add' writes it): the embedded broker admits a device only
	// with its token, or with a client certificate from tls.ca (relative to the config file).
	DeviceTokensFile string `yaml:"device_tokens_file"`
	// ControllersFile lists "controller-id hash device-id[,device-id…]" per line: the signal
	// controllers (or door-status gateways) the embedded broker lets publish phase messages
	// to those devices (relative to the config file).
	ControllersFile string `yaml:"controllers_file"`
	// TLSListen is the embedded broker's TLS listener (e.g. 0.0.0.0:8883); needs tls.cert/key.
	TLSListen string `yaml:"tls_listen"`
	// TLS: with the embedded broker, cert/key are the broker's and ca signs the devices' client
	// certificates (mTLS, device id = subject CN); with an external broker, ca verifies the
	// broker, cert/key are the aggregator's client certificate and server_name the broker's name.
	TLS struct {
		CA         string `yaml:"ca"`
		Cert       string `yaml:"cert"`
		Key        string `yaml:"key"`
		ServerName string `yaml:"server_name"`
	} `yaml:"tls"`
	// MaxPacketSize bounds one MQTT packet on the embedded broker, in bytes.
	MaxPacketSize int `yaml:"max_packet_size"`
	// MaxConnections bounds the embedded broker's connected clients.
	MaxConnections int `yaml:"max_connections"`
	// Insecure lets devices connect without proving who they are, and plaintext MQTT leave the
	// host. For a closed lab only; the aggregator warns at every start.
	Insecure bool `yaml:"insecure"`
}

// DefaultConfig is the configuration a file that sets nothing gets.
func DefaultConfig() Config {
	var c Config
	c.HTTP.Listen = "127.0.0.1:8080"
	c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout = 30*time.Second, 60*time.Second, 120*time.Second
	c.HTTP.MaxStreams = 64
	c.Ingest.MaxEventAge, c.Ingest.MaxClockAhead = 7*24*time.Hour, 5*time.Minute
	c.Ingest.DeadLetterBytes = 4 << 10
	c.Retention.Evidence, c.Retention.DeadLetters = 30*24*time.Hour, 30*24*time.Hour
	c.MQTT.Broker = "embedded"
	c.MQTT.Listen = "127.0.0.1:1883"
	c.MQTT.ClientID = "crosswatch-aggregator"
	c.MQTT.MaxPacketSize = broker.DefaultMaxPacketSize
	c.MQTT.MaxConnections = broker.DefaultMaxClients
	c.Store.Driver = "sqlite"
	c.Store.Path = "crosswatch.db"
	c.Catalog = "catalog.yaml"
	c.Score.Window = 30 * 24 * time.Hour
	c.Score.MinRoadUsers = 200
	c.Metrics.MaxSites = 100
	return c
}

// LoadConfig reads path strictly over DefaultConfig; the catalog path is made relative to the config's folder.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseConfig(b, path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes a configuration strictly over the defaults; relative paths in it are
// made relative to path's folder. It does not validate.
func parseConfig(b []byte, path string) (*Config, error) {
	c := DefaultConfig()
	if err := cfgfile.Decode(b, &c); err != nil {
		return nil, err
	}
	if c.Catalog != "" && !filepath.IsAbs(c.Catalog) {
		c.Catalog = filepath.Join(filepath.Dir(path), c.Catalog)
	}
	for _, f := range []*string{&c.MQTT.DeviceTokensFile, &c.MQTT.ControllersFile, &c.MQTT.PasswordFile,
		&c.MQTT.TLS.CA, &c.MQTT.TLS.Cert, &c.MQTT.TLS.Key, &c.HTTP.TLSCert, &c.HTTP.TLSKey, &c.Dashboard.Tiles} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(filepath.Dir(path), *f)
		}
	}
	return &c, nil
}

// Validate reports every problem with its field path.
func (c *Config) Validate() error {
	var problems cfgfile.Problems
	bad := problems.Add
	if host, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%v", err)
	} else if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) && c.HTTP.TLSCert == "" && !c.HTTP.Insecure {
		// Passwords and session cookies would cross the network in clear.
		bad("http.listen", "%s is not a loopback address: set http.tls_cert and http.tls_key (or bind 127.0.0.1 behind a TLS proxy)", c.HTTP.Listen)
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tls_cert", "http.tls_cert and http.tls_key go together")
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v < time.Second || d.v > time.Hour {
			bad(d.field, "must be within 1s..1h, got %v", d.v)
		}
	}
	if c.HTTP.MaxStreams < 1 || c.HTTP.MaxStreams > 10000 {
		bad("http.max_streams", "must be within 1..10000, got %d", c.HTTP.MaxStreams)
	}
	if c.Ingest.MaxEventAge < time.Hour || c.Ingest.MaxEventAge > 5*366*24*time.Hour {
		bad("ingest.max_event_age", "must be within 1h..5 years, got %v", c.Ingest.MaxEventAge)
	}
	if c.Ingest.MaxClockAhead < 0 || c.Ingest.MaxClockAhead > 24*time.Hour {
		bad("ingest.max_clock_ahead", "must be within 0..24h, got %v", c.Ingest.MaxClockAhead)
	}
	if c.Ingest.DeadLetterBytes < 0 || c.Ingest.DeadLetterBytes > 1<<20 {
		bad("ingest.dead_letter_bytes", "must be within 0..1048576, got %d", c.Ingest.DeadLetterBytes)
	}
	if r := c.Retention.Evidence; r != 0 && r < time.Hour {
		bad("retention.evidence", "must be 0 (for ever) or at least 1h, got %v", r)
	}
	if r := c.Retention.DeadLetters; r != 0 && r < time.Hour {
		bad("retention.dead_letters", "must be 0 (for ever) or at least 1h, got %v", r)
	}
	c.MQTT.validate(bad)
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.Path == "" {
			bad("store.path", "missing")
		}
	case "postgres":
		if !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://") {
			bad("store.dsn", "must be a postgres:// URL, got %q", c.Store.DSN)
		}
	default:
		bad("store.driver", "must be sqlite or postgres, got %q", c.Store.Driver)
	}
	if c.Score.Window < time.Hour || c.Score.Window > 5*366*24*time.Hour {
		bad("score.window", "must be within 1h..5 years, got %v", c.Score.Window)
	}
	if c.Score.MinRoadUsers < 1 {
		bad("score.min_road_users", "must be at least 1, got %d", c.Score.MinRoadUsers)
	}
	if c.Metrics.MaxSites < 0 || c.Metrics.MaxSites > 10000 {
		bad("metrics.max_sites", "must be within 0..10000 (0: every site under \"other\"), got %d", c.Metrics.MaxSites)
	}
	if c.Catalog == "" {
		bad("catalog", "missing")
	}
	if len(c.Sites) == 0 {
		bad("sites", "at least one site is needed")
	}
	ids := map[string]bool{}
	for i, s := range c.Sites {
		f := fmt.Sprintf("sites[%d]", i)
		if err := wire.CheckName("id", s.ID); err != nil {
			bad(f+".id", "%q: letters, digits, '.', '_' or '-', at most %d", s.ID, wire.MaxNameLen)
		}
		if ids[s.ID] {
			bad(f+".id", "duplicate site %q", s.ID)
		}
		if s.ID == ingest.OtherSite {
			// Its series would be indistinguishable from the overflow's.
			bad(f+".id", "%q names the sites past metrics.max_sites in /metrics; give this site another id", s.ID)
		}
		ids[s.ID] = true
		if strings.TrimSpace(s.Name) == "" {
			bad(f+".name", "missing")
		}
		if s.Kind != aggregator.Road && s.Kind != aggregator.Rail {
			bad(f+".kind", "must be road or rail, got %q", s.Kind)
		}
		if math.IsNaN(s.Lat) || s.Lat < -90 || s.Lat > 90 {
			bad(f+".lat", "must be within -90..90, got %v", s.Lat)
		}
		if math.IsNaN(s.Lon) || s.Lon < -180 || s.Lon > 180 {
			bad(f+".lon", "must be within -180..180, got %v", s.Lon)
		}
		if s.TimeZone != "" {
			// Local is the aggregator's own machine, not the site's: a zone must be named.
			if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
				bad(f+".time_zone", "%q is not an IANA time zone such as Europe/Vienna or America/New_York", s.TimeZone)
			}
		}
		for j, c := range s.Cameras {
			if err := wire.CheckName("camera", c); err != nil {
				bad(fmt.Sprintf("%s.cameras[%d]", f, j), "%q: letters, digits, '.', '_' or '-'", c)
			}
		}
	}
	return problems.Err()
}

// openTiles opens dashboard.tiles, or returns nil when none is configured. A file that is
// missing or not a raster MBTiles file is an error naming the field.
func (c *Config) openTiles() (*mbtiles.Tileset, error) {
	if c.Dashboard.Tiles == "" {
		return nil, nil
	}
	t, err := mbtiles.Open(c.Dashboard.Tiles)
	if err != nil {
		return nil, fmt.Errorf("dashboard.tiles: %w", err)
	}
	return t, nil
}

// zoneNotes says which sites have no time zone, so that their bins and exported times are UTC.
func (c *Config) zoneNotes() []string {
	var out []string
	for i, s := range c.Sites {
		if s.TimeZone == "" {
			out = append(out, fmt.Sprintf("sites[%d].time_zone not set: site %s bins and exports its times in UTC", i, s.ID))
		}
	}
	return out
}

// validate adds the mqtt: section's problems.
func (m *MQTTConfig) validate(bad func(field, format string, args ...any)) {
	if m.Broker == "embedded" {
		m.validateEmbedded(bad)
	} else {
		m.validateExternal(bad)
	}
	if m.ClientID == "" {
		bad("mqtt.client_id", "missing")
	} else if strings.HasPrefix(m.ClientID, broker.DeviceClientIDPrefix) {
		bad("mqtt.client_id", "%q: %s… is the devices' client id prefix", m.ClientID, broker.DeviceClientIDPrefix)
	}
	if m.Group != "" {
		if err := wire.CheckName("group", m.Group); err != nil {
			bad("mqtt.group", "letters, digits, '.', '_' or '-' only")
		}
	}
	if (m.TLS.Cert == "") != (m.TLS.Key == "") {
		bad("mqtt.tls", "cert and key: give both or neither")
	}
	if m.Password != "" && m.PasswordFile != "" {
		bad("mqtt.password", "give password or password_file, not both")
	}
}

func (m *MQTTConfig) validateEmbedded(bad func(field, format string, args ...any)) {
	if host, _, err := net.SplitHostPort(m.Listen); err != nil {
		bad("mqtt.listen", "%v", err)
	} else if !brokerurl.LoopbackHost(host) && !m.Insecure {
		bad("mqtt.listen", "%s: plaintext MQTT on an address other machines reach; listen on 127.0.0.1 and use mqtt.tls_listen, or set mqtt.insecure: true", m.Listen)
	}
	if m.TLSListen != "" {
		if _, _, err := net.SplitHostPort(m.TLSListen); err != nil {
			bad("mqtt.tls_listen", "%v", err)
		}
		if m.TLS.Cert == "" {
			bad("mqtt.tls.cert", "the TLS listener needs the broker's certificate and key ('crosswatch-aggregator certs' makes them)")
		}
	} else if m.TLS.CA != "" {
		bad("mqtt.tls.ca", "client certificates are checked on mqtt.tls_listen, which is not set")
	}
	if m.DeviceTokensFile == "" && m.TLS.CA == "" && !m.Insecure {
		bad("mqtt.device_tokens_file", "devices must prove who they are: give a tokens file ('crosswatch-aggregator device add ID --tokens FILE'), a client CA (mqtt.tls.ca), or set mqtt.insecure: true")
	}
	if m.MaxPacketSize < 512<<10 || m.MaxPacketSize > 256<<20 {
		bad("mqtt.max_packet_size", "must be within 512 KiB..256 MiB (an event with its evidence image needs about 350 KiB), got %d", m.MaxPacketSize)
	}
	if m.MaxConnections < 1 {
		bad("mqtt.max_connections", "must be at least 1, got %d", m.MaxConnections)
	}
}

func (m *MQTTConfig) validateExternal(bad func(field, format string, args ...any)) {
	if err := brokerurl.Check(m.Broker); err != nil {
		bad("mqtt.broker", "must be embedded or a URL such as tcp://127.0.0.1:1883 or ssl://broker:8883: %v", err)
		return
	}
	if !brokerurl.Encrypted(m.Broker) && !brokerurl.Loopback(m.Broker) && !m.Insecure {
		bad("mqtt.broker", "%s: plaintext MQTT to another machine; use ssl://, or set mqtt.insecure: true", m.Broker)
	}
	if m.Username == "" && m.TLS.Cert == "" && !m.Insecure {
		bad("mqtt.username", "the aggregator must prove who it is to %s: give username and password_file, or tls.cert and tls.key, or set mqtt.insecure: true", m.Broker)
	}
	if m.Username != "" && m.Password == "" && m.PasswordFile == "" && !m.Insecure {
		bad("mqtt.password_file", "missing: the broker must not take the username alone")
	}
}

// credentialLines calls line for each line of a credentials file that is not blank or a #
// comment, with the line and its position for errors ("file:line"). The file must be private:
// a hash that others can read can be copied to another broker.
func credentialLines(path, field string, line func(at, l string) error) error {
	b, err := secfile.ReadPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %s does not exist; 'crosswatch-aggregator %s' makes it", field, path, addCommand[field])
	}
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := line(fmt.Sprintf("%s:%d", path, i+1), l); err != nil {
			return err
		}
	}
	return nil
}

// addCommand names the command that writes each credentials file.
var addCommand = map[string]string{
	"mqtt.device_tokens_file": "device add ID --tokens FILE",
	"mqtt.controllers_file":   "controller add ID --devices D1,D2 --file FILE",
}

// reservedID reports why id may not be a device's or controller's, or "".
func reservedID(id, aggregatorUser, aggregatorClientID string) string {
	switch {
	case id == aggregatorUser || id == aggregatorClientID:
		return "is the aggregator's"
	case strings.HasPrefix(id, broker.DeviceClientIDPrefix):
		return "begins with the devices' client id prefix " + broker.DeviceClientIDPrefix
	}
	return ""
}

// loadDeviceHashes reads "device-id:hash" lines (Mosquitto's password-file format).
func loadDeviceHashes(path, aggregatorClientID string) (map[string]broker.Hash, error) {
	out := map[string]broker.Hash{}
	err := credentialLines(path, "mqtt.device_tokens_file", func(at, l string) error {
		id, h, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("%s: want \"device-id:hash\": %w", at, broker.ErrBadHash)
		}
		if err := wire.CheckName("device", id); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if why := reservedID(id, aggregatorUser, aggregatorClientID); why != "" {
			return fmt.Errorf("%s: device id %s %s", at, id, why)
		}
		hash, err := broker.ParseHash(h)
		if err != nil {
			return fmt.Errorf("%s: device %s: %w", at, id, err)
		}
		if _, dup := out[id]; dup {
			return fmt.Errorf("%s: device %s listed twice", at, id)
		}
		out[id] = hash
		return nil
	})
	return out, err
}

// loadControllers reads "controller-id hash device-id[,device-id…]" lines. A controller id
// must not also be a device's (devices holds the device ids, nil when there are none).
func loadControllers(path, aggregatorClientID string, devices map[string]broker.Hash) (map[string]broker.Controller, error) {
	out := map[string]broker.Controller{}
	err := credentialLines(path, "mqtt.controllers_file", func(at, l string) error {
		f := strings.Fields(l)
		if len(f) != 3 {
			return fmt.Errorf("%s: want \"controller-id hash device-id[,device-id…]\"", at)
		}
		if err := wire.CheckName("controller", f[0]); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if why := reservedID(f[0], aggregatorUser, aggregatorClientID); why != "" {
			return fmt.Errorf("%s: controller id %s %s", at, f[0], why)
		}
		if _, dup := out[f[0]]; dup {
			return fmt.Errorf("%s: controller %s listed twice", at, f[0])
		}
		if _, clash := devices[f[0]]; clash {
			return fmt.Errorf("%s: %s is a device id in mqtt.device_tokens_file; a controller needs its own", at, f[0])
		}
		hash, err := broker.ParseHash(f[1])
		if err != nil {
			return fmt.Errorf("%s: controller %s: %w", at, f[0], err)
		}
		c := broker.Controller{Hash: hash, Devices: map[string]bool{}}
		for _, d := range strings.Split(f[2], ",") {
			if err := wire.CheckName("device", d); err != nil {
				return fmt.Errorf("%s: %v", at, err)
			}
			c.Devices[d] = true
		}
		out[f[0]] = c
		return nil
	})
	return out, err
}

// aggregatorUser is the aggregator's own username on the embedded broker.
const aggregatorUser = "crosswatch-aggregator"
