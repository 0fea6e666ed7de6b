package receiver

import (
	"sync"

	"golang.org/x/time/rate"
)

// Log budget for refusals of requests that did not verify, per vendor ("" for unknown vendors):
// a flood of junk must not cost a log line per request, nor push real lines out of the log.
// Verified requests and server-side failures are always logged.
const (
	logsPerSecond = 5
	logBurst      = 50
)

// logSampler decides which refusals get a log line.
type logSampler struct {
	mu      sync.Mutex // guards budgets
	budgets map[string]*logBudget
}

type logBudget struct {
	lim        *rate.Limiter
	suppressed uint64 // lines left out since the last one written
}

// allow reports whether out gets a log line and, when it does, how many lines of its vendor were
// left out before it. Vendor names come from configuration, so the map stays small.
func (s *logSampler) allow(out *Outcome) (suppressed uint64, ok bool) {
	if out.Verified || out.Status < 400 || out.Status >= 500 {
		return 0, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[out.Vendor]
	if b == nil {
		b = &logBudget{lim: rate.NewLimiter(logsPerSecond, logBurst)}
		s.budgets[out.Vendor] = b
	}
	if !b.lim.AllowN(out.Received, 1) {
		b.suppressed++
		return 0, false
	}
	suppressed, b.suppressed = b.suppressed, 0
	return suppressed, true
}
