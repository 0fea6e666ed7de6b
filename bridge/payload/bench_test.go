package payload_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
)

// benchPayloads returns the sample payloads by name (file name without .json).
func benchPayloads(b *testing.B) map[string][]byte {
	b.Helper()
	files, err := filepath.Glob("../../testdata/payloads/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("sample payloads: %v (%d files)", err, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = data
	}
	return out
}

// BenchmarkParse measures parsing each sample payload with the pipeline's limits.
func BenchmarkParse(b *testing.B) {
	for name, body := range benchPayloads(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := payload.Parse(body, payload.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCanonicalNumber measures the canonical form of typical literals: already canonical (the
// common case, no allocation) and not.
func BenchmarkCanonicalNumber(b *testing.B) {
	for _, in := range []string{"87", "0.231", "1764058443", "1e2", "1.50", "-1.5e-7"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				payload.CanonicalNumber(in)
			}
		})
	}
}
