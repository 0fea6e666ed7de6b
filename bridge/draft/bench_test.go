package draft_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/learn"
)

// wideStructure learns 100 events of four types: objects of nine members
// (integers, date-times, enums, fractions, booleans) and an array of objects: 495 paths.
func wideStructure(b testing.TB) *learn.Structure {
	r := learn.New("wide", learn.Limits{})
	for i := range 100 {
		var groups []string
		for g := range 41 {
			groups = append(groups, fmt.Sprintf(`"group_%d": {"count": %d, "at": "2026-03-01T10:%02d:00Z", "state": %q, "ratio": 0.%d,
				"flag": %v, "name_%c": "x", "level": %q, "unit": "kwh", "items": [{"v": %d}]}`,
				g, i*g, i%60, []string{"on", "off"}[i%2], i%10, i%2 == 0, 'a'+g%26, []string{"low", "high"}[g%2], i))
		}
		typ := fmt.Sprintf("wide.%d", i%4)
		r.Record(parse(b, fmt.Sprintf(`{"id": "evt_%d", "type": %q, %s}`, i, typ, strings.Join(groups, ","))), typ)
	}
	return r.Snapshot()
}

// BenchmarkDraft measures drafting (schema, policy, and their self-check) from a 500-path
// structure.
func BenchmarkDraft(b *testing.B) {
	s := wideStructure(b)
	policy := []byte("vendor: wide\nauth:\n  scheme: github\nevent:\n  type: /type\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := draft.Make(draft.Input{Learnt: s, Policy: policy}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.CountPaths()), "paths")
}
