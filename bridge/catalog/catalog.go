// Package catalog assembles the vendor catalog: the policies and schemas built into the binary,
// overlaid by extra directories (a file at the same relative path replaces the built-in one), each
// policy checked and cross-checked against its schema once, at load.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

// Vendor is one vendor's policy with its compiled schema.
type Vendor struct {
	Policy *policy.Policy
	// Schema is nil when the policy names none: such a policy can only run in learn mode
	// (policy.Policy.CanPublish), which vendor.Check enforces.
	Schema *schema.Schema
	// SchemaDoc is the schema file as read, for the inventory's list of dropped fields; nil
	// without a schema.
	SchemaDoc []byte
	// PolicyDoc is the policy file as read, comments included: the draft carries it over.
	PolicyDoc []byte
}

// Catalog is the loaded, checked set of vendors. It is only read after Load.
type Catalog struct {
	vendors map[string]*Vendor
	names   []string
}

// Vendor returns a vendor by name.
func (c *Catalog) Vendor(name string) (*Vendor, bool) {
	v, ok := c.vendors[name]
	return v, ok
}

// Names returns the vendor names, sorted.
func (c *Catalog) Names() []string { return c.names }

// Sources says where to read policies and schemas.
type Sources struct {
	// Builtin holds policies/*.yaml and schemas/{vendor}/{version}.json.
	Builtin fs.FS
	// PolicyDir and SchemaDir, when set, add files or replace built-in ones.
	PolicyDir string
	SchemaDir string
}

// Error lists every problem of a catalog; warnings alone do not make an Error.
type Error struct {
	Problems []policy.Problem
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, "\n")
}

// Load reads and checks the catalog. It returns the catalog and all problems found, warnings
// included; err is non-nil (an *Error) when any problem is not a warning.
func Load(src Sources) (*Catalog, []policy.Problem, error) {
	policies, err := collect(src.Builtin, "policies", src.PolicyDir, ".yaml")
	if err != nil {
		return nil, nil, err
	}
	schemaFiles, err := collect(src.Builtin, "schemas", src.SchemaDir, ".json")
	if err != nil {
		return nil, nil, err
	}
	set := schema.NewSet()
	for name, f := range schemaFiles {
		set.Add(name, f.data)
	}

	c := &Catalog{vendors: map[string]*Vendor{}}
	var problems []policy.Problem
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	sort.Strings(names)
	compiled := map[string]*schema.Schema{}
	for _, name := range names {
		f := policies[name]
		p, probs := policy.Parse(f.display, f.data)
		problems = append(problems, probs...)
		if p == nil || hasError(probs) {
			continue
		}
		if want := strings.TrimSuffix(name, ".yaml"); p.Vendor != want {
			problems = append(problems, policy.Problem{File: f.display, Line: 1,
				Message: fmt.Sprintf("vendor %q must match the file name %s.yaml", p.Vendor, want)})
			continue
		}
		if p.Schema == "" {
			// Learn mode only (policy.Parse warned): nothing to compile or cross-check.
			c.vendors[p.Vendor] = &Vendor{Policy: p, PolicyDoc: f.data}
			c.names = append(c.names, p.Vendor)
			continue
		}
		if !set.Has(p.Schema) {
			problems = append(problems, policy.Problem{File: f.display, Message: fmt.Sprintf("schema %s does not exist under schemas/", p.Schema)})
			continue
		}
		sc, ok := compiled[p.Schema]
		if !ok {
			sc, err = set.Compile(p.Schema)
			if err != nil {
				problems = append(problems, policy.Problem{File: schemaFiles[p.Schema].display, Message: err.Error()})
				continue
			}
			compiled[p.Schema] = sc
		}
		problems = append(problems, requiredWarnings(p, schemaFiles[p.Schema].data)...)
		c.vendors[p.Vendor] = &Vendor{Policy: p, Schema: sc, SchemaDoc: schemaFiles[p.Schema].data, PolicyDoc: f.data}
		c.names = append(c.names, p.Vendor)
	}
	if hasError(problems) {
		return c, problems, &Error{Problems: problems}
	}
	return c, problems, nil
}

func hasError(ps []policy.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

type file struct {
	display string // path shown in messages
	data    []byte
}

// collect reads the files with an extension under dir of the built-in FS, then under the override
// directory, keyed by their path relative to that directory.
func collect(builtin fs.FS, dir, override, ext string) (map[string]file, error) {
	out := map[string]file{}
	if builtin != nil {
		err := fs.WalkDir(builtin, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fs.SkipDir
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ext) {
				return nil
			}
			data, err := fs.ReadFile(builtin, p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, dir+"/")] = file{display: p + " (built-in)", data: data}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read built-in %s: %w", dir, err)
		}
	}
	if override == "" {
		return out, nil
	}
	if _, err := os.Stat(override); err != nil {
		return nil, fmt.Errorf("--%s %s: %w", strings.TrimSuffix(dir, "s")+"s", override, err)
	}
	root := os.DirFS(override)
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ext) {
			return nil
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		out[p] = file{display: path.Join(override, p), data: data}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", override, err)
	}
	return out, nil
}

// requiredWarnings warns about routes whose topic uses a field the schema does not require: such an
// event is accepted but that route is skipped.
func requiredWarnings(p *policy.Policy, schemaDoc []byte) []policy.Problem {
	var doc any
	if json.Unmarshal(schemaDoc, &doc) != nil {
		return nil
	}
	typePath := policy.SplitPointer(p.Event.Type)
	var out []policy.Problem
	for i, r := range p.Routes {
		when := r.When
		if when == "*" {
			when = ""
		}
		for _, l := range strings.Split(r.Topic, "/") {
			name, ok := policy.Placeholder(l)
			if !ok {
				continue
			}
			for _, f := range r.Fields {
				if f.Name == name && !required(doc, []any{doc}, policy.SplitPointer(f.From), typePath, when) {
					out = append(out, policy.Problem{File: p.File, Line: f.Line, Warning: true,
						Message: fmt.Sprintf("routes[%d]: topic field %q (%s) is not required by the schema; events without it skip this route", i, name, f.From)})
				}
			}
		}
	}
	return out
}

// required reports whether every document the schemas (all of which apply) accept has a value at
// tokens, for an event of type when (at typePath in the document; "" when the route takes any
// type): a name is required when one applicable schema lists it, and the schemas that apply to
// its value are each applicable schema's properties entry for it. Applicable are the schemas
// given, what their local $refs point at, their allOf members, and the then of an if that pins the
// event type to when (the route's own event type, so its events meet the then). Anything else
// (anyOf, oneOf, remote $refs) guarantees nothing.
func required(root any, schemas []any, tokens, typePath []string, when string) bool {
	for depth := 0; depth < 32; depth++ {
		set := applicable(root, schemas, typePath, when)
		if len(tokens) == 0 {
			return len(set) > 0
		}
		name := tokens[0]
		req := false
		var next []any
		for _, m := range set {
			if list, _ := m["required"].([]any); slices.Contains(list, any(name)) {
				req = true
			}
			if props, _ := m["properties"].(map[string]any); props != nil {
				if sub, ok := props[name]; ok {
					next = append(next, sub)
				}
			}
		}
		if !req || len(next) == 0 {
			return false
		}
		// The type's pin follows the path only while it runs along it.
		if len(typePath) > 0 && typePath[0] == name {
			typePath = typePath[1:]
		} else {
			typePath = nil
		}
		schemas, tokens = next, tokens[1:]
	}
	return false
}

// applicable expands schemas into every object schema that applies with them: local $refs
// resolved, allOf members, and the then of each if that pins the event type to when.
func applicable(root any, schemas []any, typePath []string, when string) []map[string]any {
	var out []map[string]any
	queue := append([]any(nil), schemas...)
	for n := 0; len(queue) > 0 && n < 256; n++ {
		m, ok := queue[0].(map[string]any)
		queue = queue[1:]
		if !ok {
			continue
		}
		if ref, ok := m["$ref"].(string); ok {
			if target, ok := schema.ResolveLocal(root, ref); ok && strings.HasPrefix(ref, "#/") {
				queue = append(queue, target)
			}
			continue // an unresolvable reference guarantees nothing
		}
		out = append(out, m)
		if all, ok := m["allOf"].([]any); ok {
			queue = append(queue, all...)
		}
		if cond, ok := m["if"]; ok && when != "" && pins(root, cond, typePath, when) {
			if then, ok := m["then"]; ok {
				queue = append(queue, then)
			}
		}
	}
	return out
}

// pins reports whether an if schema holds exactly for documents whose value at typePath is when:
// its properties along the path end in a const (or a one-value enum) of when.
func pins(root, cond any, typePath []string, when string) bool {
	if len(typePath) == 0 {
		return false
	}
	m, ok := cond.(map[string]any)
	for _, name := range typePath {
		if !ok {
			return false
		}
		props, _ := m["properties"].(map[string]any)
		m, ok = props[name].(map[string]any)
	}
	if !ok {
		return false
	}
	if c, ok := m["const"]; ok {
		return c == when
	}
	e, _ := m["enum"].([]any)
	return len(e) == 1 && e[0] == when
}
