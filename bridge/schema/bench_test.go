package schema_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

// BenchmarkValidate measures the validate stage on each sample payload, parsed beforehand: the
// JSON Schema check and the count of fields the schema does not declare.
func BenchmarkValidate(b *testing.B) {
	set := schema.NewSet()
	schemas, err := filepath.Glob("../../schemas/*/*.json")
	if err != nil || len(schemas) == 0 {
		b.Fatalf("schemas: %v (%d files)", err, len(schemas))
	}
	for _, f := range schemas {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		rel, _ := filepath.Rel("../../schemas", f)
		set.Add(filepath.ToSlash(rel), data)
	}
	payloads, _ := filepath.Glob("../../testdata/payloads/*.json")
	for _, f := range payloads {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		vendor := name
		for _, v := range []string{"acme-locks", "porchlight-cams", "gridwise-energy"} {
			if strings.HasPrefix(name, v) {
				vendor = v
			}
		}
		sc, err := set.Compile(vendor + "/v1.json")
		if err != nil {
			b.Fatal(err)
		}
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := payload.Parse(body, payload.DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := sc.Validate(doc); err != nil {
					b.Fatal(err)
				}
				sc.UnknownFields(doc)
			}
		})
	}
}
