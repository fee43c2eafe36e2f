package cli

import (
	"net"
	"os"
	"strings"
	"testing"
)

// Whatever the bytes, the configuration parses to an error or to a config whose Validate
// answers without panicking; one that validates has an HTTP address to listen on, bounded
// timeouts and a store.
func FuzzConfig(f *testing.F) {
	good, _ := os.ReadFile("../../configs/aggregator.yaml")
	f.Add(good)
	for _, s := range []string{
		strings.Replace(string(good), "listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080", 1),
		strings.Replace(string(good), "read_timeout: 30s", "read_timeout: -5s", 1),
		strings.Replace(string(good), "lat: 48.2082", "lat: .nan", 1),
		strings.Replace(string(good), "max_streams: 64", "max_streams: 9223372036854775807", 1),
		"http: {listen: \"[::1]:0\"}\nsites: [{id: a, name: A, kind: road}]\n",
		"", "---\n", "http: []\n", "sites: {a: b}\n", "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b, "/etc/crosswatch/aggregator.yaml")
		if err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			t.Fatalf("valid config with http.listen %q", c.HTTP.Listen)
		}
		if c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.MaxStreams < 1 || c.Ingest.MaxEventAge <= 0 {
			t.Fatalf("valid config with unbounded HTTP or ingest: %+v %+v", c.HTTP, c.Ingest)
		}
		if c.Store.Driver == "sqlite" && c.Store.Path == "" {
			t.Fatal("valid config with no store")
		}
	})
}
