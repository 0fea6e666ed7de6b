// Package ratelimit holds the token buckets of the partner listener: one per vendor, spent only by
// requests that verified; one per source address, in a bounded table so a flood of addresses cannot
// grow memory; and the failure budgets (Failures) that bound what unverified requests may cost.
package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// ErrLimited reports a request refused by a rate budget.
var ErrLimited = outcome.Err(outcome.RateLimited, "rate limited")

// Budgets a LimitError names.
const (
	BudgetSource         = "source"          // the source address's request rate
	BudgetSourceFailures = "source failures" // the source address's authentication failures
	BudgetVendorFailures = "vendor failures" // a flooded vendor's, for sources that failed
	BudgetVendor         = "vendor"          // the vendor's rate, spent by verified requests
)

// LimitError is a refusal by one budget, with the wait a Retry-After header should give.
type LimitError struct {
	Budget     string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return "rate limited: " + e.Budget + " budget" }

// Unwrap makes errors.Is(err, ErrLimited) true, and so carries its reason.
func (e *LimitError) Unwrap() error { return ErrLimited }

// PerMinute returns a limiter allowing n events per minute, with a burst of a tenth of a minute's
// worth (at least 1).
func PerMinute(n int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(n)/60), max(1, n/10))
}

// Allow takes one token; when none is left it returns how long until one is.
func Allow(l *rate.Limiter, now time.Time) (ok bool, retryAfter time.Duration) {
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return true, 0
	}
	r.CancelAt(now)
	return false, d
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1, for a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Sources limits by source address. IPv6 addresses are grouped by /64, the block one host usually
// holds. The table keeps at most maxEntries; when full, idle entries are dropped first.
type Sources struct {
	perMinute  int
	maxEntries int

	mu      sync.Mutex // guards entries
	entries map[netip.Addr]*entry
}

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewSources returns a per-source limiter.
func NewSources(perMinute, maxEntries int) *Sources {
	return &Sources{perMinute: perMinute, maxEntries: maxEntries, entries: map[netip.Addr]*entry{}}
}

// PerMinute returns the requests a minute each source may send.
func (s *Sources) PerMinute() int { return s.perMinute }

// Allow takes one token for a source.
func (s *Sources) Allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	a = SourceKey(a)
	s.mu.Lock()
	e := s.entries[a]
	if e == nil {
		if len(s.entries) >= s.maxEntries {
			s.evict(now)
		}
		e = &entry{lim: PerMinute(s.perMinute)}
		s.entries[a] = e
	}
	e.seen = now
	s.mu.Unlock()
	return Allow(e.lim, now)
}

// SourceKey is the key of an address in tables per source: IPv4 as is, IPv6 by its /64, the
// block one host usually holds whole.
func SourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// evict drops entries idle long enough to have refilled their bucket; if none is, it drops the
// oldest half. s.mu must be held.
func (s *Sources) evict(now time.Time) {
	idle := time.Minute
	for a, e := range s.entries {
		if now.Sub(e.seen) > idle {
			delete(s.entries, a)
		}
	}
	if len(s.entries) < s.maxEntries {
		return
	}
	var cut time.Time
	n := 0
	for _, e := range s.entries {
		if n == 0 || e.seen.Before(cut) {
			cut = e.seen
		}
		n++
	}
	// Drop everything not newer than the median-ish: entries seen in the older half of the span.
	cut = cut.Add(now.Sub(cut) / 2)
	for a, e := range s.entries {
		if !e.seen.After(cut) {
			delete(s.entries, a)
		}
	}
}

// Len returns the number of tracked sources.
func (s *Sources) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
