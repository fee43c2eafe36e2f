package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/secfile"
)

// runDevice is 'device add ID --tokens FILE': it appends "ID:hash" to FILE (made 0600 if new)
// and prints the token once; only its hash is kept.
func runDevice(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: device add ID --tokens FILE")
	}
	fs := flag.NewFlagSet("crosswatch-aggregator device add", flag.ContinueOnError)
	file := fs.String("tokens", "", "the device token file (mqtt.device_tokens_file; also a Mosquitto password_file)")
	id, err := parseIDThenFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--tokens: missing")
	}
	if err := checkNewID("device", id); err != nil {
		return err
	}
	tok := broker.NewToken()
	if err := appendCredential(*file, id, func(l string) bool { return strings.HasPrefix(l, id+":") }, id+":"+broker.HashToken(tok)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", tok)
	fmt.Fprintf(stderr, "device %s added to %s; its token is printed above and kept nowhere: give it to the device as CROSSWATCH_DEVICE_TOKEN or in a file (mode 0600) for --token-file\n", id, *file)
	return nil
}

// runController is 'controller add ID --devices A,B --file FILE'.
func runController(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: controller add ID --devices DEVICE[,DEVICE…] --file FILE")
	}
	fs := flag.NewFlagSet("crosswatch-aggregator controller add", flag.ContinueOnError)
	file := fs.String("file", "", "the controllers file (mqtt.controllers_file)")
	devices := fs.String("devices", "", "the devices whose phase topics it may publish to, comma-separated")
	id, err := parseIDThenFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file: missing")
	}
	if err := checkNewID("controller", id); err != nil {
		return err
	}
	for _, d := range strings.Split(*devices, ",") {
		if err := wire.CheckName("device", d); err != nil {
			return fmt.Errorf("--devices: %w", err)
		}
	}
	tok := broker.NewToken()
	line := id + " " + broker.HashToken(tok) + " " + *devices
	if err := appendCredential(*file, id, func(l string) bool { return strings.HasPrefix(l, id+" ") }, line); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", tok)
	return nil
}

// parseIDThenFlags takes the id first ('device add ID --tokens F') or after the flags.
func parseIDThenFlags(fs *flag.FlagSet, args []string) (string, error) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() != 0 || id == "" {
		return "", errors.New("give exactly one id")
	}
	return id, nil
}

func checkNewID(kind, id string) error {
	if err := wire.CheckName(kind, id); err != nil {
		return err
	}
	if why := reservedID(id, aggregatorUser, DefaultConfig().MQTT.ClientID); why != "" {
		return fmt.Errorf("%s id %s %s", kind, id, why)
	}
	return nil
}

// appendCredential appends line to file, refusing an id that is already there (taken reports
// whether a line is the id's). A new file is made 0600; an existing one must be private.
func appendCredential(file, id string, taken func(string) bool, line string) error {
	var old []byte
	if _, err := os.Stat(file); err == nil {
		if old, err = secfile.ReadPrivate(file); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, l := range strings.Split(string(old), "\n") {
		if taken(strings.TrimSpace(l)) {
			return fmt.Errorf("%s is already in %s; remove its line to replace its token", id, file)
		}
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return secfile.WritePrivate(file, append(old, line+"\n"...))
}

// runCerts is 'certs --out DIR --device ID… [--host NAME…] [--client NAME…]': a CA, the broker's certificate
// (127.0.0.1, ::1, localhost and the --host names) and one client certificate per device, whose
// subject CN is the device id. Keys are written 0600.
func runCerts(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crosswatch-aggregator certs", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write into (made 0700)")
	var devices, hosts multiFlag
	fs.Var(&devices, "device", "a device id to make a client certificate for (repeat, or comma-separated)")
	fs.Var(&hosts, "host", "another DNS name or IP address of the broker (repeat, or comma-separated)")
	var clients multiFlag
	fs.Var(&clients, "client", "another client to make a certificate for, such as crosswatch-aggregator for an external broker (repeat, or comma-separated)")
	days := fs.Int("days", 825, "validity of the certificates in days (the CA's: ten times that)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out: missing")
	}
	if *days < 1 {
		return errors.New("--days: at least 1")
	}
	for _, d := range devices {
		if err := checkNewID("device", d); err != nil {
			return fmt.Errorf("--device: %w", err)
		}
	}
	for _, c := range clients {
		if err := wire.CheckName("client", c); err != nil {
			return fmt.Errorf("--client: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(*out, "ca-key.pem")); err == nil {
		return fmt.Errorf("--out %s: holds a CA already; use another directory", *out)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	valid := time.Duration(*days) * 24 * time.Hour
	ca, err := broker.NewCA("crosswatch CA", 10*valid)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Minute)
	srv, err := ca.IssueServer(append([]string{"localhost", "127.0.0.1", "::1"}, hosts...), now, now.Add(valid))
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": ca.PEM, "ca-key.pem": ca.KeyPEM(), "server.pem": srv.CertPEM, "server-key.pem": srv.KeyPEM}
	for _, d := range append(devices, clients...) {
		c, err := ca.IssueClient(d, now, now.Add(valid))
		if err != nil {
			return err
		}
		files[d+".pem"], files[d+"-key.pem"] = c.CertPEM, c.KeyPEM
	}
	for name, b := range files {
		if err := secfile.WritePrivate(filepath.Join(*out, name), b); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s: ca.pem, server.pem and server-key.pem (for mqtt.tls), a certificate and key per client (%s); keep ca-key.pem offline\n", *out, strings.Join(append(devices, clients...), ", "))
	return nil
}

// multiFlag collects a repeatable, comma-separated flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}
