package manifest

import (
	"bytes"
	"image/png"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// translationEntry is one option's label in translations/*.yaml, as the Supervisor reads it
// (SCHEMA_TRANSLATION_CONFIGURATION): the frontend looks nested options up under "fields".
type translationEntry struct {
	Name        string                      `yaml:"name"`
	Description string                      `yaml:"description"`
	Fields      map[string]translationEntry `yaml:"fields"`
}

type translations struct {
	Configuration map[string]translationEntry `yaml:"configuration"`
	Network       map[string]string           `yaml:"network"`
}

func readTranslations(t *testing.T) translations {
	t.Helper()
	var tr translations
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "translations/en.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("translations/en.yaml: %v", err)
	}
	return tr
}

// translationKeys flattens the configuration section like optionKeys does the schema, and
// reports entries without a name or a description.
func translationKeys(conf map[string]translationEntry, prefix string) (keys, problems []string) {
	for k, e := range conf {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		keys = append(keys, key)
		if strings.TrimSpace(e.Name) == "" {
			problems = append(problems, key+": no name")
		}
		if strings.TrimSpace(e.Description) == "" {
			problems = append(problems, key+": no description")
		}
		if len(e.Fields) > 0 {
			if prefix != "" {
				problems = append(problems, key+": fields nested deeper than the options are")
			}
			sub, p := translationKeys(e.Fields, key)
			keys, problems = append(keys, sub...), append(problems, p...)
		}
	}
	sort.Strings(keys)
	sort.Strings(problems)
	return keys, problems
}

func TestTranslationsCoverOptions(t *testing.T) {
	tr := readTranslations(t)
	want := optionKeys(object(t, manifest(t), "schema"))
	got, problems := translationKeys(tr.Configuration, "")
	for _, p := range problems {
		t.Errorf("translations/en.yaml configuration.%s", p)
	}
	for _, k := range diff(want, got) {
		t.Errorf("translations/en.yaml has no entry for option %q", k)
	}
	for _, k := range diff(got, want) {
		t.Errorf("translations/en.yaml names %q, which is not an option", k)
	}
}

func TestTranslationsNamePorts(t *testing.T) {
	tr := readTranslations(t)
	ports := object(t, manifest(t), "ports")
	for _, p := range sortedKeys(ports) {
		if strings.TrimSpace(tr.Network[p]) == "" {
			t.Errorf("translations/en.yaml network has no text for port %s", p)
		}
	}
	for _, p := range sortedKeys(tr.Network) {
		if _, ok := ports[p]; !ok {
			t.Errorf("translations/en.yaml network names port %s, which config.yaml does not map", p)
		}
	}
}

func TestTranslationKeysChecker(t *testing.T) {
	conf := map[string]translationEntry{
		"a": {Name: "A", Description: "a"},
		"b": {Name: "B", Fields: map[string]translationEntry{"c": {Description: "c"}}},
	}
	keys, problems := translationKeys(conf, "")
	if got, want := strings.Join(keys, ","), "a,b,b.c"; got != want {
		t.Errorf("translationKeys keys = %s, want %s", got, want)
	}
	if got, want := strings.Join(problems, ","), "b.c: no name,b: no description"; got != want {
		t.Errorf("translationKeys problems = %s, want %s", got, want)
	}
}

func TestImages(t *testing.T) {
	tests := []struct {
		file string
		// check returns what is wrong with the decoded size, or "".
		check func(w, h int) string
	}{
		{"icon.png", func(w, h int) string {
			if w != 128 || h != 128 {
				return "want 128x128"
			}
			return ""
		}},
		{"logo.png", func(w, h int) string {
			if w <= h {
				return "want landscape (wider than high)"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			img, err := png.Decode(bytes.NewReader(readFile(t, tc.file)))
			if err != nil {
				t.Fatalf("png.Decode(%s) = %v", tc.file, err)
			}
			b := img.Bounds()
			if msg := tc.check(b.Dx(), b.Dy()); msg != "" {
				t.Errorf("%s is %dx%d, %s", tc.file, b.Dx(), b.Dy(), msg)
			}
		})
	}
}
