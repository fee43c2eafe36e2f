// Package cfgfile decodes configuration files strictly (unknown keys are errors, an empty file
// is an error, every error fits on one line) and collects validation problems by field path.
package cfgfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrEmpty means the document is empty.
var ErrEmpty = errors.New("empty file")

// Decode decodes b into v, which holds the defaults.
func Decode(b []byte, v any) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrEmpty
		}
		return errors.New(strings.NewReplacer("yaml: unmarshal errors:\n  ", "", "\n  ", "; ", " in type ", " in ").Replace(err.Error()))
	}
	return nil
}

// Problems collects every validation problem, each prefixed with its field path.
type Problems []string

// Add records a problem with field.
func (p *Problems) Add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

// Err returns all problems joined on one line, or nil.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}
