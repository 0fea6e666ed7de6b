package app

import (
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// mayImportAddon are the packages under bridge/ that may import the Home Assistant side (addon/):
// the composition root, the command line, and the harnesses that start a whole bridge. Everything
// else under bridge/ is the pipeline and knows nothing of Home Assistant.
var mayImportAddon = map[string]bool{
	"bridge/app":           true,
	"bridge/cli":           true,
	"bridge/bridgetest":    true,
	"bridge/e2e":           true,
	"bridge/loadgen/bench": true,
}

// TestPipelineImportsNoAddon enforces the layout's one import rule, like tailscale's deptest: no
// package under bridge/ imports addon/, directly or through another package, except those above.
func TestPipelineImportsNoAddon(t *testing.T) {
	const module = "github.com/hookbridge/hookbridge/"
	out, err := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Deps", module+"bridge/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		// Test variants are listed as "pkg [pkg.test]"; the rule holds for tests too.
		path, _, _ := strings.Cut(p.ImportPath, " ")
		rel, ok := strings.CutPrefix(path, module)
		if !ok || !strings.HasPrefix(rel, "bridge/") || strings.HasSuffix(rel, ".test") {
			continue
		}
		// An external test package ("bridge/e2e_test") is judged as its package.
		if allowed(strings.TrimSuffix(rel, "_test")) {
			continue
		}
		checked++
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"addon/") {
				t.Errorf("%s imports %s: the pipeline must not depend on the Home Assistant side (only %v may)", rel, d, slices.Sorted(maps.Keys(mayImportAddon)))
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d packages under bridge/, want the whole pipeline", checked)
	}
}

// allowed reports whether a package is one that may import addon/, or inside one.
func allowed(rel string) bool {
	for p := range mayImportAddon {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}
