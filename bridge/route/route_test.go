package route_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/route"
)

const testPolicy = `vendor: acme-locks
title: Acme Locks cloud
owner: Home security
contact: support@acme.example
risk: high
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
schema: acme-locks/v1.json
routes:
  - when: lock.state_changed
    topic: locks/{device}/state
    retain: true
    qos: 1
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      state: /data/state
      battery: /data/battery_pct
      actor: {from: /data/user, pseudonymize: true}
  - when: "*"
    topic: all/{kind}
    qos: 2
    fields:
      kind: /type
  - when: lock.raw
    topic: raw/{name}/x
    fields:
      name: /data/name
      extra: /data/extra
  - when: lock.raw
    topic: fixed/events
    fields:
      count: /data/count
      tags: /data/tags
      first_tag: /data/tags/0
`

var testKey = []byte("0123456789abcdef0123456789abcdef")

func compile(t testing.TB) (*route.Table, *pseudo.Pseudonymizer) {
	t.Helper()
	p, problems := policy.Parse("acme-locks.yaml", []byte(testPolicy))
	if len(problems) > 0 || p == nil {
		t.Fatalf("policy.Parse: %v", problems)
	}
	ps, err := pseudo.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return route.Compile("hb", p, ps), ps
}

func parse(t testing.TB, s string) any {
	t.Helper()
	v, err := payload.Parse([]byte(s), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("payload.Parse(%q): %v", s, err)
	}
	return v
}

func stdParse(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("encoding/json cannot read %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("encoding/json: data after the value in %q", b)
	}
	return v
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCompile(t *testing.T) {
	tbl, _ := compile(t)
	routes := tbl.Routes()
	want := []struct {
		when, pattern string
		retain        bool
		qos           byte
	}{
		{"lock.state_changed", "locks/{device}/state", true, 1},
		{"*", "all/{kind}", false, 2},
		{"lock.raw", "raw/{name}/x", false, 0},
		{"lock.raw", "fixed/events", false, 0},
	}
	if len(routes) != len(want) {
		t.Fatalf("Routes() = %d routes, want %d", len(routes), len(want))
	}
	for i, w := range want {
		r := routes[i]
		if r.When != w.when || r.Pattern != w.pattern || r.Retain != w.retain || r.QoS != w.qos {
			t.Errorf("Routes()[%d] = %+v, want %+v", i, *r, w)
		}
	}
}

func TestApply(t *testing.T) {
	tbl, ps := compile(t)
	tok := func(v string) string { return ps.Token(pseudo.DomainField, "acme-locks", v) }
	type msg struct {
		topic   string
		payload map[string]any
		retain  bool
		qos     byte
	}
	tests := []struct {
		name     string
		event    string
		typ      string
		matched  int
		messages []msg
		skipped  []error
	}{
		{
			name:    "all fields",
			event:   `{"type":"lock.state_changed","data":{"device_id":"front-door","state":"locked","battery_pct":87,"user":{"id":"u1","name":"Alice"},"device_serial":"SN-1","location":{"lat":1}}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/locks/" + tok("front-door") + "/state", map[string]any{
					"device":  tok("front-door"),
					"state":   "locked",
					"battery": json.Number("87"),
					"actor":   tok(`{"id":"u1","name":"Alice"}`),
				}, true, 1},
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
		},
		{
			name:    "absent fields left out",
			event:   `{"type":"lock.state_changed","data":{"device_id":"front-door"}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/locks/" + tok("front-door") + "/state", map[string]any{"device": tok("front-door")}, true, 1},
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
		},
		{
			name:    "null field kept as null",
			event:   `{"type":"lock.state_changed","data":{"device_id":"d","state":null}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/locks/" + tok("d") + "/state", map[string]any{"device": tok("d"), "state": nil}, true, 1},
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
		},
		{
			name:    "topic field absent",
			event:   `{"type":"lock.state_changed","data":{"state":"locked"}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
			skipped: []error{route.ErrMissingField},
		},
		{
			name:    "unknown type takes only the wildcard route",
			event:   `{"type":"lock.jammed","data":{"device_id":"front-door"}}`,
			typ:     "lock.jammed",
			matched: 1,
			messages: []msg{
				{"hb/acme-locks/all/lock.jammed", map[string]any{"kind": "lock.jammed"}, false, 2},
			},
		},
		{
			name:    "number and boolean topic fields",
			event:   `{"type":"lock.raw","data":{"name":42,"extra":true}}`,
			typ:     "lock.raw",
			matched: 3,
			messages: []msg{
				{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2},
				{"hb/acme-locks/raw/42/x", map[string]any{"name": json.Number("42"), "extra": true}, false, 0},
				{"hb/acme-locks/fixed/events", map[string]any{}, false, 0},
			},
		},
		{
			name:    "object and array values in the payload",
			event:   `{"type":"lock.raw","data":{"name":true,"extra":{"b":[1,{"c":null}],"a":"x"},"count":-1.5e3,"tags":["t1","t2"]}}`,
			typ:     "lock.raw",
			matched: 3,
			messages: []msg{
				{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2},
				{"hb/acme-locks/raw/true/x", map[string]any{"name": true, "extra": map[string]any{
					"a": "x", "b": []any{json.Number("1"), map[string]any{"c": nil}}}}, false, 0},
				{"hb/acme-locks/fixed/events", map[string]any{"count": json.Number("-1500"),
					"tags": []any{"t1", "t2"}, "first_tag": "t1"}, false, 0},
			},
		},
		{
			name:    "numbers published in canonical form",
			event:   `{"type":"lock.raw","data":{"name":4.20e1,"extra":{"lvl":0.000000000000000000000000000000001e33},"count":1e2,"tags":[1.50,-0,12345678901234567890]}}`,
			typ:     "lock.raw",
			matched: 3,
			messages: []msg{
				{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2},
				{"hb/acme-locks/raw/42/x", map[string]any{"name": json.Number("42"), "extra": map[string]any{"lvl": json.Number("1")}}, false, 0},
				{"hb/acme-locks/fixed/events", map[string]any{"count": json.Number("100"),
					"tags":      []any{json.Number("1.5"), json.Number("0"), json.Number("12345678901234567890")},
					"first_tag": json.Number("1.5")}, false, 0},
			},
		},
		{
			name:    "a pseudonymized number is one pseudonym whatever its spelling",
			event:   `{"type":"lock.state_changed","data":{"device_id":1e2,"user":{"n":100.0}}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/locks/" + tok("100") + "/state", map[string]any{"device": tok("100"), "actor": tok(`{"n":100}`)}, true, 1},
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
		},
		{
			name:     "object in a topic field",
			event:    `{"type":"lock.raw","data":{"name":{"x":1}}}`,
			typ:      "lock.raw",
			matched:  3,
			messages: []msg{{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2}, {"hb/acme-locks/fixed/events", map[string]any{}, false, 0}},
			skipped:  []error{route.ErrBadTopicField},
		},
		{
			name:     "array in a topic field",
			event:    `{"type":"lock.raw","data":{"name":["a"]}}`,
			typ:      "lock.raw",
			matched:  3,
			messages: []msg{{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2}, {"hb/acme-locks/fixed/events", map[string]any{}, false, 0}},
			skipped:  []error{route.ErrBadTopicField},
		},
		{
			name:     "null in a topic field",
			event:    `{"type":"lock.raw","data":{"name":null}}`,
			typ:      "lock.raw",
			matched:  3,
			messages: []msg{{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2}, {"hb/acme-locks/fixed/events", map[string]any{}, false, 0}},
			skipped:  []error{route.ErrBadTopicField},
		},
		{
			name:     "empty string in a topic field",
			event:    `{"type":"lock.raw","data":{"name":""}}`,
			typ:      "lock.raw",
			matched:  3,
			messages: []msg{{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2}, {"hb/acme-locks/fixed/events", map[string]any{}, false, 0}},
			skipped:  []error{route.ErrBadTopicField},
		},
		{
			name:     "too long for a topic field",
			event:    `{"type":"lock.raw","data":{"name":"` + strings.Repeat("/", 100) + `"}}`,
			typ:      "lock.raw",
			matched:  3,
			messages: []msg{{"hb/acme-locks/all/lock.raw", map[string]any{"kind": "lock.raw"}, false, 2}, {"hb/acme-locks/fixed/events", map[string]any{}, false, 0}},
			skipped:  []error{route.ErrBadTopicField},
		},
		{
			name:    "pseudonymized object in a topic field is fine",
			event:   `{"type":"lock.state_changed","data":{"device_id":{"serial":"S"}}}`,
			typ:     "lock.state_changed",
			matched: 2,
			messages: []msg{
				{"hb/acme-locks/locks/" + tok(`{"serial":"S"}`) + "/state", map[string]any{"device": tok(`{"serial":"S"}`)}, true, 1},
				{"hb/acme-locks/all/lock.state_changed", map[string]any{"kind": "lock.state_changed"}, false, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tbl.Apply(parse(t, tt.event), tt.typ)
			if res.Matched != tt.matched {
				t.Errorf("Apply(%s).Matched = %d, want %d", tt.name, res.Matched, tt.matched)
			}
			if len(res.Skipped) != len(tt.skipped) {
				t.Fatalf("Apply(%s).Skipped = %v, want %v", tt.name, res.Skipped, tt.skipped)
			}
			for i, err := range res.Skipped {
				if !errors.Is(err, tt.skipped[i]) {
					t.Errorf("Apply(%s).Skipped[%d] = %v, want %v", tt.name, i, err, tt.skipped[i])
				}
			}
			if len(res.Messages) != len(tt.messages) {
				t.Fatalf("Apply(%s) = %d messages, want %d: %+v", tt.name, len(res.Messages), len(tt.messages), res.Messages)
			}
			for i, m := range res.Messages {
				w := tt.messages[i]
				if m.Topic != w.topic || m.Retain != w.retain || m.QoS != w.qos {
					t.Errorf("Apply(%s)[%d] = %q retain=%v qos=%d, want %q retain=%v qos=%d",
						tt.name, i, m.Topic, m.Retain, m.QoS, w.topic, w.retain, w.qos)
				}
				got, ok := stdParse(t, m.Payload).(map[string]any)
				if !ok {
					t.Fatalf("Apply(%s)[%d] payload %s is not an object", tt.name, i, m.Payload)
				}
				if !reflect.DeepEqual(got, w.payload) {
					t.Errorf("Apply(%s)[%d] payload = %s (keys %q), want %#v (keys %q)", tt.name, i, m.Payload, keys(got), w.payload, keys(w.payload))
				}
			}
		})
	}
}

// TestPseudonymsNeverInClear sends identifiers marked for pseudonymization and looks for them, and
// for any long part of them, in every topic and payload.
func TestPseudonymsNeverInClear(t *testing.T) {
	tbl, _ := compile(t)
	secrets := []string{"front-door-7f3a91", "alice@example.com", "user-1234567890"}
	event := `{"type":"lock.state_changed","data":{"device_id":"front-door-7f3a91","state":"locked",
		"user":{"id":"user-1234567890","email":"alice@example.com"}}}`
	res := tbl.Apply(parse(t, event), "lock.state_changed")
	if len(res.Messages) == 0 {
		t.Fatal("Apply published nothing")
	}
	for _, m := range res.Messages {
		for _, s := range secrets {
			seg, _ := route.Segment(s)
			for _, part := range []string{s, s[:6], s[len(s)-6:], seg} {
				if part == "" {
					continue
				}
				if strings.Contains(m.Topic, part) || bytes.Contains(m.Payload, []byte(part)) {
					t.Errorf("message %q %s contains %q from a pseudonymized value", m.Topic, m.Payload, part)
				}
			}
		}
	}
}

func TestHostileTopicValues(t *testing.T) {
	tbl, _ := compile(t)
	hostile := []string{
		"../x", "..", ".", "a/b", "/", "//", "+", "#", "a/#", "$SYS", "$share/g/x", "\x00", "a\x00b",
		"%2F", "%", "a%2Fb", " ", "\t", "\n", "\u2028", "é", "😀", "\xff", `\`, "{name}", "~",
		"hb/acme-locks/../other", strings.Repeat("a", route.MaxLevelLen),
	}
	seen := map[string]string{}
	for _, v := range hostile {
		t.Run(v, func(t *testing.T) {
			doc := map[string]any{"data": map[string]any{"name": v}}
			res := tbl.Apply(doc, "lock.raw")
			var topic string
			for _, m := range res.Messages {
				if strings.HasPrefix(m.Topic, "hb/acme-locks/raw/") {
					topic = m.Topic
				}
			}
			if topic == "" {
				t.Fatalf("Apply(%q) published no raw topic; skipped %v", v, res.Skipped)
			}
			levels := strings.Split(topic, "/")
			if len(levels) != 5 || levels[0] != "hb" || levels[1] != "acme-locks" || levels[2] != "raw" || levels[4] != "x" {
				t.Fatalf("Apply(%q) topic = %q, want hb/acme-locks/raw/<one level>/x", v, topic)
			}
			seg := levels[3]
			if seg == "" || strings.ContainsAny(seg, "/+#\x00$") || len(seg) > route.MaxLevelLen || !utf8.ValidString(seg) {
				t.Errorf("Apply(%q) level = %q, want a non-empty, plain level", v, seg)
			}
			if prev, dup := seen[seg]; dup {
				t.Errorf("Apply(%q) and Apply(%q) give the same level %q", v, prev, seg)
			}
			seen[seg] = v
		})
	}
}

var segmentTests = []struct {
	in   string
	want string
	ok   bool
}{
	{"abc", "abc", true},
	{"A-Z_0.9~", "A-Z_0.9~", true},
	{"a/b", "a%2Fb", true},
	{"%", "%25", true},
	{"%2F", "%252F", true},
	{"+", "%2B", true},
	{"#", "%23", true},
	{"$SYS", "%24SYS", true},
	{"\x00", "%00", true},
	{"a b", "a%20b", true},
	{"é", "%C3%A9", true},
	{"\xff", "%FF", true},
	{"..", "..", true},
	{"", "", false},
	{strings.Repeat("a", 128), strings.Repeat("a", 128), true},
	{strings.Repeat("a", 129), "", false},
	{strings.Repeat("/", 42), strings.Repeat("%2F", 42), true},
	{strings.Repeat("/", 43), "", false},
	{strings.Repeat("a", 126) + "/", "", false},
	{strings.Repeat("a", 125) + "/", strings.Repeat("a", 125) + "%2F", true},
}

func TestSegment(t *testing.T) {
	for _, tt := range segmentTests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := route.Segment(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("Segment(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// unescape inverts Segment, to show that it is one-to-one.
func unescape(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		var n byte
		for _, c := range []byte(s[i+1 : i+3]) {
			n <<= 4
			switch {
			case c >= '0' && c <= '9':
				n |= c - '0'
			case c >= 'A' && c <= 'F':
				n |= c - 'A' + 10
			default:
				return "", false
			}
		}
		b.WriteByte(n)
		i += 2
	}
	return b.String(), true
}

func checkSegment(t *testing.T, in string) (string, bool) {
	t.Helper()
	seg, ok := route.Segment(in)
	if in == "" && ok {
		t.Fatalf("Segment(%q) ok, want refused", in)
	}
	if !ok {
		if in != "" && len(in) <= route.MaxLevelLen/3 {
			t.Fatalf("Segment(%q) refused, want ok for a short value", in)
		}
		return "", false
	}
	if seg == "" || len(seg) > route.MaxLevelLen {
		t.Fatalf("Segment(%q) = %q, want 1 to %d characters", in, seg, route.MaxLevelLen)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		plain := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~%", c) >= 0
		if !plain {
			t.Fatalf("Segment(%q) = %q holds byte %q", in, seg, c)
		}
	}
	back, ok := unescape(seg)
	if !ok || back != in {
		t.Fatalf("Segment(%q) = %q, which unescapes to %q, %v", in, seg, back, ok)
	}
	return seg, true
}

func FuzzSegment(f *testing.F) {
	for _, tt := range segmentTests {
		f.Add(tt.in, "a")
	}
	f.Add("a/b", "a%2Fb")
	f.Add("%", "%25")
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, okA := checkSegment(t, a)
		sb, okB := checkSegment(t, b)
		if okA && okB && a != b && sa == sb {
			t.Fatalf("Segment(%q) = Segment(%q) = %q, want distinct", a, b, sa)
		}
	})
}

// canon returns a parsed value with its numbers in canonical form: what AppendJSON writes.
func canon(t testing.TB, v any) any {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		c, ok := payload.CanonicalNumber(string(x))
		if !ok {
			t.Fatalf("CanonicalNumber(%q) refused a number Parse took", x)
		}
		return json.Number(c)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canon(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = canon(t, e)
		}
		return out
	}
	return v
}

// publishedLimits reads what AppendJSON wrote: the canonical form of a number may be longer than
// the literal (1e20 is 21 digits), so only its length is not bounded.
var publishedLimits = payload.Limits{MaxDepth: payload.DefaultLimits.MaxDepth, MaxKeys: payload.DefaultLimits.MaxKeys}

var jsonValues = []string{
	`null`, `true`, `false`, `0`, `-1.5e-7`, `123456789012345678901234567890`,
	`-0`, `1e2`, `1.50`, `[1E+2,100.0,0.000000000000000000000000000000001e33]`, `1e400`,
	`""`, `"plain"`, `"quote \" backslash \\ slash /"`, `"\b\f\n\r\t"`, `"\u0000\u0001\u001f\u007f"`,
	`"\u2028\u2029"`, `"é 世界 😀"`, `"\ufffd"`, `"<script>&amp;"`,
	`[]`, `{}`, `[1,[2,[3]]]`, `{"b":1,"a":{"d":[true,null],"c":"x"}}`, `{"":{"":""}}`,
	`{"k\"ey":"v\nal","\u00e9":1}`,
}

func TestAppendJSON(t *testing.T) {
	for _, in := range jsonValues {
		t.Run(in, func(t *testing.T) {
			v := parse(t, in)
			out := route.AppendJSON(nil, v)
			if !utf8.Valid(out) {
				t.Errorf("AppendJSON(%s) = %q, not valid UTF-8", in, out)
			}
			if got, want := stdParse(t, out), canon(t, v); !reflect.DeepEqual(got, want) {
				t.Errorf("AppendJSON(%s) = %s, which reads back as %#v, want %#v", in, out, got, want)
			}
			// Appends, keeping what dst held.
			if got := route.AppendJSON([]byte("x"), v); !bytes.Equal(got, append([]byte("x"), out...)) {
				t.Errorf("AppendJSON(\"x\", %s) = %s, want x%s", in, got, out)
			}
		})
	}
	t.Run("canonical numbers", func(t *testing.T) {
		for in, want := range map[string]string{
			`1e2`: `100`, `-0`: `0`, `1.50`: `1.5`, `-0.0e7`: `0`, `0.000000000000000000000000000000001e33`: `1`,
			`12345678901234567890`: `12345678901234567890`, `1e21`: `1e+21`, `1E-7`: `1e-7`, `[5e-1,{"a":2.0}]`: `[0.5,{"a":2}]`,
		} {
			if got := string(route.AppendJSON(nil, parse(t, in))); got != want {
				t.Errorf("AppendJSON(%s) = %s, want %s", in, got, want)
			}
		}
	})
	t.Run("sorted keys", func(t *testing.T) {
		got := string(route.AppendJSON(nil, parse(t, `{"b":1,"c":2,"a":3}`)))
		if want := `{"a":3,"b":1,"c":2}`; got != want {
			t.Errorf("AppendJSON = %s, want %s", got, want)
		}
	})
}

func FuzzAppendJSON(f *testing.F) {
	for _, in := range jsonValues {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := payload.Parse(data, payload.DefaultLimits)
		if err != nil {
			return
		}
		out := route.AppendJSON(nil, v)
		if !utf8.Valid(out) {
			t.Fatalf("AppendJSON(%q) = %q, not valid UTF-8", data, out)
		}
		want := canon(t, v)
		if got := stdParse(t, out); !reflect.DeepEqual(got, want) {
			t.Fatalf("AppendJSON(%q) = %q, which reads back as %#v, want %#v", data, out, got, want)
		}
		again, err := payload.Parse(out, publishedLimits)
		if err != nil || !reflect.DeepEqual(again, want) {
			t.Fatalf("payload.Parse(AppendJSON(%q)) = %#v, %v, want %#v", data, again, err, want)
		}
		if twice := route.AppendJSON(nil, again); !bytes.Equal(twice, out) {
			t.Fatalf("AppendJSON(Parse(AppendJSON(%q))) = %q, want %q: the output is not canonical", data, twice, out)
		}
	})
}
