// Package camtest stands in for a network camera in tests: ffmpeg in listen mode serves a clip
// in a loop, in real time, as an MPEG-TS HTTP stream on a loopback port.
package camtest

import (
	"fmt"
	"os/exec"
	"sync"
	"testing"
)

// Serve serves clip on 127.0.0.1:port until the returned function (or the test's end) stops it.
func Serve(t testing.TB, clip string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c:v", "mpeg2video", "-q:v", "4",
		"-f", "mpegts", "-listen", "1", fmt.Sprintf("http://127.0.0.1:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	return stop
}
