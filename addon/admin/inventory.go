package admin

import (
	"sort"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// VendorInfo is the inventory entry of a third-party connection: who it is and who answers for
// it, what it may send and where each field goes, how it authenticates, whether it is on, and
// what it did lately. It never holds a secret, a payload value or a clear identifier: everything in
// it comes from the policy, the options (minus secrets), the kill switch and the counters.
type VendorInfo struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Owner   string `json:"owner"`
	Contact string `json:"contact"`
	Risk    string `json:"risk"`
	// Missing lists the keys among title, owner and contact that still hold the draft's
	// placeholder (policy.Unfilled): shown as missing, never as a value.
	Missing []string `json:"missing,omitempty"`
	// Mode is what the vendor's verified events are for: live, shadow (checked and answered as
	// live, published nowhere) or learn (their structure recorded for a draft).
	Mode string `json:"mode"`
	// RetentionDays is how long replay and audit records of this vendor are kept: its policy's
	// retention_days, else the options' retention_days.
	RetentionDays int `json:"retention_days"`
	// Endpoint is the path on the partner listener.
	Endpoint string `json:"endpoint"`
	Scheme   string `json:"auth_scheme"`
	// Tolerance is the accepted clock skew of a signed timestamp, for schemes that sign one.
	Tolerance string `json:"auth_tolerance,omitempty"`
	// SecretConfigured reports whether the options hold a secret; a vendor without one stays off.
	SecretConfigured bool `json:"secret_configured"`
	// AllowedCIDRs are the source networks allowed to call; empty means any.
	AllowedCIDRs  []string `json:"allowed_cidrs"`
	RatePerMinute float64  `json:"rate_per_minute"`
	Schema        string   `json:"schema"`
	// Flows are the policy's routes: what each publishes where.
	Flows []Flow           `json:"flows"`
	State killswitch.State `json:"state"`
	// Counters are the outcomes since the process started; nil when read without a running server.
	Counters  *stats.Vendor `json:"counters,omitempty"`
	LastEvent time.Time     `json:"last_event,omitzero"`
	LastError time.Time     `json:"last_error,omitzero"`
	// Anomaly holds the effective thresholds of the anomaly detector.
	Anomaly *anomaly.Thresholds `json:"anomaly,omitempty"`
	// Contacts are whom to call about the vendor, as the policy's contacts list them.
	Contacts []policy.Contact `json:"contacts"`
	// Secrets are the vendor's secrets by digest, with their age and last use; Activity its
	// rotation and silence state. Both are empty when read without the state file.
	Secrets  []SecretInfo `json:"secrets"`
	Activity *Activity    `json:"activity,omitempty"`
	// Incidents are the vendor's incidents, newest first, with their durations.
	Incidents []killswitch.IncidentView `json:"incidents"`
	// Offboarded says what offboarding the vendor did; nil when it was not offboarded.
	Offboarded *Offboarding `json:"offboarded,omitempty"`
	// DataFlow is who sees which field of its events.
	DataFlow *DataFlow `json:"data_flow,omitempty"`
}

// Flow is one route of a vendor's policy, as a data flow.
type Flow struct {
	// When is the event type the route takes ("*" for any).
	When string `json:"when"`
	// Topic is the full topic pattern; a {name} level is filled from the field of that name.
	Topic  string `json:"topic"`
	QoS    int    `json:"qos"`
	Retain bool   `json:"retain"`
	// Fields are the only source fields that go out.
	Fields []FlowField `json:"fields"`
	// Dropped are the fields the schema declares that this route does not publish (JSON Pointers;
	// "*" stands for every element of an array). Anything the schema does not declare is dropped
	// too.
	Dropped []string `json:"dropped"`
}

// FlowField is one published field and where it comes from.
type FlowField struct {
	Name string `json:"name"`
	// From is the JSON Pointer into the vendor's payload.
	From string `json:"from"`
	// Pseudonymized reports whether the value goes out only as a keyed pseudonym.
	Pseudonymized bool `json:"pseudonymized"`
}

// InventoryConfig is what the inventory reports beyond the compiled vendors.
type InventoryConfig struct {
	// TopicPrefix makes the flows' topics whole.
	TopicPrefix string
	// RetentionDays is the options' retention, for vendors whose policy sets none.
	RetentionDays int
	// Schemas hold each vendor's schema document, by vendor name, to list what flows drop.
	Schemas map[string][]byte
	// Anomaly holds each vendor's effective anomaly thresholds, by vendor name.
	Anomaly map[string]anomaly.Thresholds
	// Audience is who can read the published topics, for each vendor's data-flow view; nil
	// leaves the view out.
	Audience *Audience
}

// SetInventory sets what the inventory reports beyond the compiled vendors. Call it before
// serving.
func (a *Admin) SetInventory(c InventoryConfig) {
	a.inv = c
	a.flows = map[string][]Flow{}
	a.dataflows = map[string]*DataFlow{}
	for name, v := range a.cfg.Vendors {
		a.flows[name] = Flows(c.TopicPrefix, v, c.Schemas[name])
		if c.Audience != nil && v.Policy != nil {
			a.dataflows[name] = c.Audience.Flow(c.TopicPrefix, v, c.Schemas[name])
		}
	}
}

// Inventory returns every vendor's entry, sorted by name.
func (a *Admin) Inventory() []VendorInfo {
	names := make([]string, 0, len(a.cfg.Vendors))
	for name := range a.cfg.Vendors {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]VendorInfo, 0, len(names))
	for _, name := range names {
		if vi, ok := a.VendorInfo(name); ok {
			out = append(out, vi)
		}
	}
	return out
}

// VendorInfo returns one vendor's entry; false when no such vendor is configured.
func (a *Admin) VendorInfo(name string) (VendorInfo, bool) {
	v, ok := a.cfg.Vendors[name]
	if !ok || v.Policy == nil {
		return VendorInfo{}, false
	}
	p := v.Policy
	vi := VendorInfo{
		Name: name, Title: p.Title, Owner: p.Owner, Contact: p.Contact, Risk: p.Risk, Mode: string(v.Mode),
		RetentionDays: p.RetentionDays, Endpoint: "/hooks/" + name, Scheme: p.Auth.Scheme,
		SecretConfigured: v.Verifier != nil, AllowedCIDRs: []string{}, Schema: p.Schema,
	}
	if vi.Mode == "" {
		vi.Mode = string(vendor.ModeLive)
	}
	for _, key := range p.Unfilled() {
		vi.Missing = append(vi.Missing, key)
		switch key {
		case "title":
			vi.Title = ""
		case "owner":
			vi.Owner = ""
		case "contact":
			vi.Contact = ""
		}
	}
	if vi.RetentionDays == 0 {
		vi.RetentionDays = a.inv.RetentionDays
	}
	if p.Auth.Tolerance != 0 {
		vi.Tolerance = time.Duration(p.Auth.Tolerance).String()
	}
	for _, c := range v.CIDRs {
		vi.AllowedCIDRs = append(vi.AllowedCIDRs, c.String())
	}
	if v.Limiter != nil {
		vi.RatePerMinute = float64(v.Limiter.Limit()) * 60
	}
	if f, ok := a.flows[name]; ok {
		vi.Flows = f
	} else {
		vi.Flows = Flows(a.inv.TopicPrefix, v, nil)
	}
	if a.cfg.Switches != nil {
		vi.State, _ = a.cfg.Switches.Get(name)
	}
	if a.cfg.Stats != nil {
		if c, ok := a.cfg.Stats.Get(name); ok {
			vi.Counters, vi.LastEvent, vi.LastError = &c, c.LastEvent, c.LastError
		}
	}
	if th, ok := a.inv.Anomaly[name]; ok {
		vi.Anomaly = &th
	}
	vi.Contacts = p.Contacts
	if vi.Contacts == nil {
		vi.Contacts = []policy.Contact{}
	}
	vi.Secrets, vi.Incidents = []SecretInfo{}, []killswitch.IncidentView{}
	if lc := a.cfg.Lifecycle; lc != nil {
		if s := lc.Secrets(name); s != nil {
			vi.Secrets = s
		}
		vi.Activity = lc.Activity(name)
		vi.Offboarded = lc.Offboarded(name)
	}
	if a.cfg.Switches != nil {
		if tl, ok := a.cfg.Switches.Timeline(name, a.now()); ok {
			vi.Incidents = tl
		}
	}
	vi.DataFlow = a.dataflows[name]
	return vi, true
}

// Flows describes a vendor's routes as data flows. schemaDoc, when given, is the vendor's JSON
// Schema, from which each flow's dropped fields are listed.
func Flows(prefix string, v *vendor.Vendor, schemaDoc []byte) []Flow {
	declared := schemaFields(schemaDoc)
	out := []Flow{}
	for _, r := range v.Policy.Routes {
		topic := v.Name + "/" + r.Topic
		if prefix != "" {
			topic = prefix + "/" + topic
		}
		f := Flow{When: r.When, Topic: topic, QoS: r.QoS, Retain: r.Retain, Fields: []FlowField{}, Dropped: []string{}}
		var taken []string
		for _, fd := range r.Fields {
			f.Fields = append(f.Fields, FlowField{Name: fd.Name, From: fd.From, Pseudonymized: fd.Pseudonymize})
			taken = append(taken, fd.From)
		}
		for _, d := range declared {
			if !coveredBy(d, taken) {
				f.Dropped = append(f.Dropped, d)
			}
		}
		out = append(out, f)
	}
	return out
}

// coveredBy reports whether a declared field goes out with one of the taken pointers: the same
// field, a field inside it, or an object holding it.
func coveredBy(declared string, taken []string) bool {
	d := pointerTokens(declared)
	for _, t := range taken {
		tt := pointerTokens(t)
		n := min(len(d), len(tt))
		match := true
		for i := range n {
			if d[i] != tt[i] && !(d[i] == "*" && isIndex(tt[i])) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func pointerTokens(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
