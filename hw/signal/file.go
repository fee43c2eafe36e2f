package signal

import (
	"fmt"
	"os"
	"strings"

	"github.com/crosswatch/crosswatch/edge/wire"
)

// LoadFile adds a recorded controller feed to the feed: one phase message (JSON) per line. A
// line that does not decode is an error naming the file and the line.
func (f *Feed) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, err := wire.DecodePhase([]byte(line))
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		f.Add(p)
	}
	return nil
}
