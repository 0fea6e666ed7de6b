package audit_test

import (
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// BenchmarkRecorderObserve measures what one webhook's audit record costs the request: building
// the record, encoding it and appending it to the buffered segment (the flusher writes and fsyncs
// every second, outside the request).
func BenchmarkRecorderObserve(b *testing.B) {
	l := benchLog(b)
	rec := audit.NewRecorder(l, []string{"acme-locks"}, 0)
	o := outcome.Outcome{Vendor: "acme-locks", Token: "5f0c2a9d1e7b4c3a8f6e2d1c0b9a8f7e", Status: 202, Reason: outcome.Accepted,
		Topics: []string{"hookbridge/acme-locks/locks/3c1f9a2b7d4e6f80/state"}, Received: time.Now(),
		Latency: 1500 * time.Microsecond, PublishLatency: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		rec.Observe(&o)
	}
}

func benchLog(b *testing.B) *audit.Log {
	b.Helper()
	l, err := audit.OpenLog(b.TempDir(), testKeys)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
