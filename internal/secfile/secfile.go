// Package secfile reads and writes secrets on disk (keys, tokens, password hashes) so that
// only their owner can read them.
package secfile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// CheckPrivate returns an error naming path and its mode if group or others have any access to
// it: a key or token that another account on the box can read is not a secret any more.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s is mode %04o: group or others can read it; chmod 600 %s", path, m, path)
	}
	return nil
}

// ReadPrivate reads path after CheckPrivate.
func ReadPrivate(path string) ([]byte, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// WritePrivate writes data to path with mode 0600, also when path exists with a wider mode.
func WritePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TLSFiles names the PEM files of a TLS client or server.
type TLSFiles struct {
	CA         string // CA certificate(s) that sign the peer's certificate; "" for the system's
	Cert, Key  string // our certificate and its key; both or neither
	ServerName string // the name the server's certificate must carry; "" for the URL's host
}

// ClientTLS builds the TLS configuration of an MQTT client: the CA to verify the broker with
// and, for mTLS, the client certificate. The key file must be private (CheckPrivate).
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		b, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca %s: no PEM certificate in it", f.CA)
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("cert and key: give both or neither")
	}
	if f.Cert != "" {
		pair, err := LoadKeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// LoadKeyPair loads a certificate and its key, refusing a key file others can read.
func LoadKeyPair(cert, key string) (tls.Certificate, error) {
	if err := CheckPrivate(key); err != nil {
		return tls.Certificate{}, fmt.Errorf("key: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cert %s, key %s: %w", cert, key, err)
	}
	return pair, nil
}

// PrivateDatabase creates the SQLite database at path 0600 if it is missing, and takes group and
// other bits off it and its -wal and -shm files if they exist (the aggregator's store and the
// edge's outbox).
func PrivateDatabase(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return err
			}
		}
	}
	return nil
}
