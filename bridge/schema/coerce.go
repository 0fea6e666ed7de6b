package schema

import (
	"regexp"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/payload"
)

// Typing form documents. A form body or query string holds only text (payload.ParseForm), where a
// JSON sender would write numbers and booleans. Coerce gives a value a JSON type only where the
// schema asks for that type at that name and nothing else: where the schema would also take a
// string, or says nothing of the type, the text stays text, so that what a field holds never
// changes type with its content. A text that is not exactly a value of the type asked for stays
// text too, and validation then refuses it as it refuses a JSON string there (422).
//
// What the schema allows at a name is computed once, at Compile, from the schema document:
// "properties", "patternProperties" and "additionalProperties" of the object schemas that apply to
// the document (through local "$ref", "allOf", "anyOf", "oneOf" and "if"/"then"/"else"), and at
// each of them the "type", "enum" and "const" keywords (through the same applicators). It is an
// over-approximation: keywords it does not follow ("not", "dependentSchemas",
// "unevaluatedProperties", references to other documents) can only leave a value as text, never
// type a value the schema would take as text.

// allTypes is every type bit: what a schema that says nothing of the type allows.
const allTypes = typeObject | typeArray | typeString | typeNumber | typeInteger | typeBoolean | typeNull

// maxPlanSteps bounds the schema nodes one question about a name's types visits before it walks
// again with a memo (see typesOf), and maxCompileSteps those that reading a schema may visit, so
// that a schema whose references fan out cannot make loading, or a field name matched against
// patterns, slow. Past maxCompileSteps the answer is "any type": the text stays text.
const (
	maxPlanSteps    = 10_000
	maxCompileSteps = 1_000_000
)

// objTypes is what one object schema says of its members' types.
type objTypes struct {
	never    bool             // the schema takes no object: a branch no form document can match
	props    map[string]uint8 // "properties": the types allowed for each name
	patterns []patternTypes   // "patternProperties"
	addl     uint8            // "additionalProperties": for names neither of the above matches
	allOf    []*objTypes      // schemas that apply as well: "allOf", "$ref"
	oneOf    [][]*objTypes    // groups of which at least one applies: "anyOf", "oneOf", then/else
}

type patternTypes struct {
	re    *regexp.Regexp
	types uint8
}

// typesOf returns the types the object schemas allow for the member name. A walk of the tree
// visits a schema reached by several paths once per path; past maxPlanSteps it walks again
// visiting each schema once, which costs a map.
func (o *objTypes) typesOf(name string) uint8 {
	steps := 0
	t := o.types(name, &steps, nil)
	if steps > maxPlanSteps {
		steps = 0
		t = o.types(name, &steps, map[*objTypes]uint8{})
		if steps > maxCompileSteps {
			return allTypes
		}
	}
	return t
}

func (o *objTypes) types(name string, steps *int, memo map[*objTypes]uint8) uint8 {
	if memo != nil {
		if t, ok := memo[o]; ok {
			return t
		}
	} else if *steps > maxPlanSteps {
		return allTypes // the answer is thrown away: typesOf walks again
	}
	*steps++
	if o.never {
		return 0
	}
	t, matched := allTypes, false
	if x, ok := o.props[name]; ok {
		t &= x
		matched = true
	}
	for _, p := range o.patterns {
		if p.re.MatchString(name) {
			t &= p.types
			matched = true
		}
	}
	if !matched {
		t &= o.addl
	}
	for _, a := range o.allOf {
		t &= a.types(name, steps, memo)
	}
	for _, g := range o.oneOf {
		var u uint8
		for _, b := range g {
			u |= b.types(name, steps, memo)
		}
		t &= u
	}
	if memo != nil {
		memo[o] = t
	}
	return t
}

// names adds every name some "properties" of the tree declares.
func (o *objTypes) names(seen map[*objTypes]bool, out map[string]bool) bool {
	if seen[o] {
		return false
	}
	seen[o] = true
	dynamic := len(o.patterns) > 0
	for n := range o.props {
		out[n] = true
	}
	for _, a := range o.allOf {
		dynamic = a.names(seen, out) || dynamic
	}
	for _, g := range o.oneOf {
		for _, b := range g {
			dynamic = b.names(seen, out) || dynamic
		}
	}
	return dynamic
}

// coercion is a schema's typing plan for form documents.
type coercion struct {
	root    *objTypes
	names   map[string]uint8 // every declared name, with the types allowed there
	other   uint8            // the types allowed for any other name, when dynamic is false
	dynamic bool             // some patternProperties: other names are matched at run time
}

// planner builds a coercion from a schema document.
type planner struct {
	root     any
	refs     bool               // local references can be followed (no nested "$id" moves their base)
	objs     refMemo[*objTypes] // object schemas by reference
	refTypes refMemo[uint8]     // valueTypes of references
	steps    int
}

// refMemo is what one walk of the planner made of each local reference it followed, and which
// references it is inside now: following one of those again is a cycle.
type refMemo[T any] struct {
	done map[string]T
	busy map[string]bool
}

func newRefMemo[T any]() refMemo[T] {
	return refMemo[T]{done: map[string]T{}, busy: map[string]bool{}}
}

// follow returns walk of the schema ref points at, walked once and remembered. It returns
// fallback, remembering nothing, when ref cannot be followed or is already being walked.
func (m refMemo[T]) follow(p *planner, ref string, fallback T, walk func(target any) T) T {
	if v, ok := m.done[ref]; ok {
		return v
	}
	target, ok := p.resolve(ref)
	if !ok || m.busy[ref] {
		return fallback
	}
	m.busy[ref] = true
	v := walk(target)
	delete(m.busy, ref)
	m.done[ref] = v
	return v
}

func compileCoercion(doc any) *coercion {
	p := &planner{root: doc, refs: !nestedID(doc, 0), objs: newRefMemo[*objTypes](), refTypes: newRefMemo[uint8]()}
	root := p.object(doc, 0)
	if p.steps > maxCompileSteps {
		root = unconstrained
	}
	c := &coercion{root: root, names: map[string]uint8{}}
	declared := map[string]bool{}
	c.dynamic = root.names(map[*objTypes]bool{}, declared)
	for n := range declared {
		c.names[n] = root.typesOf(n)
	}
	if !c.dynamic {
		// No pattern can match, and every declared name is in names: for any other name only
		// additionalProperties speak, so any undeclared name stands for them all.
		c.other = root.typesOf(undeclared(declared))
	}
	return c
}

// undeclared returns a name that is not in declared.
func undeclared(declared map[string]bool) string {
	n := "\x00"
	for declared[n] {
		n += "\x00"
	}
	return n
}

// nestedID reports whether a schema resource is nested in the document ("$id" below the root):
// "#/..." references inside it would be relative to it, not to the root.
func nestedID(v any, depth int) bool {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["$id"]; ok && depth > 0 {
			return true
		}
		for _, e := range x {
			if nestedID(e, depth+1) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if nestedID(e, depth+1) {
				return true
			}
		}
	}
	return false
}

var unconstrained = &objTypes{addl: allTypes}

// object returns what schema s says of an object's members.
func (p *planner) object(s any, depth int) *objTypes {
	if p.steps++; p.steps > maxCompileSteps || depth > 64 {
		return unconstrained
	}
	switch x := s.(type) {
	case bool:
		if !x {
			return &objTypes{never: true}
		}
		return unconstrained
	case map[string]any:
		o := &objTypes{addl: allTypes}
		if p.valueTypes(x, depth)&typeObject == 0 {
			o.never = true
			return o
		}
		if props, ok := x["properties"].(map[string]any); ok {
			o.props = make(map[string]uint8, len(props))
			for n, sub := range props {
				o.props[n] = p.valueTypes(sub, depth+1)
			}
		}
		if pats, ok := x["patternProperties"].(map[string]any); ok {
			for pat, sub := range pats {
				re, err := regexp.Compile(pat)
				if err != nil {
					continue // the compiler has refused the schema already
				}
				o.patterns = append(o.patterns, patternTypes{re: re, types: p.valueTypes(sub, depth+1)})
			}
		}
		if a, ok := x["additionalProperties"]; ok {
			o.addl = p.valueTypes(a, depth+1)
		}
		if ref, ok := x["$ref"].(string); ok {
			o.allOf = append(o.allOf, p.objectRef(ref, depth))
		}
		if list, ok := x["allOf"].([]any); ok {
			for _, sub := range list {
				o.allOf = append(o.allOf, p.object(sub, depth+1))
			}
		}
		for _, k := range []string{"anyOf", "oneOf"} {
			if list, ok := x[k].([]any); ok {
				g := make([]*objTypes, 0, len(list))
				for _, sub := range list {
					g = append(g, p.object(sub, depth+1))
				}
				o.oneOf = append(o.oneOf, g)
			}
		}
		if _, ok := x["if"]; ok {
			g := []*objTypes{unconstrained, unconstrained}
			if then, ok := x["then"]; ok {
				g[0] = p.object(then, depth+1)
			}
			if els, ok := x["else"]; ok {
				g[1] = p.object(els, depth+1)
			}
			o.oneOf = append(o.oneOf, g)
		}
		return o
	}
	return unconstrained
}

func (p *planner) objectRef(ref string, depth int) *objTypes {
	return p.objs.follow(p, ref, unconstrained, func(target any) *objTypes { return p.object(target, depth+1) })
}

func (p *planner) resolve(ref string) (any, bool) {
	if !p.refs || !strings.HasPrefix(ref, "#") {
		return nil, false
	}
	return ResolveLocal(p.root, ref)
}

// valueTypes returns the types schema s allows for a value. Only the keywords that name types
// count (type, enum, const), followed through the applicators; anything else allows every type.
func (p *planner) valueTypes(s any, depth int) uint8 {
	if p.steps++; p.steps > maxCompileSteps || depth > 64 {
		return allTypes
	}
	x, ok := s.(map[string]any)
	if !ok {
		if b, ok := s.(bool); ok && !b {
			return 0
		}
		return allTypes
	}
	t := allTypes
	switch tt := x["type"].(type) {
	case string:
		t &= typeBitsOf(tt)
	case []any:
		var u uint8
		for _, e := range tt {
			if s, ok := e.(string); ok {
				u |= typeBitsOf(s)
			}
		}
		t &= u
	}
	if c, ok := x["const"]; ok {
		t &= jsonTypeOf(c)
	}
	if list, ok := x["enum"].([]any); ok {
		var u uint8
		for _, e := range list {
			u |= jsonTypeOf(e)
		}
		t &= u
	}
	if ref, ok := x["$ref"].(string); ok {
		t &= p.refValueTypes(ref, depth)
	}
	if list, ok := x["allOf"].([]any); ok {
		for _, sub := range list {
			t &= p.valueTypes(sub, depth+1)
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if list, ok := x[k].([]any); ok {
			var u uint8
			for _, sub := range list {
				u |= p.valueTypes(sub, depth+1)
			}
			t &= u
		}
	}
	if _, ok := x["if"]; ok {
		u := uint8(0)
		for _, k := range []string{"then", "else"} {
			if sub, ok := x[k]; ok {
				u |= p.valueTypes(sub, depth+1)
			} else {
				u = allTypes
			}
		}
		t &= u
	}
	return t
}

func (p *planner) refValueTypes(ref string, depth int) uint8 {
	return p.refTypes.follow(p, ref, allTypes, func(target any) uint8 { return p.valueTypes(target, depth+1) })
}

// typeBitsOf returns the bits of a "type" name. A number may be an integer too.
func typeBitsOf(name string) uint8 {
	if name == "number" {
		return typeNumber | typeInteger
	}
	return typeBits[name]
}

// jsonTypeOf returns the type bits of a value of the schema document (decoded by encoding/json).
func jsonTypeOf(v any) uint8 {
	switch v.(type) {
	case string:
		return typeString
	case float64:
		return typeNumber | typeInteger
	case bool:
		return typeBoolean
	case nil:
		return typeNull
	case map[string]any:
		return typeObject
	case []any:
		return typeArray
	}
	return allTypes
}

// Coerce gives the text values of a form or query document (payload.ParseForm, ParseQuery) the
// JSON type the schema asks for at their name, before Validate, and only where it asks for a
// type that is not a string:
//
//   - a number where the schema allows numbers: text that payload.Number takes (a JSON number
//     literal within lim), in canonical form ("20.00" is 20, "1e2" is 100), so that routes publish
//     it as they publish a number that came as JSON;
//   - an integer where it allows integers but not other numbers: such text whose value is an
//     integer ("1", and "1.0" as in JSON Schema);
//   - true or false where it allows booleans: exactly "true" or "false". Not "1" or "0", nor
//     "on" or "yes": where a sender sends flags as digits, the schema types them as integers
//     (JSON Schema's boolean takes no number either), and "1" could otherwise be a boolean and an
//     integer both where a schema allows both.
//
// Anything else stays text: a value where the schema also allows a string or says nothing of the
// type, and text that is not exactly such a value (" 1", "+1", "01", "1,5", "NaN", "True", ""),
// which Validate then refuses where the schema asks for another type. Values that are not
// strings are left alone; doc is changed in place.
func (sc *Schema) Coerce(doc map[string]any, lim payload.Limits) {
	if sc == nil {
		return // no schema (a learn-mode vendor's): every value stays text
	}
	c := sc.coerce
	for name, v := range doc {
		s, ok := v.(string)
		if !ok {
			continue
		}
		t, ok := c.names[name]
		if !ok {
			if t = c.other; c.dynamic {
				t = c.root.typesOf(name)
			}
		}
		if t&typeString != 0 {
			continue
		}
		switch {
		case t&typeNumber != 0:
			if n, ok := payload.Number(s, lim); ok {
				doc[name] = n
				continue
			}
		case t&typeInteger != 0:
			if n, ok := payload.Number(s, lim); ok && payload.IsInteger(n) {
				doc[name] = n
				continue
			}
		}
		if t&typeBoolean != 0 && (s == "true" || s == "false") {
			doc[name] = s == "true"
		}
	}
}
