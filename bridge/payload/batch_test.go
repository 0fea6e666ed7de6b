package payload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/payload"
)

// enodeBatch is the shape Enode documents for a delivery, "an application/json body containing an
// array of Events" (https://developer.enode.com/docs/webhooks): built from its schema example with
// the comments and the ellipsis taken out, so not a byte-exact delivery.
const enodeBatch = `[
  {"event": "user:vehicle:updated", "createdAt": "2020-04-07T17:04:26Z"},
  {"event": "system:heartbeat", "createdAt": "2020-04-07T17:05:00Z"}
]`

var batchValid = []struct {
	name string
	in   string
	raw  []string // each element's bytes
}{
	{"enode", enodeBatch, []string{
		`{"event": "user:vehicle:updated", "createdAt": "2020-04-07T17:04:26Z"}`,
		`{"event": "system:heartbeat", "createdAt": "2020-04-07T17:05:00Z"}`}},
	{"one element", `[{"a":1}]`, []string{`{"a":1}`}},
	{"empty objects", `[{},{}]`, []string{`{}`, `{}`}},
	{"same element twice", `[{"a":1},{"a":1}]`, []string{`{"a":1}`, `{"a":1}`}},
	{"whitespace everywhere", " \n[ \t{\"a\" : [1,2]} ,\r\n{\"b\":{\"c\":null}} ] \n", []string{`{"a" : [1,2]}`, `{"b":{"c":null}}`}},
	{"arrays inside elements", `[{"a":[[1],[2]]}]`, []string{`{"a":[[1],[2]]}`}},
	// A body that is not an array is one event: the whole body, as a vendor without batches keys it.
	{"object", ` {"a":1} `, []string{` {"a":1} `}},
	{"string", `"x"`, []string{`"x"`}},
	{"number", `1`, []string{`1`}},
}

func TestParseBatch(t *testing.T) {
	for _, tt := range batchValid {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.in)
			got, err := payload.ParseBatch(body, payload.DefaultLimits)
			if err != nil {
				t.Fatalf("ParseBatch(%q) = %v", tt.in, err)
			}
			if len(got) != len(tt.raw) {
				t.Fatalf("ParseBatch(%q) = %d elements, want %d", tt.in, len(got), len(tt.raw))
			}
			for i, e := range got {
				if string(e.Raw) != tt.raw[i] {
					t.Errorf("ParseBatch(%q)[%d].Raw = %q, want %q", tt.in, i, e.Raw, tt.raw[i])
				}
				want, err := payload.Parse(e.Raw, payload.DefaultLimits)
				if err != nil || !reflect.DeepEqual(e.Doc, want) {
					t.Errorf("ParseBatch(%q)[%d].Doc = %#v, want Parse(Raw) = %#v, %v", tt.in, i, e.Doc, want, err)
				}
				// Raw is a part of the body, not a copy.
				if len(e.Raw) > 0 && !within(body, e.Raw) {
					t.Errorf("ParseBatch(%q)[%d].Raw is not a part of the body", tt.in, i)
				}
			}
		})
	}
}

func within(body, part []byte) bool {
	for i := range body {
		if &body[i] == &part[0] {
			return i+len(part) <= len(body)
		}
	}
	return false
}

var batchRefused = []struct {
	name   string
	in     string
	reason string
	limit  bool
	lim    *payload.Limits
}{
	{name: "empty array", in: `[]`, reason: "empty array: no events"},
	{name: "empty array with space", in: ` [ ] `, reason: "empty array: no events"},
	{name: "array of arrays", in: `[["Zq9xW"]]`, reason: "array in the array: events must be objects"},
	{name: "array after an object", in: `[{"a":"Zq9xW"},[]]`, reason: "array in the array: events must be objects"},
	{name: "array of numbers", in: `[1,2]`, reason: "event is not an object"},
	{name: "array of strings", in: `["Zq9xW"]`, reason: "event is not an object"},
	{name: "null element", in: `[{},null]`, reason: "event is not an object"},
	{name: "trailing comma", in: `[{"a":"Zq9xW"},]`, reason: "event is not an object"},
	{name: "unclosed", in: `[{"a":"Zq9xW"}`, reason: "unexpected end of input"},
	{name: "open bracket only", in: `[`, reason: "unexpected end of input"},
	{name: "missing comma", in: `[{"a":"Zq9xW"} {}]`, reason: "expected ',' or ']'"},
	{name: "data after", in: `[{"a":"Zq9xW"}] {}`, reason: "data after the JSON value"},
	{name: "bad element", in: `[{"a":"Zq9xW","a":1}]`, reason: "duplicate key"},
	{name: "bad second element", in: `[{},{"a":"Zq9xW\ud800"}]`, reason: `lone surrogate in \u escape`},
	{name: "bad object body", in: `{"a":"Zq9xW","a":1}`, reason: "duplicate key"},
	{name: "empty body", in: ``, reason: "unexpected end of input"},
	// Limits.
	{name: "over the batch limit", in: `[{},{},{"a":"Zq9xW"}]`, reason: "more than 2 events in the array", limit: true, lim: &payload.Limits{MaxBatch: 2}},
	{name: "huge array of events", in: "[" + strings.Repeat(`{"a":"Zq9xW"},`, 100000) + "{}]", reason: "more than 200 events in the array", limit: true},
	{name: "element over the key limit", in: `[{"a":1},{"a":1,"b":2,"Zq9xW":3}]`, reason: "more than 2 keys and elements", limit: true, lim: &payload.Limits{MaxKeys: 2}},
	{name: "element too deep", in: `[{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}]`, reason: "nested deeper than 32", limit: true},
	{name: "number too long in an element", in: `[{"a":` + strings.Repeat("1", 41) + `}]`, reason: "number too long", limit: true},
}

func TestParseBatchRefuses(t *testing.T) {
	for _, tt := range batchRefused {
		t.Run(tt.name, func(t *testing.T) {
			lim := payload.DefaultLimits
			if tt.lim != nil {
				lim = *tt.lim
			}
			got, err := payload.ParseBatch([]byte(tt.in), lim)
			if err == nil {
				t.Fatalf("ParseBatch(%.40q) = %d elements, want an error", tt.in, len(got))
			}
			want, other, reason := payload.ErrSyntax, payload.ErrLimit, outcome.BadJSON
			if tt.limit {
				want, other, reason = other, want, outcome.JSONLimits
			}
			if !errors.Is(err, want) || errors.Is(err, other) || outcome.Of(err) != reason {
				t.Errorf("ParseBatch(%.40q) = %v (%s), want %v and not %v", tt.in, err, outcome.Of(err).Word(), want, other)
			}
			var se *payload.SyntaxError
			if !errors.As(err, &se) || se.Reason != tt.reason {
				t.Errorf("ParseBatch(%.40q) = %v, want %q", tt.in, err, tt.reason)
			}
			if got != nil {
				t.Errorf("ParseBatch(%.40q) elements = %d, want nil", tt.in, len(got))
			}
			checkErrorText(t, tt.in, err)
		})
	}
}

// TestParseBatchLimits checks that each element has the limits of a body of its own, and the
// boundaries of MaxBatch.
func TestParseBatchLimits(t *testing.T) {
	// 5,000 keys in all, more than MaxKeys, but 50 in each element: a batch is not one document.
	var elems []string
	for range 100 {
		elems = append(elems, `{"k":1`+distinctKeys(49)+"}")
	}
	body := "[" + strings.Join(elems, ",") + "]"
	if got, err := payload.ParseBatch([]byte(body), payload.DefaultLimits); err != nil || len(got) != 100 {
		t.Errorf("ParseBatch(100 elements of 50 keys) = %d, %v, want 100 elements", len(got), err)
	}
	if _, err := payload.Parse([]byte(body), payload.DefaultLimits); !errors.Is(err, payload.ErrLimit) {
		t.Fatalf("Parse(100 elements of 50 keys) = %v, want over limits (else this test proves nothing)", err)
	}
	lim := payload.Limits{MaxBatch: 3}
	if got, err := payload.ParseBatch([]byte(`[{},{},{}]`), lim); err != nil || len(got) != 3 {
		t.Errorf("ParseBatch(3 of 3) = %d, %v, want 3 elements", len(got), err)
	}
	// Depth counts from the element, as for a body of its own.
	deep := strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat(`}`, 32)
	if _, err := payload.Parse([]byte(deep), payload.DefaultLimits); err != nil {
		t.Fatalf("Parse(depth 32) = %v", err)
	}
	if _, err := payload.ParseBatch([]byte("["+deep+"]"), payload.DefaultLimits); err != nil {
		t.Errorf("ParseBatch([depth 32]) = %v, want nil", err)
	}
	if _, err := payload.ParseBatch([]byte(distinctFieldsJSON(5000)), payload.Limits{}); err != nil {
		t.Errorf("ParseBatch(5000 elements, no limits) = %v, want nil", err)
	}
}

func distinctKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	return b.String()
}

func distinctFieldsJSON(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`{"a":1},`, n), ",") + "]"
}

// TestParseBatchHugeArrayIsCheap checks that a huge array of events costs what MaxBatch elements
// cost, not what the body holds.
func TestParseBatchHugeArrayIsCheap(t *testing.T) {
	huge := []byte("[" + strings.Repeat(`{"a":1},`, 100000) + "{}]")
	small := []byte("[" + strings.Repeat(`{"a":1},`, 200) + "{}]")
	hugeAllocs := testing.AllocsPerRun(10, func() { _, _ = payload.ParseBatch(huge, payload.DefaultLimits) })
	smallAllocs := testing.AllocsPerRun(10, func() { _, _ = payload.ParseBatch(small, payload.DefaultLimits) })
	if hugeAllocs > smallAllocs+5 {
		t.Errorf("ParseBatch(100,000 elements) allocates %v times, ParseBatch(201) %v: want no more", hugeAllocs, smallAllocs)
	}
}

func FuzzParseBatch(f *testing.F) {
	for _, tt := range batchValid {
		f.Add([]byte(tt.in))
	}
	for _, tt := range batchRefused {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	lim := payload.DefaultLimits
	lim.MaxBatch = 8 // reachable by the fuzzer
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := payload.ParseBatch(data, lim)
		if err != nil {
			var se *payload.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
				t.Fatalf("ParseBatch(%q) = %#v, want a *SyntaxError with an offset inside the input", data, err)
			}
			if errors.Is(err, payload.ErrSyntax) == errors.Is(err, payload.ErrLimit) {
				t.Fatalf("ParseBatch(%q) = %v, want exactly one of ErrSyntax, ErrLimit", data, err)
			}
			return
		}
		whole, err := payload.Parse(data, payload.Limits{MaxNumberLen: lim.MaxNumberLen})
		if err != nil {
			t.Fatalf("ParseBatch(%q) took what Parse refuses: %v", data, err)
		}
		arr, isArray := whole.([]any)
		if !isArray {
			if len(got) != 1 || !bytes.Equal(got[0].Raw, data) || !reflect.DeepEqual(got[0].Doc, whole) {
				t.Fatalf("ParseBatch(%q) = %#v, want the whole body as one element", data, got)
			}
			return
		}
		if len(arr) != len(got) || len(got) == 0 || len(got) > lim.MaxBatch {
			t.Fatalf("ParseBatch(%q) = %d elements, Parse %d", data, len(got), len(arr))
		}
		for i, e := range got {
			if _, ok := e.Doc.(map[string]any); !ok {
				t.Fatalf("ParseBatch(%q)[%d] = %#v, want an object", data, i, e.Doc)
			}
			if !reflect.DeepEqual(e.Doc, arr[i]) {
				t.Fatalf("ParseBatch(%q)[%d] = %#v, Parse %#v", data, i, e.Doc, arr[i])
			}
			again, err := payload.Parse(e.Raw, lim)
			if err != nil || !reflect.DeepEqual(again, e.Doc) {
				t.Fatalf("Parse(ParseBatch(%q)[%d].Raw = %q) = %#v, %v, want %#v", data, i, e.Raw, again, err, e.Doc)
			}
			if !json.Valid(e.Raw) || len(bytes.TrimSpace(e.Raw)) != len(e.Raw) {
				t.Fatalf("ParseBatch(%q)[%d].Raw = %q, want one JSON value without space around", data, i, e.Raw)
			}
		}
	})
}
