package ratelimit

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureLimits bound the requests that fail authentication: what a vendor's webhooks would cost
// if anyone could send them. They are separate from the vendors' rate budgets, which only requests
// that verified may spend, so junk never turns a vendor's real webhooks into 429s.
type FailureLimits struct {
	// SourcePerMinute and SourceBurst are the failures one source address may have: past them the
	// source is refused before its body is read, so a flood from one address costs a header parse
	// per request. IPv6 sources are grouped by /64, as for the request rate.
	SourcePerMinute int
	SourceBurst     int
	// VendorPerMinute and VendorBurst are the failures one vendor takes from all sources before it
	// counts as flooded. A flooded vendor refuses, before reading the body, only the sources that
	// failed within Suspect and have not verified since: a source with no recent failure (the real
	// sender) is never refused by it, and a flood from many addresses costs at most one bounded
	// body and one MAC check per address and Suspect.
	VendorPerMinute int
	VendorBurst     int
	Suspect         time.Duration
	// MaxSources bounds the table of sources that failed; when full, idle ones go first.
	MaxSources int
}

// DefaultFailureLimits: a source may fail 10 times at once, then once every 2 s; a vendor takes 20
// failures at once, then one a second, before it counts as flooded; a failed source stays suspect
// for a minute unless it verifies.
var DefaultFailureLimits = FailureLimits{
	SourcePerMinute: 30,
	SourceBurst:     10,
	VendorPerMinute: 60,
	VendorBurst:     20,
	Suspect:         time.Minute,
	MaxSources:      20_000,
}

// Failures keeps the failure budgets of FailureLimits. Its zero value is not usable; use
// NewFailures. It is safe for concurrent use.
type Failures struct {
	lim FailureLimits

	mu      sync.Mutex // guards sources and vendors
	sources map[netip.Addr]*failed
	vendors map[string]*rate.Limiter
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
	if lim.SourceBurst <= 0 {
		lim.SourceBurst = d.SourceBurst
	}
	if lim.VendorPerMinute <= 0 {
		lim.VendorPerMinute = d.VendorPerMinute
	}
	if lim.VendorBurst <= 0 {
		lim.VendorBurst = d.VendorBurst
	}
	if lim.Suspect <= 0 {
		lim.Suspect = d.Suspect
	}
	if lim.MaxSources <= 0 {
		lim.MaxSources = d.MaxSources
	}
	return &Failures{lim: lim, sources: map[netip.Addr]*failed{}, vendors: map[string]*rate.Limiter{}}
}

// Allow returns nil when a request for vendor from src may have its body read and checked, else a
// *LimitError naming the budget (BudgetSourceFailures or BudgetVendorFailures) and the wait. It
// takes nothing: only Fail spends. A source that never failed, or that verified since it last
// failed, is refused by nothing but its own failure budget.
func (f *Failures) Allow(vendor string, src netip.Addr, now time.Time) error {
	src = sourceKey(src)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.sources[src]
	if e == nil {
		return nil
	}
	if wait := untilToken(e.budget, now); wait > 0 {
		return &LimitError{Budget: BudgetSourceFailures, RetryAfter: wait}
	}
	if e.verified || now.Sub(e.lastFail) >= f.lim.Suspect {
		return nil
	}
	if v := f.vendors[vendor]; v != nil {
		if wait := untilToken(v, now); wait > 0 {
			return &LimitError{Budget: BudgetVendorFailures, RetryAfter: wait}
		}
	}
	return nil
}

// Fail records that a request for vendor from src failed authentication (or could not be read).
func (f *Failures) Fail(vendor string, src netip.Addr, now time.Time) {
	src = sourceKey(src)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.sources[src]
	if e == nil {
		if len(f.sources) >= f.lim.MaxSources {
			f.evict(now)
		}
		e = &failed{budget: rate.NewLimiter(rate.Limit(float64(f.lim.SourcePerMinute)/60), f.lim.SourceBurst)}
		f.sources[src] = e
	}
	e.budget.AllowN(now, 1)
	e.lastFail, e.verified = now, false
	v := f.vendors[vendor]
	if v == nil {
		v = rate.NewLimiter(rate.Limit(float64(f.lim.VendorPerMinute)/60), f.lim.VendorBurst)
		f.vendors[vendor] = v
	}
	v.AllowN(now, 1)
}

// Verified records that a request from src passed authentication: the source is no longer suspect
// to a flooded vendor. Its own failure budget refills only with time.
func (f *Failures) Verified(src netip.Addr) {
	src = sourceKey(src)
	f.mu.Lock()
	if e := f.sources[src]; e != nil {
		e.verified = true
	}
	f.mu.Unlock()
}

// Flooded reports whether a vendor has used up its failure budget, for logs and tests.
func (f *Failures) Flooded(vendor string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.vendors[vendor]
	return v != nil && untilToken(v, now) > 0
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
		if now.Sub(e.lastFail) >= f.lim.Suspect && e.budget.TokensAt(now) >= float64(f.lim.SourceBurst) {
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
