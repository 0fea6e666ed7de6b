package policy_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

func TestParseLifecycle(t *testing.T) {
	doc := goodPolicy + `rotate_after: 90d
expect_every: 6h
contacts:
  - role: owner
    name: Jane Doe
    channel: mailto:jane@example.net
    backup: Sam Roe
  - role: on_call
    name: Sam Roe
    channel: notify.mobile_app_sam
  - role: vendor
    name: Acme support
    channel: "+1 555 0100"
`
	p, problems := policy.Parse("acme-locks.yaml", []byte(doc))
	if len(problems) > 0 {
		t.Fatalf("Parse = %v, want no problem", problems)
	}
	if got := p.RotationPeriod(); got != 90*24*time.Hour {
		t.Errorf("RotationPeriod() = %v, want 90d", got)
	}
	if got := time.Duration(p.ExpectEvery); got != 6*time.Hour {
		t.Errorf("ExpectEvery = %v, want 6h", got)
	}
	want := []policy.Contact{
		{Role: "owner", Name: "Jane Doe", Channel: "mailto:jane@example.net", Backup: "Sam Roe"},
		{Role: "on_call", Name: "Sam Roe", Channel: "notify.mobile_app_sam"},
		{Role: "vendor", Name: "Acme support", Channel: "+1 555 0100"},
	}
	if !reflect.DeepEqual(p.Contacts, want) {
		t.Errorf("Contacts = %+v, want %+v", p.Contacts, want)
	}

	// Without the keys: the default rotation, no silence check, no contacts, and a policy that
	// hashes (encodes) as before the keys existed.
	p, _ = policy.Parse("acme-locks.yaml", []byte(goodPolicy))
	if p.RotationPeriod() != policy.DefaultRotateAfter || p.ExpectEvery != 0 || p.Contacts != nil {
		t.Errorf("Parse(no lifecycle keys) = %v, %v, %v, want 365d, none, none", p.RotationPeriod(), p.ExpectEvery, p.Contacts)
	}
	data, _ := json.Marshal(p)
	for _, k := range []string{"RotateAfter", "ExpectEvery", "Contacts"} {
		if strings.Contains(string(data), k) {
			t.Errorf("a policy without lifecycle keys encodes %s: its hash would change", k)
		}
	}
}

func TestParseLifecycleProblems(t *testing.T) {
	contact := func(fields string) string { return "contacts:\n  - " + fields + "\n" }
	tests := []struct {
		name, extra, want string
	}{
		{"rotate_after zero", "rotate_after: 0s\n", "rotate_after must be between 1s and 3650d"},
		{"rotate_after too long", "rotate_after: 4000d\n", "rotate_after must be between"},
		{"rotate_after not a period", "rotate_after: yearly\n", "not a period like 365d"},
		{"rotate_after negative", "rotate_after: -5m\n", "not a period"},
		{"expect_every too short", "expect_every: 10ms\n", "expect_every must be between 1s and 365d"},
		{"expect_every a list", "expect_every: [6h]\n", "not a period"},
		{"contact without role", contact("{name: A, channel: a@example.net}"), "contacts[0].role is required"},
		{"contact role not a word", contact("{role: On Call, name: A, channel: a@example.net}"), "contacts[0].role must be a lowercase word"},
		{"contact without name", contact("{role: owner, channel: a@example.net}"), "contacts[0].name is required"},
		{"contact without channel", contact("{role: owner, name: A}"), "contacts[0].channel is required"},
		{"contact channel not a channel", contact("{role: owner, name: A, channel: call me}"), "contacts[0].channel must be an email address"},
		{"contact channel scheme only", contact("{role: owner, name: A, channel: 'mailto:'}"), "needs what follows it"},
		{"contact name on two lines", contact("{role: owner, name: \"A\\nB\", channel: a@example.net}"), "one line"},
		{"contact unknown key", contact("{role: owner, name: A, channel: a@example.net, pager: 5}"), "unknown key"},
		{"backup unknown", contact("{role: owner, name: A, channel: a@example.net, backup: Nobody}"), `contacts[0].backup "Nobody" names no contact`},
		{"backup itself", contact("{role: owner, name: A, channel: a@example.net, backup: A}"), "names the contact itself"},
		{"same name twice", "contacts:\n  - {role: owner, name: A, channel: a@example.net}\n  - {role: on_call, name: A, channel: b@example.net}\n",
			"contacts[1].name: contacts[0] has the same name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := policy.Parse("acme-locks.yaml", []byte(goodPolicy+tc.extra))
			var found bool
			for _, p := range problems {
				if strings.Contains(p.Message, tc.want) && !p.Warning && p.Line > 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("Parse(%q) = %v, want an error with a line saying %q", tc.extra, problems, tc.want)
			}
		})
	}
}

func TestPeriod(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		text string
	}{
		{"365d", 365 * 24 * time.Hour, "365d"},
		{"2w", 14 * 24 * time.Hour, "14d"},
		{"6h", 6 * time.Hour, "6h0m0s"},
		{"48h", 48 * time.Hour, "2d"},
		{"3s", 3 * time.Second, "3s"},
	}
	for _, tc := range tests {
		p, err := policy.ParsePeriod(tc.in)
		if err != nil || time.Duration(p) != tc.want || p.String() != tc.text {
			t.Errorf("ParsePeriod(%q) = %v (%s), %v, want %v (%s)", tc.in, time.Duration(p), p, err, tc.want, tc.text)
		}
	}
	for _, bad := range []string{"", "d", "1.5d", "-1d", "1y", "123456d"} {
		if _, err := policy.ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) = nil error, want one", bad)
		}
	}
}
