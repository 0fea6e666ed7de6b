package learn_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/learn"
)

// wide returns an event with about n paths: objects of ten members, some arrays of objects,
// strings of several formats and plain enums, numbers, booleans.
func wide(n int, seed int) string {
	var groups []string
	for g := 0; g*10 < n; g++ {
		var m []string
		for j := range 9 {
			switch j % 5 {
			case 0:
				m = append(m, fmt.Sprintf(`"count_%d": %d`, j, seed*7+j))
			case 1:
				m = append(m, fmt.Sprintf(`"at_%d": "2026-03-01T10:%02d:00Z"`, j, seed%60))
			case 2:
				m = append(m, fmt.Sprintf(`"state_%d": %q`, j, []string{"on", "off", "idle"}[seed%3]))
			case 3:
				m = append(m, fmt.Sprintf(`"ratio_%d": 0.%d`, j, seed%10+1))
			case 4:
				m = append(m, fmt.Sprintf(`"flag_%d": %v`, j, seed%2 == 0))
			}
		}
		groups = append(groups, fmt.Sprintf(`"group_%d": {%s}`, g, strings.Join(m, ",")))
	}
	return fmt.Sprintf(`{"id": "evt_%d", "type": "wide.%d", %s}`, seed, seed%4, strings.Join(groups, ","))
}

// BenchmarkRecord measures learning one event: the acme-locks sample (about 20 paths) and a wide
// event of about 200 paths.
func BenchmarkRecord(b *testing.B) {
	sample, err := os.ReadFile("../../testdata/payloads/acme-locks.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		body string
	}{{"acme-locks", string(sample)}, {"wide-200", wide(200, 1)}} {
		b.Run(c.name, func(b *testing.B) {
			doc := parse(b, c.body)
			r := learn.New("v", learn.Limits{})
			r.Record(doc, "lock.state_changed")
			b.ReportAllocs()
			for b.Loop() {
				r.Record(doc, "lock.state_changed")
			}
		})
	}
}

// BenchmarkRecordParallel measures recording from every core at once into one recorder (one
// vendor's webhooks arriving together).
func BenchmarkRecordParallel(b *testing.B) {
	sample, err := os.ReadFile("../../testdata/payloads/acme-locks.json")
	if err != nil {
		b.Fatal(err)
	}
	doc := parse(b, string(sample))
	r := learn.New("v", learn.Limits{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(doc, "lock.state_changed")
		}
	})
}

// BenchmarkSnapshot measures taking and encoding a snapshot of a 500-path structure (what the
// saver does now and then), and reports its size per path.
func BenchmarkSnapshot(b *testing.B) {
	r := learn.New("v", learn.Limits{})
	for i := range 100 {
		r.Record(parse(b, wide(500, i)), fmt.Sprintf("wide.%d", i%4))
	}
	s := r.Snapshot()
	data, _ := s.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Snapshot().Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/float64(s.CountPaths()), "bytes/path")
	b.ReportMetric(float64(s.CountPaths()), "paths")
}

// TestStoredSize reports bytes stored per learnt path: for the 30 sample events, for a wide
// structure, and for the worst case the limits allow (64-byte keys, every type, 64 event types
// on every path, eight 32-byte enum values, counts near 2^64).
func TestStoredSize(t *testing.T) {
	r := learn.New("acme-locks", learn.Limits{})
	record(t, r, sampleEvents(30))
	s := r.Snapshot()
	data := marshal(t, s)
	t.Logf("sample: %d paths, %d bytes, %.0f bytes/path", s.CountPaths(), len(data), float64(len(data))/float64(s.CountPaths()))

	r = learn.New("v", learn.Limits{})
	for i := range 100 {
		r.Record(parse(t, wide(500, i)), fmt.Sprintf("wide.%d", i%4))
	}
	s = r.Snapshot()
	data = marshal(t, s)
	t.Logf("wide: %d paths, %d bytes, %.0f bytes/path", s.CountPaths(), len(data), float64(len(data))/float64(s.CountPaths()))

	worst := worstCase()
	data = marshal(t, worst)
	n := worst.CountPaths()
	t.Logf("worst case: %d paths, %d bytes, %.0f bytes/path", n, len(data), float64(len(data))/float64(n))
	if per := len(data) / n; per > 4096 {
		t.Errorf("worst case = %d bytes/path, want at most 4 KiB", per)
	}
}

func worstCase() *learn.Structure {
	const big = ^uint64(0) - 1
	lo, hi := -9e+300, 9e+300
	var types []learn.TypeCount
	byType := make([]uint64, 64)
	for i := range 64 {
		types = append(types, learn.TypeCount{Name: fmt.Sprintf("%s.%02d", strings.Repeat("t", 61), i), Events: big})
		byType[i] = big
	}
	var enum []learn.EnumValue
	for i := range learn.MaxEnum {
		enum = append(enum, learn.EnumValue{Value: fmt.Sprintf("%s%d", strings.Repeat("v", 31), i), Count: big})
	}
	leaf := func() *learn.Node {
		return &learn.Node{Types: 0x7f, Events: big, Count: big, ByType: byType, Objects: big, Strings: big,
			MinLen: 1 << 31, MaxLen: 1 << 31, Formats: 0xff, Numbers: big, Min: &lo, Max: &hi,
			Identifier: 0x7ff, IdentifierByValue: 0x7ff, Personal: true, Enum: enum, NoEnum: true, Truncated: true}
	}
	root := leaf()
	root.Keys = map[string]*learn.Node{}
	for i := range learn.DefaultLimits.MaxPaths - 1 {
		root.Keys[fmt.Sprintf("%s%03d", strings.Repeat("k", 61), i)] = leaf()
	}
	return &learn.Structure{Version: learn.Version, Vendor: "v", Events: big, Types: types, Root: root,
		Overflow: learn.Overflow{Dropped: big, Deep: big, Folded: big, OtherTypes: big, EnumClosed: true}}
}
