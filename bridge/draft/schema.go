package draft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/hookbridge/hookbridge/bridge/learn"
)

// Patterns for the two formats JSON Schema has no name for; learn's detectors match exactly these.
const (
	macPattern     = `^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$`
	numericPattern = `^-?[0-9]+(\.[0-9]+)?$`
)

// schemaFormat names the JSON Schema format of each learnt format that has one.
var schemaFormat = map[learn.Formats]string{
	learn.FormatDateTime: "date-time",
	learn.FormatDate:     "date",
	learn.FormatEmail:    "email",
	learn.FormatUUID:     "uuid",
	learn.FormatURI:      "uri",
	learn.FormatIPv4:     "ipv4",
}

// obj is a JSON object that keeps its keys in the order they were added, so the schema reads
// like the hand-written ones: type first, then constraints, then members.
type obj []member

type member struct {
	key   string
	value any
}

func (o *obj) set(k string, v any) { *o = append(*o, member{k, v}) }

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// schemaWriter turns learnt nodes into JSON Schema.
type schemaWriter struct {
	typeNode  *learn.Node // the node at the policy's event.type pointer, if any
	typeNames []string    // the enum for it: every learnt event type, when all were kept by name
	// placeholder is the root member the placeholder routes point at: the schema must refuse it
	// even where the root stays open (limits, folded keys), so that those routes never publish.
	placeholder string
}

// document returns the whole schema.
func (w *schemaWriter) document(s *learn.Structure, title string) ([]byte, error) {
	var root obj
	root.set("$schema", "https://json-schema.org/draft/2020-12/schema")
	root.set("$comment", fmt.Sprintf("Drafted by hookbridge from %d learnt events of %s: review it, then go live through shadow mode.", s.Events, s.Vendor))
	root.set("title", title)
	body := w.node(s.Root)
	if s.Root.Types&learn.TypeObject != 0 && (s.Root.Dynamic != nil || s.Root.Truncated) {
		body = w.forbid(body)
	}
	root = append(root, body...)
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// node returns the schema of one learnt path.
func (w *schemaWriter) node(n *learn.Node) obj {
	var s obj
	if n == nil {
		return s
	}
	t := n.Types
	if names := typeNames(t); len(names) == 1 {
		s.set("type", names[0])
	} else if len(names) > 1 {
		s.set("type", names)
	}
	if t&learn.TypeString != 0 {
		constrained := false
		if n == w.typeNode && w.typeNames != nil && t == learn.TypeString {
			s.set("enum", w.typeNames)
			constrained = true
		} else if vals := n.EnumValues(); vals != nil && t&^(learn.TypeString|learn.TypeNull) == 0 {
			enum := make([]any, 0, len(vals)+1)
			for _, v := range vals {
				enum = append(enum, v)
			}
			if t&learn.TypeNull != 0 {
				enum = append(enum, nil) // enum applies to every type: null must be in it
			}
			s.set("enum", enum)
			constrained = true
		}
		switch f := n.Format(); {
		case f == learn.FormatMAC:
			s.set("pattern", macPattern)
			constrained = true
		case f == learn.FormatNumeric:
			s.set("pattern", numericPattern)
			constrained = true
		case schemaFormat[f] != "":
			s.set("format", schemaFormat[f])
			constrained = true
		}
		if !constrained {
			s.set("maxLength", lengthBound(n.MaxLen))
		}
	}
	if t&learn.TypeObject != 0 {
		keys := make([]string, 0, len(n.Keys))
		for k := range n.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var required []string
		for _, k := range keys {
			// Present in every object this path held: required at this level, whether or not the
			// object itself is always there.
			if n.Keys[k].Count == n.Objects && n.Objects > 0 {
				required = append(required, k)
			}
		}
		if len(required) > 0 {
			s.set("required", required)
		}
		switch {
		case n.Dynamic != nil:
			s.set("additionalProperties", w.node(n.Dynamic))
		case !n.Truncated:
			s.set("additionalProperties", false)
		}
		if len(keys) > 0 {
			var props obj
			for _, k := range keys {
				props.set(k, w.node(n.Keys[k]))
			}
			s.set("properties", props)
		}
	}
	if t&learn.TypeArray != 0 && n.Items != nil {
		s.set("items", w.node(n.Items))
	}
	return s
}

// forbid adds the placeholder to the root's properties as the schema false: never present.
func (w *schemaWriter) forbid(s obj) obj {
	for i, m := range s {
		if m.key == "properties" {
			props := append(m.value.(obj), member{w.placeholder, false})
			s[i].value = props
			return s
		}
	}
	s.set("properties", obj{{w.placeholder, false}})
	return s
}

// typeNames returns the JSON Schema type names of a set: a number that was sometimes written
// with a fraction makes the path "number" (which integers satisfy too).
func typeNames(t learn.Types) []string {
	if t&learn.TypeNumber != 0 {
		t &^= learn.TypeInteger
	}
	return t.Names()
}

// lengthBound is a generous maxLength: twice the longest string seen, rounded up to a power of
// two, at least 64. It keeps junk out without refusing the next slightly longer value.
func lengthBound(longest uint32) uint32 {
	b := uint32(64)
	for b < 2*longest && b < 1<<20 {
		b *= 2
	}
	return b
}
