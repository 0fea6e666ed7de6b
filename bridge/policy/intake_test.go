package policy_test

import (
	"reflect"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

// withIntake puts text (an intake, answer or event section's lines) before goodPolicy's schema:
// its first line is line 13.
func withIntake(text string) string {
	return replaceBlock(goodPolicy, "schema: acme-locks/v1.json", text+"\nschema: acme-locks/v1.json")
}

func TestParseIntake(t *testing.T) {
	doc := withIntake(`intake:
  content: [json, form, query]
  form_json: payload
  batch: true
  url_check: true
  ignore_empty: true
  handshake: {at: /type, equals: url_verification, challenge: /challenge}
answer:
  status: 200
  type: application/json
  body: "[]"`)
	p, problems := policy.Parse("p.yaml", []byte(doc))
	if len(problems) > 0 {
		t.Fatalf("Parse(intake) problems = %v, want none", problems)
	}
	want := policy.Intake{Content: []string{"json", "form", "query"}, FormJSON: "payload", Batch: true, URLCheck: true, IgnoreEmpty: true,
		Handshake: &policy.Handshake{At: "/type", Equals: "url_verification", Challenge: "/challenge"}}
	if !reflect.DeepEqual(p.Intake, want) {
		t.Errorf("Parse(intake).Intake = %+v, want %+v", p.Intake, want)
	}
	if got, want := *p.Answer, (policy.Answer{Status: 200, Type: "application/json", Body: "[]"}); got != want {
		t.Errorf("Parse(intake).Answer = %+v, want %+v", got, want)
	}
	for _, kind := range []string{"json", "form", "query"} {
		if !p.Intake.Accepts(kind) {
			t.Errorf("Accepts(%s) = false, want true", kind)
		}
	}
}

func TestIntakeDefaults(t *testing.T) {
	p, problems := policy.Parse("p.yaml", []byte(goodPolicy))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if !p.Intake.Accepts("json") || p.Intake.Accepts("form") || p.Intake.Accepts("query") {
		t.Errorf("default intake accepts %+v, want json only", p.Intake)
	}
	if p.Answer != nil || p.Intake.Batch || p.Intake.URLCheck || p.Intake.Handshake != nil {
		t.Errorf("default intake = %+v, answer %+v, want 0.1's", p.Intake, p.Answer)
	}
	if got := p.Event.TypeSource(); got != policy.TypeFromBody {
		t.Errorf("TypeSource() = %v, want TypeFromBody", got)
	}
}

func TestEventTypeSources(t *testing.T) {
	tests := []struct {
		event string
		want  policy.TypeSource
	}{
		{"event:\n  type: /type", policy.TypeFromBody},
		{"event:\n  type_header: X-Shopify-Topic", policy.TypeFromHeader},
		{"event:\n  type_path: true", policy.TypeFromPath},
		{"event:\n  type_const: weather", policy.TypeConst},
	}
	for _, tt := range tests {
		doc := replaceBlock(goodPolicy, "event:\n  id: /id\n  type: /type", tt.event)
		p, problems := policy.Parse("p.yaml", []byte(doc))
		if len(problems) > 0 {
			t.Fatalf("Parse(%q) problems = %v", tt.event, problems)
		}
		if got := p.Event.TypeSource(); got != tt.want {
			t.Errorf("Parse(%q).Event.TypeSource() = %v, want %v", tt.event, got, tt.want)
		}
	}
}

var intakeProblemTests = []struct {
	name string
	text string // lines put before schema:, from line 13
	want []want
}{
	{"unknown intake key", "intake:\n  batches: true", []want{{14, `unknown key "batches"`}}},
	{"unknown content", "intake:\n  content: [json, xml]", []want{{14, `intake.content: "xml" is not one of json, form, query`}}},
	{"content twice", "intake:\n  content: [form, form]", []want{{14, "lists form twice"}}},
	{"empty content", "intake:\n  content: []", []want{{14, "must list at least one"}}},
	{"content not a list", "intake:\n  content: json", []want{{14, "cannot unmarshal"}}},
	{"form_json without form", "intake:\n  form_json: payload", []want{{14, "needs form in intake.content"}}},
	{"form_json odd name", "intake:\n  content: [form]\n  form_json: \"pay load\"", []want{{15, "must be a form field name"}}},
	{"form_json empty", "intake:\n  content: [form]\n  form_json: \"\"", []want{{15, "must be a form field name"}}},
	{"batch without json", "intake:\n  content: [form]\n  batch: true", []want{{15, "intake.batch needs json"}}},
	{"batch not a bool", "intake:\n  batch: often", []want{{14, "cannot unmarshal"}}},
	{"handshake without json", "intake:\n  content: [form]\n  handshake: {at: /type, equals: x, challenge: /c}", []want{{15, "intake.handshake needs json"}}},
	{"handshake missing keys", "intake:\n  handshake: {at: /type}", []want{{14, "handshake.challenge is required"}, {14, "handshake.equals is required"}}},
	{"handshake bad pointer", "intake:\n  handshake: {at: type, equals: x, challenge: /c}", []want{{14, "intake.handshake.at"}}},
	{"handshake unknown key", "intake:\n  handshake: {at: /type, equals: x, challenge: /c, echo: true}", []want{{14, `unknown key "echo"`}}},
	{"answer without status", "answer:\n  body: \"[]\"\n  type: application/json", []want{{14, "answer.status is required"}}},
	{"answer odd status", "answer:\n  status: 302", []want{{14, "answer.status must be 200, 201, 202 or 204"}}},
	{"answer 204 with body", "answer:\n  status: 204\n  type: text/plain\n  body: ok", []want{{14, "204 has no body"}}},
	{"answer body without type", "answer:\n  status: 200\n  body: ok", []want{{15, "answer.body needs answer.type"}}},
	{"answer type without body", "answer:\n  status: 200\n  type: text/plain", []want{{15, "answer.type without answer.body"}}},
	{"answer bad type", "answer:\n  status: 200\n  type: \"not a type\"\n  body: x", []want{{15, "answer.type must be a media type"}}},
	{"answer unknown key", "answer:\n  status: 200\n  headers: {}", []want{{15, `unknown key "headers"`}}},
}

func TestParseIntakeProblems(t *testing.T) {
	for _, tt := range intakeProblemTests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := policy.Parse("p.yaml", []byte(withIntake(tt.text)))
			checkProblems(t, tt.name, problems, tt.want)
		})
	}
}

func TestParseEventTypeProblems(t *testing.T) {
	tests := []struct {
		name  string
		event string // replaces goodPolicy's event section, from line 10
		auth  string // replaces the scheme line; "" keeps it
		want  []want
	}{
		{"two sources", "event:\n  type: /type\n  type_const: weather", "", []want{{11, "give one of type, type_header, type_path and type_const, not type and type_const"}}},
		{"three sources", "event:\n  type_header: X-Topic\n  type_path: true\n  type_const: w", "", []want{{11, "not type_header and type_path and type_const"}}},
		{"no source", "event:\n  id: /id", "", []want{{11, "event.type is required"}}},
		{"bad header", "event:\n  type_header: \"X Topic\"", "", []want{{11, "type_header must be an HTTP header name"}}},
		{"empty const", "event:\n  type_const: \"\"", "", []want{{11, "type_const must not be empty"}}},
		{"control in const", "event:\n  type_const: \"a\\nb\"", "", []want{{11, "without control characters"}}},
		{"type_path not a bool", "event:\n  type_path: last", "", []want{{11, "cannot unmarshal"}}},
		{"type_path with a path token", "event:\n  type_path: true", "  scheme: path-token", []want{{11, "reads its token from the path"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := replaceBlock(goodPolicy, "event:\n  id: /id\n  type: /type", tt.event)
			if tt.auth != "" {
				doc = replaceBlock(doc, "  scheme: standard-webhooks", tt.auth)
			}
			_, problems := policy.Parse("p.yaml", []byte(doc))
			checkProblems(t, tt.name, problems, tt.want)
		})
	}
}
