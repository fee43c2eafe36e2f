// Package scenefile reads and writes scene files: YAML, decoded strictly (unknown keys are
// errors) into edge/scene's plain types and validated there, every problem with its field path.
package scenefile

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/crosswatch/crosswatch/edge/scene"
	"github.com/crosswatch/crosswatch/internal/cfgfile"
)

// detectorOverrides returns the detector fields the document sets, as detector.<key>.
func detectorOverrides(b []byte) []string {
	var doc struct {
		Detector map[string]yaml.Node `yaml:"detector"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return nil
	}
	var out []string
	for k := range doc.Detector {
		out = append(out, "detector."+k)
	}
	slices.Sort(out)
	return out
}

// Load reads, decodes strictly and validates a scene file.
func Load(path string) (*scene.Scene, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scene: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("scene %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes strictly (unknown keys are errors) and validates.
func Parse(b []byte) (*scene.Scene, error) {
	s := scene.Defaults()
	s.Overrides = detectorOverrides(b)
	if slices.Contains(s.Overrides, "detector.kind") && !slices.Contains(s.Overrides, "detector.model") {
		s.Detector.Model, s.Detector.MinScore = "", 0 // another kind: the dnn's model is not its default
	}
	if err := cfgfile.Decode(b, &s); err != nil {
		return nil, err
	}
	if s.Detector.Kind == "dnn" && s.Detector.Model == "" {
		s.Detector.Model = scene.DefaultModel
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes the scene as YAML, its points in flow style ([x, y]) with 4 significant
// digits.
func Marshal(s *scene.Scene) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(s); err != nil {
		return nil, err
	}
	flowPoints(&doc)
	return yaml.Marshal(&doc)
}

// flowPoints writes every point (a sequence of two numbers, as scene.Point marshals) as
// [x, y] with 4 significant digits, as a scene file is written by hand.
func flowPoints(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode && len(n.Content) == 2 && number(n.Content[0]) && number(n.Content[1]) {
		n.Style = yaml.FlowStyle
		for _, c := range n.Content {
			v, _ := strconv.ParseFloat(c.Value, 64)
			c.Value, c.Tag = fmt.Sprintf("%.4g", v), ""
		}
		return
	}
	for _, c := range n.Content {
		flowPoints(c)
	}
}

func number(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!float" || n.Tag == "!!int")
}
