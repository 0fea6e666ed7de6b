package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// linterSchema compiles the community app linter's config schema (a copy kept in testdata, so CI
// needs nothing outside the repository).
func linterSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	path := filepath.Join(root(t), "testdata", "ha-app-config.schema.json")
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft7
	c.AssertFormat = true
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	raw, ok := decodeJSON(t, readFile(t, "testdata/ha-app-config.schema.json")).(map[string]any)
	if !ok {
		t.Fatal("linter schema is not an object")
	}
	return sch, raw
}

// validate checks a generic config value against the linter schema.
func validate(t *testing.T, sch *jsonschema.Schema, v any) error {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(mustJSON(t, v)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

func TestManifestValidatesAgainstLinterSchema(t *testing.T) {
	sch, _ := linterSchema(t)
	if err := validate(t, sch, manifest(t)); err != nil {
		t.Fatalf("config.yaml does not validate against the linter schema:\n%#v", err)
	}

	// The same check must catch what the linter catches.
	bad := []struct {
		name string
		key  string
		val  any
	}{
		{"deprecated-free arch list with an unknown arch", "arch", []any{"mips"}},
		{"unknown key", "colour", "blue"},
		{"port out of range", "ports", map[string]any{"8080/tcp": 70000}},
		{"map entry with unknown folder", "map", []any{"secrets:rw"}},
		{"service with unknown right", "services", []any{"mqtt:maybe"}},
		{"boot not in enum", "boot", "sometimes"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m := clone(t, manifest(t)).(map[string]any)
			m[tc.key] = tc.val
			if err := validate(t, sch, m); err == nil {
				t.Errorf("validate(config with %s = %v) = nil, want an error", tc.key, tc.val)
			}
		})
	}
}

// defaultViolations applies the linter's extra rule: wherever a schema's "properties" keyword
// applies to an object, a property set to that property's "default" is an error. It follows
// properties, items, additionalProperties and the branches of oneOf/anyOf/allOf.
func defaultViolations(schema map[string]any, v any, path string) []string {
	var out []string
	obj, isObj := v.(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	if isObj {
		for _, k := range sortedKeys(props) {
			sub, _ := props[k].(map[string]any)
			val, present := obj[k]
			if !present {
				continue
			}
			if def, ok := sub["default"]; ok && pyEqual(val, def) {
				out = append(out, fmt.Sprintf("%s: uses its default value %v; remove it", join(path, k), def))
			}
			out = append(out, defaultViolations(sub, val, join(path, k))...)
		}
		if extra, ok := schema["additionalProperties"].(map[string]any); ok {
			for _, k := range sortedKeys(obj) {
				if _, known := props[k]; !known {
					out = append(out, defaultViolations(extra, obj[k], join(path, k))...)
				}
			}
		}
	}
	if list, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range list {
				out = append(out, defaultViolations(items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	for _, kw := range []string{"oneOf", "anyOf", "allOf"} {
		branches, _ := schema[kw].([]any)
		for _, b := range branches {
			if sub, ok := b.(map[string]any); ok {
				out = append(out, defaultViolations(sub, v, path)...)
			}
		}
	}
	return dedupe(out)
}

// obsoleteViolations lists keys the linter rejects outright.
func obsoleteViolations(config map[string]any) []string {
	var out []string
	if _, ok := config["watchdog"]; ok {
		out = append(out, "watchdog: obsolete; use a Dockerfile HEALTHCHECK")
	}
	if ingress, _ := config["ingress"].(bool); ingress {
		if _, ok := config["webui"]; ok {
			out = append(out, "webui: remove it, ingress is on")
		}
	}
	return out
}

// pyEqual compares two decoded JSON values the way Python's == does, which is what the linter
// uses: true == 1 and false == 0, 1 == 1.0.
func pyEqual(a, b any) bool {
	if x, ok := pyNumber(a); ok {
		y, ok := pyNumber(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

func pyNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func TestNoKeyUsesItsDefault(t *testing.T) {
	_, raw := linterSchema(t)
	config := manifest(t)
	problems := append(defaultViolations(raw, config, ""), obsoleteViolations(config)...)
	for _, p := range problems {
		t.Errorf("config.yaml: %s", p)
	}
}

func TestDefaultRuleChecker(t *testing.T) {
	_, raw := linterSchema(t)
	tests := []struct {
		name   string
		config string
		want   []string // keys reported
	}{
		{"nothing set", `{}`, nil},
		{"boot auto", `{"boot": "auto"}`, []string{"boot"}},
		{"boot manual", `{"boot": "manual"}`, nil},
		{"init true", `{"init": true}`, []string{"init"}},
		{"init false", `{"init": false}`, nil},
		{"ingress_port 8099", `{"ingress_port": 8099}`, []string{"ingress_port"}},
		{"ingress_port 8100", `{"ingress_port": 8100}`, nil},
		{"startup application", `{"startup": "application"}`, []string{"startup"}},
		{"timeout 10 as a float", `{"timeout": 10.0}`, []string{"timeout"}},
		{"python equality: false == 0", `{"host_network": 0}`, []string{"host_network"}},
		{"empty options", `{"options": {}}`, []string{"options"}},
		{"panel_icon default", `{"panel_icon": "mdi:puzzle"}`, []string{"panel_icon"}},
		{"watchdog", `{"watchdog": "http://[HOST]:[PORT:8099]/healthz"}`, []string{"watchdog"}},
		{"webui with ingress", `{"ingress": true, "webui": "http://[HOST]:[PORT:8080]"}`, []string{"webui"}},
		{"several", `{"boot": "auto", "stage": "stable", "apparmor": true}`, []string{"apparmor", "boot", "stage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			config := decodeJSON(t, []byte(tc.config)).(map[string]any)
			var got []string
			for _, p := range append(defaultViolations(raw, config, ""), obsoleteViolations(config)...) {
				key, _, _ := strings.Cut(p, ":")
				got = append(got, key)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("violations(%s) = %v, want %v", tc.config, got, tc.want)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
