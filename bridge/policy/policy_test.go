package policy_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

const goodPolicy = `# A comment first.
vendor: acme-locks
title: Acme Locks cloud
owner: Home security
contact: support@acme.example
risk: high
retention_days: 7
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
      weird: /a~1b/~0c/0
  - when: "*"
    topic: all
    fields:
      kind: /type
anomaly:
  window: 10m
  signature_failures: {alert: 5, quarantine: 50}
`

func TestParseGood(t *testing.T) {
	p, problems := policy.Parse("acme-locks.yaml", []byte(goodPolicy))
	if len(problems) > 0 {
		t.Fatalf("Parse(good) problems = %v, want none", problems)
	}
	if p.File != "acme-locks.yaml" || p.Vendor != "acme-locks" || p.Risk != "high" || p.RetentionDays != 7 {
		t.Errorf("Parse(good) = %+v", p)
	}
	if got, want := time.Duration(p.Auth.Tolerance), 5*time.Minute; got != want {
		t.Errorf("Parse(good).Auth.Tolerance = %v, want default %v", got, want)
	}
	if got, want := time.Duration(p.Anomaly.Window), 10*time.Minute; got != want {
		t.Errorf("Parse(good).Anomaly.Window = %v, want %v", got, want)
	}
	if got := p.Anomaly.SignatureFailures; got != (policy.Threshold{Alert: 5, Quarantine: 50}) {
		t.Errorf("Parse(good).Anomaly.SignatureFailures = %+v", got)
	}
	if len(p.Routes) != 2 {
		t.Fatalf("Parse(good) = %d routes, want 2", len(p.Routes))
	}
	r := p.Routes[0]
	if r.When != "lock.state_changed" || r.Topic != "locks/{device}/state" || !r.Retain || r.QoS != 1 || r.Line != 15 {
		t.Errorf("Parse(good).Routes[0] = %+v", r)
	}
	want := policy.Fields{
		{Name: "device", From: "/data/device_id", Pseudonymize: true, Line: 20},
		{Name: "state", From: "/data/state", Line: 21},
		{Name: "weird", From: "/a~1b/~0c/0", Line: 22},
	}
	if !reflect.DeepEqual(r.Fields, want) {
		t.Errorf("Parse(good).Routes[0].Fields = %+v, want %+v", r.Fields, want)
	}
	if p.Routes[1].Line != 23 || p.Routes[1].When != "*" {
		t.Errorf("Parse(good).Routes[1] = %+v, want line 23", p.Routes[1])
	}
}

func TestParseSchemeDefaults(t *testing.T) {
	tests := []struct {
		name      string
		auth      string
		scheme    string
		tolerance time.Duration
		params    any
		idHeader  string
	}{
		{"stripe tolerance", "auth:\n  scheme: stripe", "stripe", 5 * time.Minute, nil, ""},
		{"explicit tolerance", "auth:\n  scheme: stripe\n  tolerance: 30s", "stripe", 30 * time.Second, nil, ""},
		{"github", "auth:\n  scheme: github", "github", 0, nil, ""},
		{"hmac defaults", "auth:\n  scheme: hmac-sha256", "hmac-sha256", 0, &verify.HMACParams{Header: "X-Signature", Encoding: "hex"}, ""},
		{"hmac base64 prefix", "auth:\n  scheme: hmac-sha256\n  header: X-Sig\n  encoding: base64\n  prefix: sha256=", "hmac-sha256", 0,
			&verify.HMACParams{Header: "X-Sig", Encoding: "base64", Prefix: "sha256="}, ""},
		{"bearer default", "auth:\n  scheme: bearer", "bearer", 0, &verify.BearerParams{Header: "Authorization"}, ""},
		{"bearer id header", "auth:\n  scheme: bearer\n  header: X-Token\n  id_header: X-Id", "bearer", 0, &verify.BearerParams{Header: "X-Token"}, "X-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := replaceBlock(goodPolicy, "auth:\n  scheme: standard-webhooks", tt.auth)
			p, problems := policy.Parse("p.yaml", []byte(doc))
			for _, pr := range problems {
				if !pr.Warning { // the id_header case warns: TestParseIDHeaderWarns
					t.Fatalf("Parse(%s) problems = %v, want no error", tt.name, problems)
				}
			}
			a := p.Auth
			if a.Scheme != tt.scheme || a.Tolerance != tt.tolerance || a.IDHeader != tt.idHeader || !reflect.DeepEqual(a.Params, tt.params) {
				t.Errorf("Parse(%s).Auth = %+v (params %+v), want scheme %s, tolerance %v, id_header %q, params %+v",
					tt.name, a, a.Params, tt.scheme, tt.tolerance, tt.idHeader, tt.params)
			}
			if _, err := a.Method(); err != nil {
				t.Errorf("Parse(%s).Auth.Method() = %v, want a compiled scheme", tt.name, err)
			}
		})
	}
}

func replaceBlock(doc, old, new string) string {
	if !strings.Contains(doc, old) {
		panic("test policy lacks " + old)
	}
	return strings.Replace(doc, old, new, 1)
}

// want is one expected problem: its line and a part of its message, which starts with "warning: "
// when the problem is a warning.
type want struct {
	line int
	text string
}

var problemTests = []struct {
	name string
	old  string // text of goodPolicy to replace
	new  string
	want []want
}{
	{"unknown top-level key", "risk: high", "risk: high\ncolour: red", []want{{7, `unknown key "colour"`}}},
	{"unknown key in auth", "  scheme: standard-webhooks", "  scheme: standard-webhooks\n  secret: x", []want{{10, `unknown key "secret"`}}},
	{"unknown key in a route", "    qos: 1", "    qos: 1\n    priority: 2", []want{{19, `unknown key "priority"`}}},
	{"unknown key in a field", "{from: /data/device_id, pseudonymize: true}", "{from: /data/device_id, pseudo: true}", []want{{20, `unknown key "pseudo" in field "device"`}}},
	{"unknown key in event", "  type: /type", "  type: /type\n  kind: /kind", []want{{13, `unknown key "kind"`}}},
	{"wrong type qos", "    qos: 1", "    qos: high", []want{{18, "cannot unmarshal"}}},
	{"wrong type retain", "    retain: true", "    retain: maybe", []want{{17, "cannot unmarshal"}}},
	{"wrong type retention", "retention_days: 7", "retention_days: week", []want{{7, "cannot unmarshal"}}},
	{"wrong type routes", "routes:\n  - when: lock.state_changed", "routes: {}\nxroutes:\n  - when: lock.state_changed", []want{{14, "cannot unmarshal"}, {14, "warning: no routes: this policy can only run in learn mode"}, {15, `unknown key "xroutes"`}}},
	{"wrong type fields", "      kind: /type", "      - /type", []want{{23, "routes[1].fields: at least one field"}, {26, "fields must be a mapping"}}},
	{"wrong type field value", "      state: /data/state", "      state: [/data/state]", []want{{21, `field "state" must be a JSON Pointer`}, {21, "from is required"}}},
	{"wrong type pseudonymize", "pseudonymize: true}", "pseudonymize: often}", []want{{20, `field "device": cannot unmarshal`}}},
	{"bad duration", "  scheme: standard-webhooks", "  scheme: standard-webhooks\n  tolerance: soon", []want{{10, "not a duration"}}},
	{"negative duration", "  scheme: standard-webhooks", "  scheme: standard-webhooks\n  tolerance: -5m", []want{{10, "not a duration"}}},
	{"duration too long", "  scheme: standard-webhooks", "  scheme: standard-webhooks\n  tolerance: 25h", []want{{10, "at most 24h"}}},
	{"tolerance for github", "  scheme: standard-webhooks", "  scheme: github\n  tolerance: 5m", []want{{10, "signs no timestamp"}}},
	{"bad scheme", "  scheme: standard-webhooks", "  scheme: md5", []want{{9, `auth.scheme "md5" is not one of`}}},
	{"missing scheme", "auth:\n  scheme: standard-webhooks", "auth: {}", []want{{8, "auth.scheme is required"}}},
	{"header for github", "  scheme: standard-webhooks", "  scheme: github\n  header: X-Sig", []want{{10, `unknown key "header" in auth: scheme github takes no keys`}}},
	{"bad encoding", "  scheme: standard-webhooks", "  scheme: hmac-sha256\n  encoding: base32", []want{{10, "auth.encoding: must be hex or base64"}}},
	{"prefix for stripe", "  scheme: standard-webhooks", "  scheme: stripe\n  prefix: x", []want{{10, `unknown key "prefix" in auth: scheme stripe`}}},
	{"unknown key for hmac", "  scheme: standard-webhooks", "  scheme: hmac-sha256\n  secret: x", []want{{10, `unknown key "secret" in auth (known: header, encoding, prefix)`}}},
	{"bad header name", "  scheme: standard-webhooks", "  scheme: hmac-sha256\n  header: X Sig", []want{{10, "auth.header: must be an HTTP header name"}}},
	{"bad id_header name", "  scheme: standard-webhooks", "  scheme: bearer\n  id_header: \"X:Id\"", []want{{10, "auth.id_header must be an HTTP header name"}}},
	{"repeated key in auth", "  scheme: standard-webhooks", "  scheme: hmac-sha256\n  header: X-A\n  header: X-B", []want{{11, "auth.header is given twice"}}},
	{"auth not a mapping", "auth:\n  scheme: standard-webhooks", "auth: standard-webhooks", []want{{8, "auth must be a mapping"}}},
	{"no auth at all", "auth:\n  scheme: standard-webhooks\n", "", []want{{2, "auth.scheme is required"}}},
	{"bad pointer in a field", "      state: /data/state", "      state: data/state", []want{{21, "routes[0].fields.state"}}},
	{"bad escape in a field", "      state: /data/state", "      state: /data/~2", []want{{21, "'~' must be followed by 0 or 1"}}},
	{"bad pointer in event.id", "  id: /id", "  id: id", []want{{11, "event.id"}}},
	{"bad pointer in event.type", "  type: /type", "  type: /ty~pe", []want{{12, "event.type"}}},
	{"missing event.type", "  type: /type", "", []want{{11, "event.type is required"}}},
	// event.id is optional for every scheme: without it a digest of the body keys replays.
	{"no event.id for stripe", "  scheme: standard-webhooks\nevent:\n  id: /id\n", "  scheme: stripe\nevent:\n", []want{}},
	{"no event.id for bearer", "  scheme: standard-webhooks\nevent:\n  id: /id\n", "  scheme: bearer\nevent:\n", []want{}},
	{"no event.id for hmac-sha256", "  scheme: standard-webhooks\nevent:\n  id: /id\n", "  scheme: hmac-sha256\nevent:\n", []want{}},
	{"missing from", "{from: /data/device_id, pseudonymize: true}", "{pseudonymize: true}", []want{{20, "routes[0].fields.device: from is required"}}},
	{"bad field name", "      state: /data/state", "      st-ate: /data/state", []want{{21, "must be letters, digits and _"}}},
	{"placeholder not filling a level", "locks/{device}/state", "locks/dev-{device}/state", []want{{15, "must fill a whole level"}}},
	{"placeholder with a tail", "locks/{device}/state", "locks/{device}x/state", []want{{15, "must fill a whole level"}}},
	{"two placeholders in a level", "locks/{device}/state", "locks/{device}{state}", []want{{15, "must fill a whole level"}}},
	{"placeholder naming no field", "locks/{device}/state", "locks/{door}/state", []want{{15, "{door} names no field"}}},
	{"empty placeholder", "locks/{device}/state", "locks/{}/state", []want{{15, "{} names no field"}}},
	{"wildcard in topic", "locks/{device}/state", "locks/+/state", []want{{15, "must not contain '+'"}}},
	{"hash in topic", "locks/{device}/state", "locks/#", []want{{15, "must not contain '+', '#'"}}},
	{"dollar level", "locks/{device}/state", "$SYS/{device}", []want{{15, "must not start with '$'"}}},
	{"empty level", "locks/{device}/state", "locks//{device}", []want{{15, "empty levels"}}},
	{"leading slash", "locks/{device}/state", "/locks/{device}", []want{{15, "empty levels"}}},
	{"missing topic", "    topic: locks/{device}/state\n", "", []want{{15, "routes[0].topic: is required"}}},
	{"duplicate field", "      state: /data/state", "      state: /data/state\n      state: /data/other", []want{{22, `duplicate field "state"`}}},
	{"bad qos", "    qos: 1", "    qos: 3", []want{{15, "routes[0].qos must be 0, 1 or 2"}}},
	{"missing when", "  - when: \"*\"\n    topic: all", "  - topic: all", []want{{23, "routes[1].when is required"}}},
	{"no fields", "    fields:\n      kind: /type\n", "    fields: {}\n", []want{{23, "routes[1].fields: at least one field"}}},
	{"missing title", "title: Acme Locks cloud\n", "", []want{{2, "title is required"}}},
	{"missing owner and contact", "owner: Home security\ncontact: support@acme.example\n", "", []want{{2, "owner is required"}, {2, "contact is required"}}},
	{"missing vendor", "vendor: acme-locks\n", "", []want{{2, "vendor is required"}}},
	{"bad vendor", "vendor: acme-locks", "vendor: Acme_Locks", []want{{2, "vendor must be lowercase"}}},
	{"bad risk", "risk: high", "risk: extreme", []want{{6, "risk must be low, medium or high"}}},
	{"retention out of range", "retention_days: 7", "retention_days: 4000", []want{{7, "retention_days must be between"}}},
	{"missing schema", "schema: acme-locks/v1.json\n", "", []want{{2, "warning: no schema: this policy can only run in learn mode"}}},
	{"schema escaping", "schema: acme-locks/v1.json", "schema: ../secrets/v1.json", []want{{13, "schema must be a relative path"}}},
	{"schema absolute", "schema: acme-locks/v1.json", "schema: /etc/v1.json", []want{{13, "schema must be a relative path"}}},
	{"schema not json", "schema: acme-locks/v1.json", "schema: acme-locks/v1.yaml", []want{{13, "schema must be a relative path"}}},
	{"no routes", "routes:\n", "routes: []\nxx:\n", []want{{14, "warning: no routes: this policy can only run in learn mode"}, {15, `unknown key "xx"`}}},
	{
		"several at once",
		"risk: high",
		"risk: extreme\ncolour: red",
		[]want{{6, "risk must be"}, {7, `unknown key "colour"`}},
	},
	{
		"several across the file",
		"  scheme: standard-webhooks",
		"  scheme: md5\n  tolerance: soon",
		[]want{{9, `"md5" is not one of`}, {10, "not a duration"}},
	},
}

func TestParseProblems(t *testing.T) {
	for _, tt := range problemTests {
		t.Run(tt.name, func(t *testing.T) {
			doc := replaceBlock(goodPolicy, tt.old, tt.new)
			_, problems := policy.Parse("p.yaml", []byte(doc))
			checkProblems(t, tt.name, problems, tt.want)
		})
	}
}

// TestParseIDHeaderWarns checks that an id_header is accepted (0.1 policies have one) with a
// warning that says it does not key replays, and names what does.
func TestParseIDHeaderWarns(t *testing.T) {
	tests := []struct {
		name, old, new string
		key            string // what the warning says keys replays
	}{
		{"bearer with event.id", "  scheme: standard-webhooks", "  scheme: bearer\n  id_header: X-Id", "the body's id at event.id /id"},
		{"hmac without event.id", "  scheme: standard-webhooks\nevent:\n  id: /id\n", "  scheme: hmac-sha256\n  id_header: X-Id\nevent:\n", "a digest of the body"},
		{"standard-webhooks", "  scheme: standard-webhooks", "  scheme: standard-webhooks\n  id_header: X-Id", "the id scheme standard-webhooks signs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, problems := policy.Parse("p.yaml", []byte(replaceBlock(goodPolicy, tt.old, tt.new)))
			if len(problems) != 1 {
				t.Fatalf("Parse = %v, want one warning", problems)
			}
			w := problems[0]
			if !w.Warning || w.Line != 10 || !strings.Contains(w.Message, "auth.id_header X-Id is not signed") || !strings.Contains(w.Message, tt.key) {
				t.Errorf("Parse problem = %+v, want a warning on line 10 that X-Id is not signed and that %s keys replays", w, tt.key)
			}
			if p == nil || p.Auth.IDHeader != "X-Id" {
				t.Errorf("Parse policy = %+v, want it usable with IDHeader X-Id", p)
			}
		})
	}
}

func checkProblems(t *testing.T, name string, problems []policy.Problem, wants []want) {
	t.Helper()
	if len(problems) != len(wants) {
		t.Fatalf("Parse(%s) = %d problems %v, want %d", name, len(problems), problems, len(wants))
	}
	for i, w := range wants {
		p := problems[i]
		text, warning := strings.CutPrefix(w.text, "warning: ")
		if p.Line != w.line || !strings.Contains(p.Message, text) || p.File != "p.yaml" || p.Warning != warning {
			t.Errorf("Parse(%s) problem %d = %q (line %d, warning %v), want line %d with %q", name, i, p.Message, p.Line, p.Warning, w.line, w.text)
		}
	}
}

// TestParseManyProblems puts one of each kind of mistake in a file and expects every one.
func TestParseManyProblems(t *testing.T) {
	doc := `vendor: Bad_Vendor
title: X
owner: Y
contact: Z
risk: none
colour: red
auth:
  scheme: github
  tolerance: 5m
event:
  type: type
schema: x.yaml
routes:
  - when: a
    qos: 7
    topic: a/{missing}
    fields:
      a: nope
      a: /x
  - when: b
    retain: maybe
    topic: b
    fields: [x]
anomaly:
  window: eventually
`
	_, problems := policy.Parse("p.yaml", []byte(doc))
	wants := []want{
		{1, "vendor must be lowercase"},
		{5, "risk must be"},
		{6, `unknown key "colour"`},
		{9, "signs no timestamp"},
		{11, "event.type"},
		{12, "schema must be a relative path"},
		{14, "routes[0].qos"},
		{14, "{missing} names no field"},
		{18, "routes[0].fields.a"},
		{19, `duplicate field "a"`},
		{21, "cannot unmarshal"},
		{23, "fields must be a mapping"},
		{25, "not a duration"},
	}
	// Problems come sorted by line; within a line, in the order found.
	for i, w := range wants {
		found := false
		for _, p := range problems {
			if p.Line == w.line && strings.Contains(p.Message, w.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("Parse(many) lacks want %d: line %d %q; got %v", i, w.line, w.text, problems)
		}
	}
	for i := 1; i < len(problems); i++ {
		if problems[i].Line < problems[i-1].Line {
			t.Errorf("Parse(many) problems not sorted by line: %v", problems)
		}
	}
}

// TestParseDuplicateKey checks that a key given twice is reported at the second one, and alone:
// yaml.v3 skips the whole top-level mapping then, which must not turn into "required" problems
// for keys that are present. (A nested mapping is still decoded, so other checks go on.)
func TestParseDuplicateKey(t *testing.T) {
	for _, tt := range []struct {
		name, old, new string
		line           int
		msg            string
	}{
		{"top level", "risk: high", "risk: high\nrisk: low", 7, `mapping key "risk" already defined at line 6`},
		{"in a route", "    qos: 1", "    qos: 1\n    qos: 0", 19, `mapping key "qos" already defined at line 18`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := replaceBlock(goodPolicy, tt.old, tt.new)
			_, problems := policy.Parse("p.yaml", []byte(doc))
			if len(problems) != 1 || problems[0].Line != tt.line || !strings.Contains(problems[0].Message, tt.msg) {
				t.Errorf("Parse(duplicate) = %v, want only %q at line %d", problems, tt.msg, tt.line)
			}
		})
	}
}

func TestParseBroken(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		line int
		text string
	}{
		{"empty", "", 0, "empty policy file"},
		{"only a comment", "# nothing\n", 0, "empty policy file"},
		{"yaml syntax", "vendor: a\nroutes: [\n", 2, ""},
		{"bad indentation", "vendor: a\n  title: b\n", 2, ""},
		{"tab indentation", "auth:\n\tscheme: github\n", 2, ""},
		{"not a mapping", "- a\n- b\n", 1, "cannot unmarshal"},
		{"a scalar", "hello\n", 1, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := policy.Parse("p.yaml", []byte(tt.doc))
			if len(problems) == 0 {
				t.Fatalf("Parse(%q) = no problems, want some", tt.doc)
			}
			p := problems[0]
			if p.Line != tt.line || !strings.Contains(p.Message, tt.text) || strings.HasPrefix(p.Message, "yaml:") {
				t.Errorf("Parse(%q) = %v, want line %d with %q", tt.doc, problems, tt.line, tt.text)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    policy.Problem
		want string
	}{
		{policy.Problem{File: "a.yaml", Line: 3, Message: "bad"}, "a.yaml:3: bad"},
		{policy.Problem{File: "a.yaml", Message: "bad"}, "a.yaml: bad"},
		{policy.Problem{File: "a.yaml", Line: 3, Message: "odd", Warning: true}, "a.yaml:3: warning: odd"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	e := &policy.Error{Problems: []policy.Problem{tests[0].p, tests[1].p}}
	if got, want := e.Error(), "a.yaml:3: bad; a.yaml: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCheckTopicTemplate(t *testing.T) {
	fields := map[string]bool{"device": true, "state": true}
	tests := []struct {
		topic string
		ok    bool
	}{
		{"locks/{device}/state", true},
		{"{device}", true},
		{"{device}/{state}", true},
		{"a.b-c_d~e", true},
		{"", false},
		{strings.Repeat("a", 201), false},
		{strings.Repeat("a", 200), true},
		{"a//b", false},
		{"/a", false},
		{"a/", false},
		{"a/+", false},
		{"a/#", false},
		{"a\x00b", false},
		{"$SYS", false},
		{"a/$x", false},
		{"{device", false},
		{"device}", false},
		{"x{device}", false},
		{"{device}{state}", false},
		{"{nope}", false},
		{"{}", false},
		{"{{device}}", false},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			err := policy.CheckTopicTemplate(tt.topic, fields)
			if (err == nil) != tt.ok {
				t.Errorf("CheckTopicTemplate(%q) = %v, want ok=%v", tt.topic, err, tt.ok)
			}
		})
	}
}

func TestPlaceholder(t *testing.T) {
	tests := []struct {
		level string
		name  string
		ok    bool
	}{
		{"{device}", "device", true},
		{"{a}", "a", true},
		{"{}", "", false},
		{"device", "", false},
		{"{device", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		name, ok := policy.Placeholder(tt.level)
		if name != tt.name || ok != tt.ok {
			t.Errorf("Placeholder(%q) = %q, %v, want %q, %v", tt.level, name, ok, tt.name, tt.ok)
		}
	}
}

func TestPointers(t *testing.T) {
	tests := []struct {
		pointer string
		ok      bool
		tokens  []string
	}{
		{"", true, nil},
		{"/", true, []string{""}},
		{"/a", true, []string{"a"}},
		{"/a/b/0", true, []string{"a", "b", "0"}},
		{"/a~1b", true, []string{"a/b"}},
		{"/m~0n", true, []string{"m~n"}},
		{"/~01", true, []string{"~1"}},
		{"/~10", true, []string{"/0"}},
		{"//", true, []string{"", ""}},
		{"a", false, nil},
		{"#/a", false, nil},
		{"/a~", false, nil},
		{"/a~2", false, nil},
		{"/~a", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pointer, func(t *testing.T) {
			err := policy.CheckPointer(tt.pointer)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckPointer(%q) = %v, want ok=%v", tt.pointer, err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if got := policy.SplitPointer(tt.pointer); !reflect.DeepEqual(got, tt.tokens) {
				t.Errorf("SplitPointer(%q) = %q, want %q", tt.pointer, got, tt.tokens)
			}
		})
	}
}

func TestDurationMarshalText(t *testing.T) {
	b, err := policy.Duration(90 * time.Second).MarshalText()
	if err != nil || string(b) != "1m30s" {
		t.Errorf("MarshalText(90s) = %q, %v, want \"1m30s\"", b, err)
	}
}

// FuzzParse checks that Parse never panics and that every problem it reports names the file and a
// line inside it.
func FuzzParse(f *testing.F) {
	f.Add(goodPolicy)
	for _, tt := range problemTests {
		f.Add(replaceBlock(goodPolicy, tt.old, tt.new))
	}
	f.Add("")
	f.Add("vendor: [")
	f.Add("routes:\n  - fields: [x]\n    topic: '{a}'\n")
	f.Fuzz(parseAnything)
}

// parseAnything parses doc as f.yaml and checks what Parse gives for any input: never a panic,
// every problem names the file and a line inside it, and there is a policy or a problem.
func parseAnything(t *testing.T, doc string) {
	t.Helper()
	p, problems := policy.Parse("f.yaml", []byte(doc))
	lines := 1 // an upper bound: YAML also breaks lines at CR, NEL, LS and PS
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		lines += strings.Count(doc, br)
	}
	for _, pr := range problems {
		if pr.File != "f.yaml" || pr.Line < 0 || pr.Line > lines+1 {
			t.Fatalf("Parse(%q) problem %+v: want file f.yaml and a line within %d", doc, pr, lines)
		}
	}
	if p == nil && len(problems) == 0 {
		t.Fatalf("Parse(%q) = nil policy and no problem", doc)
	}
}

// TestParseLearnOnly checks that a policy may leave out schema and routes (learn mode needs
// neither): a warning each, a usable policy that cannot publish. The mode rule itself, that live
// and shadow mode need both, is vendor.Check's.
func TestParseLearnOnly(t *testing.T) {
	tests := []struct {
		name       string
		old, new   string
		canPublish bool
		warnings   []string
	}{
		{"complete", "", "", true, nil},
		{"no schema", "schema: acme-locks/v1.json\n", "", false, []string{"no schema"}},
		{"no routes", goodPolicy[strings.Index(goodPolicy, "routes:"):strings.Index(goodPolicy, "anomaly:")], "", false, []string{"no routes"}},
		{"neither", goodPolicy[strings.Index(goodPolicy, "schema:"):strings.Index(goodPolicy, "anomaly:")], "", false, []string{"no schema", "no routes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := goodPolicy
			if tt.old != "" {
				doc = replaceBlock(goodPolicy, tt.old, tt.new)
			}
			p, problems := policy.Parse("p.yaml", []byte(doc))
			if len(problems) != len(tt.warnings) {
				t.Fatalf("Parse(%s) = %v, want %d warnings", tt.name, problems, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if pr := problems[i]; !pr.Warning || !strings.Contains(pr.Message, w) || !strings.Contains(pr.Message, "learn mode") || !strings.Contains(pr.Message, "hookbridge draft acme-locks") {
					t.Errorf("Parse(%s) problem %d = %+v, want a warning %q that says learn mode and the draft command", tt.name, i, pr, w)
				}
			}
			if p == nil || p.CanPublish() != tt.canPublish {
				t.Errorf("Parse(%s).CanPublish() = %v, want %v", tt.name, p != nil && p.CanPublish(), tt.canPublish)
			}
		})
	}
}

// TestParseUnfilled checks the draft's placeholder (TODO) in title, owner and contact: accepted
// with a warning on its line that says what to write instead, and listed by Unfilled.
func TestParseUnfilled(t *testing.T) {
	doc := replaceBlock(goodPolicy, "title: Acme Locks cloud\nowner: Home security\ncontact: support@acme.example",
		"title: TODO\nowner: TODO  # who reviews this integration\ncontact: \"TODO\"")
	p, problems := policy.Parse("p.yaml", []byte(doc))
	want := []want{{3, "title is TODO, a placeholder: say what this sender is"}, {4, "owner is TODO, a placeholder: name who reviews"}, {5, "contact is TODO, a placeholder: name who to call"}}
	if len(problems) != len(want) {
		t.Fatalf("Parse(TODO placeholders) = %v, want %d warnings", problems, len(want))
	}
	for i, w := range want {
		if pr := problems[i]; !pr.Warning || pr.Line != w.line || !strings.Contains(pr.Message, w.text) {
			t.Errorf("Parse(TODO placeholders) problem %d = %+v, want a warning on line %d with %q", i, pr, w.line, w.text)
		}
	}
	if got := p.Unfilled(); !reflect.DeepEqual(got, []string{"title", "owner", "contact"}) {
		t.Errorf("Unfilled() = %v, want [title owner contact]", got)
	}
	// A value that only mentions the word is a real value.
	p, problems = policy.Parse("p.yaml", []byte(replaceBlock(goodPolicy, "owner: Home security", "owner: TODO list team")))
	if len(problems) != 0 || len(p.Unfilled()) != 0 {
		t.Errorf("Parse(owner: TODO list team) = %v, Unfilled %v; want neither", problems, p.Unfilled())
	}
}
