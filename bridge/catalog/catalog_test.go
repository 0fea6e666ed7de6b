package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// policyFor returns a valid policy for a vendor; topic and field let a test vary the route.
func policyFor(vendor, title, schemaName, topic, from string) string {
	return `vendor: ` + vendor + `
title: ` + title + `
owner: Home security
contact: support@example.com
risk: low
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
schema: ` + schemaName + `
routes:
  - when: "*"
    topic: ` + topic + `
    fields:
      device: ` + from + `
`
}

const lockSchema = `{
  "type": "object",
  "required": ["id", "type", "data"],
  "properties": {
    "id": {"type": "string"},
    "type": {"type": "string"},
    "data": {
      "type": "object",
      "required": ["device_id"],
      "properties": {"device_id": {"type": "string"}, "serial": {"type": "string"}}
    }
  }
}`

func builtin() fstest.MapFS {
	return fstest.MapFS{
		"policies/acme.yaml":   {Data: []byte(policyFor("acme", "Acme", "acme/v1.json", "locks/{device}", "/data/device_id"))},
		"policies/README.md":   {Data: []byte("not a policy")},
		"schemas/acme/v1.json": {Data: []byte(lockSchema)},
	}
}

func load(t *testing.T, src catalog.Sources) (*catalog.Catalog, []policy.Problem) {
	t.Helper()
	c, problems, err := catalog.Load(src)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	for _, p := range problems {
		if !p.Warning {
			t.Errorf("Load problem %v is not a warning, with a nil error", p)
		}
	}
	return c, problems
}

func TestLoadBuiltin(t *testing.T) {
	c, problems := load(t, catalog.Sources{Builtin: builtin()})
	if len(problems) != 0 {
		t.Errorf("Load problems = %v, want none", problems)
	}
	if got := strings.Join(c.Names(), ","); got != "acme" {
		t.Errorf("Names() = %s, want acme", got)
	}
	v, ok := c.Vendor("acme")
	if !ok || v.Policy.Title != "Acme" || v.Schema.Name() != "acme/v1.json" {
		t.Fatalf("Vendor(acme) = %+v, %v", v, ok)
	}
	if v.Policy.File != "policies/acme.yaml (built-in)" {
		t.Errorf("Vendor(acme).Policy.File = %q, want the built-in path", v.Policy.File)
	}
	if _, ok := c.Vendor("other"); ok {
		t.Errorf("Vendor(other) found, want not")
	}
}

func TestLoadEmpty(t *testing.T) {
	c, problems := load(t, catalog.Sources{Builtin: fstest.MapFS{}})
	if len(c.Names()) != 0 || len(problems) != 0 {
		t.Errorf("Load(empty) = %v, %v, want nothing", c.Names(), problems)
	}
	c, problems = load(t, catalog.Sources{})
	if len(c.Names()) != 0 || len(problems) != 0 {
		t.Errorf("Load(no sources) = %v, %v, want nothing", c.Names(), problems)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOverride(t *testing.T) {
	pdir, sdir := t.TempDir(), t.TempDir()
	// Replaces the built-in acme policy, and adds a vendor with its own schema.
	writeFile(t, filepath.Join(pdir, "acme.yaml"), policyFor("acme", "Acme (local)", "acme/v1.json", "locks/{device}", "/data/device_id"))
	writeFile(t, filepath.Join(pdir, "extra.yaml"), policyFor("extra", "Extra", "extra/v1.json", "things/{device}", "/data/device_id"))
	writeFile(t, filepath.Join(sdir, "extra", "v1.json"), lockSchema)
	// Replaces the built-in schema with one that also requires serial.
	writeFile(t, filepath.Join(sdir, "acme", "v1.json"), strings.Replace(lockSchema, `"required": ["device_id"]`, `"required": ["device_id", "serial"]`, 1))
	c, problems := load(t, catalog.Sources{Builtin: builtin(), PolicyDir: pdir, SchemaDir: sdir})
	if len(problems) != 0 {
		t.Errorf("Load problems = %v, want none", problems)
	}
	if got := strings.Join(c.Names(), ","); got != "acme,extra" {
		t.Fatalf("Names() = %s, want acme,extra", got)
	}
	acme, _ := c.Vendor("acme")
	if acme.Policy.Title != "Acme (local)" || acme.Policy.File != filepath.Join(pdir, "acme.yaml") {
		t.Errorf("Vendor(acme) = %q from %q, want the override", acme.Policy.Title, acme.Policy.File)
	}
	doc := map[string]any{"id": "e", "type": "t", "data": map[string]any{"device_id": "d"}}
	if err := acme.Schema.Validate(doc); err == nil {
		t.Errorf("Validate(no serial) = nil, want the override schema's required error")
	}
}

func TestLoadOverrideMissingDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, src := range []catalog.Sources{
		{Builtin: builtin(), PolicyDir: missing},
		{Builtin: builtin(), SchemaDir: missing},
	} {
		if _, _, err := catalog.Load(src); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("Load(%+v) = %v, want an error naming %s", src, err, missing)
		}
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		file  string // the problem's file
		line  int
		text  string
	}{
		{
			name: "missing schema",
			files: fstest.MapFS{
				"policies/acme.yaml": {Data: []byte(policyFor("acme", "Acme", "acme/v2.json", "locks/{device}", "/data/device_id"))},
			},
			file: "policies/acme.yaml (built-in)", text: "schema acme/v2.json does not exist",
		},
		{
			name: "vendor and file name differ",
			files: fstest.MapFS{
				"policies/acme.yaml":   {Data: []byte(policyFor("acme-two", "Acme", "acme/v1.json", "locks/{device}", "/data/device_id"))},
				"schemas/acme/v1.json": {Data: []byte(lockSchema)},
			},
			file: "policies/acme.yaml (built-in)", line: 1, text: `vendor "acme-two" must match the file name acme.yaml`,
		},
		{
			name: "policy error",
			files: fstest.MapFS{
				"policies/acme.yaml":   {Data: []byte(strings.Replace(policyFor("acme", "Acme", "acme/v1.json", "locks/{device}", "/data/device_id"), "risk: low", "risk: odd", 1))},
				"schemas/acme/v1.json": {Data: []byte(lockSchema)},
			},
			file: "policies/acme.yaml (built-in)", line: 5, text: "risk must be",
		},
		{
			name: "schema does not compile",
			files: fstest.MapFS{
				"policies/acme.yaml":   {Data: []byte(policyFor("acme", "Acme", "acme/v1.json", "locks/{device}", "/data/device_id"))},
				"schemas/acme/v1.json": {Data: []byte(`{"type": 5}`)},
			},
			file: "schemas/acme/v1.json (built-in)", text: "acme/v1.json",
		},
		{
			name: "schema refers outside",
			files: fstest.MapFS{
				"policies/acme.yaml":   {Data: []byte(policyFor("acme", "Acme", "acme/v1.json", "locks/{device}", "/data/device_id"))},
				"schemas/acme/v1.json": {Data: []byte(`{"$ref": "https://example.com/s.json"}`)},
			},
			file: "schemas/acme/v1.json (built-in)", text: "acme/v1.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems, err := catalog.Load(catalog.Sources{Builtin: tt.files})
			var ce *catalog.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *catalog.Error", err)
			}
			found := false
			for _, p := range problems {
				if p.File == tt.file && p.Line == tt.line && strings.Contains(p.Message, tt.text) && !p.Warning {
					found = true
				}
			}
			if !found {
				t.Errorf("Load problems = %v, want %s:%d %q", problems, tt.file, tt.line, tt.text)
			}
			if len(ce.Problems) != len(problems) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("Load error = %q, want every problem with its file", err)
			}
		})
	}
}

// TestLoadKeepsGoing checks that one broken vendor does not hide another's problems or the good
// vendors.
func TestLoadKeepsGoing(t *testing.T) {
	files := builtin()
	files["policies/bad.yaml"] = &fstest.MapFile{Data: []byte("vendor: bad\n")}
	files["policies/worse.yaml"] = &fstest.MapFile{Data: []byte(policyFor("worse", "W", "worse/v1.json", "x", "/a"))}
	c, problems, err := catalog.Load(catalog.Sources{Builtin: files})
	if err == nil {
		t.Fatal("Load = nil error, want one")
	}
	files2 := map[string]bool{}
	for _, p := range problems {
		files2[p.File] = true
	}
	if !files2["policies/bad.yaml (built-in)"] || !files2["policies/worse.yaml (built-in)"] {
		t.Errorf("Load problems = %v, want problems of both broken files", problems)
	}
	if _, ok := c.Vendor("acme"); !ok {
		t.Errorf("Vendor(acme) missing after other vendors failed")
	}
}

func TestLoadRequiredWarnings(t *testing.T) {
	defs := `{
  "type": "object",
  "required": ["data"],
  "properties": {"data": {"$ref": "#/$defs/data"}},
  "$defs": {"data": {"type": "object", "required": ["device_id"], "properties": {"device_id": {"type": "string"}}}}
}`
	tests := []struct {
		name   string
		schema string
		topic  string
		from   string
		warn   bool
	}{
		{"required field", lockSchema, "locks/{device}", "/data/device_id", false},
		{"optional field", lockSchema, "locks/{device}", "/data/serial", true},
		{"undeclared field", lockSchema, "locks/{device}", "/data/nothing", true},
		{"optional parent", strings.Replace(lockSchema, `"required": ["id", "type", "data"]`, `"required": ["id", "type"]`, 1), "locks/{device}", "/data/device_id", true},
		{"field not in the topic", lockSchema, "locks/all", "/data/serial", false},
		{"required through a local ref", defs, "locks/{device}", "/data/device_id", false},
		{"array element", lockSchema, "locks/{device}", "/data/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := fstest.MapFS{
				"policies/acme.yaml":   {Data: []byte(policyFor("acme", "Acme", "acme/v1.json", tt.topic, tt.from))},
				"schemas/acme/v1.json": {Data: []byte(tt.schema)},
			}
			_, problems := load(t, catalog.Sources{Builtin: files})
			if !tt.warn {
				if len(problems) != 0 {
					t.Errorf("Load problems = %v, want none", problems)
				}
				return
			}
			if len(problems) != 1 {
				t.Fatalf("Load problems = %v, want one warning", problems)
			}
			p := problems[0]
			if !p.Warning || p.Line != 16 || p.File != "policies/acme.yaml (built-in)" ||
				!strings.Contains(p.Message, `topic field "device"`) || !strings.Contains(p.Message, "not required by the schema") {
				t.Errorf("Load warning = %+v, want line 16 about field device", p)
			}
		})
	}
}

// TestLoadRepositoryCatalog loads the catalog the binary embeds, from the repository itself.
func TestLoadRepositoryCatalog(t *testing.T) {
	root := os.DirFS(filepath.Join("..", ".."))
	c, problems, err := catalog.Load(catalog.Sources{Builtin: root})
	if err != nil {
		t.Fatalf("Load(repository) = %v", err)
	}
	for _, p := range problems {
		t.Logf("warning: %v", p)
	}
	if len(c.Names()) == 0 {
		t.Fatal("Load(repository) found no vendors")
	}
	entries, err := os.ReadDir(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok {
			continue
		}
		if _, found := c.Vendor(name); !found {
			t.Errorf("Vendor(%s) missing from the loaded catalog", name)
		}
	}
}

// TestLoadLearnOnly checks a policy without schema and routes, as learn mode allows: it loads
// (with the parser's warnings) without a schema, and its file comes along as read, comments
// included, for the draft to carry over.
func TestLoadLearnOnly(t *testing.T) {
	learnOnly := `# Set up from the sender's docs; schema and routes come from learn mode.
vendor: newcomer
title: A new sender
owner: Home security
contact: support@example.com
risk: high
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
`
	src := builtin()
	src["policies/newcomer.yaml"] = &fstest.MapFile{Data: []byte(learnOnly)}
	c, problems := load(t, catalog.Sources{Builtin: src})
	if len(problems) != 2 || !strings.Contains(problems[0].String(), "no schema") || !strings.Contains(problems[1].String(), "no routes") {
		t.Errorf("Load problems = %v, want the two learn-mode warnings", problems)
	}
	v, ok := c.Vendor("newcomer")
	if !ok || v.Schema != nil || v.SchemaDoc != nil || v.Policy.CanPublish() {
		t.Fatalf("Vendor(newcomer) = %+v, %v; want a policy without schema that cannot publish", v, ok)
	}
	if string(v.PolicyDoc) != learnOnly {
		t.Errorf("Vendor(newcomer).PolicyDoc = %q, want the file as read", v.PolicyDoc)
	}
	acme, _ := c.Vendor("acme")
	if !strings.HasPrefix(string(acme.PolicyDoc), "vendor: acme\n") || !acme.Policy.CanPublish() {
		t.Errorf("Vendor(acme).PolicyDoc = %q, want its file", acme.PolicyDoc)
	}
}
