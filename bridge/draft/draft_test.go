package draft_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

var update = flag.Bool("update", false, "rewrite the golden drafts under testdata/")

// learnPolicy is a learn-mode policy: no schema, no routes, no contact.
const learnPolicy = `# Acme Locks, being learnt.
vendor: acme-locks
title: Acme Locks cloud
owner: Home security
risk: high
retention_days: 7
auth:
  scheme: standard-webhooks # signs webhook-id, timestamp and body
  tolerance: 5m
event:
  id: /id
  type: /type
anomaly:
  schema_failures: {alert: 5, quarantine: 50}
`

type event struct {
	Type string
	Body string
}

// events returns n events of two types: optional members, an optional object with a member of
// its own present whenever the object is, an array of objects with an optional member, a
// nullable member, arrays of strings, and formats (date-time, uuid, email, URI).
func events(n int) []event {
	var out []event
	for i := range n {
		typ := "lock.state_changed"
		if i%3 == 2 {
			typ = "lock.battery_low"
		}
		var data []string
		data = append(data, fmt.Sprintf(`"battery_pct": %d`, 20+i*2), fmt.Sprintf(`"device_id": "lck-%04x"`, 0xa000+i%4))
		if typ == "lock.state_changed" {
			data = append(data, fmt.Sprintf(`"state": %q`, []string{"locked", "unlocked"}[i%2]))
			if i%4 != 0 {
				data = append(data, fmt.Sprintf(`"method": %q`, []string{"keypad", "app", "key"}[i%3]))
			}
			if i%5 < 3 {
				user := fmt.Sprintf(`"id": "%08x-1d2c-4e5f-8a9b-0c1d2e3f4a5b"`, 0xfeed0000+i)
				if i%2 == 0 {
					user += fmt.Sprintf(`, "email": "user%d@example.com"`, i)
				}
				data = append(data, `"user": {`+user+`}`)
			}
			var items []string
			for j := range 1 + i%3 {
				item := fmt.Sprintf(`{"at": "2026-03-%02dT10:%02d:00Z", "kind": %q`, 1+i%28, j, []string{"bolt", "latch"}[j%2])
				if j > 0 {
					item += fmt.Sprintf(`, "ms": %d`, 100+j)
				}
				items = append(items, item+"}")
			}
			data = append(data, `"steps": [`+strings.Join(items, ",")+`]`)
		} else {
			data = append(data, fmt.Sprintf(`"voltage": 3.%d`, i%10), `"tags": ["battery", "low"]`,
				fmt.Sprintf(`"help": "https://acme.example/help/%d"`, i))
			if i%2 == 0 {
				data = append(data, `"note": null`)
			} else {
				data = append(data, `"note": "replace soon"`)
			}
		}
		body := fmt.Sprintf(`{"id": "evt_%08x", "type": %q, "created_at": "2026-03-01T10:%02d:00Z", "data": {%s}}`,
			0x5eed0000+i, typ, i%60, strings.Join(data, ", "))
		out = append(out, event{typ, body})
	}
	return out
}

func parse(t testing.TB, s string) any {
	t.Helper()
	v, err := payload.Parse([]byte(s), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("payload.Parse(%s) = %v", s, err)
	}
	return v
}

func learnt(t testing.TB, vendor string, lim learn.Limits, evs []event) *learn.Structure {
	t.Helper()
	r := learn.New(vendor, lim)
	for _, e := range evs {
		r.Record(parse(t, e.Body), e.Type)
	}
	return r.Snapshot()
}

func makeDraft(t testing.TB, s *learn.Structure, current string) *draft.Draft {
	t.Helper()
	d, err := draft.Make(draft.Input{Learnt: s, Policy: []byte(current)})
	if err != nil {
		t.Fatalf("Make = %v", err)
	}
	return d
}

func compile(t testing.TB, d *draft.Draft) *schema.Schema {
	t.Helper()
	set := schema.NewSet()
	set.Add(d.SchemaName, d.Schema)
	sc, err := set.Compile(d.SchemaName)
	if err != nil {
		t.Fatalf("Compile(%s) = %v\n%s", d.SchemaName, err, d.Schema)
	}
	return sc
}

// TestDraftAcceptsLearntRejectsChanged is the acceptance case: 30 events of two types;
// the schema accepts every one and refuses a changed type, a missing required member and an
// unknown one; the policy parses and its routes publish nothing.
func TestDraftAcceptsLearntRejectsChanged(t *testing.T) {
	evs := events(30)
	d := makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, evs), learnPolicy)
	sc := compile(t, d)

	p, problems := policy.Parse(d.PolicyPath, d.Policy)
	for _, pr := range problems {
		if !pr.Warning {
			t.Errorf("policy.Parse problem %v, want none but warnings", pr)
		}
	}
	if p == nil {
		t.Fatalf("policy.Parse = nil\n%s", d.Policy)
	}
	if len(p.Routes) != 2 {
		t.Errorf("routes = %d, want one per event type (2)", len(p.Routes))
	}
	ps, err := pseudo.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	table := route.Compile("hookbridge", p, ps)
	for i, e := range evs {
		doc := parse(t, e.Body)
		if err := sc.Validate(doc); err != nil {
			t.Errorf("event %d (%s): Validate = %v, want nil: the draft must accept what it learnt from\n%s", i, e.Type, err, e.Body)
		}
		res := table.Apply(doc, e.Type)
		if len(res.Messages) != 0 || res.Matched != 1 || len(res.Skipped) != 1 || !errors.Is(res.Skipped[0], route.ErrMissingField) {
			t.Errorf("event %d: routing = %d messages, %d matched, skipped %v; want nothing published, one route skipped for its missing field",
				i, len(res.Messages), res.Matched, res.Skipped)
		}
	}

	// A state_changed event with one thing changed at a time.
	base := evs[1].Body
	if !strings.Contains(base, `"method"`) || !strings.Contains(base, `"user"`) {
		t.Fatalf("event 1 lacks method or user: %s", base)
	}
	tests := []struct {
		name, from, to string
		pointer        string
		keyword        string
	}{
		{"integer as string", `"battery_pct": 22`, `"battery_pct": "22"`, "/data/battery_pct", "type"},
		{"integer as fraction", `"battery_pct": 22`, `"battery_pct": 22.5`, "/data/battery_pct", "type"},
		{"enum value unseen", `"state": "unlocked"`, `"state": "open"`, "/data/state", "enum"},
		{"event type unseen", `"type": "lock.state_changed"`, `"type": "lock.jammed"`, "/type", "enum"},
		{"required member gone", `"device_id": "lck-a001", `, ``, "/data", "required"},
		{"required in optional object gone", `"user": {"id": "feed0001-1d2c-4e5f-8a9b-0c1d2e3f4a5b"}`, `"user": {}`, "/data/user", "required"},
		{"array element type", `"kind": "bolt"`, `"kind": 1`, "/data/steps/0/kind", "type"},
		{"unknown member", `"state": "unlocked"`, `"state": "unlocked", "extra": 1`, "/data", "additionalProperties"},
		{"format", `"created_at": "2026-03-01T10:01:00Z"`, `"created_at": "yesterday"`, "/created_at", "format"},
		{"placeholder member", `"id": "evt_5eed0001"`, `"TODO": "x", "id": "evt_5eed0001"`, "", "additionalProperties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.from) {
				t.Fatalf("event lacks %s: %s", tt.from, base)
			}
			err := sc.Validate(parse(t, strings.Replace(base, tt.from, tt.to, 1)))
			var se *schema.Error
			if !errors.As(err, &se) || se.Pointer != tt.pointer || se.Keyword != tt.keyword {
				t.Errorf("Validate(%s) = %v, want %s at %q", tt.to, err, tt.keyword, tt.pointer)
			}
		})
	}
	// Optional members and objects may be absent.
	for _, drop := range []string{`"method": "app", `, `, "ms": 101`} {
		if !strings.Contains(base, drop) {
			t.Fatalf("event lacks %s: %s", drop, base)
		}
		if err := sc.Validate(parse(t, strings.Replace(base, drop, "", 1))); err != nil {
			t.Errorf("Validate(without %s) = %v, want nil (optional)", drop, err)
		}
	}
}

// TestDraftPassesCheck loads the draft through the catalog, as `hookbridge check` does: no
// errors, and a warning that the placeholder routes' topic field is never there.
func TestDraftPassesCheck(t *testing.T) {
	d := makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(30)), learnPolicy)
	dir := t.TempDir()
	if err := d.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	c, problems, err := catalog.Load(catalog.Sources{PolicyDir: filepath.Join(dir, "policies"), SchemaDir: filepath.Join(dir, "schemas")})
	if err != nil {
		t.Fatalf("catalog.Load = %v", err)
	}
	if _, ok := c.Vendor("acme-locks"); !ok {
		t.Fatalf("catalog has no acme-locks")
	}
	warned := 0
	for _, p := range problems {
		if strings.Contains(p.Message, `topic field "TODO"`) {
			warned++
		}
	}
	if warned != 2 {
		t.Errorf("catalog warnings = %v, want one per placeholder route (2) about the TODO field", problems)
	}
	if err := d.Write(dir, false); !errors.Is(err, draft.ErrExists) {
		t.Errorf("Write again = %v, want ErrExists", err)
	}
	if err := d.Write(dir, true); err != nil {
		t.Errorf("Write(replace) = %v, want nil", err)
	}
}

// TestDraftGolden keeps a drafted policy and schema under testdata for review (-update rewrites
// them).
func TestDraftGolden(t *testing.T) {
	d := makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(30)), learnPolicy)
	for _, f := range []struct {
		name string
		got  []byte
	}{{"acme-locks.yaml", d.Policy}, {"acme-locks.json", d.Schema}} {
		t.Run(f.name, func(t *testing.T) {
			golden := filepath.Join("testdata", f.name)
			if *update {
				if err := os.WriteFile(golden, f.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(f.got, want) {
				t.Errorf("draft %s differs from %s (run with -update after checking):\n%s", f.name, golden, f.got)
			}
		})
	}
}

func TestDraftKeepsCurrentPolicy(t *testing.T) {
	d := makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(6)), learnPolicy)
	pol := string(d.Policy)
	for _, want := range []string{
		"title: Acme Locks cloud\n",
		"owner: Home security\n",
		"contact: TODO # who to call in an incident\n",
		"retention_days: 7\n",
		"scheme: standard-webhooks # signs webhook-id, timestamp and body\n",
		"schema_failures: {alert: 5, quarantine: 50}\n",
		"schema: acme-locks/v1.json\n",
	} {
		if !strings.Contains(pol, want) {
			t.Errorf("draft policy lacks %q:\n%s", want, pol)
		}
	}
	p, _ := policy.Parse(d.PolicyPath, d.Policy)
	if p.Auth.Scheme != "standard-webhooks" || p.Event.ID != "/id" || p.Event.Type != "/type" || p.Anomaly.SchemaFailures.Alert != 5 {
		t.Errorf("draft policy = auth %+v event %+v anomaly %+v, want the current policy's", p.Auth, p.Event, p.Anomaly)
	}

	// A live policy learnt again: its schema and routes are replaced, nothing else.
	live, err := os.ReadFile("../../policies/acme-locks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d = makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(6)), string(live))
	p, problems := policy.Parse(d.PolicyPath, d.Policy)
	if p == nil || p.Contact != "support@acme.example" || len(p.Routes) != 2 || p.Routes[0].Fields[0].Name != "TODO" {
		t.Errorf("draft of the live policy = %+v, %v; want its contact kept and placeholder routes", p, problems)
	}
	if strings.Contains(string(d.Policy), "locks/{device}/state") {
		t.Errorf("draft keeps the live policy's routes:\n%s", d.Policy)
	}

	// Nothing known: placeholders that policy.Parse accepts.
	d = makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(3)), "vendor: acme-locks\nauth:\n  scheme: github\nevent:\n  type: /type\n")
	p, _ = policy.Parse(d.PolicyPath, d.Policy)
	if p.Title != "TODO" || p.Owner != "TODO" || p.Contact != "TODO" || p.Risk != "high" {
		t.Errorf("placeholders = title %q owner %q contact %q risk %q, want TODO, TODO, TODO, high", p.Title, p.Owner, p.Contact, p.Risk)
	}
}

func TestDraftErrors(t *testing.T) {
	s := learnt(t, "acme-locks", learn.Limits{}, events(3))
	tests := []struct {
		name   string
		in     draft.Input
		want   error
		detail string
	}{
		{"nothing learnt", draft.Input{Learnt: learn.New("acme-locks", learn.Limits{}).Snapshot(), Policy: []byte(learnPolicy)}, draft.ErrNothingLearnt, ""},
		{"no structure", draft.Input{Policy: []byte(learnPolicy)}, draft.ErrNothingLearnt, ""},
		{"another vendor's policy", draft.Input{Learnt: s, Policy: []byte(strings.Replace(learnPolicy, "vendor: acme-locks", "vendor: other", 1))}, draft.ErrPolicy, "vendor acme-locks"},
		{"not a mapping", draft.Input{Learnt: s, Policy: []byte("- a\n- b\n")}, draft.ErrPolicy, "mapping"},
		{"not YAML", draft.Input{Learnt: s, Policy: []byte("vendor: [")}, draft.ErrPolicy, ""},
		{"policy breaks a rule", draft.Input{Learnt: s, Policy: []byte(learnPolicy + "unknown_key: 1\n")}, draft.ErrInvalid, "unknown_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := draft.Make(tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.detail) {
				t.Errorf("Make = %v, want %v mentioning %q", err, tt.want, tt.detail)
			}
		})
	}
}

// TestDraftLimits: past the learning limits the draft leaves objects open, so it still accepts
// every event it learnt from, and the placeholder member stays forbidden.
func TestDraftLimits(t *testing.T) {
	var evs []event
	for i := range 10 {
		var members []string
		for j := range 40 {
			k := i*7 + j // keys that vary from event to event
			members = append(members, fmt.Sprintf(`"m_%c%c": %d`, 'a'+k/26, 'a'+k%26, j))
		}
		members = append(members, `"type": "t.a"`, `"deep": {"a": {"b": {"c": {"d": 1}}}}`)
		evs = append(evs, event{"t.a", "{" + strings.Join(members, ",") + "}"})
	}
	s := learnt(t, "v", learn.Limits{MaxPaths: 30, MaxDepth: 3}, evs)
	if s.Overflow.Dropped == 0 || s.Overflow.Deep == 0 {
		t.Fatalf("Overflow = %+v, want drops and depth cut", s.Overflow)
	}
	d := makeDraft(t, s, "vendor: v\nauth:\n  scheme: github\nevent:\n  type: /type\n")
	sc := compile(t, d)
	for i, e := range evs {
		if err := sc.Validate(parse(t, e.Body)); err != nil {
			t.Errorf("event %d: Validate = %v, want nil", i, err)
		}
	}
	if err := sc.Validate(parse(t, `{"type": "t.a", "TODO": 1}`)); err == nil {
		t.Errorf("Validate(with the placeholder member) = nil, want refused: the placeholder routes would publish")
	}
	if !strings.Contains(string(d.Policy), "were not learnt") {
		t.Errorf("draft policy does not say paths were left out:\n%s", d.Policy)
	}
}

// TestDraftOddKeys: keys that YAML or JSON Pointer treat specially stay data: the policy parses,
// the schema compiles and accepts the events.
func TestDraftOddKeys(t *testing.T) {
	body := `{"type": "odd", "TODO": 1, "a/b": 1, "c~d": 2, "*": {"x": 3}, "q\"uote": "s", "hash #x": 4, "new\nline": 5,
	  "colon: yes": 6, "é": "s", "dash-key": true, "list": [[1, 2], [3]], "empty": {}, "none": []}`
	evs := []event{{"odd", body}, {"odd", body}}
	d := makeDraft(t, learnt(t, "v", learn.Limits{}, evs), "vendor: v\nauth:\n  scheme: github\nevent:\n  type: /type\n")
	sc := compile(t, d)
	if err := sc.Validate(parse(t, body)); err != nil {
		t.Errorf("Validate = %v, want nil\n%s", err, d.Schema)
	}
	p, problems := policy.Parse(d.PolicyPath, d.Policy)
	if p == nil || len(p.Routes) != 1 || p.Routes[0].Fields[0].From != "/TODO_" {
		t.Errorf("policy = %+v %v, want one route whose placeholder avoids the real TODO member\n%s", p, problems, d.Policy)
	}
	// Every line of the policy is YAML the parser reads as the draft meant: uncommenting every
	// suggested field still parses.
	uncommented := strings.ReplaceAll(string(d.Policy), "      #   ", "      ")
	if _, problems := policy.Parse("x.yaml", []byte(uncommented)); hasError(problems) {
		t.Errorf("policy with every suggestion uncommented: %v\n%s", problems, uncommented)
	}
}

func hasError(ps []policy.Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// TestDraftSuggestionsParse: uncommenting every suggested field of the acceptance draft gives a
// policy that parses, with identifier-like paths pseudonymized.
func TestDraftSuggestionsParse(t *testing.T) {
	d := makeDraft(t, learnt(t, "acme-locks", learn.Limits{}, events(30)), learnPolicy)
	uncommented := strings.ReplaceAll(string(d.Policy), "      #   ", "      ")
	p, problems := policy.Parse("x.yaml", []byte(uncommented))
	if hasError(problems) {
		t.Fatalf("uncommented policy: %v\n%s", problems, uncommented)
	}
	pseudonymized := map[string]bool{}
	for _, f := range p.Routes[1].Fields {
		pseudonymized[f.From] = f.Pseudonymize
	}
	for from, want := range map[string]bool{"/data/device_id": true, "/data/user/id": true, "/data/user/email": true, "/id": true, "/data/state": false, "/data/battery_pct": false} {
		if got, ok := pseudonymized[from]; !ok || got != want {
			t.Errorf("suggested field %s: listed %v pseudonymize %v, want listed, %v", from, ok, got, want)
		}
	}
}
