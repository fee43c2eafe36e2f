package scenefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"
)

// The dashboard's scene editor reads and writes scenes as JSON: a browser should not need a
// YAML parser. The conversion goes through the document tree, not through scene.Scene, so
// that it is lossless: the keys a file sets, in its order, and no defaults added (a scene that
// leaves detector out must still leave it out after an edit, or it stops getting the
// product's defaults when they change). Comments are the one thing JSON cannot carry.

// ToJSON returns scene file b as JSON with the same keys in the same order and the same
// values. b must be a valid scene (Parse): a scene that does not load is an error.
func ToJSON(b []byte) ([]byte, error) {
	if _, err := Parse(b); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var w bytes.Buffer
	if err := writeJSON(&w, &doc, 0); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// writeJSON writes the YAML node n as JSON. Aliases are followed (to a bounded depth: a scene
// is small, a chain of aliases that deep is a billion-laughs document).
func writeJSON(w *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 64 {
		return errors.New("scene nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("scene: one YAML document")
		}
		return writeJSON(w, n.Content[0], depth+1)
	case yaml.AliasNode:
		return writeJSON(w, n.Alias, depth+1)
	case yaml.MappingNode:
		w.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				w.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			w.Write(k)
			w.WriteByte(':')
			if err := writeJSON(w, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	case yaml.SequenceNode:
		w.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := writeJSON(w, c, depth+1); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(w, n)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}

func writeScalar(w *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		w.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return err
		}
		w.WriteString(strconv.FormatBool(v))
	case "!!int", "!!float":
		var v float64
		if err := n.Decode(&v); err != nil {
			return err
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
		}
		// The number as written when it is already JSON (0.45 stays 0.45, not 0.45000000000000001).
		if json.Valid([]byte(n.Value)) {
			w.WriteString(n.Value)
		} else {
			w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	default:
		s, _ := json.Marshal(n.Value)
		w.Write(s)
	}
	return nil
}

// FromJSON returns the scene file that the JSON document j stands for (as ToJSON writes it, or
// as an editor changed it) as YAML in the house style: block mappings, points [x, y] on one
// line, numbers as given. The result is validated with Parse: an invalid scene is an error with
// its field path (approaches[0].stop_line[1]: …) and no YAML.
func FromJSON(j []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("scene JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("scene JSON: one object, nothing after it")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("scene JSON: an object (version, camera, approaches, …)")
	}
	// encoding/json forgets the order of keys; read it again from the tokens.
	n, err := jsonNode(json.NewDecoder(bytes.NewReader(j)))
	if err != nil {
		return nil, fmt.Errorf("scene JSON: %w", err)
	}
	flowPairs(n)
	var w bytes.Buffer
	enc := yaml.NewEncoder(&w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	enc.Close()
	out := w.Bytes()
	if _, err := Parse(out); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonNode reads the next JSON value from dec as a YAML node, keeping the order of keys.
func jsonNode(dec *json.Decoder) (*yaml.Node, error) {
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := jsonNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.(string)}, v)
			}
			_, err := dec.Token() // }
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := jsonNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, err := dec.Token() // ]
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case string:
		// Tagged !!str, the encoder quotes a string that would read as another type ("1", "yes").
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

// flowPairs writes every point (a sequence of two numbers) in flow style, [x, y], and every
// line or polygon (a sequence of points) on one line, keeping the numbers as given
// (flowPoints, for Marshal, rounds them). It reports whether n is a point.
func flowPairs(n *yaml.Node) bool {
	if n.Kind == yaml.SequenceNode && len(n.Content) == 2 && number(n.Content[0]) && number(n.Content[1]) {
		n.Style = yaml.FlowStyle
		return true
	}
	points := n.Kind == yaml.SequenceNode && len(n.Content) > 0
	for _, c := range n.Content {
		points = flowPairs(c) && points
	}
	if points {
		n.Style = yaml.FlowStyle
	}
	return false
}
