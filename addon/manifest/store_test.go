package manifest

import (
	"io/fs"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"go.yaml.in/yaml/v3"
)

// storeManifests lists the files the Supervisor's store takes for app manifests: it globs
// **/config.* and keeps .json, .yaml and .yml files with no path part starting with "." and no
// part named rootfs (supervisor/store/data.py).
func storeManifests(fsys fs.FS) ([]string, error) {
	var found []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != "." && (strings.HasPrefix(name, ".") || name == "rootfs") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch name {
		case "config.json", "config.yaml", "config.yml":
			found = append(found, p)
		}
		return nil
	})
	return found, err
}

func TestExactlyOneManifest(t *testing.T) {
	dir := root(t)
	got, err := storeManifests(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"config.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("app manifests the Supervisor would find in %s = %v, want %v (rename the others: each becomes an app, or a broken one)", dir, got, want)
	}
}

func TestStoreManifestWalk(t *testing.T) {
	fsys := fstest.MapFS{
		"config.yaml":                       {},
		"translations/en.yaml":              {},
		"testdata/options.json":             {},
		"testdata/nested/config.json":       {},
		"deep/a/b/config.yml":               {},
		".github/config.yaml":               {},
		"x/.hidden/config.yaml":             {},
		"rootfs/etc/config.json":            {},
		"app/rootfs/config.yaml":            {},
		"config.toml":                       {},
		"notconfig.yaml":                    {},
		"docs/config.yaml.example":          {},
		".config.yaml":                      {},
		"policies/config.yaml/readme.txt":   {}, // a directory named like a manifest is not a file
		"vendor/hidden/.git/config.json":    {},
		"schemas/acme-locks/config.json.gz": {},
	}
	got, err := storeManifests(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config.yaml", "deep/a/b/config.yml", "testdata/nested/config.json"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("storeManifests = %v, want %v", got, want)
	}
}

func TestRepositoryFile(t *testing.T) {
	var repo struct {
		Name       string `yaml:"name"`
		URL        string `yaml:"url"`
		Maintainer string `yaml:"maintainer"`
	}
	if err := yaml.Unmarshal(readFile(t, "repository.yaml"), &repo); err != nil {
		t.Fatalf("repository.yaml: %v", err)
	}
	if repo.Name == "" || repo.Maintainer == "" {
		t.Errorf("repository.yaml name %q, maintainer %q: want both set", repo.Name, repo.Maintainer)
	}
	u, err := url.Parse(repo.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("repository.yaml url %q: want an https URL", repo.URL)
	}
	if got, want := repo.URL, manifest(t)["url"]; got != want {
		t.Errorf("repository.yaml url = %q, want config.yaml's url %q", got, want)
	}
}
