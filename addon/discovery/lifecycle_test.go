package discovery

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// fakeLifecycle holds each vendor's problems and tells its watchers of a change.
type fakeLifecycle struct {
	mu       sync.Mutex
	problems map[string]Problems
	watch    []func(string)
}

func (l *fakeLifecycle) Problems(vendor string) Problems {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.problems[vendor]
}

func (l *fakeLifecycle) WatchProblems(fn func(string)) {
	l.mu.Lock()
	l.watch = append(l.watch, fn)
	l.mu.Unlock()
}

func (l *fakeLifecycle) set(vendor string, p Problems) {
	l.mu.Lock()
	l.problems[vendor] = p
	watch := append([]func(string){}, l.watch...)
	l.mu.Unlock()
	for _, fn := range watch {
		fn(vendor)
	}
}

// TestProblemEntities announces a rotation problem sensor for a vendor with a secret and a
// silence one for a vendor whose policy expects events, and publishes their state in the status.
func TestProblemEntities(t *testing.T) {
	lc := &fakeLifecycle{problems: map[string]Problems{}}
	f := newFixture(t, nil, func(c *Config) {
		c.Vendors = []Vendor{{Name: "acme-locks", Title: "Acme Locks cloud", HasSecret: true, ExpectsEvents: true}, {Name: "gridwise-energy"}}
		c.Lifecycle = lc
	})
	for _, object := range []string{"acme-locks_rotation", "acme-locks_silence"} {
		m := f.config(t, "binary_sensor", object)
		if m["device_class"] != "problem" || m["state_topic"] != "hookbridge/_status/acme-locks" {
			t.Errorf("%s config = %v, want a problem sensor on the vendor's status", object, m)
		}
	}
	if got := f.config(t, "binary_sensor", "acme-locks_silence")["name"]; got != "Acme Locks cloud silent" {
		t.Errorf("silence sensor name = %v", got)
	}
	for _, object := range []string{"gridwise-energy_rotation", "gridwise-energy_silence"} {
		if _, ok := f.conn.get(f.tp.Config("binary_sensor", object)); ok {
			t.Errorf("%s announced for a vendor without a secret or expect_every", object)
		}
	}
	if ev := f.config(t, "event", "alerts")["event_types"]; len(ev.([]any)) != 3 {
		t.Errorf("alert event types = %v, want alert, quarantine, recovered", ev)
	}
	since := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	age := 400
	lc.set("acme-locks", Problems{RotationDue: true, SecretAgeDays: &age, Silent: true, SilentSince: &since})
	status := func() Status {
		raw, _ := f.conn.get(f.tp.Status("acme-locks"))
		var st Status
		json.Unmarshal([]byte(raw), &st)
		return st
	}
	waitFor(t, "the problems in the status", func() bool { st := status(); return st.RotationDue && st.Silent })
	if st := status(); *st.SecretAgeDays != 400 || !st.SilentSince.Equal(since) {
		t.Errorf("status = %+v, want age 400 days, silent since %v", st, since)
	}
	lc.set("acme-locks", Problems{})
	waitFor(t, "the problems cleared", func() bool { st := status(); return !st.RotationDue && !st.Silent })
}

// TestRemoveVendor: an offboarded vendor's entities are removed from Home Assistant (empty
// retained configs), its status and switch state topics cleared, its switch commands ignored, and
// the other vendor's entities stay.
func TestRemoveVendor(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Vendors = []Vendor{{Name: "acme-locks", HasSecret: true}, {Name: "gridwise-energy", HasSecret: true}}
	})
	waitFor(t, "status", func() bool { _, ok := f.conn.get(f.tp.Status("acme-locks")); return ok })
	if n := f.d.RemoveVendor("acme-locks"); n != 6 {
		t.Errorf("RemoveVendor(acme-locks) = %d, want 6 entities", n)
	}
	for _, e := range []struct{ component, object string }{{"binary_sensor", "acme-locks_health"}, {"sensor", "acme-locks_accepted"},
		{"sensor", "acme-locks_rejected"}, {"switch", "acme-locks_webhooks"}, {"sensor", "acme-locks_mode"}, {"binary_sensor", "acme-locks_rotation"}} {
		waitFor(t, e.object+" removed", func() bool { _, ok := f.conn.get(f.tp.Config(e.component, e.object)); return !ok })
	}
	waitFor(t, "status cleared", func() bool { _, ok := f.conn.get(f.tp.Status("acme-locks")); return !ok })
	waitFor(t, "switch state cleared", func() bool { _, ok := f.conn.get(f.tp.SwitchState("acme-locks")); return !ok })
	f.conn.Publish(f.tp.SwitchCommand("acme-locks"), []byte(Off), false)
	f.d.Announce()
	f.sw.Disable("acme-locks", "api", "offboarded")
	time.Sleep(100 * time.Millisecond)
	for _, topic := range []string{f.tp.Status("acme-locks"), f.tp.SwitchState("acme-locks"), f.tp.Config("binary_sensor", "acme-locks_health")} {
		if p, ok := f.conn.get(topic); ok {
			t.Errorf("%s is back: %s", topic, p)
		}
	}
	if _, ok := f.conn.get(f.tp.Config("binary_sensor", "gridwise-energy_health")); !ok {
		t.Errorf("the other vendor's entity was removed")
	}
	if n := f.d.RemoveVendor("acme-locks"); n != 0 {
		t.Errorf("RemoveVendor again = %d, want 0", n)
	}
}
