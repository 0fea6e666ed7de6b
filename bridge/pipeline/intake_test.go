package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

const intakeToken = "intake-token-0123456789abcdef"

// compileVendor compiles one bearer vendor from the lines of its policy after auth, with schema.
func compileVendor(t *testing.T, rest, schema string) (*vendor.Vendor, *pseudo.Pseudonymizer) {
	t.Helper()
	doc := "vendor: v\ntitle: T\nowner: O\ncontact: c@x.invalid\nrisk: low\nauth: {scheme: bearer}\n" + rest +
		"schema: v/v1.json\nroutes:\n  - when: \"*\"\n    topic: t\n    fields:\n      a: /a\n"
	cat, problems, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/v.yaml":   {Data: []byte(doc)},
		"schemas/v/v1.json": {Data: []byte(schema)},
	}})
	if err != nil {
		t.Fatalf("catalog: %v %v", err, problems)
	}
	ps, _ := pseudo.New([]byte("pipeline-test-pseudonym-key-0123"))
	vs, err := vendor.Compile("hb", []vendor.Config{{Name: "v", Enabled: true, Secrets: []string{intakeToken}, RatePerMinute: 100_000}}, cat, ps)
	if err != nil {
		t.Fatal(err)
	}
	return vs["v"], ps
}

func intakeEvent(v *vendor.Vendor, content, query, rest string, body string, header http.Header) *pipeline.Event {
	h := http.Header{"Authorization": {"Bearer " + intakeToken}}
	for k, vals := range header {
		h[k] = vals
	}
	return &pipeline.Event{Vendor: v, Header: h, Body: []byte(body), Received: time.Now(), Method: http.MethodPost,
		Content: content, Query: query, Rest: rest}
}

// TestEventTypes checks where a type comes from: a pointer (text, or a number in canonical form),
// a header (one copy of printable text, else none), the path, a constant.
func TestEventTypes(t *testing.T) {
	tests := []struct {
		name, event, content, body, rest string
		header                           http.Header
		want                             string
	}{
		{"pointer to text", "event: {type: /t}\n", "json", `{"t":"a.b"}`, "", nil, "a.b"},
		{"pointer to a number", "event: {type: /t}\n", "json", `{"t":1.0e1}`, "", nil, "10"},
		{"pointer to an object", "event: {type: /t}\n", "json", `{"t":{}}`, "", nil, ""},
		{"pointer to a bool", "event: {type: /t}\n", "json", `{"t":true}`, "", nil, ""},
		{"pointer into a typed form", "intake: {content: [form]}\nevent: {type: /appli}\n", "form", `appli=1`, "", nil, "1"},
		{"header", "event: {type_header: X-Topic}\n", "json", `{}`, "", http.Header{"X-Topic": {"orders/create"}}, "orders/create"},
		{"header twice", "event: {type_header: X-Topic}\n", "json", `{}`, "", http.Header{"X-Topic": {"a", "b"}}, ""},
		{"header with a control character", "event: {type_header: X-Topic}\n", "json", `{}`, "", http.Header{"X-Topic": {"a\x01b"}}, ""},
		{"header too long", "event: {type_header: X-Topic}\n", "json", `{}`, "", http.Header{"X-Topic": {strings.Repeat("a", 129)}}, ""},
		{"path", "event: {type_path: true}\n", "json", `{}`, "uplink", nil, "uplink"},
		{"constant", "event: {type_const: weather}\n", "json", `{"t":"x"}`, "", nil, "weather"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ps := compileVendor(t, tt.event, `{"type":"object","properties":{"appli":{"type":"integer"}}}`)
			l := &memLedger{seen: map[string]bool{}}
			ev := intakeEvent(v, tt.content, "", tt.rest, tt.body, tt.header)
			if err := pipeline.New(ps, l, l).Process(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if got := ev.Items[0].Type; got != tt.want {
				t.Errorf("type = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQueryDocuments checks a query document: typed where the schema asks, keyed by the raw
// query (two queries are two events, the same query again a duplicate), an empty one ignored
// where the policy says so.
func TestQueryDocuments(t *testing.T) {
	v, ps := compileVendor(t, "intake: {content: [query], ignore_empty: true}\nevent: {type_const: r}\n",
		`{"type":"object","properties":{"tempf":{"type":"number"}},"required":["tempf"]}`)
	l := &memLedger{seen: map[string]bool{}}
	p := pipeline.New(ps, l, l)
	ev := intakeEvent(v, policy.ContentQuery, "tempf=70.50&x=1", "", "", nil)
	if err := p.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	doc := ev.Items[0].Doc.(map[string]any)
	if n, ok := doc["tempf"].(interface{ String() string }); !ok || n.String() != "70.5" || doc["x"] != "1" {
		t.Errorf("doc = %#v, want tempf the number 70.5 and x the text 1", doc)
	}
	again := intakeEvent(v, policy.ContentQuery, "tempf=70.50&x=1", "", "", nil)
	if err := p.Process(context.Background(), again); !errors.Is(err, pipeline.ErrDuplicate) {
		t.Errorf("the same query again = %v, want ErrDuplicate", err)
	}
	other := intakeEvent(v, policy.ContentQuery, "x=1&tempf=70.50", "", "", nil)
	if err := p.Process(context.Background(), other); err != nil {
		t.Errorf("another query = %v, want a new event", err)
	}
	empty := intakeEvent(v, policy.ContentQuery, "", "", "", nil)
	if err := p.Process(context.Background(), empty); err != nil || !empty.Ignored || len(empty.Items) != 0 {
		t.Errorf("empty query = %v, ignored %v, %d items; want ignored", err, empty.Ignored, len(empty.Items))
	}
	unauthenticated := intakeEvent(v, policy.ContentQuery, "", "", "", nil)
	unauthenticated.Header = http.Header{}
	if err := p.Process(context.Background(), unauthenticated); err == nil || unauthenticated.Ignored {
		t.Errorf("empty query without the token = %v, ignored %v; want refused before anything else", err, unauthenticated.Ignored)
	}
}

// TestHandshakeHasNoEffect checks a handshake: its challenge is returned, nothing is identified,
// reserved or published; a body that only looks like one (another value at the pointer) is an
// event.
func TestHandshakeHasNoEffect(t *testing.T) {
	v, ps := compileVendor(t, "intake: {handshake: {at: /type, equals: url_verification, challenge: /challenge}}\nevent: {type: /type}\n", `{"type":"object"}`)
	l := &memLedger{seen: map[string]bool{}}
	p := pipeline.New(ps, l, l)
	ev := intakeEvent(v, "json", "", "", `{"type":"url_verification","challenge":"abc123"}`, nil)
	if err := p.Process(context.Background(), ev); err != nil || ev.Challenge != "abc123" || len(ev.Items) != 0 || len(l.seen) != 0 {
		t.Fatalf("handshake = %v, challenge %q, %d items, %d records; want the challenge and nothing else", err, ev.Challenge, len(ev.Items), len(l.seen))
	}
	ev = intakeEvent(v, "json", "", "", `{"type":"url_verification ","challenge":"abc123"}`, nil)
	if err := p.Process(context.Background(), ev); err != nil || ev.Challenge != "" || len(l.seen) != 1 {
		t.Errorf("look-alike = %v, challenge %q, %d records; want an event", err, ev.Challenge, len(l.seen))
	}
	ev = intakeEvent(v, "json", "", "", `{"type":"url_verification","challenge":"a b"}`, nil)
	if err := p.Process(context.Background(), ev); !errors.Is(err, pipeline.ErrBadHandshake) || strings.Contains(err.Error(), "a b") {
		t.Errorf("odd challenge = %v, want ErrBadHandshake without the challenge", err)
	}
}
