package payload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// stdParse decodes data with encoding/json the way Parse is meant to agree with.
func stdParse(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

var valid = []struct {
	name string
	in   string
}{
	{"zero", `0`},
	{"negative zero", `-0`},
	{"integer", `42`},
	{"negative", `-17`},
	{"fraction", `3.25`},
	{"exponent", `1.5e10`},
	{"negative exponent", `-1.25E-3`},
	{"exponent plus", `2e+5`},
	{"exponent at the limit", `1e400`},
	{"negative exponent at the limit", `1e-400`},
	{"value's exponent at the limit", `10e399`},
	{"value's negative exponent at the limit", `0.1e-399`},
	{"exponent made smaller by the fraction", `0.001e400`},
	{"zero with the largest exponent", `0e400`},
	{"long integer", `123456789012345678901234567890`},
	{"forty characters", `-1234567890123456789012345678901234567.8`},
	{"true", `true`},
	{"false", `false`},
	{"null", `null`},
	{"empty string", `""`},
	{"string", `"hello"`},
	{"escapes", `"a\"b\\c\/d\b\f\n\r\t"`},
	{"unicode escape", `"caf\u00e9"`},
	{"upper hex escape", `"\u00E9\u00c9"`},
	{"surrogate pair", `"\ud83d\ude00"`},
	{"raw utf-8", `"grüße 世界 😀"`},
	{"replacement character", "\"\xef\xbf\xbd\""},
	{"escaped replacement character", `"\ufffd"`},
	{"del byte", "\"\x7f\""},
	{"escaped nul", `"\u0000"`},
	{"line separator", `"\u2028"`},
	{"empty object", `{}`},
	{"empty array", `[]`},
	{"whitespace around", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n"},
	{"nested", `{"a":[1,{"b":null}],"c":true,"d":false,"e":"x"}`},
	{"same key in sibling objects", `{"a":{"x":1},"b":{"x":2}}`},
	{"same key in array elements", `[{"x":1},{"x":2}]`},
	{"escaped key", `{"a\u0062":1}`},
	{"empty key", `{"":1}`},
	{"array of everything", `[1,"a",true,false,null,{},[]]`},
	{"depth 32 arrays", nested("[", "]", 32)},
	{"depth 32 mixed", strings.Repeat(`{"a":[`, 16) + strings.Repeat(`]}`, 16)},
	{"realistic", `{"id":"evt_1","type":"lock.state_changed","created_at":"2026-01-02T03:04:05Z","data":{"device_id":"front-door","battery_pct":87,"state":"locked"}}`},
}

func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := payload.Parse([]byte(tt.in), payload.DefaultLimits)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want nil error", tt.in, err)
			}
			want, err := stdParse([]byte(tt.in))
			if err != nil {
				t.Fatalf("encoding/json refuses %q: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, want)
			}
		})
	}
}

// marker is a text the refused inputs carry, which no error may repeat.
const marker = "Zq9xW"

var refused = []struct {
	name  string
	in    string
	limit bool // ErrLimit rather than ErrSyntax
	lim   *payload.Limits
}{
	// Ambiguous or repaired by other parsers.
	{name: "duplicate key", in: `{"Zq9xW":1,"Zq9xW":2}`},
	{name: "duplicate key nested", in: `{"a":{"b":{"Zq9xW":1,"c":2,"Zq9xW":1}}}`},
	{name: "duplicate key in array element", in: `[1,{"Zq9xW":1,"Zq9xW":1}]`},
	{name: "duplicate key through an escape", in: `{"ab":"Zq9xW","a\u0062":2}`},
	{name: "duplicate empty key", in: `{"":1,"":"Zq9xW"}`},
	{name: "invalid utf-8 byte", in: "\"Zq9xW\xff\""},
	{name: "invalid utf-8 in key", in: "{\"Zq9xW\xfe\":1}"},
	{name: "overlong utf-8", in: "\"Zq9xW\xc0\xaf\""},
	{name: "utf-8 surrogate", in: "\"Zq9xW\xed\xa0\x80\""},
	{name: "truncated utf-8", in: "\"Zq9xW\xe2\x82\""},
	{name: "invalid utf-8 after an escape", in: "\"Zq9xW\\n\xff\""},
	{name: "invalid utf-8 outside a string", in: "[\xff]"},
	{name: "lone high surrogate", in: `"Zq9xW\ud800"`},
	{name: "lone low surrogate", in: `"Zq9xW\udc00"`},
	{name: "high surrogate then letter", in: `"Zq9xW\ud800A"`},
	{name: "high surrogate then other escape", in: `"Zq9xW\ud800\n"`},
	{name: "two high surrogates", in: `"Zq9xW\udbff\udbff"`},
	{name: "high surrogate then BMP escape", in: `"Zq9xW\ud800\u0041"`},
	{name: "reversed pair", in: `"Zq9xW\ude00\ud83d"`},
	{name: "high surrogate at end", in: `"Zq9xW\ud83d`},
	// Controls.
	{name: "raw newline", in: "\"Zq9xW\n\""},
	{name: "raw tab", in: "\"Zq9xW\t\""},
	{name: "raw nul", in: "\"Zq9xW\x00\""},
	{name: "raw unit separator", in: "\"Zq9xW\x1f\""},
	{name: "raw control after escape", in: "\"Zq9xW\\t\x01\""},
	{name: "raw control in key", in: "{\"Zq9xW\x02\":1}"},
	// Escapes.
	{name: "unknown escape", in: `"Zq9xW\x41"`},
	{name: "bell escape", in: `"Zq9xW\a"`},
	{name: "quote escape", in: `"Zq9xW\'"`},
	{name: "short unicode escape", in: `"Zq9xW\u12"`},
	{name: "bad hex in unicode escape", in: `"Zq9xW\u12G4"`},
	{name: "upper U escape", in: `"Zq9xW\U0041"`},
	{name: "backslash at end", in: `"Zq9xW\`},
	{name: "unterminated", in: `"Zq9xW`},
	{name: "unterminated after escape", in: `"Zq9xW\n`},
	// Trailing data.
	{name: "two objects", in: `{"a":"Zq9xW"} {}`},
	{name: "two numbers", in: `1 2`},
	{name: "string then letters", in: `"Zq9xW"x`},
	{name: "extra bracket", in: `["Zq9xW"]]`},
	{name: "extra brace", in: `{"a":"Zq9xW"}}`},
	{name: "trailing nul", in: "{\"a\":\"Zq9xW\"}\x00"},
	{name: "trailing comma", in: `{"a":"Zq9xW"},`},
	// Numbers.
	{name: "leading zero", in: `01`},
	{name: "negative leading zero", in: `-01`},
	{name: "leading zeros in array", in: `["Zq9xW",00]`},
	{name: "leading zero in object", in: `{"Zq9xW":012}`},
	{name: "lone minus", in: `-`},
	{name: "plus sign", in: `+1`},
	{name: "dot first", in: `.5`},
	{name: "dot last", in: `1.`},
	{name: "empty exponent", in: `1e`},
	{name: "signed empty exponent", in: `1e+`},
	{name: "hex number", in: `0x10`},
	{name: "NaN", in: `NaN`},
	{name: "Infinity", in: `-Infinity`},
	// Structure.
	{name: "empty input", in: ``},
	{name: "only whitespace", in: " \n\t"},
	{name: "trailing comma in array", in: `["Zq9xW",]`},
	{name: "trailing comma in object", in: `{"Zq9xW":1,}`},
	{name: "unquoted key", in: `{Zq9xW:1}`},
	{name: "single quotes", in: `'Zq9xW'`},
	{name: "missing colon", in: `{"Zq9xW" 1}`},
	{name: "missing value", in: `{"Zq9xW":}`},
	{name: "key only", in: `{"Zq9xW"}`},
	{name: "unclosed array", in: `["Zq9xW"`},
	{name: "unclosed object", in: `{"Zq9xW":1`},
	{name: "missing comma", in: `["Zq9xW" 1]`},
	{name: "bad literal", in: `tru`},
	{name: "capital literal", in: `True`},
	{name: "comment", in: `{"a":1 /* Zq9xW */}`},
	// Limits.
	{name: "depth 33 arrays", in: nested("[", "]", 33), limit: true},
	{name: "depth 33 objects", in: strings.Repeat(`{"a":`, 33) + `"Zq9xW"` + strings.Repeat(`}`, 33), limit: true},
	{name: "depth far over limit", in: strings.Repeat(`[`, 100000), limit: true},
	{name: "depth 3 of 2", in: `[[["Zq9xW"]]]`, limit: true, lim: &payload.Limits{MaxDepth: 2}},
	{name: "keys over limit", in: `{"a":1,"b":2,"c":3,"Zq9xW":4}`, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "elements over limit", in: `["Zq9xW",2,3,4]`, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "keys and elements together over limit", in: `{"a":[1,2],"Zq9xW":3}`, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "nested keys over limit", in: `[{"a":1},{"b":2}]`, limit: true, lim: &payload.Limits{MaxKeys: 3}},
	{name: "number 41 characters", in: `12345678901234567890123456789012345678901`, limit: true},
	{name: "long fraction", in: `0.` + strings.Repeat("1", 60), limit: true},
	{name: "number over custom limit", in: `1234`, limit: true, lim: &payload.Limits{MaxNumberLen: 3}},
	{name: "huge exponent", in: `1e999999`, limit: true},
	{name: "huge negative exponent", in: `1E-999999`, limit: true},
	{name: "exponent just over", in: `1e401`, limit: true},
	{name: "value's exponent just over", in: `10e400`, limit: true},
	{name: "value's negative exponent just over", in: `0.1e-400`, limit: true},
	{name: "value's exponent over without an exponent", in: `1` + strings.Repeat("0", 401), limit: true, lim: &payload.Limits{}},
	{name: "exponent past int", in: `1e99999999999999999999999`, limit: true},
	{name: "huge exponent in object", in: `{"Zq9xW":1e999999}`, limit: true},
}

var reasonRE = regexp.MustCompile(`^[a-zA-Z0-9 ',:\\{}\[\]-]+ at byte [0-9]+$`)

func TestParseRefuses(t *testing.T) {
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			lim := payload.DefaultLimits
			if tt.lim != nil {
				lim = *tt.lim
			}
			v, err := payload.Parse([]byte(tt.in), lim)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, nil, want an error", tt.in, v)
			}
			want, other := payload.ErrSyntax, payload.ErrLimit
			if tt.limit {
				want, other = other, want
			}
			if !errors.Is(err, want) || errors.Is(err, other) {
				t.Errorf("Parse(%q) = %v, want %v and not %v", tt.in, err, want, other)
			}
			if v != nil {
				t.Errorf("Parse(%q) value = %#v, want nil", tt.in, v)
			}
			checkErrorText(t, tt.in, err)
		})
	}
}

func checkErrorText(t *testing.T, in string, err error) {
	t.Helper()
	text := err.Error()
	if strings.Contains(text, marker) {
		t.Errorf("Parse(%q) error %q quotes the body", in, text)
	}
	if !reasonRE.MatchString(text) {
		t.Errorf("Parse(%q) error %q, want a fixed reason and an offset", in, text)
	}
	var se *payload.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("Parse(%q) = %T, want *SyntaxError", in, err)
	}
	if se.Offset < 0 || se.Offset > len(in) {
		t.Errorf("Parse(%q) offset = %d, want within [0, %d]", in, se.Offset, len(in))
	}
}

func TestParseLimitsBoundaries(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  payload.Limits
		ok   bool
	}{
		{"keys at limit", `{"a":1,"b":2,"c":3}`, payload.Limits{MaxKeys: 3}, true},
		{"elements at limit", `[1,2,3]`, payload.Limits{MaxKeys: 3}, true},
		{"depth at limit", `[[1]]`, payload.Limits{MaxDepth: 2}, true},
		{"number at limit", `123`, payload.Limits{MaxNumberLen: 3}, true},
		{"zero limits mean none", nested("[", "]", 200), payload.Limits{}, true},
		{"empty containers count no keys", `[[],{},[]]`, payload.Limits{MaxKeys: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payload.Parse([]byte(tt.in), tt.lim)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%q, %+v) = %v, want ok=%v", tt.in, tt.lim, err, tt.ok)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	doc, err := payload.Parse([]byte(`{
		"a/b": 1, "m~n": 2, "m~1": 3, "~": 4,
		"arr": [10, 20, {"x": "y"}],
		"": {"": 5},
		"01": "k",
		"n": null,
		"s": "text"
	}`), payload.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pointer string
		want    any // nil with ok=false when absent
		ok      bool
	}{
		{"", doc, true},
		{"/a~1b", json.Number("1"), true},
		{"/m~0n", json.Number("2"), true},
		{"/m~01", json.Number("3"), true},
		{"/~0", json.Number("4"), true},
		{"/a/b", nil, false},
		{"/arr/0", json.Number("10"), true},
		{"/arr/1", json.Number("20"), true},
		{"/arr/2/x", "y", true},
		{"/arr/3", nil, false},
		{"/arr/01", nil, false},
		{"/arr/00", nil, false},
		{"/arr/-1", nil, false},
		{"/arr/-0", nil, false},
		{"/arr/+1", nil, false},
		{"/arr/-", nil, false},
		{"/arr/ 1", nil, false},
		{"/arr/1 ", nil, false},
		{"/arr/1.0", nil, false},
		{"/arr/1e0", nil, false},
		{"/arr/0x1", nil, false},
		{"/arr/", nil, false},
		{"/arr/99999999999999999999", nil, false},
		{"/arr/x", nil, false},
		{"/01", "k", true},
		{"/", map[string]any{"": json.Number("5")}, true},
		{"//", json.Number("5"), true},
		{"/arr/0/x", nil, false},
		{"/s/0", nil, false},
		{"/n", nil, true},
		{"/n/x", nil, false},
		{"/missing", nil, false},
		{"/missing/deeper", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.pointer, func(t *testing.T) {
			if err := policy.CheckPointer(tt.pointer); err != nil {
				t.Fatalf("bad test pointer %q: %v", tt.pointer, err)
			}
			got, ok := payload.Resolve(doc, policy.SplitPointer(tt.pointer))
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve(%q) = %#v, %v, want %#v, %v", tt.pointer, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestResolveRawTokens(t *testing.T) {
	doc := []any{"zero", "one"}
	tests := []struct {
		tokens []string
		want   any
		ok     bool
	}{
		{nil, doc, true},
		{[]string{"0"}, "zero", true},
		{[]string{"1"}, "one", true},
		{[]string{"2"}, nil, false},
		{[]string{"-1"}, nil, false},
		{[]string{"01"}, nil, false},
		{[]string{"+0"}, nil, false},
		{[]string{"1_0"}, nil, false},
	}
	for _, tt := range tests {
		got, ok := payload.Resolve(doc, tt.tokens)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Resolve(%q) = %#v, %v, want %#v, %v", tt.tokens, got, ok, tt.want, tt.ok)
		}
	}
}

func TestScalar(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
		ok   bool
	}{
		{"string", "abc", "abc", true},
		{"empty string", "", "", true},
		{"number", json.Number("-1.5e3"), "-1500", true},
		{"number as written", json.Number("42"), "42", true},
		{"number with an exponent", json.Number("1e2"), "100", true},
		{"negative zero", json.Number("-0"), "0", true},
		{"not a number literal", json.Number("x"), "x", true},
		{"true", true, "true", true},
		{"false", false, "false", true},
		{"null", nil, "", false},
		{"object", map[string]any{"a": "b"}, "", false},
		{"array", []any{"a"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := payload.Scalar(tt.v)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Scalar(%#v) = %q, %v, want %q, %v", tt.v, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// refusedByDesign are the reasons Parse may refuse a document that encoding/json accepts: it repairs
// or ignores them.
var refusedByDesign = map[string]bool{
	"duplicate key":               true,
	"invalid UTF-8":               true,
	`lone surrogate in \u escape`: true,
}

func FuzzParse(f *testing.F) {
	for _, tt := range valid {
		f.Add([]byte(tt.in))
	}
	for _, tt := range refused {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := payload.Parse(data, payload.DefaultLimits)
		stdOK := json.Valid(data)
		if err != nil {
			if errors.Is(err, payload.ErrSyntax) == errors.Is(err, payload.ErrLimit) {
				t.Fatalf("Parse(%q) = %v, want exactly one of ErrSyntax, ErrLimit", data, err)
			}
			var se *payload.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
				t.Fatalf("Parse(%q) = %#v, want a *SyntaxError with an offset inside the input", data, err)
			}
			if stdOK && errors.Is(err, payload.ErrSyntax) && !refusedByDesign[se.Reason] {
				t.Fatalf("Parse(%q) = %v, but encoding/json accepts it", data, err)
			}
			return
		}
		if !stdOK {
			t.Fatalf("Parse(%q) accepted what encoding/json refuses", data)
		}
		want, err := stdParse(data)
		if err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q) = %#v, encoding/json = %#v", data, got, want)
		}
	})
}
