// Package schema compiles vendor JSON Schemas once, at load, and validates parsed payloads against
// them, reporting where a payload fails without ever quoting what it holds.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// ErrInvalid is matched by every *Error, for errors.Is.
var ErrInvalid = outcome.Err(outcome.Schema, "payload does not match the schema")

// Error is a payload's first schema violation: the instance location (a JSON Pointer built only from
// names the schema itself declares) and the failing keyword.
type Error struct {
	Pointer string
	Keyword string
}

func (e *Error) Error() string {
	return fmt.Sprintf("payload does not match the schema: %s at %q", e.Keyword, e.Pointer)
}

// Unwrap makes errors.Is(err, ErrInvalid) true, and so carries the reason.
func (e *Error) Unwrap() error { return ErrInvalid }

// Schema is one compiled schema.
type Schema struct {
	name   string
	s      *jsonschema.Schema
	known  map[string]bool // property names declared anywhere in the schema
	strict bool            // every object in the schema forbids unknown properties
	fast   *fastNode       // nil when the schema uses more than the fast validator knows
	coerce *coercion       // how Coerce types form documents
}

// Set compiles a group of schema files that may refer to each other by relative $ref.
type Set struct {
	files map[string][]byte
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{files: map[string][]byte{}} }

// Add adds a schema document under its catalog name, such as "acme-locks/v1.json". A later Add of
// the same name replaces the earlier one.
func (s *Set) Add(name string, data []byte) { s.files[name] = data }

// Names returns the names added, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.files))
	for n := range s.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether a schema of that name was added.
func (s *Set) Has(name string) bool {
	_, ok := s.files[name]
	return ok
}

const base = "hookbridge:///schemas/"

// Compile compiles the named schema. References may reach other schemas of the set; anything else
// (a URL, a file on disk) is refused, so a schema can never make the process open a connection.
func (s *Set) Compile(name string) (*Schema, error) {
	data, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("schema %s: not found", name)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("reference to %s: only schemas of the catalog can be referenced", u)
	}
	for n, d := range s.files {
		if err := c.AddResource(base+n, bytes.NewReader(d)); err != nil {
			if n == name {
				return nil, fmt.Errorf("schema %s: %v", name, err)
			}
		}
	}
	compiled, err := c.Compile(base + name)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %v", name, strings.ReplaceAll(err.Error(), base, ""))
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("schema %s: %v", name, err)
	}
	sc := &Schema{name: name, s: compiled, known: map[string]bool{}, strict: true, fast: compileFast(doc),
		coerce: compileCoercion(doc)}
	sc.collect(doc)
	return sc, nil
}

// collect records the property names the schema declares, and whether every object schema closes
// itself to other properties.
func (sc *Schema) collect(v any) {
	switch x := v.(type) {
	case map[string]any:
		props, hasProps := x["properties"].(map[string]any)
		for k := range props {
			sc.known[k] = true
		}
		// An object schema without properties ({"type": "object"}) is open too.
		if hasProps || isObjectType(x["type"]) {
			if ap, ok := x["additionalProperties"].(bool); !ok || ap {
				if up, ok := x["unevaluatedProperties"].(bool); !ok || up {
					sc.strict = false
				}
			}
		}
		if req, ok := x["required"].([]any); ok {
			for _, k := range req {
				if s, ok := k.(string); ok {
					sc.known[s] = true
				}
			}
		}
		for _, e := range x {
			sc.collect(e)
		}
	case []any:
		for _, e := range x {
			sc.collect(e)
		}
	}
}

// isObjectType reports whether a "type" keyword's value is or includes "object".
func isObjectType(t any) bool {
	switch x := t.(type) {
	case string:
		return x == "object"
	case []any:
		for _, e := range x {
			if e == "object" {
				return true
			}
		}
	}
	return false
}

// Name returns the schema's catalog name.
func (sc *Schema) Name() string { return sc.name }

// Validate checks a parsed payload. It returns nil or an *Error.
func (sc *Schema) Validate(doc any) error {
	if sc.fast != nil && sc.fast.validate(doc) {
		return nil
	}
	err := sc.s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Pointer: "", Keyword: "schema"}
	}
	leaves := leafErrors(ve, nil)
	sort.Slice(leaves, func(i, j int) bool {
		if leaves[i].InstanceLocation != leaves[j].InstanceLocation {
			return leaves[i].InstanceLocation < leaves[j].InstanceLocation
		}
		return leaves[i].KeywordLocation < leaves[j].KeywordLocation
	})
	leaf := leaves[0]
	return &Error{Pointer: sc.safePointer(leaf.InstanceLocation), Keyword: keyword(leaf.KeywordLocation)}
}

// UnknownFields counts object keys in doc that the schema declares nowhere, for anomaly detection in
// schemas that let unknown properties through.
func (sc *Schema) UnknownFields(doc any) int {
	if sc.strict {
		return 0
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !sc.known[k] {
					n++
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return n
}

func leafErrors(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leafErrors(c, out)
	}
	return out
}

// keyword returns the last keyword of a keyword location such as "/properties/a/maximum".
func keyword(loc string) string {
	parts := strings.Split(loc, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; p != "" && !isIndex(p) {
			return p
		}
	}
	return "schema"
}

// safePointer cuts an instance location at the first token the schema does not declare, so the
// path a vendor sees never carries a key of its own invention.
func (sc *Schema) safePointer(loc string) string {
	if loc == "" {
		return ""
	}
	var b strings.Builder
	for _, tok := range strings.Split(loc[1:], "/") {
		name := strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if !sc.known[name] && !isIndex(tok) {
			break
		}
		b.WriteByte('/')
		b.WriteString(tok)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
