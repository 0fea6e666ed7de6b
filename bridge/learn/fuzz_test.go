package learn_test

import (
	"testing"

	"github.com/hookbridge/hookbridge/bridge/learn"
)

// FuzzUnmarshalMerge: whatever bytes the store hands back (a damaged file), reading and merging
// them neither panics nor breaks the recorder's limits.
func FuzzUnmarshalMerge(f *testing.F) {
	r := learn.New("v", learn.Limits{})
	for _, e := range sampleEvents(6) {
		r.Record(parse(f, e.Body), e.Type)
	}
	good, _ := r.Snapshot().Marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1,"vendor":"v","types":[{"name":"a","events":1},{"name":"a","events":2}],"root":{"types":["object"],"events":1,"count":1,"by_type":[1,2,3],"keys":{"x":null,"y":{"types":["string"],"events":1,"count":1,"strings":1,"min":1,"enum":[{"value":"b","count":9},{"value":"a","count":1}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := learn.Unmarshal(data)
		if err != nil {
			return
		}
		r := learn.New("v", learn.Limits{MaxPaths: 32, MaxDepth: 6, MaxTypes: 4})
		if err := r.Merge(s); err != nil {
			return
		}
		r.Record(map[string]any{"a": []any{"b"}}, "t")
		out := r.Snapshot()
		if n := out.CountPaths(); n > 32 {
			t.Fatalf("CountPaths() = %d after merge, want at most 32", n)
		}
		if len(out.Types) > 4 {
			t.Fatalf("Types = %d after merge, want at most 4", len(out.Types))
		}
		if _, err := out.Marshal(); err != nil {
			t.Fatalf("Marshal = %v", err)
		}
	})
}
