package schema

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// A fast validator for the common subset of JSON Schema that vendor schemas use. It answers only
// "valid" when it is sure; anything it is not sure of, and every invalid payload, goes to the full
// validator (jsonschema/v5), which gives the exact error. So it can never accept what the full
// validator refuses, and an error report is always the full validator's.
//
// Why: the full validator turns every number into a big.Rat through fmt.Sprint and allocates for
// each keyword; for a valid webhook it was a sixth of the pipeline's CPU.

type fastNode struct {
	always    *bool // a boolean schema: true accepts anything, false nothing
	types     uint8 // bit set of typeX; 0 = any
	props     map[string]*fastNode
	patterns  []fastPattern // patternProperties, applied with props (not instead)
	required  []string
	addlFalse bool
	addl      *fastNode
	items     *fastNode
	enum      []any   // strings, bools and nil only
	enumInts  []int64 // numeric members, all integers within ±2^53
	hasEnum   bool
	min, max  *bound
	minLen    int // -1 when absent
	maxLen    int
	pattern   *regexp.Regexp
	format    func(any) bool
	minItems  int
	maxItems  int
	ref       *fastNode // resolved $ref, validated in addition (2020-12 semantics)
}

// fastPattern is one patternProperties entry: a name that the expression matches anywhere (it is
// not anchored, as jsonschema/v5 and the specification read it) must validate against node.
type fastPattern struct {
	re   *regexp.Regexp
	node *fastNode
}

type bound struct {
	i         int64
	isInt     bool
	f         float64
	exclusive bool
	upper     bool
}

const (
	typeObject uint8 = 1 << iota
	typeArray
	typeString
	typeNumber
	typeInteger
	typeBoolean
	typeNull
)

var typeBits = map[string]uint8{"object": typeObject, "array": typeArray, "string": typeString,
	"number": typeNumber, "integer": typeInteger, "boolean": typeBoolean, "null": typeNull}

// annotation keywords the fast validator may ignore: they never make a payload invalid.
var annotations = map[string]bool{"$schema": true, "$id": true, "$comment": true, "title": true,
	"description": true, "examples": true, "default": true, "deprecated": true, "readOnly": true,
	"writeOnly": true, "$defs": true, "definitions": true}

type fastCompiler struct {
	root  any
	nodes map[string]*fastNode // by $ref pointer, so recursion terminates
}

// compileFast returns the fast validator of a schema document, or nil when the schema uses
// anything outside the subset (then the full validator always runs).
func compileFast(doc any) *fastNode {
	c := &fastCompiler{root: doc, nodes: map[string]*fastNode{}}
	n, ok := c.compile(doc, 0)
	if !ok {
		return nil
	}
	return n
}

func (c *fastCompiler) compile(v any, depth int) (*fastNode, bool) {
	if depth > 64 {
		return nil, false
	}
	if b, ok := v.(bool); ok {
		return &fastNode{always: &b}, true // validate looks at nothing else
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	n := &fastNode{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1}
	for k, x := range m {
		switch {
		case annotations[k]:
			if k == "$id" && depth > 0 {
				return nil, false // a nested resource: leave to the full validator
			}
		case k == "type":
			switch t := x.(type) {
			case string:
				if typeBits[t] == 0 {
					return nil, false
				}
				n.types = typeBits[t]
			case []any:
				for _, e := range t {
					s, _ := e.(string)
					if typeBits[s] == 0 {
						return nil, false
					}
					n.types |= typeBits[s]
				}
			default:
				return nil, false
			}
		case k == "properties":
			props, ok := x.(map[string]any)
			if !ok {
				return nil, false
			}
			n.props = map[string]*fastNode{}
			for name, sub := range props {
				sn, ok := c.compile(sub, depth+1)
				if !ok {
					return nil, false
				}
				n.props[name] = sn
			}
		case k == "patternProperties":
			pats, ok := x.(map[string]any)
			if !ok {
				return nil, false
			}
			for pat, sub := range pats {
				re, err := regexp.Compile(pat)
				if err != nil {
					return nil, false
				}
				sn, ok := c.compile(sub, depth+1)
				if !ok {
					return nil, false
				}
				n.patterns = append(n.patterns, fastPattern{re: re, node: sn})
			}
		case k == "required":
			list, ok := x.([]any)
			if !ok {
				return nil, false
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				n.required = append(n.required, s)
			}
		case k == "additionalProperties":
			if b, ok := x.(bool); ok {
				n.addlFalse = !b
				continue
			}
			sn, ok := c.compile(x, depth+1)
			if !ok {
				return nil, false
			}
			n.addl = sn
		case k == "items":
			sn, ok := c.compile(x, depth+1)
			if !ok {
				return nil, false
			}
			n.items = sn
		case k == "enum" || k == "const":
			vals := []any{x}
			if k == "enum" {
				list, ok := x.([]any)
				if !ok {
					return nil, false
				}
				vals = list
			}
			var others []any
			var ints []int64
			for _, e := range vals {
				switch x := e.(type) {
				case string, bool, nil:
					others = append(others, x)
				case float64:
					// An integer member is compared with a payload's plain integer literal
					// exactly; anything else needs the full validator's equality.
					if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
						return nil, false
					}
					ints = append(ints, int64(x))
				default:
					return nil, false // objects, arrays: the full validator's equality
				}
			}
			if n.hasEnum {
				return nil, false // both enum and const: keep it simple
			}
			n.enum, n.enumInts, n.hasEnum = others, ints, true
		case k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum":
			b, ok := newBound(x)
			if !ok {
				return nil, false
			}
			b.exclusive = strings.HasPrefix(k, "exclusive")
			b.upper = strings.HasSuffix(k, "aximum")
			if b.upper {
				if n.max != nil {
					return nil, false
				}
				n.max = b
			} else {
				if n.min != nil {
					return nil, false
				}
				n.min = b
			}
		case k == "minLength" || k == "maxLength" || k == "minItems" || k == "maxItems":
			i, ok := nonNegInt(x)
			if !ok {
				return nil, false
			}
			switch k {
			case "minLength":
				n.minLen = i
			case "maxLength":
				n.maxLen = i
			case "minItems":
				n.minItems = i
			case "maxItems":
				n.maxItems = i
			}
		case k == "pattern":
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, false
			}
			n.pattern = re
		case k == "format":
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			f, ok := jsonschema.Formats[s]
			if !ok {
				return nil, false
			}
			n.format = f
		case k == "$ref":
			s, ok := x.(string)
			if !ok || !strings.HasPrefix(s, "#/") {
				return nil, false
			}
			if done, ok := c.nodes[s]; ok {
				n.ref = done
				continue
			}
			target, ok := ResolveLocal(c.root, s)
			if !ok {
				return nil, false
			}
			placeholder := &fastNode{} // overwritten below, before anything validates with it
			c.nodes[s] = placeholder
			rn, ok := c.compile(target, depth+1)
			if !ok {
				return nil, false
			}
			*placeholder = *rn
			n.ref = placeholder
		default:
			return nil, false
		}
	}
	return n, true
}

func nonNegInt(x any) (int, bool) {
	f, ok := x.(float64)
	if !ok || f < 0 || f != math.Trunc(f) || f > 1<<31 {
		return 0, false
	}
	return int(f), true
}

// newBound reads a numeric keyword of the schema (decoded by encoding/json as float64).
func newBound(x any) (*bound, bool) {
	f, ok := x.(float64)
	if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	b := &bound{f: f}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		b.isInt, b.i = true, int64(f)
	}
	return b, true
}

// validate reports true only when it is sure v is valid; false means invalid or not sure, and
// either way the full validator decides.
func (n *fastNode) validate(v any) bool {
	if n.always != nil {
		return *n.always
	}
	if n.ref != nil && !n.ref.validate(v) {
		return false
	}
	if n.types != 0 && !n.checkType(v) {
		return false
	}
	if n.hasEnum && !n.inEnum(v) {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range n.required {
			if _, ok := x[name]; !ok {
				return false
			}
		}
		for k, e := range x {
			matched := false
			if sub, ok := n.props[k]; ok {
				if !sub.validate(e) {
					return false
				}
				matched = true
			}
			for _, p := range n.patterns {
				if p.re.MatchString(k) {
					if !p.node.validate(e) {
						return false
					}
					matched = true
				}
			}
			if matched {
				continue
			}
			if n.addlFalse {
				return false
			}
			if n.addl != nil && !n.addl.validate(e) {
				return false
			}
		}
	case []any:
		if n.minItems >= 0 && len(x) < n.minItems || n.maxItems >= 0 && len(x) > n.maxItems {
			return false
		}
		if n.items != nil {
			for _, e := range x {
				if !n.items.validate(e) {
					return false
				}
			}
		}
	case string:
		if n.minLen >= 0 || n.maxLen >= 0 {
			l := utf8.RuneCountInString(x)
			if n.minLen >= 0 && l < n.minLen || n.maxLen >= 0 && l > n.maxLen {
				return false
			}
		}
		if n.pattern != nil && !n.pattern.MatchString(x) {
			return false
		}
		if n.format != nil && !n.format(x) {
			return false
		}
	case json.Number:
		// The number is scanned once, and parsed at most once as int64 and once as float64, for the
		// integer type and both bounds.
		num := number{s: string(x), plain: !strings.ContainsAny(string(x), ".eE")}
		if n.types&(typeNumber|typeInteger) == typeInteger && !num.plain {
			return false // 1.0 and 1e2 are integers too: the full validator decides
		}
		if n.min != nil && !n.min.check(&num) {
			return false
		}
		if n.max != nil && !n.max.check(&num) {
			return false
		}
		if n.format != nil && !n.format(x) {
			return false
		}
	default:
		if n.format != nil && !n.format(x) {
			return false
		}
	}
	return true
}

// inEnum reports whether v is surely one of the enum's members. A number is compared only when
// written as a plain integer (1, not 1.0 or 1e0, which the full validator judges).
func (n *fastNode) inEnum(v any) bool {
	if num, ok := v.(json.Number); ok {
		if len(n.enumInts) == 0 || strings.ContainsAny(string(num), ".eE") {
			return false
		}
		i, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return false
		}
		for _, e := range n.enumInts {
			if e == i {
				return true
			}
		}
		return false
	}
	for _, e := range n.enum {
		if e == v {
			return true
		}
	}
	return false
}

// checkType reports whether v is surely of one of the node's types.
func (n *fastNode) checkType(v any) bool {
	switch v.(type) {
	case map[string]any:
		return n.types&typeObject != 0
	case []any:
		return n.types&typeArray != 0
	case string:
		return n.types&typeString != 0
	case bool:
		return n.types&typeBoolean != 0
	case nil:
		return n.types&typeNull != 0
	case json.Number:
		// An integer must also be written as one; validate checks that, having scanned the number.
		return n.types&(typeNumber|typeInteger) != 0
	}
	return false
}

// number is a payload number as the bounds read it: whether it is written as a plain integer
// (no '.', 'e' or 'E'), and its int64 and float64 values, each parsed when first asked for.
type number struct {
	s            string
	plain        bool
	i            int64
	f            float64
	iOK, fOK     bool // parsed without error (and, for f, finite)
	iDone, fDone bool
}

func (x *number) int() (int64, bool) {
	if !x.iDone {
		i, err := strconv.ParseInt(x.s, 10, 64)
		x.i, x.iOK, x.iDone = i, err == nil, true
	}
	return x.i, x.iOK
}

func (x *number) float() (float64, bool) {
	if !x.fDone {
		f, err := strconv.ParseFloat(x.s, 64)
		x.f, x.fOK, x.fDone = f, err == nil && !math.IsInf(f, 0), true
	}
	return x.f, x.fOK
}

// check reports whether a number surely satisfies the bound: compared exactly for integers, by
// float64 where the difference is far beyond rounding; anything closer is left unsure (false).
func (b *bound) check(x *number) bool {
	var cmp int // sign of x - bound
	if b.isInt && x.plain {
		i, ok := x.int()
		if !ok {
			return false
		}
		switch {
		case i < b.i:
			cmp = -1
		case i > b.i:
			cmp = 1
		}
	} else {
		f, ok := x.float()
		if !ok {
			return false
		}
		d := f - b.f
		if math.Abs(d) <= 1e-9*math.Max(1, math.Abs(b.f)) {
			return false
		}
		cmp = 1
		if d < 0 {
			cmp = -1
		}
	}
	switch {
	case b.upper && b.exclusive:
		return cmp < 0
	case b.upper:
		return cmp <= 0
	case b.exclusive:
		return cmp > 0
	}
	return cmp >= 0
}
