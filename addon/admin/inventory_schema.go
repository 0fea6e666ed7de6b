package admin

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/schema"
)

// Bounds of the walk of a schema, against deep or large documents.
const (
	maxSchemaDepth  = 32
	maxSchemaFields = 10_000
)

// schemaFields returns the JSON Pointers of the leaf fields a JSON Schema declares, sorted: every
// property whose schema declares no properties of its own. Array elements appear as "*". Local
// references ("#/$defs/x") are followed, except back into one being followed (a recursive type
// ends there); allOf, anyOf, oneOf, then and else are merged.
func schemaFields(doc []byte) []string {
	if len(doc) == 0 {
		return nil
	}
	var root any
	if json.Unmarshal(doc, &root) != nil {
		return nil
	}
	seen := map[string]bool{}
	active := map[string]bool{}                      // references being followed
	var walk func(s any, ptr string, depth int) bool // reports whether s declared any field
	walk = func(s any, ptr string, depth int) bool {
		m, ok := s.(map[string]any)
		if !ok || depth > maxSchemaDepth || len(seen) >= maxSchemaFields {
			return false
		}
		declared := false
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") && !active[ref] {
			if target, ok := resolveLocal(root, ref); ok {
				active[ref] = true
				declared = walk(target, ptr, depth+1)
				delete(active, ref)
			}
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, sub := range props {
				p := ptr + "/" + escapeToken(name)
				if !walk(sub, p, depth+1) {
					seen[p] = true
				}
				declared = true
			}
		}
		for _, key := range []string{"items", "additionalItems"} {
			if sub, ok := m[key].(map[string]any); ok && walk(sub, ptr+"/*", depth+1) {
				declared = true
			}
		}
		if list, ok := m["prefixItems"].([]any); ok {
			for _, sub := range list {
				if walk(sub, ptr+"/*", depth+1) {
					declared = true
				}
			}
		}
		for _, key := range []string{"allOf", "anyOf", "oneOf"} {
			if list, ok := m[key].([]any); ok {
				for _, sub := range list {
					if walk(sub, ptr, depth+1) {
						declared = true
					}
				}
			}
		}
		for _, key := range []string{"then", "else"} {
			if walk(m[key], ptr, depth+1) {
				declared = true
			}
		}
		return declared
	}
	walk(root, "", 0)
	// A field declared as a leaf in one branch and as an object in another is not a leaf.
	out := make([]string, 0, len(seen))
	for p := range seen {
		parent := false
		for q := range seen {
			if strings.HasPrefix(q, p+"/") {
				parent = true
				break
			}
		}
		if !parent {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// resolveLocal follows a reference within the document, like "#/$defs/address". An anchor-like
// "#name" has always been read here as "#/name"; that stays so, the shared resolver refusing it.
func resolveLocal(root any, ref string) (any, bool) {
	if len(ref) > 1 && ref[1] != '/' {
		ref = "#/" + ref[1:]
	}
	return schema.ResolveLocal(root, ref)
}

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
