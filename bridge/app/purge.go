package app

import (
	"context"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// MinReplayRetention is how long, at least, the replay records of a vendor whose scheme signs no
// timestamp are kept, whatever retention_days says. A captured request of such a sender verifies
// forever (nothing in it expires), so once its record is purged, the same request is new again:
// the record must outlive any redelivery and make a replay worth little.
const MinReplayRetention = 30 * 24 * time.Hour

// purger purges replay and audit records past retention, at start and then hourly.
type purger struct {
	store     *store.Store
	trail     *audit.Log // nil: no audit purge
	retention func(vendor string) time.Duration
	// replay is the replay records' retention: retention, but at least MinReplayRetention for a
	// vendor whose scheme signs no timestamp.
	replay func(vendor string) time.Duration
	names  []string
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has returned
}

func startPurger(st *store.Store, trail *audit.Log, retention, replay func(string) time.Duration, names []string, log zerolog.Logger) *purger {
	ctx, cancel := context.WithCancel(context.Background())
	p := &purger{store: st, trail: trail, retention: retention, replay: replay, names: names, log: log, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			p.purge(time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stop ends the loop and waits for it, so nothing is purged from a store being closed.
func (p *purger) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// purge deletes what is past retention as of now.
func (p *purger) purge(now time.Time) {
	if p.trail != nil {
		n, err := p.trail.Purge(now, p.retention)
		switch {
		case err != nil:
			p.log.Error().Err(err).Str("component", "audit").Msg("purge audit records")
		case n > 0:
			p.log.Info().Str("component", "audit").Int("purged", n).Msg("purged audit records past retention")
		}
	}
	latest := now.Add(-p.replay(""))
	for _, name := range p.names {
		if c := now.Add(-p.replay(name)); c.After(latest) {
			latest = c
		}
	}
	byAge, byCap, err := p.store.PurgeSeen(func(v string) time.Time { return now.Add(-p.replay(v)) }, latest)
	if err != nil {
		p.log.Error().Err(err).Msg("purge replay records")
		return
	}
	if byAge+byCap > 0 {
		p.log.Info().Int("expired", byAge).Int("evicted", byCap).Msg("purged replay records")
	}
}

// ReplayRetention returns how long a vendor's replay records are kept: its retention, but at least
// MinReplayRetention when its scheme signs no timestamp.
func ReplayRetention(v *vendor.Vendor, retention time.Duration) time.Duration {
	if v != nil && !v.Policy.Auth.SignsTimestamp() && retention < MinReplayRetention {
		return MinReplayRetention
	}
	return retention
}

// vendorNames returns the vendors' names, sorted.
func vendorNames(vendors vendor.Vendors) []string {
	names := make([]string, 0, len(vendors))
	for name := range vendors {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
