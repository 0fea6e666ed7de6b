package options_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// TestParseSecrets reads a vendor's secrets in both shapes: secret and previous_secret (masked
// in the Supervisor's UI), and the older list secrets of 0.1's options files; both at once, and
// the other mistakes a person can make moving from one to the other, are errors naming the key.
func TestParseSecrets(t *testing.T) {
	tests := []struct {
		name    string
		entry   string
		secrets []string
		legacy  bool
		problem *problem
	}{
		{"secret", `"secret":"s-new"`, []string{"s-new"}, false, nil},
		{"secret and previous_secret", `"secret":"s-new","previous_secret":"s-old"`, []string{"s-new", "s-old"}, false, nil},
		{"the older list", `"secrets":["s-old","s-new"]`, []string{"s-old", "s-new"}, true, nil},
		{"the older list, three", `"secrets":["a1","a2","a3"]`, []string{"a1", "a2", "a3"}, true, nil},
		{"secret with the list emptied", `"secret":"s-new","secrets":[]`, []string{"s-new"}, false, nil},
		{"the list with cleared fields", `"secret":"","previous_secret":"","secrets":["s-old"]`, []string{"s-old"}, true, nil},
		{"no secret", `"enabled":false`, []string{}, false, nil},
		{"cleared fields only", `"secret":"","previous_secret":""`, []string{}, false, nil},
		{"both shapes", `"secret":"s-new","secrets":["s-old"]`, nil, false,
			&problem{"vendors[0].secrets", "either as secret and previous_secret or as the older list secrets, not both"}},
		{"both shapes, previous only", `"previous_secret":"s-old","secrets":["s-old"]`, nil, false,
			&problem{"vendors[0].secrets", "not both"}},
		{"previous without secret", `"previous_secret":"s-old"`, nil, false, &problem{"vendors[0].previous_secret", "without secret"}},
		{"previous same as secret", `"secret":"s-same","previous_secret":"s-same"`, nil, false, &problem{"vendors[0].previous_secret", "the same as secret"}},
		{"blank secret", `"secret":"  "`, nil, false, &problem{"vendors[0].secret", "must not be blank"}},
		{"secret not a string", `"secret":["s"]`, nil, false, &problem{"vendors[0].secret", "must be a string, not a list"}},
		{"list entry empty", `"secrets":["ok-secret"," "]`, nil, false, &problem{"vendors[0].secrets[1]", "must not be empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"vendors":[{"name":"acme",` + tc.entry + `}]}`
			o, err := options.Parse([]byte(doc))
			if tc.problem != nil {
				var oe *options.Error
				if !errors.As(err, &oe) || len(oe.Problems) != 1 || oe.Problems[0].Path != tc.problem.path ||
					!strings.Contains(oe.Problems[0].Message, tc.problem.text) {
					t.Fatalf("Parse(%s) = %v, want one problem at %s saying %q", doc, err, tc.problem.path, tc.problem.text)
				}
				if strings.Contains(err.Error(), "s-old") || strings.Contains(err.Error(), "s-new") {
					t.Errorf("Parse(%s) error %q holds a secret", doc, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s) = %v", doc, err)
			}
			v := o.Vendors[0]
			if !reflect.DeepEqual(v.Secrets, tc.secrets) || v.LegacySecrets != tc.legacy {
				t.Errorf("Parse(%s) secrets = %q (legacy %v), want %q (legacy %v)", doc, v.Secrets, v.LegacySecrets, tc.secrets, tc.legacy)
			}
		})
	}
}

// TestVendorJSON writes a vendor in the shape its secrets came in, reads it back the same, and
// Parse agrees with what was written.
func TestVendorJSON(t *testing.T) {
	tests := []struct {
		name string
		v    options.Vendor
		want string // the secrets' part of the JSON
	}{
		{"one", options.Vendor{Name: "a", Secrets: []string{"s1"}}, `"secret":"s1"`},
		{"two", options.Vendor{Name: "a", Secrets: []string{"s1", "s0"}}, `"secret":"s1","previous_secret":"s0"`},
		{"the older list", options.Vendor{Name: "a", Secrets: []string{"s0", "s1"}, LegacySecrets: true}, `"secrets":["s0","s1"]`},
		{"three", options.Vendor{Name: "a", Secrets: []string{"s0", "s1", "s2"}, LegacySecrets: true}, `"secrets":["s0","s1","s2"]`},
		{"none", options.Vendor{Name: "a"}, `"enabled":false,"allowed_cidrs"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.v.AllowedCIDRs, tc.v.RatePerMinute, tc.v.Mode = []string{}, 600, options.ModeLive
			data, err := json.Marshal(tc.v)
			if err != nil || !strings.Contains(string(data), tc.want) {
				t.Fatalf("Marshal(%+v) = %s, %v, want it to hold %s", tc.v, data, err, tc.want)
			}
			var back options.Vendor
			if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, tc.v) {
				t.Errorf("Unmarshal(%s) = %+v, %v, want %+v", data, back, err, tc.v)
			}
			o, err := options.Parse([]byte(`{"vendors":[` + string(data) + `]}`))
			if err != nil {
				t.Fatalf("Parse(%s) = %v", data, err)
			}
			if got := o.Vendors[0]; len(got.Secrets) != len(tc.v.Secrets) || (len(got.Secrets) > 0 && !reflect.DeepEqual(got, tc.v)) {
				t.Errorf("Parse(%s) = %+v, want %+v", data, got, tc.v)
			}
		})
	}
}

func TestVendorNewer(t *testing.T) {
	fresh := options.Vendor{Secrets: []string{"new", "old"}}
	legacy := options.Vendor{Secrets: []string{"old", "new"}, LegacySecrets: true}
	if !fresh.Newer(0, 1) || fresh.Newer(1, 0) {
		t.Errorf("Newer with secret and previous_secret: secret must be the newer")
	}
	if !legacy.Newer(1, 0) || legacy.Newer(0, 1) {
		t.Errorf("Newer with the older list: the later entry must be the newer")
	}
}

// TestVendorErrorNamesSecretKey: a secret the scheme refuses is reported under the key the file
// gives it.
func TestVendorErrorNamesSecretKey(t *testing.T) {
	o, err := options.Parse([]byte(`{"vendors":[{"name":"a","secret":"s1","previous_secret":"s0"},{"name":"b","secrets":["x","y","z"]},{"name":"c","enabled":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	verr := &vendor.Error{Problems: []vendor.Problem{
		{Index: 0, Key: "secrets", Message: "secrets[1]: no usable secret: too short (scheme x)"},
		{Index: 1, Key: "secrets", Message: "secrets[2]: no usable secret (scheme x)"},
		{Index: 2, Key: "secrets", Message: "an enabled vendor needs at least one secret"},
	}}
	var oe *options.Error
	if !errors.As(o.VendorError(verr), &oe) {
		t.Fatalf("VendorError = %v", o.VendorError(verr))
	}
	want := []options.Problem{
		{Path: "vendors[0].previous_secret", Message: "no usable secret: too short (scheme x)"},
		{Path: "vendors[1].secrets[2]", Message: "no usable secret (scheme x)"},
		{Path: "vendors[2].secret", Message: "an enabled vendor needs at least one secret"},
	}
	if !reflect.DeepEqual(oe.Problems, want) {
		t.Errorf("VendorError = %+v, want %+v", oe.Problems, want)
	}
}
