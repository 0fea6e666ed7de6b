package verify

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with an auth section, at a line of its file (0 when unknown).
type Problem struct {
	Line    int
	Message string
}

// ParseAuth decodes an auth section written as YAML text (the mapping under auth:), for tests
// and tools. The error lists every problem.
func ParseAuth(text string) (Auth, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return Auth{}, fmt.Errorf("auth: %w", err)
	}
	var n *yaml.Node
	if len(root.Content) > 0 {
		n = root.Content[0]
	}
	a, problems := DecodeAuth(n)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Message
		}
		return Auth{}, errors.New(strings.Join(msgs, "; "))
	}
	return a, nil
}

// UnmarshalYAML decodes a policy's auth: mapping with DecodeAuth. Problems come back as a
// *yaml.TypeError whose lines start "line N: ", so a strict policy decoder reports them with
// the others.
func (a *Auth) UnmarshalYAML(n *yaml.Node) error {
	var problems []Problem
	*a, problems = DecodeAuth(n)
	if len(problems) == 0 {
		return nil
	}
	te := &yaml.TypeError{}
	for _, p := range problems {
		te.Errors = append(te.Errors, fmt.Sprintf("line %d: %s", p.Line, p.Message))
	}
	return te
}

// DecodeAuth decodes and checks a policy's auth: mapping: scheme, tolerance, id_header and
// secret_from, then
// the scheme's own keys, strictly (an unknown or repeated key is a problem), with the scheme's
// checks and defaults. The Auth is usable only when no problem is returned.
func DecodeAuth(n *yaml.Node) (Auth, []Problem) {
	var a Auth
	var problems []Problem
	add := func(line int, format string, args ...any) {
		problems = append(problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
	}
	n = deref(n)
	if n == nil || n.Kind == 0 || isNull(n) {
		add(line(n), "auth.scheme is required (one of %s)", strings.Join(Schemes(), ", "))
		return a, problems
	}
	if n.Kind != yaml.MappingNode {
		add(n.Line, "auth must be a mapping with a scheme")
		return a, problems
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	seen := map[string]bool{}
	schemeLine, tolLine := n.Line, n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			add(k.Line, "auth: keys must be names")
			continue
		}
		if seen[k.Value] {
			add(k.Line, "auth.%s is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "scheme":
			schemeLine = v.Line
			decodeScalar(v, &a.Scheme, "auth.scheme", add)
		case "tolerance":
			tolLine = v.Line
			var s string
			if v.Kind == yaml.ScalarNode {
				s = v.Value
			}
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				add(v.Line, "auth.tolerance: not a duration like 5m or 30s")
				continue
			}
			a.Tolerance = d
		case "secret_from":
			var from string
			if decodeScalar(v, &from, "auth.secret_from", add) {
				switch from {
				case "sender":
					a.SenderIssued = true
				case "hookbridge":
				default:
					add(v.Line, "auth.secret_from must be sender (the sender issues the secret) or hookbridge")
				}
			}
		case "id_header":
			var h string
			if decodeScalar(v, &h, "auth.id_header", add) {
				if !headerNameRE.MatchString(h) {
					add(v.Line, "auth.id_header must be an HTTP header name")
					continue
				}
				a.IDHeader = h
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	if a.Tolerance > MaxTolerance {
		add(tolLine, "auth.tolerance must be at most 24h")
	}
	if a.Scheme == "" {
		if !seen["scheme"] {
			add(n.Line, "auth.scheme is required (one of %s)", strings.Join(Schemes(), ", "))
		}
		return a, problems
	}
	sc, ok := Lookup(a.Scheme)
	if !ok {
		add(schemeLine, "auth.scheme %q is not one of %s", a.Scheme, strings.Join(Schemes(), ", "))
		return a, problems
	}
	var params any
	if sc.Params != nil {
		params = sc.Params()
		decodeStrict(rest, reflect.ValueOf(params).Elem(), "auth", add)
	} else {
		for i := 0; i+1 < len(rest.Content); i += 2 {
			k := rest.Content[i]
			add(k.Line, "unknown key %q in auth: scheme %s takes no keys besides scheme and tolerance", k.Value, a.Scheme)
		}
	}
	if len(problems) > 0 {
		return a, problems
	}
	m, kps := sc.Compile(params)
	for _, kp := range kps {
		path := []string{}
		if kp.Key != "" {
			path = strings.Split(kp.Key, ".")
		}
		add(lineOf(n, path...), "%s", keyMessage(kp))
	}
	if len(problems) > 0 {
		return a, problems
	}
	a.Params, a.method = params, m
	if err := a.settleTolerance(); err != nil {
		add(tolLine, "%v", err)
		a.method = nil
	}
	return a, problems
}

// headerNameRE is an HTTP header name (an RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")

// decodeStrict fills the struct dst from mapping n: each key must name a field (by its yaml tag)
// and appear once; a field that is a struct, or a pointer to one, is decoded the same way, other
// values by yaml itself. path prefixes key names in messages ("auth.recipe").
func decodeStrict(n *yaml.Node, dst reflect.Value, path string, add func(int, string, ...any)) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		add(n.Line, "%s must be a mapping", path)
		return
	}
	t := dst.Type()
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		idx, ok := fieldByTag(t, k.Value)
		if !ok || k.Kind != yaml.ScalarNode {
			add(k.Line, "unknown key %q in %s (known: %s)", k.Value, path, strings.Join(tags(t), ", "))
			continue
		}
		name := path + "." + k.Value
		if seen[k.Value] {
			add(k.Line, "%s is given twice", name)
			continue
		}
		seen[k.Value] = true
		decodeValue(v, dst.Field(idx), name, add)
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func decodeValue(v *yaml.Node, f reflect.Value, name string, add func(int, string, ...any)) {
	if f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct && !f.Type().Implements(unmarshalerType) {
		if isNull(v) {
			return
		}
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	}
	if f.Kind() == reflect.Struct && !f.Addr().Type().Implements(unmarshalerType) {
		decodeStrict(v, f, name, add)
		return
	}
	if err := v.Decode(f.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			for _, e := range te.Errors {
				_, msg, _ := strings.Cut(e, ": ")
				add(v.Line, "%s: %s", name, msg)
			}
			return
		}
		add(v.Line, "%s: %v", name, err)
	}
}

// decodeScalar decodes a string scalar, reporting another kind of node.
func decodeScalar(v *yaml.Node, dst *string, name string, add func(int, string, ...any)) bool {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		add(v.Line, "%s must be a string", name)
		return false
	}
	*dst = v.Value
	return true
}

func fieldByTag(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key && tag != "" && tag != "-" {
			return i, true
		}
	}
	return 0, false
}

func tags(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// lineOf returns the line of the value at path under mapping n, or of its deepest existing parent.
func lineOf(n *yaml.Node, path ...string) int {
	l := n.Line
	for _, key := range path {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
		l = n.Line
	}
	return l
}
