package killswitch

import (
	"time"
)

// Moment is when a step of an incident happened, and who took it (one of the By sources).
type Moment struct {
	At time.Time `json:"at"`
	By string    `json:"by,omitempty"`
}

// Incident is one spell of a vendor kept off by a quarantine or by a person, from the first sign
// of trouble to the vendor being let back in:
//
//   - Detected: the first anomaly detected about the vendor (an alert raised: Detected) within
//     DetectionHorizon before it was turned off, else the moment it was turned off.
//   - Alerted: when the first alert about it left for Home Assistant (or, with no Home Assistant
//     side, was logged); absent when no alert was raised (a person turned the vendor off unasked).
//   - Contained: when the vendor was turned off: quarantined (by anomaly) or disabled (by a person).
//   - Acknowledged: when a person said they are on it (Acknowledge). A person who disables a vendor
//     acknowledges at once; a lift not acknowledged before acknowledges too.
//   - Lifted: when the vendor was let back in (a quarantine lifted, a disabled vendor enabled); the
//     incident is open until then.
//
// Time to contain is Contained - Detected: how long the vendor kept sending after the first alert
// (0 when the quarantine itself was the first sign). Time to acknowledge is Acknowledged - Alerted,
// or - Detected when there was no alert before the acknowledgement: how long it took a person to
// respond once told.
type Incident struct {
	// Cause is CauseQuarantine or CauseDisable; Reason is the kill switch's reason when the
	// vendor was turned off.
	Cause        string  `json:"cause"`
	Reason       string  `json:"reason,omitempty"`
	Detected     Moment  `json:"detected"`
	Alerted      *Moment `json:"alerted,omitempty"`
	Contained    Moment  `json:"contained"`
	Acknowledged *Moment `json:"acknowledged,omitempty"`
	Lifted       *Moment `json:"lifted,omitempty"`
}

// Causes of an incident.
const (
	CauseQuarantine = "quarantine"
	CauseDisable    = "disable"
)

// Milestone names a step of an incident, as WatchIncidents reports it.
type Milestone string

// Milestones. Opened covers detected and contained, which an incident has from its start; it is
// followed by Alerted when an alert had reached people before.
const (
	Opened       Milestone = "opened"
	Alerted      Milestone = "alerted"
	Acknowledged Milestone = "acknowledged"
	Lifted       Milestone = "lifted"
)

const (
	// DetectionHorizon is how long before a vendor is turned off an alert about it still counts as
	// the incident's detection.
	DetectionHorizon = time.Hour
	// HistoryLen is how many closed incidents are kept per vendor, besides the last one.
	HistoryLen = 20
)

// Open reports whether the incident is open: its vendor not let back in yet.
func (i *Incident) Open() bool { return i.Lifted == nil }

// TimeToContain returns Contained - Detected.
func (i *Incident) TimeToContain() time.Duration { return i.Contained.At.Sub(i.Detected.At) }

// TimeToAcknowledge returns Acknowledged - Alerted (or - Detected, see Incident), and false
// while the incident is not acknowledged.
func (i *Incident) TimeToAcknowledge() (time.Duration, bool) {
	if i.Acknowledged == nil {
		return 0, false
	}
	from := i.Detected.At
	if i.Alerted != nil && !i.Alerted.At.After(i.Acknowledged.At) {
		from = i.Alerted.At
	}
	return i.Acknowledged.At.Sub(from), true
}

// IncidentView is an incident with its durations, in seconds, as the inventory shows it.
type IncidentView struct {
	Incident
	Open                     bool     `json:"open"`
	TimeToContainSeconds     float64  `json:"time_to_contain_seconds"`
	TimeToAcknowledgeSeconds *float64 `json:"time_to_acknowledge_seconds,omitempty"`
	// DurationSeconds runs from Detected to Lifted, or to now while the incident is open.
	DurationSeconds float64 `json:"duration_seconds"`
}

// View returns the incident with its durations as of now.
func (i *Incident) View(now time.Time) IncidentView {
	v := IncidentView{Incident: *i, Open: i.Open(), TimeToContainSeconds: seconds(i.TimeToContain())}
	if d, ok := i.TimeToAcknowledge(); ok {
		s := seconds(d)
		v.TimeToAcknowledgeSeconds = &s
	}
	end := now
	if i.Lifted != nil {
		end = i.Lifted.At
	}
	v.DurationSeconds = seconds(end.Sub(i.Detected.At))
	return v
}

// seconds rounds a duration to milliseconds, in seconds.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// Timeline returns a vendor's incidents with their durations as of now, newest first (the first
// may be open), and false for an unknown vendor.
func (sw *Switches) Timeline(vendor string, now time.Time) ([]IncidentView, bool) {
	vs, ok := (*sw.states.Load())[vendor]
	if !ok {
		return nil, false
	}
	out := []IncidentView{}
	if vs.incident != nil {
		out = append(out, vs.incident.View(now))
	}
	for i := range vs.history {
		out = append(out, vs.history[i].View(now))
	}
	return out, true
}

// Incident returns a vendor's open incident, or its last closed one; false when it has had none.
func (sw *Switches) Incident(vendor string) (Incident, bool) {
	vs := (*sw.states.Load())[vendor]
	if vs.incident == nil {
		return Incident{}, false
	}
	return *vs.incident, true
}

// Acknowledge records that a person (by: ByAPI, ByStatusPage, ...) is on a vendor's open
// incident. It returns ErrNothingToAcknowledge when the vendor has no open incident or it was
// acknowledged already, and ErrUnknownVendor for a vendor the switches do not hold.
func (sw *Switches) Acknowledge(vendor, by string) error {
	return sw.update(vendor, func(vs *vendorState, now time.Time) (bool, []Milestone, error) {
		if vs.incident == nil || !vs.incident.Open() || vs.incident.Acknowledged != nil {
			return false, nil, ErrNothingToAcknowledge
		}
		n := *vs.incident
		n.Acknowledged = &Moment{At: now, By: by}
		vs.incident = &n
		return false, []Milestone{Acknowledged}, nil
	})
}

// Detected records that an anomaly about a vendor was detected at a time (an alert raised, of
// either action). With no incident open, the first such moment within DetectionHorizon becomes the
// detection of the incident that opens next; with one open, it changes nothing.
func (sw *Switches) Detected(vendor string, at time.Time) error {
	return sw.update(vendor, func(vs *vendorState, _ time.Time) (bool, []Milestone, error) {
		if vs.incident == nil || !vs.incident.Open() {
			remember(sw.detected, vendor, at)
		}
		return false, nil, nil
	})
}

// Alerted records that an alert about a vendor reached people at a time: the open incident's
// alerted moment (the first only), or, with no incident open, that of one opening within
// DetectionHorizon.
func (sw *Switches) Alerted(vendor string, at time.Time) error {
	return sw.update(vendor, func(vs *vendorState, _ time.Time) (bool, []Milestone, error) {
		if inc := vs.incident; inc != nil && inc.Open() {
			if inc.Alerted != nil {
				return false, nil, nil
			}
			n := *inc
			n.Alerted = &Moment{At: at, By: ByAnomaly}
			vs.incident = &n
			return false, []Milestone{Alerted}, nil
		}
		remember(sw.alerted, vendor, at)
		return false, nil, nil
	})
}

// remember keeps the first moment of the last DetectionHorizon in m; sw.mu is held.
func remember(m map[string]Moment, vendor string, at time.Time) {
	if p, ok := m[vendor]; !ok || at.Sub(p.At) > DetectionHorizon || at.Before(p.At) {
		m[vendor] = Moment{At: at, By: ByAnomaly}
	}
}

// recent returns a vendor's remembered moment when it lies within DetectionHorizon before at,
// and forgets it; sw.mu is held.
func recent(m map[string]Moment, vendor string, at time.Time) (*Moment, bool) {
	p, ok := m[vendor]
	delete(m, vendor)
	if !ok || p.At.After(at) || at.Sub(p.At) > DetectionHorizon {
		return nil, false
	}
	return &p, true
}

// stepIncident keeps a vendor's incident in step with a change of its state from mode old to
// s, taken at a moment (who acted, when), and returns the milestones it reached; sw.mu is held.
func (sw *Switches) stepIncident(vendor string, vs *vendorState, old Mode, s State, at Moment) []Milestone {
	open := vs.incident != nil && vs.incident.Open()
	switch {
	case s.Mode == Quarantined && open && vs.incident.Cause != CauseQuarantine:
		// A disabled vendor quarantined (a request in flight when it was turned off): the same
		// incident, now a quarantine.
		n := *vs.incident
		n.Cause, n.Reason = CauseQuarantine, s.Reason
		vs.incident = &n
		return nil
	case s.Mode != Enabled && !open && (old == Enabled || s.Mode == Quarantined):
		cause := CauseDisable
		if s.Mode == Quarantined {
			cause = CauseQuarantine
		}
		if vs.incident != nil {
			vs.history = append([]Incident{*vs.incident}, vs.history...)
			if len(vs.history) > HistoryLen {
				vs.history = vs.history[:HistoryLen]
			}
		}
		var ms []Milestone
		vs.incident, ms = sw.openIncident(vendor, cause, s.Reason, at)
		return ms
	case open && (s.Mode == Enabled || (old == Quarantined && s.Mode != Quarantined)):
		var ms []Milestone
		vs.incident, ms = lift(vs.incident, at)
		return ms
	}
	return nil
}

// openIncident returns a new incident of a vendor turned off at a moment, detected by the first
// anomaly of the last DetectionHorizon when there was one, and alerted when an alert about it
// reached people meanwhile; the milestones are Opened, and Alerted then. sw.mu is held.
func (sw *Switches) openIncident(vendor, cause, reason string, at Moment) (*Incident, []Milestone) {
	inc := &Incident{Cause: cause, Reason: reason, Detected: at, Contained: at}
	ms := []Milestone{Opened}
	if d, ok := recent(sw.detected, vendor, at.At); ok {
		inc.Detected = *d
	}
	if a, ok := recent(sw.alerted, vendor, at.At); ok && !a.At.Before(inc.Detected.At) {
		inc.Alerted = a
		ms = append(ms, Alerted)
	}
	if cause == CauseDisable {
		ack := at // whoever turns a vendor off knows of it
		inc.Acknowledged = &ack
	}
	return inc, ms
}

// lift returns a copy of an open incident lifted at a moment, acknowledged then too when it was
// not before, with the milestones reached.
func lift(inc *Incident, at Moment) (*Incident, []Milestone) {
	n := *inc
	var ms []Milestone
	if n.Acknowledged == nil {
		ack := at
		n.Acknowledged = &ack
		ms = append(ms, Acknowledged)
	}
	l := at
	n.Lifted = &l
	return &n, append(ms, Lifted)
}
