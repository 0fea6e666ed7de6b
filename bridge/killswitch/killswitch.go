// Package killswitch holds each vendor's on/off state: enabled, disabled by a person (API, status
// page, Home Assistant switch, Supervisor option), or quarantined automatically by the anomaly
// detector. A quarantine is lifted only by a person, through the API or status page, never by an
// MQTT command. Each time a vendor is turned off by a quarantine or by a person, an incident
// records its timeline (incident.go): detected, alerted, contained, acknowledged, lifted.
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
	ByAPI        = "api"
	ByStatusPage = "status_page"
	ByMQTT       = "mqtt"
	ByOption     = "option"
	ByAnomaly    = "anomaly"
	ByCLI        = "cli" // the command line, while the bridge is stopped (offboarding)
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
	// ErrNothingToAcknowledge reports an acknowledgement of a vendor that has no open incident, or
	// whose open incident was acknowledged already.
	ErrNothingToAcknowledge = errors.New("no open incident awaits acknowledgement")
)

// Persister keeps states across restarts.
type Persister interface {
	PutState(vendor string, value []byte) error
}

// Switches holds every vendor's state. Reads are lock-free.
type Switches struct {
	mu       sync.Mutex // serializes changes; guards watchers, incWatchers, detected and alerted
	states   atomic.Pointer[map[string]vendorState]
	canOn    map[string]bool // vendor has a verifier (a secret)
	persist  Persister
	watchers []func(vendor string, s State)
	// incWatchers are told of each step of an incident.
	incWatchers []func(vendor string, m Milestone, inc Incident)
	// detected and alerted hold, per vendor with no open incident, the first anomaly detected and
	// the first alert delivered in the last DetectionHorizon: those of an incident opening soon.
	detected, alerted map[string]Moment
	now               func() time.Time
}

// vendorState is a vendor's state with its incidents.
type vendorState struct {
	State
	// incident is the open incident, or the last one closed; nil before the first. It is never
	// changed in place: a change stores a new one.
	incident *Incident
	// history holds the incidents closed before incident, newest first, at most HistoryLen.
	history []Incident
}

// persisted is what is stored of a vendor: its State's fields, and its incidents.
type persisted struct {
	State
	Incident *Incident  `json:"incident,omitempty"`
	History  []Incident `json:"history,omitempty"`
}

// New builds switches for vendors from their option value (enabled) and any stored state: the
// stored state wins unless the option changed since it was stored. A stored quarantine always
// wins: only Lift ends it. Stored incidents are kept; an open one whose vendor the option turns
// on is lifted by the option.
func New(option map[string]bool, canEnable map[string]bool, storedStates map[string][]byte, p Persister) *Switches {
	sw := &Switches{canOn: canEnable, persist: p, now: time.Now, detected: map[string]Moment{}, alerted: map[string]Moment{}}
	m := map[string]vendorState{}
	for v, on := range option {
		now := sw.now()
		st := State{Mode: Disabled, By: ByOption, Since: now, Option: on}
		if on {
			st.Mode = Enabled
		}
		var old persisted
		var vs vendorState
		if raw, ok := storedStates[v]; ok && json.Unmarshal(raw, &old) == nil {
			switch {
			case old.Mode == Quarantined:
				st = old.State
				st.Option = on // the option applies again once the quarantine is lifted
			case old.Option == on:
				st = old.State
			}
			vs.incident, vs.history = old.Incident, old.History
		}
		if st.Mode == Enabled && !canEnable[v] {
			st = State{Mode: Disabled, By: ByOption, Reason: "no secret configured", Since: now, Option: on}
		}
		vs.State = st
		if st.Mode == Enabled && vs.incident != nil && vs.incident.Open() {
			// Kept at once, so that the lift's time does not move with each restart.
			vs.incident, _ = lift(vs.incident, Moment{At: now, By: ByOption})
			if p != nil {
				raw, _ := json.Marshal(persisted{State: vs.State, Incident: vs.incident, History: vs.history})
				_ = p.PutState(v, raw) // a failure leaves the incident to be lifted again next start
			}
		}
		m[v] = vs
	}
	sw.states.Store(&m)
	return sw
}

// Watch registers fn to be called after each change of a vendor's mode or reason.
func (sw *Switches) Watch(fn func(vendor string, s State)) {
	sw.mu.Lock()
	sw.watchers = append(sw.watchers, fn)
	sw.mu.Unlock()
}

// WatchIncidents registers fn to be called after each step of an incident, with the incident as
// it is after that step.
func (sw *Switches) WatchIncidents(fn func(vendor string, m Milestone, inc Incident)) {
	sw.mu.Lock()
	sw.incWatchers = append(sw.incWatchers, fn)
	sw.mu.Unlock()
}

// Get returns a vendor's state.
func (sw *Switches) Get(vendor string) (State, bool) {
	s, ok := (*sw.states.Load())[vendor]
	return s.State, ok
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
	return sw.change(vendor, by, func(s State) (State, error) {
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
	return sw.change(vendor, by, func(s State) (State, error) {
		if s.Mode == Quarantined {
			return s, nil
		}
		s.Mode, s.By, s.Reason = Disabled, by, reason
		return s, nil
	})
}

// Quarantine turns a vendor off until a person lifts it.
func (sw *Switches) Quarantine(vendor, reason string) error {
	return sw.change(vendor, ByAnomaly, func(s State) (State, error) {
		s.Mode, s.By, s.Reason = Quarantined, ByAnomaly, reason
		return s, nil
	})
}

// Lift ends a quarantine (a person's act: API or status page, never an MQTT command) and gives
// the vendor the state its Supervisor option asks for: enabled, or disabled when the option was
// turned off meanwhile.
func (sw *Switches) Lift(vendor, by string) error {
	return sw.change(vendor, by, func(s State) (State, error) {
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

// Retire turns a vendor off for good, for offboarding: disabled with reason, or left quarantined
// (it is off either way). Unlike Disable it opens no incident, since nothing went wrong, and it
// leaves an open one as it is. A later Enable (or the option turned on) takes the vendor on again.
func (sw *Switches) Retire(vendor, by, reason string) error {
	return sw.update(vendor, func(vs *vendorState, now time.Time) (bool, []Milestone, error) {
		if vs.Mode == Quarantined || (vs.Mode == Disabled && vs.Reason == reason) {
			return false, nil, nil
		}
		vs.State.Mode, vs.State.By, vs.State.Reason, vs.State.Since = Disabled, by, reason, now
		return true, nil, nil
	})
}

// change applies f, on behalf of by, to a vendor's state, and keeps its incident in step: a vendor
// turned off opens one, a vendor turned on (or lifted) closes it.
func (sw *Switches) change(vendor, by string, f func(State) (State, error)) error {
	return sw.update(vendor, func(vs *vendorState, now time.Time) (bool, []Milestone, error) {
		s, err := f(vs.State)
		if err != nil {
			return false, nil, err
		}
		if s.Mode == vs.Mode && s.Reason == vs.Reason {
			return false, nil, nil
		}
		old := vs.State
		s.Since = now
		vs.State = s
		return true, sw.stepIncident(vendor, vs, old.Mode, s, Moment{At: now, By: by}), nil
	})
}

// update runs fn on a copy of a vendor's state under the lock; when fn reports a change (of the
// state, or milestones of its incident) the copy is stored, persisted and told to the watchers.
func (sw *Switches) update(vendor string, fn func(vs *vendorState, now time.Time) (stateChanged bool, ms []Milestone, err error)) error {
	sw.mu.Lock()
	cur := *sw.states.Load()
	vs, ok := cur[vendor]
	if !ok {
		sw.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownVendor, vendor)
	}
	stateChanged, ms, err := fn(&vs, sw.now())
	if err != nil || (!stateChanged && len(ms) == 0) {
		sw.mu.Unlock()
		return err
	}
	if sw.persist != nil {
		raw, _ := json.Marshal(persisted{State: vs.State, Incident: vs.incident, History: vs.history})
		if err := sw.persist.PutState(vendor, raw); err != nil {
			sw.mu.Unlock()
			return fmt.Errorf("store state: %w", err)
		}
	}
	next := make(map[string]vendorState, len(cur))
	for k, v := range cur {
		next[k] = v
	}
	next[vendor] = vs
	sw.states.Store(&next)
	var watchers []func(string, State)
	if stateChanged {
		watchers = append(watchers, sw.watchers...)
	}
	incWatchers := append([]func(string, Milestone, Incident){}, sw.incWatchers...)
	sw.mu.Unlock()
	for _, w := range watchers {
		w(vendor, vs.State)
	}
	if vs.incident != nil {
		for _, m := range ms {
			for _, w := range incWatchers {
				w(vendor, m, *vs.incident)
			}
		}
	}
	return nil
}
