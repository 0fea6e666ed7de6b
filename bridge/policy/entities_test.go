package policy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/policy"
)

// entityPolicy is a policy with one route for lock.state_changed on locks/{device}/state and one for
// "*" on activity, whose entities are the YAML given (indented under the first route) and second
// (under the second).
func entityPolicy(first, second string) string {
	indent := func(s string) string {
		if s == "" {
			return ""
		}
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		for i, l := range lines {
			lines[i] = "      " + l
		}
		return "    entities:\n" + strings.Join(lines, "\n") + "\n"
	}
	return `vendor: acme-locks
title: Acme Locks cloud
owner: Home security
contact: support@acme.example
risk: high
auth:
  scheme: standard-webhooks
event:
  type: /type
schema: acme-locks/v1.json
routes:
  - when: lock.state_changed
    topic: locks/{device}/state
    retain: true
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      state: /data/state
      open: /data/open
      battery: /data/battery_pct
      lat: /data/location/lat
      lon: /data/location/lon
      acc: /data/location/acc
` + indent(first) + `  - when: "*"
    topic: activity
    fields:
      kind: /type
` + indent(second)
}

// TestParseEntities: a route's entities of every component are read with their keys and lines.
func TestParseEntities(t *testing.T) {
	src := entityPolicy(`- {field: battery, component: sensor, device_class: battery, unit: "%", state_class: measurement}
- {field: state, component: sensor, name: Lock state, device_class: enum, options: [locked, unlocked, jammed], icon: "mdi:lock"}
- {field: state, component: binary_sensor, device_class: lock, on: [unlocked], off: [locked]}
- {field: open, component: binary_sensor, device_class: door}
- {field: state, component: event, event_types: [changed]}
- {component: device_tracker, latitude: lat, longitude: lon, gps_accuracy: acc}
`, `- {field: kind, component: event, device_class: button, event_types: [lock.state_changed, lock.jammed]}
`)
	p, problems := policy.Parse("acme-locks.yaml", []byte(src))
	if len(problems) > 0 {
		t.Fatalf("Parse problems = %v, want none\n%s", problems, src)
	}
	got := p.Routes[0].Entities
	if len(got) != 6 || len(p.Routes[1].Entities) != 1 {
		t.Fatalf("Parse entities = %d and %d, want 6 and 1", len(got), len(p.Routes[1].Entities))
	}
	tests := []struct {
		got, want any
	}{
		{got[0].Component, policy.ComponentSensor},
		{got[0].Unit, "%"},
		{got[0].StateClass, "measurement"},
		{got[1].Options, []string{"locked", "unlocked", "jammed"}},
		{got[1].Name, "Lock state"},
		{got[1].Icon, "mdi:lock"},
		{got[2].On, []string{"unlocked"}},
		{got[2].Off, []string{"locked"}},
		{got[3].On, []string(nil)},
		{got[4].EventTypes, []string{"changed"}},
		{got[5].Subject(), "lat"},
		{got[5].GPSAccuracy, "acc"},
		{got[0].Line, 24},
		{got[5].Line, 29},
		{p.Routes[1].Entities[0].EventTypes, []string{"lock.state_changed", "lock.jammed"}},
	}
	for i, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("case %d: got %#v, want %#v", i, tt.got, tt.want)
		}
	}
}

// TestParseEntityProblems: each wrong entity is refused with its line and what is wrong, and a
// policy with many wrong entities reports every one.
func TestParseEntityProblems(t *testing.T) {
	tests := []struct {
		name   string
		first  string // entities of the lock.state_changed route (line 24 is the first)
		second string // entities of the "*" route
		line   int
		want   string
	}{
		{name: "unknown key", first: "- {field: battery, component: sensor, unit_of_measurement: \"%\"}", line: 24, want: `unknown key "unit_of_measurement"`},
		{name: "object_id is not ours to send", first: "- {field: battery, component: sensor, object_id: x}", line: 24, want: `unknown key "object_id"`},
		{name: "field not in route", first: "- {field: battery_pct, component: sensor}", line: 24, want: `field "battery_pct" is not one of the route's fields`},
		{name: "field missing", first: "- {component: sensor}", line: 24, want: "field is required for a sensor"},
		{name: "component missing", first: "- {field: battery}", line: 24, want: "component is required"},
		{name: "component unknown", first: "- {field: battery, component: switch}", line: 24, want: `component "switch" is not one of sensor, binary_sensor, event, device_tracker`},
		{name: "sensor class unknown", first: "- {field: battery, component: sensor, device_class: batery, unit: \"%\"}", line: 24, want: `device_class "batery" is not a Home Assistant sensor class`},
		{name: "unit wrong for class", first: "- {field: battery, component: sensor, device_class: temperature, unit: C}", line: 24, want: `unit "C" does not go with device_class temperature (Home Assistant takes °C, °F, K)`},
		{name: "unit missing for class", first: "- {field: battery, component: sensor, device_class: battery}", line: 24, want: `unit "" does not go with device_class battery`},
		{name: "unit on a text class", first: "- {field: state, component: sensor, device_class: timestamp, unit: s}", line: 24, want: "a timestamp sensor takes no unit"},
		{name: "legacy micro sign", first: "- {field: battery, component: sensor, device_class: pm25, unit: \"\u00b5g/m³\"}", line: 24, want: "does not go with device_class pm25"},
		{name: "monetary needs currency", first: "- {field: battery, component: sensor, device_class: monetary, unit: euro}", line: 24, want: "ISO 4217"},
		{name: "state class unknown", first: "- {field: battery, component: sensor, state_class: measured}", line: 24, want: `state_class "measured" is not one of measurement`},
		{name: "state class wrong for class", first: "- {field: battery, component: sensor, device_class: energy, unit: kWh, state_class: measurement}", line: 24, want: "state_class measurement does not go with device_class energy (Home Assistant takes total, total_increasing)"},
		{name: "state class on enum", first: "- {field: state, component: sensor, device_class: enum, options: [a], state_class: measurement}", line: 24, want: "a enum sensor takes no state_class"},
		{name: "measurement_angle needs degrees", first: "- {field: battery, component: sensor, state_class: measurement_angle, unit: rad}", line: 24, want: "state_class measurement_angle needs unit °"},
		{name: "state class on binary sensor", first: "- {field: open, component: binary_sensor, state_class: measurement}", line: 24, want: "state_class applies only to sensor, not to a binary_sensor"},
		{name: "unit on event", first: "- {field: state, component: event, unit: x}", line: 24, want: "unit applies only to sensor, not to a event"},
		{name: "enum without options", first: "- {field: state, component: sensor, device_class: enum}", line: 24, want: "an enum sensor needs options"},
		{name: "options without enum", first: "- {field: state, component: sensor, options: [a]}", line: 24, want: "options need device_class enum"},
		{name: "binary class unknown", first: "- {field: open, component: binary_sensor, device_class: co}", line: 24, want: `device_class "co" is not a Home Assistant binary_sensor class`},
		{name: "on with a boolean", first: "- {field: open, component: binary_sensor, on: [true]}", line: 24, want: "on: true is a boolean"},
		{name: "on value with a quote", first: "- {field: state, component: binary_sensor, on: [\"it's\"]}", line: 24, want: `on value "it's" must be 1 to 64 letters`},
		{name: "on value with braces", first: "- {field: state, component: binary_sensor, on: [\"{{ x }}\"]}", line: 24, want: "must be 1 to 64 letters"},
		{name: "off without on", first: "- {field: state, component: binary_sensor, off: [locked]}", line: 24, want: "off needs on"},
		{name: "on and off overlap", first: "- {field: state, component: binary_sensor, on: [a, b], off: [b]}", line: 24, want: `"b" is in both on and off`},
		{name: "on is not a list", first: "- {field: state, component: binary_sensor, on: open}", line: 24, want: "on must be a list"},
		{name: "event class unknown", first: "- {field: state, component: event, device_class: ring}", line: 24, want: `device_class "ring" is not a Home Assistant event class (button, doorbell, motion)`},
		{name: "doorbell needs ring", first: "- {field: state, component: event, device_class: doorbell}", line: 24, want: "a doorbell event entity must have the event type ring"},
		{name: "one event type route", first: "- {field: state, component: event, event_types: [a, b]}", line: 24, want: "a route for one event type (lock.state_changed) gives one event type"},
		{name: "star route needs event types", second: "- {field: kind, component: event}", line: 28, want: "list its values in event_types"},
		{name: "tracker takes no field", first: "- {component: device_tracker, field: lat, latitude: lat, longitude: lon}", line: 24, want: "a device_tracker takes latitude and longitude instead of field"},
		{name: "tracker needs longitude", first: "- {component: device_tracker, latitude: lat}", line: 24, want: "longitude is required for a device_tracker"},
		{name: "tracker field unknown", first: "- {component: device_tracker, latitude: lat, longitude: lng}", line: 24, want: `longitude "lng" is not one of the route's fields`},
		{name: "tracker same field twice", first: "- {component: device_tracker, latitude: lat, longitude: lat}", line: 24, want: "latitude and longitude must be different fields"},
		{name: "tracker device class", first: "- {component: device_tracker, latitude: lat, longitude: lon, device_class: gps}", line: 24, want: "device_class applies only to"},
		{name: "icon form", first: "- {field: battery, component: sensor, icon: lock}", line: 24, want: "icon must look like mdi:lock"},
		{name: "empty name", first: "- {field: battery, component: sensor, name: \"  \"}", line: 24, want: "name must not be empty"},
		{name: "long name", first: "- {field: battery, component: sensor, name: " + strings.Repeat("n", 65) + "}", line: 24, want: "name must be at most 64 characters"},
		{name: "declared twice", first: "- {field: battery, component: sensor}\n- {field: battery, component: sensor, name: Battery}", line: 25, want: "a sensor for \"battery\" is declared twice in this route (also entities[0]); give each a different name"},
		{name: "declared twice, same name", first: "- {field: state, component: binary_sensor, name: A, on: [x]}\n- {field: state, component: binary_sensor, name: A, on: [y]}", line: 25, want: "declared twice"},
		{name: "key twice", first: "- field: battery\n  component: sensor\n  field: state", line: 26, want: `key "field" given twice`},
		{name: "not a mapping", first: "- battery", line: 24, want: "an entity must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := entityPolicy(tt.first, tt.second)
			_, problems := policy.Parse("acme-locks.yaml", []byte(src))
			for _, p := range problems {
				if strings.Contains(p.Message, tt.want) {
					if p.Line != tt.line || p.File != "acme-locks.yaml" || p.Warning {
						t.Errorf("problem %q at %s:%d (warning %v), want acme-locks.yaml:%d", p.Message, p.File, p.Line, p.Warning, tt.line)
					}
					return
				}
			}
			t.Errorf("Parse problems = %v, want one saying %q\n%s", problems, tt.want, src)
		})
	}
}

// TestParseEntitiesAllReported: check reports every wrong entity of a policy, not the first.
func TestParseEntitiesAllReported(t *testing.T) {
	var first strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&first, "- {field: nope%d, component: sensor}\n", i)
	}
	_, problems := policy.Parse("acme-locks.yaml", []byte(entityPolicy(first.String(), "- {field: kind, component: gauge}")))
	if len(problems) != 6 {
		t.Fatalf("Parse problems = %d %v, want 6 (one per wrong entity)", len(problems), problems)
	}
	for i, p := range problems[:5] {
		if p.Line != 24+i {
			t.Errorf("problem %d at line %d, want %d: %s", i, p.Line, 24+i, p.Message)
		}
	}
}

// TestParseEntitiesSameTopic: two routes on one topic (different event types) may not both declare
// the same entity, which would be announced twice with one unique id.
func TestParseEntitiesSameTopic(t *testing.T) {
	src := strings.Replace(entityPolicy("- {field: battery, component: sensor}", ""), "  - when: \"*\"\n    topic: activity\n    fields:\n      kind: /type\n",
		"  - when: lock.battery_low\n    topic: locks/{device}/state\n    fields:\n      device: {from: /data/device_id, pseudonymize: true}\n      battery: /data/battery_pct\n    entities:\n      - {field: battery, component: sensor}\n", 1)
	_, problems := policy.Parse("acme-locks.yaml", []byte(src))
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "routes[0] on the same topic already declares this sensor for \"battery\"") {
		t.Fatalf("Parse problems = %v, want one about the entity declared by both routes\n%s", problems, src)
	}
}

// TestParseNoEntities: a route without entities has none.
func TestParseNoEntities(t *testing.T) {
	p, problems := policy.Parse("acme-locks.yaml", []byte(entityPolicy("", "")))
	if len(problems) > 0 || len(p.Routes[0].Entities) != 0 {
		t.Fatalf("Parse = %v, %v; want no entities and no problems", p.Routes[0].Entities, problems)
	}
}

// TestParseEntitiesNotAList: entities must be a list of mappings.
func TestParseEntitiesNotAList(t *testing.T) {
	src := entityPolicy("", "") + "    entities: {field: kind, component: sensor}\n"
	_, problems := policy.Parse("acme-locks.yaml", []byte(src))
	if len(problems) != 1 || problems[0].Line != 27 || !strings.Contains(problems[0].Message, "entities must be a list") {
		t.Fatalf("Parse problems = %v, want one at line 27 saying entities must be a list", problems)
	}
}

// TestEntityKey: entities are told apart by component and subject, and by name only when two of
// them share both (so renaming a lone entity keeps its unique id).
func TestEntityKey(t *testing.T) {
	p, problems := policy.Parse("acme-locks.yaml", []byte(entityPolicy(`- {field: state, component: binary_sensor, name: Lock, on: [unlocked]}
- {field: state, component: binary_sensor, name: Jammed, on: [jammed]}
- {field: state, component: sensor, name: State}
- {component: device_tracker, latitude: lat, longitude: lon}
`, "")))
	if len(problems) > 0 {
		t.Fatalf("Parse problems = %v", problems)
	}
	r := &p.Routes[0]
	want := []string{"binary_sensor\x00state\x00Lock", "binary_sensor\x00state\x00Jammed", "sensor\x00state", "device_tracker\x00lat"}
	for j, w := range want {
		if got := r.EntityKey(j); got != w {
			t.Errorf("EntityKey(%d) = %q, want %q", j, got, w)
		}
	}
}

// TestParseEntityIndexes: an entity with an unknown key keeps its place, so the problems of the
// ones after it name the right index, and its own other problems are reported too.
func TestParseEntityIndexes(t *testing.T) {
	_, problems := policy.Parse("acme-locks.yaml", []byte(entityPolicy(`- {field: state, component: sensor, stat_cla: x, unit: V, device_class: battery}
- battery
- {field: nope, component: sensor}
`, "")))
	var got []string
	for _, p := range problems {
		got = append(got, fmt.Sprintf("%d: %s", p.Line, p.Message))
	}
	want := []string{
		`24: entities: unknown key "stat_cla" (known: component, field, name, device_class, unit, state_class, icon, latitude, longitude, gps_accuracy, options, on, off, event_types)`,
		`24: routes[0].entities[0]: unit "V" does not go with device_class battery (Home Assistant takes %)`,
		"25: an entity must be a mapping like {field: battery, component: sensor}",
		`26: routes[0].entities[2]: field "nope" is not one of the route's fields`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzParseEntities: any entities a policy declares give problems on lines of the file, never a
// panic, and a policy or a problem.
func FuzzParseEntities(f *testing.F) {
	f.Add(`- {field: battery, component: sensor, device_class: battery, unit: "%", state_class: measurement}
- {field: state, component: binary_sensor, on: [unlocked], off: [locked]}
- {component: device_tracker, latitude: lat, longitude: lon, gps_accuracy: acc}`, `- {field: kind, component: event, event_types: [a, b]}`)
	f.Add("- battery\n- [x]\n- {on: [true, null, [1]]}", "- {field: kind, component: event}")
	f.Add("- {field: state, component: sensor, device_class: enum, options: [a, a]}", "- {event_types: {}}")
	f.Fuzz(func(t *testing.T, first, second string) {
		parseAnything(t, entityPolicy(first, second))
	})
}
