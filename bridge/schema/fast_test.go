package schema

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
)

// allKeywords exercises every keyword the fast validator knows.
const allKeywords = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$defs": {"pct": {"type": "integer", "minimum": 0, "maximum": 100}},
  "type": "object",
  "required": ["id", "n"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "minLength": 2, "maxLength": 8, "pattern": "^[a-z0-9_]+$"},
    "n": {"$ref": "#/$defs/pct"},
    "f": {"type": "number", "exclusiveMinimum": -1.5, "exclusiveMaximum": 2.25},
    "kind": {"enum": ["a", "b", null, true]},
    "k": {"const": "x"},
    "when": {"type": "string", "format": "date-time"},
    "mail": {"type": ["string", "null"], "format": "email"},
    "tags": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}},
    "open": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "no": false,
    "yes": true
  }
}`

func compileTest(t testing.TB, name string, data []byte) *Schema {
	t.Helper()
	set := NewSet()
	set.Add(name, data)
	sc, err := set.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// values are the leaves random documents are made of: boundary numbers, tricky strings.
var values = []string{`0`, `-0`, `100`, `101`, `-1`, `1.0`, `1e2`, `99.999999999999`, `2.25`, `2.2499999`, `-1.5`,
	`-1.4999`, `1e400`, `12345678901234567890`, `"a"`, `"b"`, `"x"`, `"ab"`, `"abcdefghi"`, `"AB"`, `"é"`,
	`"2026-11-25T08:00:00Z"`, `"2026-13-25T08:00:00Z"`, `"jane@example.com"`, `"not an email"`, `null`,
	`true`, `false`, `[]`, `["a"]`, `["a","b","c","d"]`, `[1]`, `{}`, `{"z":true}`, `{"z":1}`}

// good holds, per key, values near the edge of valid; a document takes mostly these, so that a fair
// share of documents are valid and the verdicts on both sides of each edge get compared.
var good = map[string][]string{
	"id": {`"ab"`, `"abcdefgh"`, `"a_1"`, `"a"`, `"abcdefghi"`, `"A1"`}, "n": {`0`, `100`, `101`, `-1`, `50`, `1.0`, `1e2`, `"5"`},
	"f": {`-1.4999`, `2.2499999`, `2.25`, `-1.5`, `0`, `1e-300`}, "kind": {`"a"`, `"b"`, `null`, `true`, `false`, `"c"`, `1`},
	"k": {`"x"`, `"y"`}, "when": {`"2026-11-25T08:00:00Z"`, `"2026-13-25T08:00:00Z"`, `5`}, "mail": {`"jane@example.com"`, `null`, `"nope"`},
	"tags": {`["a"]`, `["a","b","c"]`, `[]`, `["a","b","c","d"]`, `[1]`}, "open": {`{}`, `{"z":true}`, `{"z":1}`}, "yes": {`1`, `{}`},
	"no": {`1`}, "extra": {`1`},
}

var keys = []string{"id", "n", "f", "kind", "k", "when", "mail", "tags", "open", "no", "yes", "extra"}

func randomDoc(r *rand.Rand) []byte {
	doc := map[string]json.RawMessage{}
	for _, k := range keys {
		present := r.Intn(3) > 0
		if k == "id" || k == "n" {
			present = r.Intn(20) > 0
		}
		if k == "no" || k == "extra" {
			present = r.Intn(10) == 0
		}
		if !present {
			continue
		}
		if r.Intn(5) > 0 {
			doc[k] = json.RawMessage(good[k][r.Intn(len(good[k]))])
		} else {
			doc[k] = json.RawMessage(values[r.Intn(len(values))])
		}
	}
	b, _ := json.Marshal(doc)
	return b
}

// TestFastIsSound: whenever the fast validator says valid, the full validator agrees; and on this
// schema it is decisive for most valid documents (or it would be pointless).
func TestFastIsSound(t *testing.T) {
	sc := compileTest(t, "all.json", []byte(allKeywords))
	if sc.fast == nil {
		t.Fatal("the fast validator refused a schema of its own subset")
	}
	r := rand.New(rand.NewSource(1))
	fastValid, fullValid := 0, 0
	for i := 0; i < 20000; i++ {
		raw := randomDoc(r)
		doc, err := payload.Parse(raw, payload.DefaultLimits)
		if err != nil {
			continue
		}
		fast := sc.fast.validate(doc)
		full := sc.s.Validate(doc) == nil
		if fast && !full {
			t.Fatalf("fast validator accepted what the full one refuses: %s", raw)
		}
		if full {
			fullValid++
			if fast {
				fastValid++
			}
		}
	}
	t.Logf("fast validator decided %d of %d valid documents", fastValid, fullValid)
	// Integers written 1.0 or 1e2 and numbers within rounding of a bound are left to the full
	// validator on purpose; the rest it must decide.
	if fullValid < 100 || fastValid*2 < fullValid {
		t.Errorf("fast validator decided %d of %d valid documents, want over half", fastValid, fullValid)
	}
}

// TestFastOnBuiltinSchemas: the vendors' schemas compile to fast validators that accept their
// sample payloads.
func TestFastOnBuiltinSchemas(t *testing.T) {
	for _, c := range []struct{ schema, payload string }{
		{"acme-locks/v1.json", "acme-locks.json"},
		{"porchlight-cams/v1.json", "porchlight-cams.json"},
		{"gridwise-energy/v1.json", "gridwise-energy.json"},
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", "schemas", c.schema))
		if err != nil {
			t.Fatal(err)
		}
		sc := compileTest(t, c.schema, data)
		if sc.fast == nil {
			t.Errorf("%s: no fast validator", c.schema)
			continue
		}
		body, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", c.payload))
		doc, err := payload.Parse(body, payload.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if !sc.fast.validate(doc) {
			t.Errorf("%s: the fast validator is not sure the sample is valid, want sure", c.schema)
		}
	}
}

// TestFastRefusesUnknownKeywords: a schema with a keyword outside the subset gets no fast validator.
func TestFastRefusesUnknownKeywords(t *testing.T) {
	for _, s := range []string{
		`{"type":"object","patternProperties":{"^a":{"type":"string","multipleOf":2}}}`,
		`{"anyOf":[{"type":"string"},{"type":"number"}]}`,
		`{"enum":[1.5,2]}`,
		`{"enum":[[1]]}`,
		`{"const":1e300}`,
		`{"$ref":"other.json"}`,
		`{"properties":{"a":{"multipleOf":3}}}`,
		`{"format":"no-such-format"}`,
	} {
		if n := compileFast(mustJSON(t, s)); n != nil {
			t.Errorf("compileFast(%s) built a validator, want none", s)
		}
	}
}

// patternSchema has names that match several patterns, a property that a pattern narrows, and an
// unanchored pattern.
const patternSchema = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {"tags": {"type": "array", "maxItems": 3}, "x_s1": {"type": "string"}},
  "patternProperties": {
    "^x_": {"type": "integer", "minimum": 0},
    "^x_s": {"type": "string"},
    "_q": {"type": "string", "maxLength": 2},
    "^tags$": {"maxItems": 2}
  }
}`

// TestFastPatterns compares the fast validator with the full one on every document made of these
// names and values (or their absence): with patternProperties it must be exact here, where no
// number is near a bound.
func TestFastPatterns(t *testing.T) {
	sc := compileTest(t, "p.json", []byte(patternSchema))
	if sc.fast == nil {
		t.Fatal("no fast validator for patternProperties")
	}
	// Per name, values ("" for absent) on both sides of what its patterns allow.
	names := []string{"tags", "x_1", "x_s1", "a_q_b", "x_q", "other"}
	vals := [][]string{
		{"", `["a","b"]`, `["a","b","c"]`, `[]`},
		{"", `0`, `7`, `-1`, `"ab"`},
		{"", `"ab"`, `1`},
		{"", `"ab"`, `"abc"`, `1`},
		{"", `0`, `"ab"`},
		{"", `1`},
	}
	idx := make([]int, len(names))
	docs, valid := 0, 0
	for {
		parts := []string{}
		for i, n := range names {
			if v := vals[i][idx[i]]; v != "" {
				parts = append(parts, `"`+n+`":`+v)
			}
		}
		raw := "{" + strings.Join(parts, ",") + "}"
		doc, err := payload.Parse([]byte(raw), payload.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		fast, full := sc.fast.validate(doc), sc.s.Validate(doc) == nil
		if fast != full {
			t.Fatalf("%s: fast validator %v, full %v", raw, fast, full)
		}
		docs++
		if full {
			valid++
		}
		i := 0
		for ; i < len(idx); i++ {
			if idx[i]++; idx[i] < len(vals[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			break
		}
	}
	if valid < 12 {
		t.Errorf("%d of %d documents valid, want more for the comparison to mean much", valid, docs)
	}
	t.Logf("fast and full validators agree on %d documents, %d valid", docs, valid)
}

// TestFastNumericEnum compares the fast validator with the full one on numbers against integer
// enum and const members: sure only of plain integer literals, never wrong.
func TestFastNumericEnum(t *testing.T) {
	sc := compileTest(t, "e.json", []byte(`{"properties": {"e": {"enum": [0, 1, -5, 9007199254740992, "a", null]}, "c": {"const": 3}}}`))
	if sc.fast == nil {
		t.Fatal("no fast validator for integer enums")
	}
	for _, v := range []string{`0`, `-0`, `1`, `-5`, `5`, `2`, `9007199254740992`, `9007199254740993`, `1.0`, `1e0`, `0.5`,
		`12345678901234567890`, `"a"`, `"0"`, `null`, `true`} {
		for _, name := range []string{"e", "c"} {
			raw := `{"` + name + `":` + v + `}`
			doc, err := payload.Parse([]byte(raw), payload.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			fast, full := sc.fast.validate(doc), sc.s.Validate(doc) == nil
			plain := !strings.ContainsAny(v, ".eE")
			if fast && !full || full && plain && !fast {
				t.Errorf("%s: fast validator %v, full %v", raw, fast, full)
			}
		}
	}
}

func mustJSON(t *testing.T, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzFastSound checks soundness on arbitrary bodies against the keyword-rich schema.
func FuzzFastSound(f *testing.F) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 64; i++ {
		f.Add(randomDoc(r))
	}
	sc := compileTest(f, "all.json", []byte(allKeywords))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, err := payload.Parse(raw, payload.DefaultLimits)
		if err != nil {
			return
		}
		if sc.fast.validate(doc) && sc.s.Validate(doc) != nil {
			t.Fatalf("fast validator accepted what the full one refuses: %s", raw)
		}
	})
}

// FuzzFastPatternsSound checks soundness on arbitrary bodies against the pattern schema.
func FuzzFastPatternsSound(f *testing.F) {
	for _, s := range []string{`{}`, `{"x_1":0}`, `{"tags":["a","b","c"]}`, `{"a_q_b":"ab","x_s1":"ab"}`, `{"x_q":0,"zz_q":"x"}`} {
		f.Add([]byte(s))
	}
	sc := compileTest(f, "p.json", []byte(patternSchema))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, err := payload.Parse(raw, payload.DefaultLimits)
		if err != nil {
			return
		}
		if sc.fast.validate(doc) && sc.s.Validate(doc) != nil {
			t.Fatalf("fast validator accepted what the full one refuses: %s", raw)
		}
	})
}
