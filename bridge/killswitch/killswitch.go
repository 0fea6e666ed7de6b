// Package killswitch holds each vendor's on/off state: enabled, disabled by a person (API, Home
// Assistant switch, Supervisor option), or quarantined automatically by the anomaly detector. A
// quarantine is lifted only by a person, through the API or status page, never by an MQTT command.
package killswitch

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is a vendor's state.
type Mode string

// Modes.
const (
	Enabled     Mode = "enabled"
	Disabled    Mode = "disabled"
	Quarantined Mode = "quarantined"
)

// Sources of a change.
const (
	ByAPI     = "api"
	ByMQTT    = "mqtt"
	ByOption  = "option"
	ByAnomaly = "anomaly"
)

// State is one vendor's state and how it came to be.
type State struct {
	Mode   Mode      `json:"mode"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	Since  time.Time `json:"since"`
	// Option is the Supervisor option's value when the state was last set, so a change of the
	// option (a user toggling it in the UI) is told apart from a restart.
	Option bool `json:"option"`
}

var (
	// ErrUnknownVendor reports a vendor the switches do not hold.
	ErrUnknownVendor = errors.New("unknown vendor")
	// ErrQuarantined reports an attempt to enable a quarantined vendor by other means than lifting
	// the quarantine.
	ErrQuarantined = errors.New("vendor is quarantined; a person must lift the quarantine")
	// ErrNoSecret reports an attempt to enable a vendor that has no secret configured.
	ErrNoSecret = errors.New("vendor has no secret configured")
	// ErrNotQuarantined reports an attempt to lift a quarantine from a vendor that is not
	// quarantined.
	ErrNotQuarantined = errors.New("vendor is not quarantined")
)

// Persister keeps states across restarts.
type Persister interface {
	PutState(vendor string, value []byte) error
}

// Switches holds every vendor's state. Reads are lock-free.
type Switches struct {
	mu       sync.Mutex // serializes changes
	states   atomic.Pointer[map[string]State]
	canOn    map[string]bool // vendor has a verifier (a secret)
	persist  Persister
	watchers []func(vendor string, s State)
	now      func() time.Time
}

// New builds switches for vendors from their option value (enabled) and any stored state: the
// stored state wins unless the option changed since it was stored. A stored quarantine always
// wins: only Lift ends it.
func New(option map[string]bool, canEnable map[string]bool, stored map[string][]byte, p Persister) *Switches {
	sw := &Switches{canOn: canEnable, persist: p, now: time.Now}
	m := map[string]State{}
	for v, on := range option {
		st := State{Mode: Disabled, By: ByOption, Since: sw.now(), Option: on}
		if on {
			st.Mode = Enabled
		}
		var old State
		if raw, ok := stored[v]; ok && json.Unmarshal(raw, &old) == nil {
			switch {
			case old.Mode == Quarantined:
				st = old
				st.Option = on // the option applies again once the quarantine is lifted
			case old.Option == on:
				st = old
			}
		}
		if st.Mode == Enabled && !canEnable[v] {
			st = State{Mode: Disabled, By: ByOption, Reason: "no secret configured", Since: sw.now(), Option: on}
		}
		m[v] = st
	}
	sw.states.Store(&m)
	return sw
}

// Watch registers fn to be called after each change.
func (sw *Switches) Watch(fn func(vendor string, s State)) {
	sw.mu.Lock()
	sw.watchers = append(sw.watchers, fn)
	sw.mu.Unlock()
}

// Get returns a vendor's state.
func (sw *Switches) Get(vendor string) (State, bool) {
	s, ok := (*sw.states.Load())[vendor]
	return s, ok
}

// Open reports whether a vendor's webhooks are taken.
func (sw *Switches) Open(vendor string) bool {
	s, ok := (*sw.states.Load())[vendor]
	return ok && s.Mode == Enabled
}

// Vendors returns the vendor names, sorted.
func (sw *Switches) Vendors() []string {
	m := *sw.states.Load()
	out := make([]string, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Enable turns a disabled vendor on. It refuses a quarantined vendor.
func (sw *Switches) Enable(vendor, by string) error {
	return sw.change(vendor, func(s State) (State, error) {
		if s.Mode == Quarantined {
			return s, ErrQuarantined
		}
		if !sw.canOn[vendor] {
			return s, ErrNoSecret
		}
		s.Mode, s.By, s.Reason = Enabled, by, ""
		return s, nil
	})
}

// Disable turns a vendor off. A quarantined vendor stays quarantined.
func (sw *Switches) Disable(vendor, by, reason string) error {
	return sw.change(vendor, func(s State) (State, error) {
		if s.Mode == Quarantined {
			return s, nil
		}
		s.Mode, s.By, s.Reason = Disabled, by, reason
		return s, nil
	})
}

// Quarantine turns a vendor off until a person lifts it.
func (sw *Switches) Quarantine(vendor, reason string) error {
	return sw.change(vendor, func(s State) (State, error) {
		s.Mode, s.By, s.Reason = Quarantined, ByAnomaly, reason
		return s, nil
	})
}

// Lift ends a quarantine (a person's act: API or status page, never an MQTT command) and gives
// the vendor the state its Supervisor option asks for: enabled, or disabled when the option was
// turned off meanwhile.
func (sw *Switches) Lift(vendor, by string) error {
	return sw.change(vendor, func(s State) (State, error) {
		if by == ByMQTT || by == ByAnomaly {
			return s, ErrQuarantined
		}
		if s.Mode != Quarantined {
			return s, ErrNotQuarantined
		}
		if !s.Option {
			s.Mode, s.By, s.Reason = Disabled, ByOption, "quarantine lifted; the option keeps the vendor off"
			return s, nil
		}
		if !sw.canOn[vendor] {
			return s, ErrNoSecret
		}
		s.Mode, s.By, s.Reason = Enabled, by, ""
		return s, nil
	})
}

func (sw *Switches) change(vendor string, f func(State) (State, error)) error {
	sw.mu.Lock()
	cur := *sw.states.Load()
	old, ok := cur[vendor]
	if !ok {
		sw.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownVendor, vendor)
	}
	s, err := f(old)
	if err != nil {
		sw.mu.Unlock()
		return err
	}
	if s.Mode == old.Mode && s.Reason == old.Reason {
		sw.mu.Unlock()
		return nil
	}
	s.Since = sw.now()
	if sw.persist != nil {
		raw, _ := json.Marshal(s)
		if err := sw.persist.PutState(vendor, raw); err != nil {
			sw.mu.Unlock()
			return fmt.Errorf("store state: %w", err)
		}
	}
	next := make(map[string]State, len(cur))
	for k, v := range cur {
		next[k] = v
	}
	next[vendor] = s
	sw.states.Store(&next)
	watchers := append([]func(string, State){}, sw.watchers...)
	sw.mu.Unlock()
	for _, w := range watchers {
		w(vendor, s)
	}
	return nil
}
