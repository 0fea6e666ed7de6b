package ratelimit_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/ratelimit"
)

var testFailureLimits = ratelimit.FailureLimits{
	SourcePerMinute: 6, SourceBurst: 3, // one every 10 s
	VendorPerMinute: 60, VendorBurst: 5, // one a second
	Suspect: time.Minute, MaxSources: 100,
}

// failUntilFlooded makes vendor flooded with failures from addresses no test uses otherwise.
func failUntilFlooded(t *testing.T, f *ratelimit.Failures, vendor string, now time.Time) {
	t.Helper()
	for i := 0; !f.Flooded(vendor, now); i++ {
		if i > 100 {
			t.Fatalf("vendor %s not flooded after 100 failures", vendor)
		}
		f.Fail(vendor, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now)
	}
}

func TestFailures(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name   string
		run    func(t *testing.T, f *ratelimit.Failures) error // the last Allow's answer
		budget string                                          // "" when allowed
	}{
		{"a source that never failed", func(t *testing.T, f *ratelimit.Failures) error {
			return f.Allow("v", a, t0)
		}, ""},
		{"a source within its failure burst", func(t *testing.T, f *ratelimit.Failures) error {
			f.Fail("v", a, t0)
			f.Fail("v", a, t0)
			return f.Allow("v", a, t0)
		}, ""},
		{"a source past its failure burst", func(t *testing.T, f *ratelimit.Failures) error {
			for range 3 {
				f.Fail("v", a, t0)
			}
			return f.Allow("v", a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"past its burst, on another vendor too", func(t *testing.T, f *ratelimit.Failures) error {
			for range 3 {
				f.Fail("v", a, t0)
			}
			return f.Allow("w", a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"a source past its burst, once refilled", func(t *testing.T, f *ratelimit.Failures) error {
			for range 3 {
				f.Fail("v", a, t0)
			}
			return f.Allow("v", a, t0.Add(10*time.Second))
		}, ""},
		{"a verified source past its burst: only time refills it", func(t *testing.T, f *ratelimit.Failures) error {
			for range 3 {
				f.Fail("v", a, t0)
			}
			f.Verified(a)
			return f.Allow("v", a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"a flooded vendor, a source that never failed", func(t *testing.T, f *ratelimit.Failures) error {
			failUntilFlooded(t, f, "v", t0)
			return f.Allow("v", a, t0)
		}, ""},
		{"a flooded vendor, a source that failed once", func(t *testing.T, f *ratelimit.Failures) error {
			failUntilFlooded(t, f, "v", t0)
			f.Fail("v", a, t0)
			return f.Allow("v", a, t0)
		}, ratelimit.BudgetVendorFailures},
		{"a flooded vendor, a source that failed and then verified", func(t *testing.T, f *ratelimit.Failures) error {
			f.Fail("v", a, t0)
			failUntilFlooded(t, f, "v", t0)
			f.Verified(a)
			return f.Allow("v", a, t0)
		}, ""},
		{"a flooded vendor, a source that failed longer ago than Suspect", func(t *testing.T, f *ratelimit.Failures) error {
			f.Fail("v", a, t0)
			later := t0.Add(time.Minute)
			failUntilFlooded(t, f, "v", later)
			return f.Allow("v", a, later)
		}, ""},
		{"another vendor flooded", func(t *testing.T, f *ratelimit.Failures) error {
			f.Fail("v", a, t0)
			failUntilFlooded(t, f, "w", t0)
			return f.Allow("v", a, t0)
		}, ""},
		{"a flooded vendor recovers", func(t *testing.T, f *ratelimit.Failures) error {
			failUntilFlooded(t, f, "v", t0)
			f.Fail("v", a, t0)
			return f.Allow("v", a, t0.Add(time.Second))
		}, ""},
		{"another source's failures", func(t *testing.T, f *ratelimit.Failures) error {
			for range 3 {
				f.Fail("v", b, t0)
			}
			return f.Allow("v", a, t0)
		}, ""},
		{"an IPv6 /64 is one source", func(t *testing.T, f *ratelimit.Failures) error {
			for i := range 3 {
				f.Fail("v", netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}), t0)
			}
			return f.Allow("v", netip.MustParseAddr("2001:db8::ffff"), t0)
		}, ratelimit.BudgetSourceFailures},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t, ratelimit.NewFailures(testFailureLimits))
			if tt.budget == "" {
				if err != nil {
					t.Fatalf("Allow = %v, want nil", err)
				}
				return
			}
			var le *ratelimit.LimitError
			if !errors.As(err, &le) || le.Budget != tt.budget || le.RetryAfter <= 0 || !errors.Is(err, ratelimit.ErrLimited) {
				t.Fatalf("Allow = %#v, want a *LimitError for %q with a wait, that is ErrLimited", err, tt.budget)
			}
		})
	}
}

func TestFailuresBounded(t *testing.T) {
	f := ratelimit.NewFailures(ratelimit.FailureLimits{MaxSources: 50})
	now := t0
	for i := range 5000 {
		f.Fail("v", addr(i), now)
		if n := f.Len(); n > 50 {
			t.Fatalf("after %d sources Len() = %d, want at most 50", i+1, n)
		}
		now = now.Add(time.Millisecond)
	}
}

func TestNewFailuresDefaults(t *testing.T) {
	f := ratelimit.NewFailures(ratelimit.FailureLimits{})
	a := netip.MustParseAddr("192.0.2.1")
	n := 0
	for f.Allow("v", a, t0) == nil {
		if n++; n > 100 {
			t.Fatal("no refusal after 100 failures")
		}
		f.Fail("v", a, t0)
	}
	if n != ratelimit.DefaultFailureLimits.SourceBurst {
		t.Errorf("NewFailures(zero limits) refused after %d failures, want the default burst %d", n, ratelimit.DefaultFailureLimits.SourceBurst)
	}
}
