package pseudo_test

import (
	"testing"

	"github.com/hookbridge/hookbridge/bridge/pseudo"
)

// BenchmarkToken measures one pseudonym, the unit of the pseudonymize stage (an event id and
// every marked field each cost one).
func BenchmarkToken(b *testing.B) {
	ps, err := pseudo.New([]byte("bench-pseudonym-key-0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ps.Token(pseudo.DomainField, "acme-locks", "LCK-7734-XK19")
	}
}
