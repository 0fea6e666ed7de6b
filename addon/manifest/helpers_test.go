package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root returns the repository root: the nearest directory above this package holding go.mod.
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// readFile reads a file given relative to the repository root.
func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// yamlToJSON converts a YAML document to JSON, the form the Supervisor and the linter work on.
func yamlToJSON(t testing.TB, data []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse YAML: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	return out
}

// decodeJSON decodes JSON into generic values (numbers as float64, like Python's json module).
func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode JSON: %v", err)
	}
	return v
}

var (
	manifestOnce sync.Once
	manifestJSON []byte
	manifestErr  error
)

// manifest returns config.yaml as a generic JSON object, read once.
func manifest(t testing.TB) map[string]any {
	t.Helper()
	manifestOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(root(t), "config.yaml"))
		if err != nil {
			manifestErr = err
			return
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			manifestErr = err
			return
		}
		manifestJSON, manifestErr = json.Marshal(v)
	})
	if manifestErr != nil {
		t.Fatalf("config.yaml: %v", manifestErr)
	}
	m, ok := decodeJSON(t, manifestJSON).(map[string]any)
	if !ok {
		t.Fatal("config.yaml is not a mapping")
	}
	return m
}

// object returns m[key] as an object, failing the test when it is not one.
func object(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("config.yaml %s is %T, want a mapping", key, m[key])
	}
	return v
}

// optionKeys lists the keys of a Supervisor option schema the way options.Keys does: top-level
// keys, and the keys of a nested dict or list of dicts as "parent.child".
func optionKeys(schema map[string]any) []string {
	var keys []string
	for k, v := range schema {
		keys = append(keys, k)
		if l, ok := v.([]any); ok && len(l) == 1 {
			v = l[0]
		}
		if d, ok := v.(map[string]any); ok {
			for c := range d {
				keys = append(keys, k+"."+c)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// diff returns the elements of a missing from b, sorted.
func diff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// mustJSON marshals v, failing the test on error.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// clone deep-copies a generic JSON value.
func clone(t testing.TB, v any) any {
	t.Helper()
	return decodeJSON(t, mustJSON(t, v))
}
