// Package strictyaml decodes configuration files strictly: unknown keys are errors, an empty
// file is an error, and every error fits on one line.
package strictyaml

import (
	"bytes"
	"errors"
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
