// Package payload parses webhook bodies into generic JSON values (map[string]any, []any, string,
// json.Number, bool, nil) under limits that a hostile body cannot exceed, resolves JSON Pointers
// in them, and gives numbers their canonical form (CanonicalNumber) for what leaves the process.
// Form bodies and query strings become documents of the same shape (ParseForm, ParseQuery,
// FormJSON), and a JSON array of events is split into its elements (ParseBatch).
//
// Unlike encoding/json it refuses, rather than repairs or ignores, what makes a body ambiguous:
// invalid UTF-8 and lone surrogates (which encoding/json silently replaces), duplicate object keys
// (where parsers disagree on which one wins), and numbers too large to compare cheaply.
package payload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// Limits bound what a document may hold. A zero field sets no bound.
type Limits struct {
	MaxDepth     int // nesting of objects and arrays
	MaxKeys      int // object members and array elements, in total; fields of a form
	MaxNumberLen int // characters in one number literal
	MaxBatch     int // elements of a batch (ParseBatch); each element has the other bounds
}

// DefaultLimits are generous for real webhooks and small enough to keep a parse cheap. MaxBatch
// is twice the largest batch a sender documents (Enode: "up to 100 event objects").
var DefaultLimits = Limits{MaxDepth: 32, MaxKeys: 4096, MaxNumberLen: 40, MaxBatch: 200}

// ErrSyntax reports a body that is not JSON, or JSON this parser refuses (see SyntaxError).
var ErrSyntax = outcome.Err(outcome.BadJSON, "invalid JSON")

// ErrLimit reports a body over one of the Limits.
var ErrLimit = outcome.Err(outcome.JSONLimits, "JSON over limits")

// SyntaxError says where and why a body (JSON, a form, a query string) was refused. Its text never
// quotes the body.
type SyntaxError struct {
	Offset int
	Reason string
	limit  bool
	form   bool // a form body or query string, not JSON
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at byte %d", e.Reason, e.Offset)
}

// Unwrap makes errors.Is true for one of ErrSyntax, ErrLimit (JSON), ErrForm and ErrFormLimit
// (forms and query strings) as appropriate, and so carries the reason.
func (e *SyntaxError) Unwrap() error {
	switch {
	case e.form && e.limit:
		return ErrFormLimit
	case e.form:
		return ErrForm
	case e.limit:
		return ErrLimit
	}
	return ErrSyntax
}

// Parse decodes one JSON value that fills data (surrounding whitespace allowed).
func Parse(data []byte, lim Limits) (any, error) {
	p := parser{data: data, lim: lim}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.data) {
		return nil, p.fail("data after the JSON value")
	}
	return v, nil
}

type parser struct {
	data []byte
	i    int
	keys int
	lim  Limits
}

func (p *parser) fail(reason string) error {
	return &SyntaxError{Offset: p.i, Reason: reason}
}

func (p *parser) limit(reason string) error {
	return &SyntaxError{Offset: p.i, Reason: reason, limit: true}
}

func (p *parser) skipSpace() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.i >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.fail("unexpected character")
}

func (p *parser) literal(word string) error {
	if len(p.data)-p.i < len(word) || string(p.data[p.i:p.i+len(word)]) != word {
		return p.fail("invalid literal")
	}
	p.i += len(word)
	return nil
}

func (p *parser) count() error {
	p.keys++
	if p.lim.MaxKeys > 0 && p.keys > p.lim.MaxKeys {
		return p.limit(fmt.Sprintf("more than %d keys and elements", p.lim.MaxKeys))
	}
	return nil
}

func (p *parser) object(depth int) (any, error) {
	if p.lim.MaxDepth > 0 && depth > p.lim.MaxDepth {
		return nil, p.limit(fmt.Sprintf("nested deeper than %d", p.lim.MaxDepth))
	}
	p.i++ // {
	m := make(map[string]any)
	p.skipSpace()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, p.fail("expected a string key")
		}
		keyAt := p.i
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, &SyntaxError{Offset: keyAt, Reason: "duplicate key"}
		}
		if err := p.count(); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.i++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.skipSpace()
		if p.i >= len(p.data) {
			return nil, p.fail("unexpected end of input")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	if p.lim.MaxDepth > 0 && depth > p.lim.MaxDepth {
		return nil, p.limit(fmt.Sprintf("nested deeper than %d", p.lim.MaxDepth))
	}
	p.i++ // [
	a := []any{}
	p.skipSpace()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		p.skipSpace()
		if err := p.count(); err != nil {
			return nil, err
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.skipSpace()
		if p.i >= len(p.data) {
			return nil, p.fail("unexpected end of input")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return a, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

func (p *parser) number() (any, error) {
	start := p.i
	d := p.data
	if p.i < len(d) && d[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(d) && d[p.i] == '0':
		p.i++
	case p.i < len(d) && d[p.i] >= '1' && d[p.i] <= '9':
		for p.i < len(d) && d[p.i] >= '0' && d[p.i] <= '9' {
			p.i++
		}
	default:
		return nil, p.fail("invalid number")
	}
	if p.i < len(d) && d[p.i] == '.' {
		p.i++
		if p.i >= len(d) || d[p.i] < '0' || d[p.i] > '9' {
			return nil, p.fail("invalid number")
		}
		for p.i < len(d) && d[p.i] >= '0' && d[p.i] <= '9' {
			p.i++
		}
	}
	hasExp := p.i < len(d) && (d[p.i] == 'e' || d[p.i] == 'E')
	if hasExp {
		p.i++
		if p.i < len(d) && (d[p.i] == '+' || d[p.i] == '-') {
			p.i++
		}
		expAt := p.i
		if p.i >= len(d) || d[p.i] < '0' || d[p.i] > '9' {
			return nil, p.fail("invalid number")
		}
		for p.i < len(d) && d[p.i] >= '0' && d[p.i] <= '9' {
			p.i++
		}
		// An exponent past float64's range would make big-number comparisons (schema minimum,
		// maximum) allocate without bound.
		if exp, err := strconv.Atoi(string(d[expAt:p.i])); err != nil || exp > maxExponent {
			p.i = start
			return nil, p.limit("number out of range")
		}
	}
	if p.lim.MaxNumberLen > 0 && p.i-start > p.lim.MaxNumberLen {
		p.i = start
		return nil, p.limit("number too long")
	}
	n := json.Number(d[start:p.i])
	// The value's exponent, not only the literal's, is bounded too (10e400 is 1e+401): so the
	// canonical form of every number Parse takes is one Parse takes as well.
	if hasExp || p.i-start > maxExponent {
		if sn, _ := splitNumber(string(n)); sn.len() > 0 && (sn.point-1 > maxExponent || sn.point-1 < -maxExponent) {
			p.i = start
			return nil, p.limit("number out of range")
		}
	}
	return n, nil
}

// maxExponent bounds a number's decimal exponent, as written and as a value: past float64's range
// (about 308), big-number comparisons (schema minimum, maximum) would allocate without bound.
const maxExponent = 400

func (p *parser) string() (string, error) {
	p.i++ // opening quote
	start := p.i
	d := p.data
	// Fast path: no escapes, all ASCII or valid UTF-8.
	for p.i < len(d) {
		c := d[p.i]
		if c == '"' {
			s := d[start:p.i]
			p.i++
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("control character in string")
		}
		if c < utf8.RuneSelf {
			p.i++
			continue
		}
		r, size := utf8.DecodeRune(d[p.i:])
		if r == utf8.RuneError && size <= 1 {
			return "", p.fail("invalid UTF-8")
		}
		p.i += size
	}
	if p.i >= len(d) {
		return "", p.fail("unterminated string")
	}
	// Slow path: decode escapes.
	buf := make([]byte, 0, p.i-start+16)
	buf = append(buf, d[start:p.i]...)
	for p.i < len(d) {
		c := d[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c == '\\':
			if p.i+1 >= len(d) {
				return "", p.fail("unterminated string")
			}
			e := d[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || p.i+1 >= len(d) || d[p.i] != '\\' || d[p.i+1] != 'u' {
						return "", p.fail("lone surrogate in \\u escape")
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", p.fail("invalid \\u escape")
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", p.fail("lone surrogate in \\u escape")
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < 0x20:
			return "", p.fail("control character in string")
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(d[p.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.fail("invalid UTF-8")
			}
			buf = append(buf, d[p.i:p.i+size]...)
			p.i += size
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// Resolve follows a JSON Pointer's unescaped tokens through a parsed document.
func Resolve(doc any, tokens []string) (any, bool) {
	v := doc
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[t]; !ok {
				return nil, false
			}
		case []any:
			i, ok := arrayIndex(t)
			if !ok || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// arrayIndex parses an RFC 6901 array index: "0", or digits without a leading zero. strconv.Atoi
// would also take a sign ("+1", "-0"), letting two pointers name one element.
func arrayIndex(t string) (int, bool) {
	if t == "" || len(t) > 9 || (len(t) > 1 && t[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Scalar returns the text of a string, number or boolean value; ok is false for null, objects and
// arrays. A number's text is its canonical form (CanonicalNumber), so that 100, 1e2 and 100.0 are
// one event id, one pseudonym and one topic level, as they are one value.
func Scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return canonicalScalar(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
