package schema_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

const strictSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "type", "data"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "minLength": 1, "maxLength": 16},
    "type": {"type": "string", "enum": ["lock.state_changed", "lock.battery_low"]},
    "created_at": {"type": "string", "format": "date-time"},
    "data": {
      "type": "object",
      "required": ["device_id"],
      "additionalProperties": false,
      "properties": {
        "device_id": {"type": "string", "maxLength": 16},
        "battery_pct": {"type": "integer", "minimum": 0, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "user": {"$ref": "#/$defs/user"}
      }
    }
  },
  "$defs": {
    "user": {
      "type": "object",
      "additionalProperties": false,
      "properties": {"id": {"type": "string"}, "email": {"type": "string", "format": "email"}}
    }
  }
}`

const permissiveSchema = `{
  "type": "object",
  "required": ["event"],
  "properties": {
    "event": {"type": "string"},
    "reading": {
      "type": "object",
      "properties": {"kwh": {"type": "number", "maximum": 1000}}
    }
  },
  "additionalProperties": {"type": "string", "maxLength": 8}
}`

func compile(t *testing.T, files map[string]string, name string) *schema.Schema {
	t.Helper()
	set := schema.NewSet()
	for n, d := range files {
		set.Add(n, []byte(d))
	}
	sc, err := set.Compile(name)
	if err != nil {
		t.Fatalf("Compile(%s) = %v", name, err)
	}
	return sc
}

func parse(t *testing.T, s string) any {
	t.Helper()
	v, err := payload.Parse([]byte(s), payload.DefaultLimits)
	if err != nil {
		t.Fatalf("payload.Parse(%q): %v", s, err)
	}
	return v
}

func TestCompileRefusesOutsideReferences(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"type":"string"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	onDisk := filepath.Join(dir, "s.json")
	if err := os.WriteFile(onDisk, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
	}{
		{"http ref", `{"$ref": "` + srv.URL + `/s.json"}`},
		{"http ref in a property", `{"properties": {"a": {"$ref": "` + srv.URL + `/s.json#/x"}}}`},
		{"https ref", `{"$ref": "https://json-schema.example/s.json"}`},
		{"file ref", `{"$ref": "file://` + filepath.ToSlash(onDisk) + `"}`},
		{"relative ref outside the catalog", `{"$ref": "../../../../` + filepath.ToSlash(onDisk) + `"}`},
		{"relative ref to a missing schema", `{"$ref": "missing.json"}`},
		{"http meta-schema", `{"$schema": "` + srv.URL + `/meta.json", "type": "object"}`},
		{"id moving the base to http", `{"$id": "` + srv.URL + `/base/", "$ref": "s.json"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := schema.NewSet()
			set.Add("v/v1.json", []byte(tt.doc))
			sc, err := set.Compile("v/v1.json")
			if err == nil {
				t.Fatalf("Compile(%s) = %v, nil, want an error", tt.doc, sc)
			}
			if !strings.Contains(err.Error(), "v/v1.json") {
				t.Errorf("Compile(%s) error %q does not name the schema", tt.name, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("Compile made %d HTTP requests, want none", n)
	}
}

func TestCompileCatalogReferences(t *testing.T) {
	files := map[string]string{
		"acme/v1.json":     `{"type":"object","properties":{"a":{"$ref":"common.json"},"b":{"$ref":"../shared/defs.json#/$defs/small"}}}`,
		"acme/common.json": `{"type":"string","maxLength":3}`,
		"shared/defs.json": `{"$defs":{"small":{"type":"integer","maximum":5}}}`,
	}
	sc := compile(t, files, "acme/v1.json")
	if err := sc.Validate(parse(t, `{"a":"abc","b":5}`)); err != nil {
		t.Errorf("Validate(valid) = %v, want nil", err)
	}
	for _, doc := range []string{`{"a":"abcd"}`, `{"b":6}`} {
		if err := sc.Validate(parse(t, doc)); !errors.Is(err, schema.ErrInvalid) {
			t.Errorf("Validate(%s) = %v, want ErrInvalid", doc, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not added", map[string]string{"a/v1.json": `{}`}, "b/v1.json"},
		{"not JSON", map[string]string{"b/v1.json": `{"type":`}, "b/v1.json"},
		{"bad keyword value", map[string]string{"b/v1.json": `{"type":"strange"}`}, "b/v1.json"},
		{"bad pattern", map[string]string{"b/v1.json": `{"pattern":"("}`}, "b/v1.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := schema.NewSet()
			for n, d := range tt.files {
				set.Add(n, []byte(d))
			}
			if _, err := set.Compile("b/v1.json"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(b/v1.json) = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	t.Run("broken sibling does not matter", func(t *testing.T) {
		compile(t, map[string]string{"a/v1.json": `{"type":`, "b/v1.json": `{"type":"object"}`}, "b/v1.json")
	})
}

func TestSet(t *testing.T) {
	set := schema.NewSet()
	set.Add("b/v1.json", []byte(`{"type":"string"}`))
	set.Add("a/v1.json", []byte(`{}`))
	set.Add("b/v1.json", []byte(`{"type":"integer"}`))
	if got := strings.Join(set.Names(), ","); got != "a/v1.json,b/v1.json" {
		t.Errorf("Names() = %s, want a/v1.json,b/v1.json", got)
	}
	if !set.Has("a/v1.json") || set.Has("c/v1.json") {
		t.Errorf("Has(a) = %v, Has(c) = %v, want true, false", set.Has("a/v1.json"), set.Has("c/v1.json"))
	}
	sc, err := set.Compile("b/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name() != "b/v1.json" {
		t.Errorf("Name() = %q, want b/v1.json", sc.Name())
	}
	// The later Add replaced the earlier one.
	if err := sc.Validate(parse(t, `7`)); err != nil {
		t.Errorf("Validate(7) = %v, want nil under the replacing schema", err)
	}
}

func TestValidate(t *testing.T) {
	strict := compile(t, map[string]string{"acme/v1.json": strictSchema}, "acme/v1.json")
	permissive := compile(t, map[string]string{"grid/v1.json": permissiveSchema}, "grid/v1.json")
	const secret = "SECRETVALUE"
	tests := []struct {
		name    string
		sc      *schema.Schema
		doc     string
		pointer string
		keyword string // "" for valid
		hidden  []string
	}{
		{"valid", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","battery_pct":5,"tags":["a"],"user":{"id":"u"}}}`, "", "", nil},
		{"maximum", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","battery_pct":101}}`, "/data/battery_pct", "maximum", []string{"101"}},
		{"minimum", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","battery_pct":-7}}`, "/data/battery_pct", "minimum", []string{"-7"}},
		{"type", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","battery_pct":"SECRETVALUE"}}`, "/data/battery_pct", "type", []string{secret}},
		{"integer", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","battery_pct":5.5}}`, "/data/battery_pct", "type", []string{"5.5"}},
		{"enum", strict, `{"id":"e1","type":"SECRETVALUE","data":{"device_id":"d"}}`, "/type", "enum", []string{secret, "lock.state_changed"}},
		{"maxLength", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"SECRETVALUE-0123456789"}}`, "/data/device_id", "maxLength", []string{secret}},
		{"required at the parent", strict, `{"id":"e1","type":"lock.battery_low","data":{}}`, "/data", "required", nil},
		{"required at the root", strict, `{"type":"lock.battery_low","data":{"device_id":"d"}}`, "", "required", nil},
		{"format", strict, `{"id":"e1","type":"lock.battery_low","created_at":"SECRETVALUE","data":{"device_id":"d"}}`, "/created_at", "format", []string{secret}},
		{"format through a ref", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","user":{"email":"SECRETVALUE"}}}`, "/data/user/email", "format", []string{secret}},
		{"array item", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","tags":["a","b","SECRETVALUE"]}}`, "/data/tags/2", "pattern", []string{secret}},
		{"unknown key at the root", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d"},"SECRETKEY":"SECRETVALUE"}`, "", "additionalProperties", []string{"SECRETKEY", secret}},
		{"unknown key below", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","SECRETKEY":1}}`, "/data", "additionalProperties", []string{"SECRETKEY"}},
		{"unknown key through a ref", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","user":{"SECRETKEY":1}}}`, "/data/user", "additionalProperties", []string{"SECRETKEY"}},
		{"unknown key with a slash", strict, `{"id":"e1","type":"lock.battery_low","data":{"device_id":"d","a/SECRETKEY":1}}`, "/data", "additionalProperties", []string{"SECRETKEY"}},
		{"not an object", strict, `["SECRETVALUE"]`, "", "type", []string{secret}},
		{"permissive valid", permissive, `{"event":"x","extra":"short"}`, "", "", nil},
		{"permissive known", permissive, `{"event":"x","reading":{"kwh":1001}}`, "/reading/kwh", "maximum", []string{"1001"}},
		{"permissive unknown key with a bad value", permissive, `{"event":"x","SECRETKEY":"SECRETVALUE-long"}`, "", "maxLength", []string{"SECRETKEY", secret}},
		{"permissive unknown key named like a known one below", permissive, `{"event":"x","kwh":5}`, "/kwh", "type", []string{"\"5\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sc.Validate(parse(t, tt.doc))
			if tt.keyword == "" {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want nil", tt.doc, err)
				}
				return
			}
			var se *schema.Error
			if !errors.As(err, &se) || !errors.Is(err, schema.ErrInvalid) {
				t.Fatalf("Validate(%s) = %v, want a *schema.Error", tt.doc, err)
			}
			if se.Pointer != tt.pointer || se.Keyword != tt.keyword {
				t.Errorf("Validate(%s) = {%q, %q}, want {%q, %q}", tt.doc, se.Pointer, se.Keyword, tt.pointer, tt.keyword)
			}
			for _, h := range tt.hidden {
				if strings.Contains(err.Error(), h) {
					t.Errorf("Validate(%s) error %q reveals %q", tt.doc, err, h)
				}
			}
		})
	}
}

func TestUnknownFields(t *testing.T) {
	strict := compile(t, map[string]string{"acme/v1.json": strictSchema}, "acme/v1.json")
	permissive := compile(t, map[string]string{"grid/v1.json": permissiveSchema}, "grid/v1.json")
	freeForm := compile(t, map[string]string{"f/v1.json": `{"type":"object","additionalProperties":false,
		"properties":{"id":{"type":"string"},"meta":{"type":"object"}}}`}, "f/v1.json")
	bare := compile(t, map[string]string{"b/v1.json": `{"type":"object"}`}, "b/v1.json")
	openByType := compile(t, map[string]string{"t/v1.json": `{"type":["object","null"]}`}, "t/v1.json")
	tests := []struct {
		name string
		sc   *schema.Schema
		doc  string
		want int
	}{
		{"free-form object inside a closed one", freeForm, `{"id":"x","meta":{"a":1,"b":{"c":2}}}`, 3},
		{"bare object schema", bare, `{"a":1,"b":2}`, 2},
		{"object among types", openByType, `{"a":1}`, 1},
		{"strict schema counts nothing", strict, `{"id":"e","zz":1,"data":{"yy":2}}`, 0},
		{"permissive, all known", permissive, `{"event":"x","reading":{"kwh":1}}`, 0},
		{"permissive, one unknown", permissive, `{"event":"x","extra":"y"}`, 1},
		{"permissive, nested unknowns", permissive, `{"event":"x","reading":{"kwh":1,"volts":2,"amps":3}}`, 2},
		{"permissive, unknowns in arrays", permissive, `{"event":"x","list":[{"a":1},{"event":2,"b":3}]}`, 3},
		{"permissive, not an object", permissive, `"x"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sc.UnknownFields(parse(t, tt.doc)); got != tt.want {
				t.Errorf("UnknownFields(%s) = %d, want %d", tt.doc, got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := &schema.Error{Pointer: "/data/x", Keyword: "maximum"}
	if got, want := e.Error(), `payload does not match the schema: maximum at "/data/x"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, schema.ErrInvalid) || errors.Is(e, errors.New("other")) {
		t.Errorf("errors.Is(Error, ErrInvalid) = false, want true")
	}
}
