// Package stats counts each vendor's webhook outcomes by reason and remembers when the last event
// and the last error happened, for the inventory, the status page and Home Assistant's sensors.
package stats

import (
	"sync"
	"time"

	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// Vendor is one vendor's counters.
type Vendor struct {
	Accepted  int64            `json:"accepted"`  // events accepted (202, or the policy's answer)
	Duplicate int64            `json:"duplicate"` // events already accepted
	Rejected  int64            `json:"rejected"`  // refusals (4xx, 5xx); handshakes count under ByReason only
	ByReason  map[string]int64 `json:"by_reason"` // outcome reason -> count, accepted included
	Unrouted  int64            `json:"unrouted"`  // accepted events no route took
	Skipped   int64            `json:"routes_skipped"`
	Published int64            `json:"messages_published"`
	LastEvent time.Time        `json:"last_event,omitzero"` // last accepted or duplicate
	LastError time.Time        `json:"last_error,omitzero"` // last rejection
}

// Stats holds every vendor's counters. It is a outcome.Observer.
type Stats struct {
	mu      sync.Mutex // guards vendors
	vendors map[string]*Vendor
	watch   []func(vendor string, v Vendor)
}

var _ outcome.Observer = (*Stats)(nil)

// New returns counters for the named vendors; outcomes of other vendors are not counted.
func New(vendors []string) *Stats {
	s := &Stats{vendors: map[string]*Vendor{}}
	for _, v := range vendors {
		s.vendors[v] = &Vendor{ByReason: map[string]int64{}}
	}
	return s
}

// Watch registers fn to be called (outside the lock) after each counted outcome.
func (s *Stats) Watch(fn func(vendor string, v Vendor)) {
	s.mu.Lock()
	s.watch = append(s.watch, fn)
	s.mu.Unlock()
}

// Observe counts one outcome.
func (s *Stats) Observe(o *outcome.Outcome) {
	s.mu.Lock()
	v, ok := s.vendors[o.Vendor]
	if !ok {
		s.mu.Unlock()
		return
	}
	v.ByReason[o.Reason.Word()]++
	switch {
	case o.Reason == outcome.Accepted:
		v.Accepted++
		v.LastEvent = o.Received
		v.Published += int64(len(o.Topics))
		if o.Unrouted {
			v.Unrouted++
		}
	case o.Reason == outcome.Duplicate:
		v.Duplicate++
		v.LastEvent = o.Received
	case o.Reason.Answered(): // a handshake or an ignored empty body: neither an event nor an error
	default:
		v.Rejected++
		v.LastError = o.Received
	}
	v.Skipped += int64(o.Skipped)
	watch := s.watch
	if len(watch) == 0 {
		s.mu.Unlock()
		return
	}
	snap := v.copy() // ByReason too: only for watchers, not on every webhook
	s.mu.Unlock()
	for _, fn := range watch {
		fn(o.Vendor, snap)
	}
}

func (v *Vendor) copy() Vendor {
	c := *v
	c.ByReason = make(map[string]int64, len(v.ByReason))
	for k, n := range v.ByReason {
		c.ByReason[k] = n
	}
	return c
}

// Get returns a copy of a vendor's counters.
func (s *Stats) Get(vendor string) (Vendor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vendors[vendor]
	if !ok {
		return Vendor{}, false
	}
	return v.copy(), true
}
