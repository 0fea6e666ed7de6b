package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

func TestSchemaFields(t *testing.T) {
	cases := []struct {
		name   string
		schema string
		want   string
	}{
		{"none", ``, ""},
		{"not JSON", `{`, ""},
		{"nested", `{"properties":{"a":{"type":"string"},"b":{"properties":{"c":{},"d~/e":{}}}}}`, "/a /b/c /b/d~0~1e"},
		{"array items", `{"properties":{"list":{"type":"array","items":{"properties":{"x":{}}}}}}`, "/list/*/x"},
		{"array of scalars", `{"properties":{"tags":{"type":"array","items":{"type":"string"}}}}`, "/tags"},
		{"local ref", `{"$defs":{"addr":{"properties":{"street":{},"city":{}}}},"properties":{"home":{"$ref":"#/$defs/addr"}}}`, "/home/city /home/street"},
		{"self ref stops", `{"$defs":{"n":{"properties":{"next":{"$ref":"#/$defs/n"},"v":{}}}},"$ref":"#/$defs/n"}`, "/next /v"},
		{"branching self refs stop", `{"$defs":{"n":{"properties":{"l":{"$ref":"#/$defs/n"},"r":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`, "/l /r"},
		{"oneOf merged", `{"oneOf":[{"properties":{"a":{}}},{"properties":{"b":{"properties":{"c":{}}}}}]}`, "/a /b/c"},
		{"leaf in one branch, object in another", `{"allOf":[{"properties":{"a":{}}},{"properties":{"a":{"properties":{"b":{}}}}}]}`, "/a/b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(schemaFields([]byte(tc.schema)), " ")
			if got != tc.want {
				t.Errorf("schemaFields(%s) = %q, want %q", tc.schema, got, tc.want)
			}
		})
	}
}

func TestCoveredBy(t *testing.T) {
	cases := []struct {
		declared string
		taken    []string
		want     bool
	}{
		{"/data/user/id", []string{"/data/user/id"}, true},
		{"/data/user/name", []string{"/data/user/id"}, false},
		{"/data/user/name", []string{"/data/user"}, true},
		{"/data/meta", []string{"/data/meta/x"}, true},
		{"/list/*/x", []string{"/list/0/x"}, true},
		{"/list/*/y", []string{"/list/0/x"}, false},
		{"/anything", []string{""}, true},
		{"/a", nil, false},
	}
	for _, tc := range cases {
		if got := coveredBy(tc.declared, tc.taken); got != tc.want {
			t.Errorf("coveredBy(%q, %q) = %v, want %v", tc.declared, tc.taken, got, tc.want)
		}
	}
}

const testPolicy = `vendor: v
title: Test vendor
owner: Tests
contact: tests@example.invalid
risk: low
auth:
  scheme: bearer
event:
  id: /id
  type: /type
schema: v/v1.json
routes:
  - when: a
    topic: things/{thing}
    fields:
      thing: {from: /thing/id, pseudonymize: true}
      level: /level
`

// TestSwitchActions checks the kill-switch endpoint's answers, lift included.
func TestSwitchActions(t *testing.T) {
	p, problems := policy.Parse("v.yaml", []byte(testPolicy))
	if len(problems) > 0 {
		t.Fatalf("policy: %v", problems)
	}
	vendors := vendor.Vendors{"v": {Name: "v", Policy: p}}
	sw := killswitch.New(map[string]bool{"v": true}, map[string]bool{"v": true}, nil, nil)
	a := New(Config{Vendors: vendors, Switches: sw, Log: zerolog.Nop()})
	a.SetInventory(InventoryConfig{TopicPrefix: "hb", RetentionDays: 7,
		Schemas: map[string][]byte{"v": []byte(`{"properties":{"id":{},"thing":{"properties":{"id":{},"name":{}}},"level":{}}}`)}})

	steps := []struct {
		do     func()
		action string
		status int
		mode   killswitch.Mode
	}{
		{action: "lift", status: http.StatusConflict, mode: killswitch.Enabled},
		{action: "disable", status: http.StatusOK, mode: killswitch.Disabled},
		{action: "enable", status: http.StatusOK, mode: killswitch.Enabled},
		{do: func() { _ = sw.Quarantine("v", "test") }, action: "enable", status: http.StatusConflict, mode: killswitch.Quarantined},
		{action: "disable", status: http.StatusOK, mode: killswitch.Quarantined},
		{action: "lift", status: http.StatusOK, mode: killswitch.Enabled},
		{action: "explode", status: http.StatusNotFound, mode: killswitch.Enabled},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://localhost:8099/api/vendors/v/"+s.action, nil))
		if rec.Code != s.status {
			t.Errorf("step %d: POST %s = %d %s, want %d", i, s.action, rec.Code, rec.Body, s.status)
		}
		if vi, _ := a.VendorInfo("v"); vi.State.Mode != s.mode {
			t.Errorf("step %d: after %s mode = %s, want %s", i, s.action, vi.State.Mode, s.mode)
		}
	}
	vi, ok := a.VendorInfo("v")
	if !ok || vi.RetentionDays != 7 || len(vi.Flows) != 1 || vi.Flows[0].Topic != "hb/v/things/{thing}" ||
		strings.Join(vi.Flows[0].Dropped, " ") != "/id /thing/name" {
		t.Errorf("VendorInfo(v) = %+v", vi)
	}
	if _, ok := a.VendorInfo("w"); ok {
		t.Errorf("VendorInfo(w) found, want not found")
	}
}
