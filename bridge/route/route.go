// Package route turns a validated event into MQTT messages: it picks the routes whose event type
// matches, keeps only each route's listed fields (minimization), replaces the fields marked for it
// with pseudonyms, and builds each topic so that no value can add a level, a wildcard or leave the
// vendor's subtree.
package route

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
)

// Message is one MQTT publish an event produces.
type Message struct {
	Topic   string
	Payload []byte
	Retain  bool
	QoS     byte
}

// Skip reasons: why a matching route published nothing.
var (
	// ErrMissingField reports a route whose topic needs a field the event does not have.
	ErrMissingField = errors.New("topic field absent")
	// ErrBadTopicField reports a topic field that is not a short, non-empty scalar.
	ErrBadTopicField = errors.New("topic field not usable in a topic")
)

// MaxLevelLen bounds one topic level built from a field, after escaping.
const MaxLevelLen = 128

type field struct {
	name         string
	tokens       []string
	pseudonymize bool
	inTopic      bool // a topic level is built from it
}

type level struct {
	text  string // literal text, when field < 0
	field int    // index into fields, or -1
}

// Route is a compiled policy route.
type Route struct {
	When   string
	Retain bool
	QoS    byte
	// Pattern is the topic as written in the policy, under {topic_prefix}/{vendor}/.
	Pattern string

	base   string // "{topic_prefix}/{vendor}/"
	levels []level
	fields []field
}

// Table holds a vendor's compiled routes.
type Table struct {
	vendor string
	routes []*Route
	pseudo *pseudo.Pseudonymizer
}

// Compile builds a vendor's route table. The policy must already have passed policy.Parse.
func Compile(prefix string, p *policy.Policy, ps *pseudo.Pseudonymizer) *Table {
	t := &Table{vendor: p.Vendor, pseudo: ps}
	for _, pr := range p.Routes {
		r := &Route{When: pr.When, Retain: pr.Retain, QoS: byte(pr.QoS), Pattern: pr.Topic,
			base: prefix + "/" + p.Vendor + "/"}
		index := map[string]int{}
		for _, f := range pr.Fields {
			index[f.Name] = len(r.fields)
			r.fields = append(r.fields, field{name: f.Name, tokens: policy.SplitPointer(f.From), pseudonymize: f.Pseudonymize})
		}
		for _, l := range strings.Split(pr.Topic, "/") {
			if name, ok := policy.Placeholder(l); ok {
				r.fields[index[name]].inTopic = true
				r.levels = append(r.levels, level{field: index[name]})
			} else {
				r.levels = append(r.levels, level{text: l, field: -1})
			}
		}
		t.routes = append(t.routes, r)
	}
	return t
}

// Routes returns the compiled routes, in policy order.
func (t *Table) Routes() []*Route { return t.routes }

// Result is what routing one event produced.
type Result struct {
	Messages []Message
	Matched  int     // routes whose "when" matched
	Skipped  []error // one per matched route that published nothing, with the reason
}

// Apply routes one event of a type.
func (t *Table) Apply(doc any, eventType string) Result {
	var res Result
	for _, r := range t.routes {
		if r.When != "*" && r.When != eventType {
			continue
		}
		res.Matched++
		m, err := t.build(r, doc)
		if err != nil {
			res.Skipped = append(res.Skipped, err)
			continue
		}
		res.Messages = append(res.Messages, m)
	}
	return res
}

func (t *Table) build(r *Route, doc any) (Message, error) {
	values := make([][]byte, len(r.fields)) // encoded JSON per field; nil = absent
	scalars := make([]string, len(r.fields))
	present := make([]bool, len(r.fields))
	for i, f := range r.fields {
		v, ok := payload.Resolve(doc, f.tokens)
		if !ok {
			continue
		}
		present[i] = true
		if f.pseudonymize {
			text, isScalar := payload.Scalar(v)
			if !isScalar {
				text = string(AppendJSON(nil, v))
			}
			tok := t.pseudo.Token(pseudo.DomainField, t.vendor, text)
			scalars[i] = tok
			values[i] = AppendJSON(nil, tok)
			continue
		}
		if f.inTopic {
			scalars[i], _ = payload.Scalar(v) // "" for null, objects and arrays: not usable
		}
		values[i] = AppendJSON(nil, v)
	}
	var topic strings.Builder
	topic.WriteString(r.base)
	for i, l := range r.levels {
		if i > 0 {
			topic.WriteByte('/')
		}
		if l.field < 0 {
			topic.WriteString(l.text)
			continue
		}
		if !present[l.field] {
			return Message{}, ErrMissingField
		}
		seg, ok := Segment(scalars[l.field])
		if !ok {
			return Message{}, ErrBadTopicField
		}
		topic.WriteString(seg)
	}
	buf := make([]byte, 0, 128)
	buf = append(buf, '{')
	first := true
	for i, f := range r.fields {
		if !present[i] {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, f.name)
		buf = append(buf, ':')
		buf = append(buf, values[i]...)
	}
	buf = append(buf, '}')
	return Message{Topic: topic.String(), Payload: buf, Retain: r.Retain, QoS: r.QoS}, nil
}

// Segment turns a field value into one topic level. Bytes other than ASCII letters, digits and
// "-._~" are percent-escaped, '%' included, so the mapping is one-to-one and the result can hold no
// '/', '+', '#', '$', NUL or other control. ok is false for an empty value or one whose escaped form
// is longer than MaxLevelLen.
func Segment(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	const hexDigits = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(v); i++ {
		if !unreserved(v[i]) {
			clean = false
			break
		}
	}
	if clean {
		if len(v) > MaxLevelLen {
			return "", false
		}
		return v, true
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
		if b.Len() > MaxLevelLen {
			return "", false
		}
	}
	return b.String(), true
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// AppendJSON appends the JSON encoding of a parsed value: objects with sorted keys, numbers in
// their canonical form (payload.CanonicalNumber).
func AppendJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case json.Number:
		// The canonical form, not the vendor's spelling: 1e2 is published as 100, -0 as 0.
		if out, ok := payload.AppendCanonicalNumber(dst, string(x)); ok {
			return out
		}
		return append(dst, "null"...) // not a number literal: payload.Parse never makes one

	case string:
		return appendString(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = AppendJSON(dst, x[k])
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}
