package ratelimit

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureLimits bound the requests from one source that fail authentication: what a vendor's
// webhooks would cost if anyone could send them. They are separate from the vendors' rate budgets,
// which only requests that verified may spend, so junk never turns a vendor's real webhooks into
// 429s.
type FailureLimits struct {
	// SourcePerMinute is how many failures a minute one source address may have, with a burst of
	// a tenth of that (at least 3). Past them the source is refused before its body is read, so a
	// flood from one address costs a header parse per request. IPv6 sources are grouped by /64, as
	// for the request rate.
	SourcePerMinute int
	// Suspect is how long a source that failed counts as failed for a flooded vendor (see
	// Failures), unless a request from it verifies.
	Suspect time.Duration
	// MaxSources bounds the table of sources that failed; when full, idle ones go first.
	MaxSources int
}

// FailureShare is the part of a request budget that failures may take: a tenth.
const FailureShare = 10

// FailureLimitsFor returns the limits for sources allowed sourcePerMinute requests a minute
// (source_rate_per_minute): a tenth of it may fail.
func FailureLimitsFor(sourcePerMinute int) FailureLimits {
	return FailureLimits{SourcePerMinute: max(1, sourcePerMinute/FailureShare), Suspect: time.Minute, MaxSources: 20_000}
}

// DefaultFailureLimits are the limits for the default source_rate_per_minute of 1200: 120 failures
// a minute per source, 12 at once; a failed source stays suspect for a minute unless it verifies.
var DefaultFailureLimits = FailureLimitsFor(1200)

// VendorFailures returns the failure bucket of a vendor allowed ratePerMinute requests a minute
// (rate_per_minute): a tenth of it, at least 3 at once. A vendor whose bucket is empty counts as
// flooded: it then refuses, before reading the body, the sources that failed within Suspect and
// have not verified since. A source with no recent failure, the real sender, is never refused for
// it. So while a flood from many addresses lasts, the requests that get checked (each costing one
// bounded body read and one MAC) are the bucket's refill plus one per address and Suspect.
func VendorFailures(ratePerMinute int) *rate.Limiter {
	return failureBucket(max(1, ratePerMinute/FailureShare))
}

func failureBucket(perMinute int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(perMinute)/60), max(3, perMinute/10))
}

// Failures keeps the sources' failure budgets and applies the vendors' (VendorFailures). Its zero
// value is not usable; use NewFailures. It is safe for concurrent use.
type Failures struct {
	lim FailureLimits

	mu      sync.Mutex // guards sources and the vendor buckets passed in
	sources map[netip.Addr]*failed
}

// failed is a source that failed authentication.
type failed struct {
	budget   *rate.Limiter
	lastFail time.Time
	verified bool // a request from it verified after lastFail
}

// NewFailures returns the failure budgets; zero fields of lim take DefaultFailureLimits' values.
func NewFailures(lim FailureLimits) *Failures {
	d := DefaultFailureLimits
	if lim.SourcePerMinute <= 0 {
		lim.SourcePerMinute = d.SourcePerMinute
	}
	if lim.Suspect <= 0 {
		lim.Suspect = d.Suspect
	}
	if lim.MaxSources <= 0 {
		lim.MaxSources = d.MaxSources
	}
	return &Failures{lim: lim, sources: map[netip.Addr]*failed{}}
}

// Allow returns nil when a request from src for the vendor whose failure bucket is vendor may have
// its body read and checked, else a *LimitError naming the budget (BudgetSourceFailures or
// BudgetVendorFailures) and the wait. It takes nothing: only Fail spends. A source that never
// failed, or that verified since it last failed, is refused by nothing but its own failure budget.
func (f *Failures) Allow(vendor *rate.Limiter, src netip.Addr, now time.Time) error {
	src = SourceKey(src)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.sources[src]
	if e == nil {
		return nil
	}
	if wait := untilToken(e.budget, now); wait > 0 {
		return &LimitError{Budget: BudgetSourceFailures, RetryAfter: wait}
	}
	if e.verified || now.Sub(e.lastFail) >= f.lim.Suspect || vendor == nil {
		return nil
	}
	if wait := untilToken(vendor, now); wait > 0 {
		return &LimitError{Budget: BudgetVendorFailures, RetryAfter: wait}
	}
	return nil
}

// Fail records that a request from src, for the vendor whose failure bucket is vendor (nil for
// none), failed authentication or could not be read.
func (f *Failures) Fail(vendor *rate.Limiter, src netip.Addr, now time.Time) {
	src = SourceKey(src)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.sources[src]
	if e == nil {
		if len(f.sources) >= f.lim.MaxSources {
			f.evict(now)
		}
		e = &failed{budget: failureBucket(f.lim.SourcePerMinute)}
		f.sources[src] = e
	}
	e.budget.AllowN(now, 1)
	e.lastFail, e.verified = now, false
	if vendor != nil {
		vendor.AllowN(now, 1)
	}
}

// Verified records that a request from src passed authentication: the source is no longer suspect
// to a flooded vendor. Its own failure budget refills only with time.
func (f *Failures) Verified(src netip.Addr) {
	src = SourceKey(src)
	f.mu.Lock()
	if e := f.sources[src]; e != nil {
		e.verified = true
	}
	f.mu.Unlock()
}

// Flooded reports whether a vendor's failure bucket is empty, for logs and tests.
func Flooded(vendor *rate.Limiter, now time.Time) bool {
	return vendor != nil && untilToken(vendor, now) > 0
}

// Len returns the number of sources tracked.
func (f *Failures) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sources)
}

// evict drops the sources whose budget is full again and that are no longer suspect; if none is, the
// oldest half by last failure. f.mu must be held.
func (f *Failures) evict(now time.Time) {
	for a, e := range f.sources {
		if now.Sub(e.lastFail) >= f.lim.Suspect && e.budget.TokensAt(now) >= float64(e.budget.Burst()) {
			delete(f.sources, a)
		}
	}
	if len(f.sources) < f.lim.MaxSources {
		return
	}
	oldest := now
	for _, e := range f.sources {
		if e.lastFail.Before(oldest) {
			oldest = e.lastFail
		}
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for a, e := range f.sources {
		if !e.lastFail.After(cut) {
			delete(f.sources, a)
		}
	}
}

// untilToken returns how long until l has a whole token at now, 0 when it has one. It takes nothing.
func untilToken(l *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - l.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	if l.Limit() <= 0 {
		return time.Minute
	}
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}
