package schema_test

import (
	"maps"
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
	for _, s := range sampleSchemas(b) {
		set.Add(s.name, s.data)
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

// BenchmarkCoerce measures typing the Ecowitt capture (33 fields, 28 of them numbers) under a
// weather schema, and the same with validation, as the pipeline would run them.
func BenchmarkCoerce(b *testing.B) {
	sc := compileOne(b, weatherSchema)
	body, doc := ecowitt(b)
	b.Run("coerce", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := maps.Clone(doc)
			sc.Coerce(d, payload.DefaultLimits)
		}
	})
	b.Run("clone-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = maps.Clone(doc)
		}
	})
	b.Run("parse-coerce-validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := payload.ParseForm(body, payload.DefaultLimits)
			if err != nil {
				b.Fatal(err)
			}
			sc.Coerce(d, payload.DefaultLimits)
			if err := sc.Validate(d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCompile measures compiling the sample schemas, the typing plan included.
func BenchmarkCompile(b *testing.B) {
	for _, s := range sampleSchemas(b) {
		name, data := s.name, s.data
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				set := schema.NewSet()
				set.Add(name, data)
				if _, err := set.Compile(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// sampleSchema is one of the sample schemas under schemas/, named by its path there.
type sampleSchema struct {
	name string
	data []byte
}

// sampleSchemas reads the sample schemas, in the order of their paths.
func sampleSchemas(b *testing.B) []sampleSchema {
	b.Helper()
	files, err := filepath.Glob("../../schemas/*/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("schemas: %v (%d files)", err, len(files))
	}
	out := make([]sampleSchema, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		rel, _ := filepath.Rel("../../schemas", f)
		out = append(out, sampleSchema{name: filepath.ToSlash(rel), data: data})
	}
	return out
}
