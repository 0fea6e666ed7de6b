package ratelimit_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/bridge/ratelimit"
)

// testFailureLimits: 6 failures a minute per source, 3 at once, one more every 10 s.
var testFailureLimits = ratelimit.FailureLimits{SourcePerMinute: 6, Suspect: time.Minute, MaxSources: 100}

// failUntilFlooded floods vendor with failures from addresses no test uses otherwise.
func failUntilFlooded(t *testing.T, f *ratelimit.Failures, vendor *rate.Limiter, now time.Time) {
	t.Helper()
	for i := 0; !ratelimit.Flooded(vendor, now); i++ {
		if i > 100 {
			t.Fatalf("vendor not flooded after 100 failures")
		}
		f.Fail(vendor, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now)
	}
}

func TestFailures(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name   string
		run    func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error // the last Allow's answer
		budget string                                                              // "" when allowed
	}{
		{"a source that never failed", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			return f.Allow(v, a, t0)
		}, ""},
		{"a source within its failure burst", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			f.Fail(v, a, t0)
			f.Fail(v, a, t0)
			return f.Allow(v, a, t0)
		}, ""},
		{"a source past its failure burst", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for range 3 {
				f.Fail(v, a, t0)
			}
			return f.Allow(v, a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"past its burst, on another vendor too", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for range 3 {
				f.Fail(v, a, t0)
			}
			return f.Allow(w, a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"a source past its burst, once refilled", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for range 3 {
				f.Fail(v, a, t0)
			}
			return f.Allow(v, a, t0.Add(10*time.Second))
		}, ""},
		{"a verified source past its burst: only time refills it", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for range 3 {
				f.Fail(v, a, t0)
			}
			f.Verified(a)
			return f.Allow(v, a, t0)
		}, ratelimit.BudgetSourceFailures},
		{"a flooded vendor, a source that never failed", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			failUntilFlooded(t, f, v, t0)
			return f.Allow(v, a, t0)
		}, ""},
		{"a flooded vendor, a source that failed once", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			failUntilFlooded(t, f, v, t0)
			f.Fail(v, a, t0)
			return f.Allow(v, a, t0)
		}, ratelimit.BudgetVendorFailures},
		{"a flooded vendor, a source that failed and then verified", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			f.Fail(v, a, t0)
			failUntilFlooded(t, f, v, t0)
			f.Verified(a)
			return f.Allow(v, a, t0)
		}, ""},
		{"a flooded vendor, a source that failed longer ago than Suspect", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			f.Fail(v, a, t0)
			later := t0.Add(time.Minute)
			failUntilFlooded(t, f, v, later)
			return f.Allow(v, a, later)
		}, ""},
		{"another vendor flooded", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			f.Fail(v, a, t0)
			failUntilFlooded(t, f, w, t0)
			return f.Allow(v, a, t0)
		}, ""},
		{"a flooded vendor recovers", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			failUntilFlooded(t, f, v, t0)
			f.Fail(v, a, t0)
			return f.Allow(v, a, t0.Add(time.Second))
		}, ""},
		{"another source's failures", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for range 3 {
				f.Fail(v, b, t0)
			}
			return f.Allow(v, a, t0)
		}, ""},
		{"an IPv6 /64 is one source", func(t *testing.T, f *ratelimit.Failures, v, w *rate.Limiter) error {
			for i := range 3 {
				f.Fail(v, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}), t0)
			}
			return f.Allow(v, netip.MustParseAddr("2001:db8::ffff"), t0)
		}, ratelimit.BudgetSourceFailures},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two vendors of 600 requests a minute: 60 failures a minute each, 6 at once.
			err := tt.run(t, ratelimit.NewFailures(testFailureLimits), ratelimit.VendorFailures(600), ratelimit.VendorFailures(600))
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
		f.Fail(nil, addr(i), now)
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
	for f.Allow(nil, a, t0) == nil {
		if n++; n > 100 {
			t.Fatal("no refusal after 100 failures")
		}
		f.Fail(nil, a, t0)
	}
	if n != 12 {
		t.Errorf("NewFailures(zero limits) refused after %d failures, want 12 (a tenth of a tenth of 1200)", n)
	}
}

func TestFailureBudgets(t *testing.T) {
	tests := []struct {
		perMinute   int
		wantPerMin  int
		wantBurst   int
		description string
	}{
		{1200, 120, 12, "the default source rate"},
		{600, 60, 6, "the default vendor rate"},
		{100_000, 10_000, 1000, "a lifted limit"},
		{60, 6, 3, "a low rate keeps a burst of 3"},
		{1, 1, 3, "the lowest rate"},
	}
	for _, tt := range tests {
		if got := ratelimit.FailureLimitsFor(tt.perMinute).SourcePerMinute; got != tt.wantPerMin {
			t.Errorf("FailureLimitsFor(%d).SourcePerMinute = %d, want %d (%s)", tt.perMinute, got, tt.wantPerMin, tt.description)
		}
		l := ratelimit.VendorFailures(tt.perMinute)
		if l.Burst() != tt.wantBurst || float64(l.Limit())*60 != float64(tt.wantPerMin) {
			t.Errorf("VendorFailures(%d) = %v a minute, burst %d, want %d, burst %d (%s)", tt.perMinute, float64(l.Limit())*60, l.Burst(), tt.wantPerMin, tt.wantBurst, tt.description)
		}
	}
}
