package draft_test

import (
	"testing"

	"github.com/hookbridge/hookbridge/bridge/draft"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

// FuzzDraftAcceptsLearnt: whatever document is learnt (five times, so formats and enums come
// into play), the stored structure reads back, and the draft parses, compiles and accepts it.
func FuzzDraftAcceptsLearnt(f *testing.F) {
	for _, e := range events(6) {
		f.Add([]byte(e.Body))
	}
	f.Add([]byte(canaryEvent(0).Body))
	f.Add([]byte(`{"type":"t","a":[[],[{}],[{"b":null}]],"c":{"":1,"~":2,"/":3},"d":"2026-01-01","e":-0.0,"f":1e400}`))
	f.Add([]byte(`[1,"a",{"type":"x"}]`))
	f.Add([]byte(`"just a string"`))
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := payload.Parse(body, payload.DefaultLimits)
		if err != nil {
			return
		}
		typ := ""
		if m, ok := doc.(map[string]any); ok {
			typ, _ = m["type"].(string)
		}
		r := learn.New("v", learn.Limits{MaxPaths: 64, MaxDepth: 8})
		for range 5 {
			r.Record(doc, typ)
		}
		state, err := r.Snapshot().Marshal()
		if err != nil {
			t.Fatalf("Marshal = %v", err)
		}
		s, err := learn.Unmarshal(state)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal()) = %v", err)
		}
		back := learn.New("v", learn.Limits{MaxPaths: 64, MaxDepth: 8})
		if err := back.Merge(s); err != nil {
			t.Fatalf("Merge = %v", err)
		}
		d, err := draft.Make(draft.Input{Learnt: back.Snapshot(), Policy: []byte("vendor: v\nauth:\n  scheme: github\nevent:\n  type: /type\n")})
		if err != nil {
			t.Fatalf("Make = %v", err)
		}
		set := schema.NewSet()
		set.Add(d.SchemaName, d.Schema)
		sc, err := set.Compile(d.SchemaName)
		if err != nil {
			t.Fatalf("Compile = %v\n%s", err, d.Schema)
		}
		if err := sc.Validate(doc); err != nil {
			t.Fatalf("Validate(learnt document) = %v\n%s\n%s", err, body, d.Schema)
		}
	})
}
