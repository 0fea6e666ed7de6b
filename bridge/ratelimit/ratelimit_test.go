package ratelimit_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/ratelimit"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestPerMinute(t *testing.T) {
	tests := []struct {
		n     int
		burst int
		every time.Duration
	}{
		{600, 60, 100 * time.Millisecond},
		{60, 6, time.Second},
		{1200, 120, 50 * time.Millisecond},
		{5, 1, 12 * time.Second},
		{1, 1, time.Minute},
	}
	for _, tt := range tests {
		l := ratelimit.PerMinute(tt.n)
		if l.Burst() != tt.burst {
			t.Errorf("PerMinute(%d).Burst() = %d, want %d", tt.n, l.Burst(), tt.burst)
		}
		if got := time.Duration(float64(time.Second) / float64(l.Limit())); got != tt.every {
			t.Errorf("PerMinute(%d) = one every %v, want %v", tt.n, got, tt.every)
		}
	}
}

func TestAllow(t *testing.T) {
	l := ratelimit.PerMinute(60) // burst 6, one a second
	for i := range 6 {
		if ok, d := ratelimit.Allow(l, t0); !ok || d != 0 {
			t.Fatalf("Allow #%d = %v, %v, want true, 0", i, ok, d)
		}
	}
	ok, d := ratelimit.Allow(l, t0)
	if ok || d != time.Second {
		t.Fatalf("Allow(empty) = %v, %v, want false, 1s", ok, d)
	}
	// Refusals take nothing: many of them do not push the next token further away.
	for range 100 {
		ratelimit.Allow(l, t0.Add(500*time.Millisecond))
	}
	if ok, d := ratelimit.Allow(l, t0.Add(500*time.Millisecond)); ok || d != 500*time.Millisecond {
		t.Errorf("Allow(half a second later) = %v, %v, want false, 500ms", ok, d)
	}
	if ok, _ := ratelimit.Allow(l, t0.Add(time.Second)); !ok {
		t.Errorf("Allow(a second later) refused, want one token")
	}
	if ok, _ := ratelimit.Allow(l, t0.Add(time.Second)); ok {
		t.Errorf("Allow(a second later, again) allowed, want only one token")
	}
	// A long pause refills to the burst, not beyond.
	later := t0.Add(time.Hour)
	n := 0
	for {
		if ok, _ := ratelimit.Allow(l, later); !ok {
			break
		}
		n++
	}
	if n != 6 {
		t.Errorf("after an hour, %d allowed at once, want the burst of 6", n)
	}
}

func TestAllowZeroRate(t *testing.T) {
	l := ratelimit.PerMinute(0)
	if ok, _ := ratelimit.Allow(l, t0); !ok {
		t.Fatalf("PerMinute(0): first Allow refused, want the burst of 1")
	}
	// No token ever comes back; options refuse a rate of 0, so only "refused, a long wait" matters.
	ok, d := ratelimit.Allow(l, t0.Add(time.Hour))
	if ok || d < time.Minute {
		t.Errorf("PerMinute(0): Allow = %v, %v, want false and at least 1m", ok, d)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 1},
		{-time.Second, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{59500 * time.Millisecond, 60},
		{time.Minute, 60},
	}
	for _, tt := range tests {
		if got := ratelimit.RetryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// drain takes tokens for a until it is refused, and returns how many it got.
func drain(s *ratelimit.Sources, a netip.Addr, now time.Time) int {
	n := 0
	for n < 1000 {
		if ok, _ := s.Allow(a, now); !ok {
			return n
		}
		n++
	}
	return n
}

func TestSourcesGrouping(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same IPv4", "192.0.2.1", "192.0.2.1", true},
		{"neighbouring IPv4", "192.0.2.1", "192.0.2.2", false},
		{"same IPv6 /64", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", true},
		{"IPv6 with a zone", "fe80::1%eth0", "fe80::2", true},
		{"other IPv6 /64", "2001:db8::1", "2001:db8:0:1::1", false},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", "192.0.2.1", true},
		{"IPv4-mapped IPv6 neighbour", "::ffff:192.0.2.1", "192.0.2.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ratelimit.NewSources(60, 100) // burst 6
			a, b := netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b)
			if n := drain(s, a, t0); n != 6 {
				t.Fatalf("drain(%s) = %d, want 6", a, n)
			}
			ok, d := s.Allow(b, t0)
			if ok == tt.same {
				t.Errorf("Allow(%s) after draining %s = %v, want %v", b, a, ok, !tt.same)
			}
			if !ok && d <= 0 {
				t.Errorf("Allow(%s) refused with retry after %v, want a positive wait", b, d)
			}
			wantLen := 2
			if tt.same {
				wantLen = 1
			}
			if s.Len() != wantLen {
				t.Errorf("Len() = %d, want %d", s.Len(), wantLen)
			}
		})
	}
}

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestSourcesBounded(t *testing.T) {
	tests := []struct {
		name string
		step time.Duration // time between new addresses
	}{
		{"all at once", 0},
		{"a flood", time.Millisecond},
		{"slowly", 10 * time.Second},
		{"idle gaps", 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxEntries = 50
			s := ratelimit.NewSources(60, maxEntries)
			now := t0
			for i := range 5000 {
				if ok, _ := s.Allow(addr(i), now); !ok {
					t.Fatalf("Allow(new address %d) refused, want its first token", i)
				}
				if n := s.Len(); n > maxEntries {
					t.Fatalf("after %d addresses Len() = %d, want at most %d", i+1, n, maxEntries)
				}
				now = now.Add(tt.step)
			}
		})
	}
}

func TestSourcesEvictsIdleFirst(t *testing.T) {
	s := ratelimit.NewSources(60, 4)
	busy := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		s.Allow(addr(i), t0)
	}
	// The busy source keeps sending; the others fall idle.
	now := t0
	for range 12 {
		now = now.Add(10 * time.Second)
		s.Allow(busy, now)
	}
	drain(s, busy, now)
	s.Allow(addr(100), now) // table full: the idle three go, the busy one stays
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2 (busy and new)", s.Len())
	}
	if ok, _ := s.Allow(busy, now); ok {
		t.Errorf("Allow(busy) after an eviction = true, want its drained bucket kept")
	}
}

func TestSourcesConcurrent(t *testing.T) {
	s := ratelimit.NewSources(6000, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				s.Allow(addr(g*10000+i%200), t0.Add(time.Duration(i)*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	if n := s.Len(); n > 64 {
		t.Errorf("Len() = %d, want at most 64", n)
	}
}
