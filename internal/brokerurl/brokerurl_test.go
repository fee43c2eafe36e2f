package brokerurl

import "testing"

func TestBrokerURLs(t *testing.T) {
	for _, c := range []struct {
		url               string
		ok, enc, loopback bool
	}{
		{"tcp://127.0.0.1:1883", true, false, true},
		{"tcp://localhost:1883", true, false, true},
		{"tcp://[::1]:1883", true, false, true},
		{"tcp://10.0.0.5:1883", true, false, false},
		{"tcp://broker.example:1883", true, false, false},
		{"ssl://broker.example:8883", true, true, false},
		{"mqtts://127.0.0.1:8883", true, true, true},
		{"http://x", false, false, false},
		{"tcp://", false, false, false},
	} {
		if err := Check(c.url); (err == nil) != c.ok {
			t.Errorf("Check(%s): %v", c.url, err)
		}
		if c.ok && (Encrypted(c.url) != c.enc || Loopback(c.url) != c.loopback) {
			t.Errorf("%s: encrypted %v loopback %v", c.url, Encrypted(c.url), Loopback(c.url))
		}
	}
}
