package vendor_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

const urlPolicy = `vendor: url-signer
title: A sender that signs its URL
owner: Tests
contact: tests@hookbridge.invalid
risk: low
auth:
  scheme: recipe
  recipe:
    signed: "{url}{body}"
    mac: hmac-sha256
    signature: {header: X-Url-Signature, encoding: base64}
event:
  type: /type
schema: url-signer/v1.json
routes:
  - when: "*"
    topic: any
    fields:
      type: /type
`

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/url-signer.yaml":   {Data: []byte(urlPolicy)},
		"schemas/url-signer/v1.json": {Data: []byte(`{"type":"object"}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestCheckPublicURL checks that a vendor whose scheme signs the URL needs public_url: a load
// error naming the setting, never a 401 at the first request.
func TestCheckPublicURL(t *testing.T) {
	cat := testCatalog(t)
	cfg := vendor.Config{Name: "url-signer", Enabled: true, Secrets: []string{"url-signer-secret-0123456789"}}
	err := vendor.Check([]vendor.Config{cfg}, cat)
	var ve *vendor.Error
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Key != vendor.KeyPublicURL ||
		!strings.Contains(ve.Problems[0].Message, "set public_url") {
		t.Fatalf("Check(no public_url) = %v, want one problem naming public_url", err)
	}
	// A vendor not set up yet (off, no secret, as first-run options list one whose secret the
	// sender issues) does not stop the start.
	if err := vendor.Check([]vendor.Config{{Name: "url-signer"}}, cat); err != nil {
		t.Errorf("Check(off, no secret, no public_url) = %v, want nil", err)
	}
	cfg.PublicURL = "https://hooks.example.net"
	if err := vendor.Check([]vendor.Config{cfg}, cat); err != nil {
		t.Fatalf("Check(public_url set) = %v, want nil", err)
	}
	vs, err := vendor.Compile("hookbridge", []vendor.Config{cfg}, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := vs["url-signer"].URL, "https://hooks.example.net/hooks/url-signer"; got != want {
		t.Errorf("Compile().URL = %q, want %q", got, want)
	}
}

func TestRequestURL(t *testing.T) {
	tests := []struct {
		base, rest, query, want string
	}{
		{"https://h.example/hooks/v", "", "", "https://h.example/hooks/v"},
		{"https://h.example/hooks/v", "", "a=1&b=%2B", "https://h.example/hooks/v?a=1&b=%2B"},
		{"https://h.example/hooks/v", "uplink", "x=1", "https://h.example/hooks/v/uplink?x=1"},
		{"", "uplink", "x=1", ""},
	}
	for _, tt := range tests {
		if got := vendor.RequestURL(tt.base, tt.rest, tt.query); got != tt.want {
			t.Errorf("RequestURL(%q, %q, %q) = %q, want %q", tt.base, tt.rest, tt.query, got, tt.want)
		}
	}
	if got := vendor.VendorURL("https://h.example/base/", "twilio"); got != "https://h.example/base/hooks/twilio" {
		t.Errorf("VendorURL = %q", got)
	}
}

const learnOnlyPolicy = `vendor: newcomer
title: A new sender
owner: Tests
contact: tests@hookbridge.invalid
risk: high
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
`

// TestCheckMode checks the mode rule: learn mode runs any policy; live and shadow mode need a
// schema and routes, and a vendor set to either without them is a clear error naming the vendor,
// what its policy lacks and how to get it. An unknown mode is refused.
func TestCheckMode(t *testing.T) {
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/url-signer.yaml":   {Data: []byte(urlPolicy)},
		"schemas/url-signer/v1.json": {Data: []byte(`{"type":"object"}`)},
		"policies/newcomer.yaml":     {Data: []byte(learnOnlyPolicy)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	secret := []string{"whsec_dGVzdC1hY21lLXNlY3JldC0wMTIzNDU2Nzg5"}
	tests := []struct {
		name string
		cfg  vendor.Config
		want string // "" for no problem
	}{
		{"learn-only policy, learn", vendor.Config{Name: "newcomer", Enabled: true, Secrets: secret, Mode: vendor.ModeLearn}, ""},
		{"learn-only policy, live", vendor.Config{Name: "newcomer", Enabled: true, Secrets: secret, Mode: vendor.ModeLive},
			"vendor newcomer cannot run in mode live: its policy policies/newcomer.yaml (built-in) has no schema and no routes"},
		{"learn-only policy, default mode", vendor.Config{Name: "newcomer", Enabled: true, Secrets: secret},
			"vendor newcomer cannot run in mode live"},
		{"learn-only policy, shadow", vendor.Config{Name: "newcomer", Enabled: true, Secrets: secret, Mode: vendor.ModeShadow},
			"vendor newcomer cannot run in mode shadow"},
		{"learn-only policy, off", vendor.Config{Name: "newcomer"}, "vendor newcomer cannot run in mode live"},
		{"complete policy, shadow", vendor.Config{Name: "url-signer", Mode: vendor.ModeShadow}, ""},
		{"complete policy, learn", vendor.Config{Name: "url-signer", Mode: vendor.ModeLearn}, ""},
		{"unknown mode", vendor.Config{Name: "url-signer", Mode: "pilot"}, `mode "pilot" is not one of live, shadow, learn`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := vendor.Check([]vendor.Config{tt.cfg}, cat)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check(%+v) = %v, want nil", tt.cfg, err)
				}
				return
			}
			var ve *vendor.Error
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Key != vendor.KeyMode || !strings.Contains(ve.Problems[0].Message, tt.want) {
				t.Fatalf("Check(%+v) = %v, want one mode problem with %q", tt.cfg, err, tt.want)
			}
			if tt.cfg.Mode != "pilot" && !strings.Contains(err.Error(), "hookbridge draft newcomer") {
				t.Errorf("Check(%+v) = %v, want it to name the draft command", tt.cfg, err)
			}
		})
	}
	vs, err := vendor.Compile("hookbridge", []vendor.Config{
		{Name: "newcomer", Enabled: true, Secrets: secret, Mode: vendor.ModeLearn}, {Name: "url-signer", Mode: ""},
	}, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vs["newcomer"].Mode != vendor.ModeLearn || vs["newcomer"].Schema != nil || vs["url-signer"].Mode != vendor.ModeLive {
		t.Errorf("Compile modes = %s (schema %v), %s; want learn (no schema), live", vs["newcomer"].Mode, vs["newcomer"].Schema, vs["url-signer"].Mode)
	}
}

// TestCompileIntake checks what a policy's intake, event type and answer compile to: the
// receiver routes a path segment by it and says in a 415 what the vendor takes.
func TestCompileIntake(t *testing.T) {
	policy := func(name, auth, rest string) string {
		return "vendor: " + name + "\ntitle: T\nowner: O\ncontact: c@x.invalid\nrisk: low\nauth: " + auth + "\n" + rest +
			"schema: any/v1.json\nroutes:\n  - when: \"*\"\n    topic: t\n    fields:\n      a: /a\n"
	}
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/plain.yaml":   {Data: []byte(policy("plain", "{scheme: bearer}", "event: {type: /type}\n"))},
		"policies/station.yaml": {Data: []byte(policy("station", "{scheme: path-token}", "intake: {content: [form, query], url_check: true}\nevent: {type_const: weather}\n"))},
		"policies/lora.yaml":    {Data: []byte(policy("lora", "{scheme: bearer}", "intake: {content: [json, form]}\nevent: {type_path: true}\n"))},
		"policies/phone.yaml": {Data: []byte(policy("phone", "{scheme: basic}",
			"intake: {ignore_empty: true, batch: true}\nanswer: {status: 200, type: application/json, body: \"[]\"}\nevent: {type_header: X-Type}\n"))},
		"schemas/any/v1.json": {Data: []byte(`{"type":"object"}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []vendor.Config
	for _, n := range []string{"plain", "station", "lora", "phone"} {
		cfgs = append(cfgs, vendor.Config{Name: n, Enabled: true, Secrets: []string{"a-secret-token-0123456789"}})
	}
	vs, err := vendor.Compile("hb", cfgs, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		rest     vendor.RestUse
		accepted string
		json     bool
		answer   bool
	}{
		{"plain", vendor.RestNone, "application/json", true, false},
		{"station", vendor.RestToken, "application/x-www-form-urlencoded or no body with the data in the query string", false, false},
		{"lora", vendor.RestType, "application/json or application/x-www-form-urlencoded", true, false},
		{"phone", vendor.RestNone, "application/json", true, true},
	}
	for _, tt := range tests {
		v := vs[tt.name]
		if v.Intake.Rest != tt.rest || v.Intake.Accepted != tt.accepted || v.Intake.JSON != tt.json || (v.Answer != nil) != tt.answer {
			t.Errorf("Compile(%s).Intake = %+v, answer %v; want rest %v, accepted %q, json %v, answer %v",
				tt.name, v.Intake, v.Answer, tt.rest, tt.accepted, tt.json, tt.answer)
		}
	}
	if s := vs["station"]; !s.Intake.URLCheck || !s.Intake.Form || !s.Intake.Query || s.Type.Const != "weather" {
		t.Errorf("Compile(station) = %+v %+v", s.Intake, s.Type)
	}
	if p := vs["phone"]; !p.Intake.IgnoreEmpty || !p.Intake.Batch || p.Type.Header != "X-Type" || string(p.Answer.Body) != "[]" || p.Answer.Status != 200 {
		t.Errorf("Compile(phone) = %+v %+v %+v", p.Intake, p.Type, p.Answer)
	}
}
