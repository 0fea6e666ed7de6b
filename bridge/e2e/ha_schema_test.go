package e2e_test

// A check of MQTT discovery configs against Home Assistant's own MQTT platform schemas, written
// from Home Assistant Core's sources (testdata/ha: the allowed keys per component, device and
// origin, and the device classes, units and state classes). There is no Home Assistant here: this
// stands in for its validation, and goes further where Home Assistant is silent (it drops an
// unknown top-level key without a word, so a misspelt key would only show as a setting that never
// takes effect).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// haSchema is testdata/ha/mqtt-discovery-keys.json.
type haSchema struct {
	Base       []string `json:"base"`
	ReadOnly   []string `json:"read_only"`
	Common     []string `json:"common"`
	Components map[string]struct {
		ReadOnly   bool     `json:"read_only"`
		Keys       []string `json:"keys"`
		Deprecated []string `json:"deprecated"`
		Required   []string `json:"required"`
	} `json:"components"`
	Device            []string `json:"device"`
	Origin            []string `json:"origin"`
	OriginRequired    []string `json:"origin_required"`
	AvailabilityItem  []string `json:"availability_item"`
	AvailabilityModes []string `json:"availability_modes"`
	EntityCategories  []string `json:"entity_categories_allowed"`
}

// haClasses is testdata/ha/device-classes.json.
type haClasses struct {
	StateClasses    []string            `json:"state_classes"`
	StateClassUnits map[string][]string `json:"state_class_units"`
	Sensor          map[string]struct {
		Units        []*string `json:"units"` // null: no unit allowed
		StateClasses []string  `json:"state_classes"`
		UnitRule     string    `json:"unit_rule"`
	} `json:"sensor"`
	BinarySensor []string `json:"binary_sensor"`
	Event        []string `json:"event"`
	EventTypes   map[string]struct {
		Required []string `json:"required"`
	} `json:"event_standard_types"`
	SourceTypes []string `json:"device_tracker_source_types"`
}

var haRef = sync.OnceValues(func() (*haSchema, *haClasses) {
	read := func(name string, v any) {
		data, err := os.ReadFile(filepath.Join("testdata", "ha", name))
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			panic(fmt.Sprintf("%s: %v", name, err))
		}
	}
	s, c := &haSchema{}, &haClasses{}
	read("mqtt-discovery-keys.json", s)
	read("device-classes.json", c)
	return s, c
})

var (
	// haTopicRE is Home Assistant's discovery TOPIC_MATCHER under the default prefix.
	haTopicRE = regexp.MustCompile(`^homeassistant/(\w+)/(?:([a-zA-Z0-9_-]+)/)?([a-zA-Z0-9_-]+)/config$`)
	haIDRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	haIconRE  = regexp.MustCompile(`^[a-z0-9_-]+:[a-z0-9_-]+$`)
)

// haCheck checks one discovery config as Home Assistant's MQTT platform for its component would,
// and more strictly: every key must be one the platform knows. checked is false for a component
// the reference does not cover (Hookbridge's kill switch).
func haCheck(topic string, payload []byte) (problems []string, checked bool) {
	s, cls := haRef()
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	m := haTopicRE.FindStringSubmatch(topic)
	if m == nil {
		return []string{fmt.Sprintf("topic %s does not match Home Assistant's discovery topic pattern", topic)}, true
	}
	component := m[1]
	comp, ok := s.Components[component]
	if !ok {
		return nil, false
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return []string{fmt.Sprintf("not a JSON object: %v", err)}, true
	}
	allowed := slices.Concat(s.Base, s.Common, comp.Keys)
	if comp.ReadOnly {
		allowed = append(allowed, s.ReadOnly...)
	}
	for k := range c {
		switch {
		case slices.Contains(comp.Deprecated, k):
			bad("key %q is deprecated for %s", k, component)
		case !slices.Contains(allowed, k):
			bad("unknown key %q for %s (Home Assistant would drop it silently)", k, component)
		}
	}
	for _, k := range comp.Required {
		if _, ok := c[k]; !ok {
			bad("required key %q missing", k)
		}
	}
	str := func(k string) (string, bool) {
		v, ok := c[k]
		if !ok {
			return "", false
		}
		sv, isStr := v.(string)
		if !isStr {
			bad("%s = %v, want a string", k, v)
		}
		return sv, true
	}
	if id, ok := str("unique_id"); !ok || !haIDRE.MatchString(id) {
		bad("unique_id %q missing or not [a-zA-Z0-9_-]+", id)
	}
	if v, ok := c["name"]; ok && v != nil {
		str("name")
	}
	if v, ok := c["qos"]; ok && v != 0.0 && v != 1.0 && v != 2.0 {
		bad("qos = %v", v)
	}
	if icon, ok := str("icon"); ok && !haIconRE.MatchString(icon) {
		bad("icon %q is not prefix:name", icon)
	}
	if cat, ok := str("entity_category"); ok && !slices.Contains(s.EntityCategories, cat) {
		bad("entity_category %q (config makes a sensor fail to add)", cat)
	}
	if id, ok := str("default_entity_id"); ok && !strings.HasPrefix(id, component+".") {
		bad("default_entity_id %q must be a %s entity id", id, component)
	}
	for _, k := range []string{"state_topic", "json_attributes_topic", "availability_topic"} {
		if t, ok := str(k); ok && (t == "" || strings.ContainsAny(t, "+#")) {
			bad("%s %q", k, t)
		}
	}
	for k, v := range c {
		if tpl, ok := v.(string); ok && strings.HasSuffix(k, "template") &&
			(strings.Count(tpl, "{{") != strings.Count(tpl, "}}") || strings.Count(tpl, "{%") != strings.Count(tpl, "%}")) {
			bad("%s %q is not a well-formed template", k, tpl)
		}
	}
	haCheckDevice(c, s, bad)
	haCheckOrigin(c, s, bad)
	haCheckAvailability(c, s, bad)

	dc, hasClass := c["device_class"]
	className, _ := dc.(string)
	switch component {
	case "sensor":
		unit, hasUnit := str("unit_of_measurement")
		stateClass, hasState := str("state_class")
		if hasState && !slices.Contains(cls.StateClasses, stateClass) {
			bad("state_class %q", stateClass)
		}
		if need, ok := cls.StateClassUnits[stateClass]; ok && !slices.Contains(need, unit) {
			bad("state_class %s needs unit %v", stateClass, need)
		}
		if _, ok := c["options"]; ok && className != "enum" {
			bad("options without device_class enum")
		}
		if !hasClass || dc == nil {
			break
		}
		sc, ok := cls.Sensor[className]
		if !ok {
			bad("sensor device_class %q", className)
			break
		}
		switch sc.UnitRule {
		case "forbidden":
			if hasUnit {
				bad("a %s sensor takes no unit", className)
			}
		case "iso4217":
			if len(unit) != 3 {
				bad("a monetary sensor's unit %q is not a currency", unit)
			}
		default:
			okUnit := false
			for _, u := range sc.Units {
				okUnit = okUnit || u == nil && !hasUnit || u != nil && *u == unit
			}
			if !okUnit {
				bad("unit %q is not valid with device_class %s", unit, className)
			}
		}
		if hasState && !slices.Contains(sc.StateClasses, stateClass) {
			bad("state_class %s impossible with device_class %s", stateClass, className)
		}
		if className == "enum" {
			if o, _ := c["options"].([]any); len(o) == 0 || hasUnit || hasState {
				bad("an enum sensor needs options and takes no unit or state_class")
			}
		}
	case "binary_sensor":
		if hasClass && dc != nil && !slices.Contains(cls.BinarySensor, className) {
			bad("binary_sensor device_class %q", className)
		}
		str("payload_on")
		str("payload_off")
	case "event":
		if hasClass && !slices.Contains(cls.Event, className) {
			bad("event device_class %v (null is not allowed here)", dc)
		}
		types, _ := c["event_types"].([]any)
		var names []string
		for _, x := range types {
			if n, ok := x.(string); ok && n != "" {
				names = append(names, n)
			} else {
				bad("event type %v", x)
			}
		}
		if len(names) == 0 {
			bad("event_types empty")
		}
		for _, r := range cls.EventTypes[className].Required {
			if !slices.Contains(names, r) {
				bad("a %s event needs event type %s", className, r)
			}
		}
	case "device_tracker":
		if hasClass {
			bad("a device_tracker takes no device_class")
		}
		if st, ok := str("source_type"); ok && !slices.Contains(cls.SourceTypes, st) {
			bad("source_type %q", st)
		}
	}
	return problems, true
}

func haCheckDevice(c map[string]any, s *haSchema, bad func(string, ...any)) {
	raw, ok := c["device"]
	if !ok {
		return
	}
	dev, ok := raw.(map[string]any)
	if !ok {
		bad("device is not an object")
		return
	}
	for k := range dev {
		if !slices.Contains(s.Device, k) {
			bad("unknown key %q in device (Home Assistant refuses the config)", k)
		}
	}
	ids := 0
	switch x := dev["identifiers"].(type) {
	case string:
		ids = 1
	case []any:
		for _, id := range x {
			if _, ok := id.(string); !ok {
				bad("device identifier %v", id)
			}
		}
		ids = len(x)
	}
	if cns, _ := dev["connections"].([]any); ids == 0 && len(cns) == 0 {
		bad("device has no identifiers or connections")
	}
	if name, _ := dev["name"].(string); name == "" {
		bad("device has no name (Home Assistant wants it with every entity)")
	}
	if v, ok := dev["via_device"]; ok {
		if _, isStr := v.(string); !isStr {
			bad("via_device %v", v)
		}
	}
}

func haCheckOrigin(c map[string]any, s *haSchema, bad func(string, ...any)) {
	raw, ok := c["origin"]
	if !ok {
		return
	}
	o, ok := raw.(map[string]any)
	if !ok {
		bad("origin is not an object")
		return
	}
	for k := range o {
		if !slices.Contains(s.Origin, k) {
			bad("unknown key %q in origin (Home Assistant drops the message)", k)
		}
	}
	for _, k := range s.OriginRequired {
		if _, ok := o[k]; !ok {
			bad("origin has no %s", k)
		}
	}
}

func haCheckAvailability(c map[string]any, s *haSchema, bad func(string, ...any)) {
	if mode, ok := c["availability_mode"]; ok && !slices.Contains(s.AvailabilityModes, fmt.Sprint(mode)) {
		bad("availability_mode %v", mode)
	}
	raw, ok := c["availability"]
	if !ok {
		return
	}
	if _, both := c["availability_topic"]; both {
		bad("availability and availability_topic together")
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		bad("availability is not a list")
		return
	}
	for _, x := range list {
		item, ok := x.(map[string]any)
		if !ok {
			bad("availability item %v", x)
			continue
		}
		for k := range item {
			if !slices.Contains(s.AvailabilityItem, k) {
				bad("unknown key %q in availability", k)
			}
		}
		if t, _ := item["topic"].(string); t == "" {
			bad("availability item without a topic")
		}
	}
}

// TestHASchemaCheck: the check accepts configs shaped like Home Assistant's documented examples
// and Hookbridge's, and fails each one changed in one way Home Assistant would refuse or silently
// drop: above all an unknown key, at the top level and inside device, origin and availability.
func TestHASchemaCheck(t *testing.T) {
	const sensorTopic = "homeassistant/sensor/hookbridge/acme-locks_r0123456789abcdef/config"
	sensor := `{"name":"Battery","unique_id":"hookbridge_acme-locks_r0123456789abcdef","state_topic":"hookbridge/acme-locks/locks/x/state",
		"value_template":"{% if 'battery' in value_json %}{{ value_json['battery'] }}{% endif %}","device_class":"battery","unit_of_measurement":"%",
		"state_class":"measurement","qos":1,"availability_mode":"all",
		"availability":[{"topic":"hookbridge/_ha/availability"},{"topic":"hookbridge/_status/acme-locks","value_template":"{{ 'online' }}"}],
		"device":{"identifiers":["hookbridge_acme-locks_d1"],"name":"Lock","manufacturer":"Acme","model":"locks/{device}/state","via_device":"hookbridge"},
		"origin":{"name":"Hookbridge","sw_version":"0.2.0","support_url":"https://example.com"}}`
	with := func(base string, edit func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(base), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	sub := func(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
	tests := []struct {
		name, topic, config string
		want                string // part of a problem; "" for none
	}{
		{"valid sensor", sensorTopic, sensor, ""},
		{"docs binary sensor", "homeassistant/binary_sensor/garden/config",
			`{"name":null,"device_class":"motion","state_topic":"homeassistant/binary_sensor/garden/state","unique_id":"motion01ad","device":{"identifiers":["01ad"],"name":"Garden"}}`, ""},
		{"valid tracker", "homeassistant/device_tracker/hookbridge/t_r0123456789abcdef/config",
			`{"name":"Location","unique_id":"t1","json_attributes_topic":"a/b","json_attributes_template":"{{ value_json | tojson }}","source_type":"gps"}`, ""},
		{"valid event", "homeassistant/event/hookbridge/x/config", `{"unique_id":"e1","state_topic":"a/b","event_types":["ring"],"device_class":"doorbell"}`, ""},
		{"unknown top-level key", sensorTopic, with(sensor, func(m map[string]any) { m["unit"] = "%" }), `unknown key "unit"`},
		{"abbreviated key", sensorTopic, with(sensor, func(m map[string]any) { m["stat_t"] = "a/b" }), `unknown key "stat_t"`},
		{"object_id removed in 2026.4", sensorTopic, with(sensor, func(m map[string]any) { m["object_id"] = "x" }), `unknown key "object_id"`},
		{"unknown device key", sensorTopic, with(sensor, func(m map[string]any) { sub(m, "device")["ip"] = "10.0.0.1" }), `unknown key "ip" in device`},
		{"unknown origin key", sensorTopic, with(sensor, func(m map[string]any) { sub(m, "origin")["url"] = "x" }), `unknown key "url" in origin`},
		{"unknown availability key", sensorTopic, with(sensor, func(m map[string]any) {
			m["availability"].([]any)[0].(map[string]any)["retain"] = true
		}), `unknown key "retain" in availability`},
		{"device without name", sensorTopic, with(sensor, func(m map[string]any) { delete(sub(m, "device"), "name") }), "device has no name"},
		{"device without identifiers", sensorTopic, with(sensor, func(m map[string]any) { delete(sub(m, "device"), "identifiers") }), "no identifiers"},
		{"origin without name", sensorTopic, with(sensor, func(m map[string]any) { delete(sub(m, "origin"), "name") }), "origin has no name"},
		{"no state topic", sensorTopic, with(sensor, func(m map[string]any) { delete(m, "state_topic") }), `required key "state_topic"`},
		{"bad unique id", sensorTopic, with(sensor, func(m map[string]any) { m["unique_id"] = "a.b" }), "unique_id"},
		{"unit not for class", sensorTopic, with(sensor, func(m map[string]any) { m["unit_of_measurement"] = "V" }), `unit "V" is not valid with device_class battery`},
		{"state class impossible", sensorTopic, with(sensor, func(m map[string]any) { m["state_class"] = "total" }), "impossible"},
		{"unknown class", sensorTopic, with(sensor, func(m map[string]any) { m["device_class"] = "batery" }), `device_class "batery"`},
		{"both availabilities", sensorTopic, with(sensor, func(m map[string]any) { m["availability_topic"] = "a" }), "together"},
		{"config category", sensorTopic, with(sensor, func(m map[string]any) { m["entity_category"] = "config" }), "entity_category"},
		{"broken template", sensorTopic, with(sensor, func(m map[string]any) { m["value_template"] = "{{ value_json['battery'] }" }), "well-formed"},
		{"bad topic", "homeassistant/sensor/hook.bridge/x/config", sensor, "discovery topic pattern"},
		{"doorbell without ring", "homeassistant/event/hookbridge/x/config", `{"unique_id":"e1","state_topic":"a/b","event_types":["press"],"device_class":"doorbell"}`, "needs event type ring"},
		{"event class null", "homeassistant/event/hookbridge/x/config", `{"unique_id":"e1","state_topic":"a/b","event_types":["a"],"device_class":null}`, "null is not allowed"},
		{"tracker state topic", "homeassistant/device_tracker/hookbridge/x/config", `{"unique_id":"t1","json_attributes_topic":"a/b","state_topic":"a/b"}`, "deprecated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, checked := haCheck(tt.topic, []byte(tt.config))
			if !checked {
				t.Fatalf("haCheck(%s) did not check it", tt.topic)
			}
			joined := strings.Join(problems, "; ")
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("haCheck = %s, want no problem", joined)
			case tt.want != "" && !strings.Contains(joined, tt.want):
				t.Errorf("haCheck = %q, want a problem saying %q", joined, tt.want)
			}
		})
	}
}
