package route_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/route"
)

// BenchmarkRoute measures the route stage on each sample payload with the built-in policies:
// matching routes, keeping only the listed fields (minimization), pseudonymizing the marked ones
// and building topics and message payloads.
func BenchmarkRoute(b *testing.B) {
	ps, err := pseudo.New([]byte("bench-pseudonym-key-0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	payloads, _ := filepath.Glob("../../testdata/payloads/*.json")
	if len(payloads) == 0 {
		b.Fatal("no sample payloads")
	}
	for _, f := range payloads {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		var p *policy.Policy
		for _, v := range []string{"acme-locks", "porchlight-cams", "gridwise-energy"} {
			if !strings.HasPrefix(name, v) {
				continue
			}
			file := "../../policies/" + v + ".yaml"
			data, err := os.ReadFile(file)
			if err != nil {
				b.Fatal(err)
			}
			var probs []policy.Problem
			if p, probs = policy.Parse(file, data); p == nil {
				b.Fatalf("policy %s: %v", file, probs)
			}
		}
		if p == nil {
			b.Fatalf("no policy for %s", name)
		}
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := payload.Parse(body, payload.DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		typ, _ := payload.Resolve(doc, policy.SplitPointer(p.Event.Type))
		eventType, _ := typ.(string)
		table := route.Compile("hookbridge", p, ps)
		if res := table.Apply(doc, eventType); len(res.Messages) == 0 {
			b.Fatalf("%s: Apply(%q) published nothing", name, eventType)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				table.Apply(doc, eventType)
			}
		})
	}
}
