package discovery

import (
	"encoding/json"
	"time"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/stats"
)

// Vendor is a configured vendor as its entities name it.
type Vendor struct {
	Name  string // [a-z0-9-]+
	Title string // the policy's title; the name when empty
	// Mode is the vendor's mode: live (also when ""), shadow or learn.
	Mode string
	// HasSecret adds a problem sensor for its secret's rotation; ExpectsEvents (its policy sets
	// expect_every) one for silence.
	HasSecret, ExpectsEvents bool
}

// Modes are the values of a vendor's mode sensor (the vendor option mode).
var Modes = []string{"live", "shadow", "learn"}

// Kinds of a vendor's entities, the suffix of their object ids ("{vendor}_{kind}"). A vendor name
// has no "_", so an object id says which vendor it belongs to.
const (
	KindHealth   = "health"   // binary_sensor, device class problem: on when something is wrong
	KindAccepted = "accepted" // sensor: accepted events since start
	KindRejected = "rejected" // sensor: refused requests since start
	KindSwitch   = "webhooks" // switch: the kill switch, on when webhooks are taken
	KindMode     = "mode"     // sensor (enum): live, shadow or learn
	KindRotation = "rotation" // binary_sensor, device class problem: a secret is due for rotation
	KindSilence  = "silence"  // binary_sensor, device class problem: no event for expect_every
)

// ObjectAlerts is the object id of the device's anomaly alert event entity. It has no "_", so it is never
// taken for a vendor's entity.
const ObjectAlerts = "alerts"

// supportURL is where the origin block points.
const supportURL = "https://github.com/hookbridge/hookbridge"

// Entity is one discovery config: its topic and its payload.
type Entity struct {
	Component string
	Object    string
	Config    map[string]any
}

// Entities returns every entity Hookbridge announces: per vendor a health binary sensor, accepted
// and rejected sensors, the kill switch and its mode, and the device's anomaly alert event.
func Entities(t Topics, version string, vendors []Vendor) []Entity {
	device := map[string]any{
		"identifiers":  []string{t.Node},
		"name":         "Hookbridge",
		"manufacturer": "Hookbridge",
		"model":        "Webhook bridge",
		"sw_version":   version,
	}
	origin := map[string]any{"name": "Hookbridge", "sw_version": version, "support_url": supportURL}
	base := func(uniq, name string) map[string]any {
		return map[string]any{
			"unique_id":             t.Node + "_" + uniq,
			"name":                  name,
			"device":                device,
			"origin":                origin,
			"availability_topic":    t.Availability(),
			"payload_available":     Online,
			"payload_not_available": Offline,
			"qos":                   1,
		}
	}
	var out []Entity
	for _, v := range vendors {
		title := v.Title
		if title == "" {
			title = v.Name
		}
		status := t.Status(v.Name)
		add := func(component, kind, name string, extra map[string]any) {
			c := base(v.Name+"_"+kind, title+" "+name)
			for k, x := range extra {
				c[k] = x
			}
			out = append(out, Entity{Component: component, Object: v.Name + "_" + kind, Config: c})
		}
		add("binary_sensor", KindHealth, "health", map[string]any{
			"device_class":             "problem",
			"state_topic":              status,
			"value_template":           "{{ 'OFF' if value_json.healthy else 'ON' }}",
			"payload_on":               "ON",
			"payload_off":              "OFF",
			"json_attributes_topic":    status,
			"json_attributes_template": "{{ {'mode': value_json.mode, 'reason': value_json.reason, 'problem': value_json.problem} | tojson }}",
		})
		add("sensor", KindAccepted, "accepted", map[string]any{
			"state_topic":         status,
			"value_template":      "{{ value_json.accepted }}",
			"state_class":         "total_increasing",
			"unit_of_measurement": "events",
			"icon":                "mdi:check-circle-outline",
			"entity_category":     "diagnostic",
		})
		add("sensor", KindRejected, "rejected", map[string]any{
			"state_topic":              status,
			"value_template":           "{{ value_json.rejected }}",
			"state_class":              "total_increasing",
			"unit_of_measurement":      "requests",
			"icon":                     "mdi:close-octagon-outline",
			"entity_category":          "diagnostic",
			"json_attributes_topic":    status,
			"json_attributes_template": "{{ value_json.by_reason | tojson }}",
		})
		add("switch", KindSwitch, "webhooks", map[string]any{
			"command_topic":            t.SwitchCommand(v.Name),
			"state_topic":              t.SwitchState(v.Name),
			"payload_on":               On,
			"payload_off":              Off,
			"state_on":                 On,
			"state_off":                Off,
			"retain":                   false,
			"icon":                     "mdi:webhook",
			"json_attributes_topic":    status,
			"json_attributes_template": "{{ {'mode': value_json.mode, 'reason': value_json.reason, 'by': value_json.by, 'since': value_json.since} | tojson }}",
		})
		// The vendor's mode: shadow and learn mode publish nothing, which a person should see.
		add("sensor", KindMode, "mode", map[string]any{
			"state_topic":     status,
			"value_template":  "{{ value_json.vendor_mode }}",
			"device_class":    "enum",
			"options":         Modes,
			"icon":            "mdi:test-tube",
			"entity_category": "diagnostic",
		})
		// A problem sensor: on while the status's flag is true, with attrs as its attributes.
		problem := func(kind, name, flag, icon, attrs string) {
			add("binary_sensor", kind, name, map[string]any{
				"device_class":             "problem",
				"state_topic":              status,
				"value_template":           "{{ 'ON' if value_json." + flag + " | default(false) else 'OFF' }}",
				"payload_on":               "ON",
				"payload_off":              "OFF",
				"icon":                     icon,
				"json_attributes_topic":    status,
				"json_attributes_template": "{{ " + attrs + " | tojson }}",
			})
		}
		if v.HasSecret {
			problem(KindRotation, "secret rotation due", "rotation_due", "mdi:key-alert-outline",
				"{'secret_age_days': value_json.secret_age_days}")
		}
		if v.ExpectsEvents {
			problem(KindSilence, "silent", "silent", "mdi:timer-sand-empty",
				"{'last_accepted': value_json.last_accepted, 'silent_since': value_json.silent_since}")
		}
	}
	// Anomaly alerts are momentary and not retained: an event entity, whose event type is the
	// alert's event_type (alert or quarantine) and whose attributes are the alert's other fields.
	alerts := base(ObjectAlerts, "Anomaly alert")
	alerts["state_topic"] = t.Alerts()
	alerts["event_types"] = AlertEventTypes
	alerts["icon"] = "mdi:alert-outline"
	out = append(out, Entity{Component: "event", Object: ObjectAlerts, Config: alerts})
	return out
}

// AlertEventTypes are the event types of the alert event entity: an anomaly's alert or
// quarantine, a lifecycle alert (a secret due for rotation, silence), and recovered (a silent
// vendor sending again).
var AlertEventTypes = []string{"alert", "quarantine", "recovered"}

// Status is the payload of a vendor's status topic. It holds no identifier from any event: only
// the kill switch's state, counters and lifecycle problems.
type Status struct {
	Vendor string `json:"vendor"`
	// Mode is the kill switch's state; VendorMode the vendor's mode (live, shadow or learn).
	Mode       killswitch.Mode `json:"mode"`
	VendorMode string          `json:"vendor_mode"`
	Reason     string          `json:"reason"`
	By         string          `json:"by"`
	Since      time.Time       `json:"since"`
	// Healthy reports that the vendor is enabled and its last request was not refused.
	Healthy bool `json:"healthy"`
	// Problem says what is wrong when not Healthy.
	Problem   string           `json:"problem"`
	Accepted  int64            `json:"accepted"`
	Duplicate int64            `json:"duplicate"`
	Rejected  int64            `json:"rejected"`
	ByReason  map[string]int64 `json:"by_reason"`
	LastEvent *time.Time       `json:"last_event"`
	LastError *time.Time       `json:"last_error"`
	Problems
}

// NewStatus combines a vendor's kill switch state and counters; VendorMode is live until set.
func NewStatus(vendor string, s killswitch.State, c stats.Vendor) Status {
	st := Status{Vendor: vendor, Mode: s.Mode, VendorMode: Modes[0], Reason: s.Reason, By: s.By, Since: s.Since.UTC(),
		Accepted: c.Accepted, Duplicate: c.Duplicate, Rejected: c.Rejected, ByReason: c.ByReason}
	if st.ByReason == nil {
		st.ByReason = map[string]int64{}
	}
	if !c.LastEvent.IsZero() {
		t := c.LastEvent.UTC()
		st.LastEvent = &t
	}
	if !c.LastError.IsZero() {
		t := c.LastError.UTC()
		st.LastError = &t
	}
	switch {
	case s.Mode == killswitch.Quarantined:
		st.Problem = "quarantined: " + s.Reason
	case s.Mode != killswitch.Enabled:
		st.Problem = "disabled"
		if s.Reason != "" {
			st.Problem += ": " + s.Reason
		}
	case !c.LastError.IsZero() && c.LastError.After(c.LastEvent):
		st.Problem = "the last request was refused"
	}
	st.Healthy = st.Problem == ""
	return st
}

func (s Status) payload() []byte {
	b, _ := json.Marshal(s)
	return b
}
