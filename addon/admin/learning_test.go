package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// learnPolicy is a learn-mode policy: no schema, no routes, the draft's placeholders in owner
// and contact.
const learnPolicy = `vendor: newcomer
title: A new sender
owner: TODO
contact: TODO
risk: high
auth:
  scheme: bearer
event:
  id: /id
  type: /type
`

// Canary values fed to the recorder: none may show on the page or in the API.
var learnCanaries = []string{"canary.jane@example.com", "a4:c1:38:9f:22:7e", "SN-CANARY-7731", "evt-canary-"}

// fakeLearning is the app's Learning over one real recorder.
type fakeLearning struct {
	rec    *learn.Recorder
	policy []byte
}

func (f *fakeLearning) Learnt(name string) (*learn.Structure, error) {
	if name != f.rec.Vendor() {
		return nil, nil
	}
	return f.rec.Snapshot(), nil
}

func (f *fakeLearning) Draft(name string) (*draft.Draft, error) {
	s, _ := f.Learnt(name)
	if s == nil || s.Events == 0 {
		return nil, draft.ErrNothingLearnt
	}
	return draft.Make(draft.Input{Learnt: s, Policy: f.policy, PolicyFile: "policies/newcomer.yaml"})
}

func newLearningAdmin(t *testing.T, events int) *Admin {
	t.Helper()
	p, _ := policy.Parse("policies/newcomer.yaml", []byte(learnPolicy))
	live, _ := policy.Parse("v.yaml", []byte(testPolicy))
	vendors := vendor.Vendors{
		"newcomer": {Name: "newcomer", Policy: p, Mode: vendor.ModeLearn},
		"v":        {Name: "v", Policy: live, Mode: vendor.ModeShadow},
	}
	rec := learn.New("newcomer", learn.Limits{})
	for i := range events {
		doc := map[string]any{"id": fmt.Sprintf("evt-canary-%d", i), "type": []string{"door.opened", "battery.low"}[i%2],
			"device": map[string]any{"mac": learnCanaries[1], "serial_number": learnCanaries[2], "state": []string{"open", "closed"}[i%2]},
			"user":   map[string]any{"email": learnCanaries[0]}}
		rec.Record(doc, doc["type"].(string))
	}
	sw := killswitch.New(map[string]bool{"newcomer": true, "v": true}, map[string]bool{"newcomer": true, "v": true}, nil, nil)
	a := New(Config{Vendors: vendors, Switches: sw, Stats: stats.New([]string{"newcomer", "v"}), Log: zerolog.Nop(),
		Learning: &fakeLearning{rec: rec, policy: []byte(learnPolicy)}})
	a.AddStatusPage()
	return a
}

func get(a *Admin, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:8099"+path, nil))
	return rec
}

func noCanary(t *testing.T, where, text string) {
	t.Helper()
	for _, c := range learnCanaries {
		if strings.Contains(text, c) {
			t.Errorf("%s holds the canary value %q", where, c)
		}
	}
}

// TestInventoryModeAndMissing checks that the inventory shows each vendor's mode and the
// draft's placeholders as missing, never as values.
func TestInventoryModeAndMissing(t *testing.T) {
	a := newLearningAdmin(t, 0)
	vi, _ := a.VendorInfo("newcomer")
	if vi.Mode != "learn" || !slices.Equal(vi.Missing, []string{"owner", "contact"}) || vi.Owner != "" || vi.Contact != "" || vi.Title != "A new sender" {
		t.Errorf("VendorInfo(newcomer) = mode %q, missing %v, owner %q, contact %q, title %q; want learn, [owner contact], both empty, the title",
			vi.Mode, vi.Missing, vi.Owner, vi.Contact, vi.Title)
	}
	if vi, _ := a.VendorInfo("v"); vi.Mode != "shadow" || vi.Missing != nil {
		t.Errorf("VendorInfo(v) = mode %q, missing %v; want shadow, none", vi.Mode, vi.Missing)
	}
	body := get(a, "/api/vendors").Body.String()
	if !strings.Contains(body, `"mode": "learn"`) || !strings.Contains(body, `"missing": [`) || strings.Contains(body, `"TODO"`) {
		t.Errorf("GET /api/vendors = %s, want mode and missing, and no TODO value", body)
	}
}

// TestLearntAndDraftRoutes checks the admin API's learnt fields and draft: counts and shapes
// without a value, a draft that is the draft package's, the files to download, and clear
// answers when nothing was learnt or the vendor is unknown.
func TestLearntAndDraftRoutes(t *testing.T) {
	a := newLearningAdmin(t, 12)
	rec := get(a, "/api/vendors/newcomer/learnt")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET learnt = %d %s", rec.Code, rec.Body)
	}
	noCanary(t, "GET learnt", rec.Body.String())
	var l Learnt
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	byPointer := map[string]learn.Field{}
	for _, f := range l.Fields {
		byPointer[f.Pointer] = f
	}
	if l.Events != 12 || len(l.Types) != 2 || l.DraftCommand != "hookbridge draft newcomer --out DIR" || l.Mode != "learn" {
		t.Errorf("learnt = %+v, want 12 events of 2 types and the draft command", l)
	}
	if f := byPointer["/user/email"]; f.Events != 12 || f.Format != "email" || !slices.Contains(f.Identifier, "email") {
		t.Errorf("learnt /user/email = %+v, want 12 events, format email, an email identifier", f)
	}
	if f := byPointer["/device/state"]; !slices.Equal(f.Enum, []string{"closed", "open"}) {
		t.Errorf("learnt /device/state = %+v, want the enum closed, open", f)
	}
	if strings.Contains(rec.Body.String(), `"root"`) || strings.Contains(rec.Body.String(), `"by_type"`) {
		t.Errorf("GET learnt = %s, want Fields only, never the structure itself", rec.Body)
	}

	rec = get(a, "/api/vendors/newcomer/draft")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET draft = %d %s", rec.Code, rec.Body)
	}
	noCanary(t, "GET draft", rec.Body.String())
	var d DraftAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.PolicyPath != "policies/newcomer.yaml" || d.SchemaPath != "schemas/newcomer/v1.json" || !strings.Contains(d.Policy, "schema: newcomer/v1.json") ||
		!strings.Contains(d.Schema, `"$schema"`) || len(d.Warnings) == 0 {
		t.Errorf("GET draft = %+v, want the policy and schema with their paths and warnings", d)
	}
	if p, problems := policy.Parse(d.PolicyPath, d.Draft().Policy); p == nil || !p.CanPublish() || hasErrors(problems) {
		t.Errorf("draft policy parses with %v, want only warnings and a policy that can publish", problems)
	}
	for file, want := range map[string]string{"policy": d.Policy, "schema": d.Schema} {
		rec := get(a, "/api/vendors/newcomer/draft?file="+file)
		if rec.Code != http.StatusOK || rec.Body.String() != want || !strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment") {
			t.Errorf("GET draft?file=%s = %d %q (%s), want the file as an attachment", file, rec.Code, rec.Body, rec.Header())
		}
	}

	for _, tc := range []struct{ path, want string }{
		{"/api/vendors/v/learnt", "nothing learnt yet"},
		{"/api/vendors/v/draft", "nothing learnt yet"},
		{"/api/vendors/nobody/learnt", "unknown vendor"},
		{"/api/vendors/nobody/draft", "unknown vendor"},
	} {
		if rec := get(a, tc.path); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s = %d %s, want 404 %q", tc.path, rec.Code, rec.Body, tc.want)
		}
	}
	if rec := get(a, "/api/vendors/newcomer/draft?file=../../etc"); rec.Code != http.StatusBadRequest {
		t.Errorf("GET draft?file=../../etc = %d, want 400", rec.Code)
	}
}

// TestStatusPageLearnt checks the status page: each vendor's mode, a learn-mode vendor's
// learnt fields with their counts and the draft command, the placeholders as missing, and no
// canary value.
func TestStatusPageLearnt(t *testing.T) {
	a := newLearningAdmin(t, 12)
	page := get(a, "/").Body.String()
	noCanary(t, "status page", page)
	for _, want := range []string{
		`<dd data-field="mode">learn</dd>`, `<dd data-field="mode">shadow</dd>`,
		`data-mode="shadow"`, `nothing is published`,
		`<span data-field="learnt-events">12</span>`,
		`<code>hookbridge draft newcomer --out DIR</code>`,
		`href="/api/vendors/newcomer/draft?file=policy"`,
		`<tr><td><code>/user/email</code></td><td>string</td><td><span class="bad">identifier: email</span> email</td><td>12</td></tr>`,
		`<code>/device/state</code></td><td>string</td><td> one of closed, open</td><td>12</td>`,
		`owner, contact: still the draft's TODO`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(page, "owner TODO") || strings.Contains(page, "contact TODO") {
		t.Errorf("status page shows the TODO placeholder as an owner or contact")
	}
}

func hasErrors(ps []policy.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}
