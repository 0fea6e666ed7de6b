package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Entity components: the Home Assistant MQTT platforms a route's entities may use.
const (
	ComponentSensor        = "sensor"
	ComponentBinarySensor  = "binary_sensor"
	ComponentEvent         = "event"
	ComponentDeviceTracker = "device_tracker"
)

// Components lists the entity components a policy may name.
var Components = []string{ComponentSensor, ComponentBinarySensor, ComponentEvent, ComponentDeviceTracker}

// MaxEntities bounds a route's entities.
const MaxEntities = 32

// Entity is a Home Assistant entity a route declares (`entities:`): for each topic the route
// publishes, Hookbridge announces it by MQTT discovery, reading one of the route's fields.
//
// Which keys apply depends on the component:
//   - sensor: field, and device_class, unit, state_class (HA's lists for the device class), and
//     options (the values of a device_class enum sensor).
//   - binary_sensor: field, device_class, and on (values that mean on; everything else is off,
//     or only the values in off are, when off is given). Without on, the field is a JSON boolean.
//   - event: field, device_class, event_types. On a route for one event type the entity fires on
//     each message that carries the field, with one event type: the route's (when), or the one
//     name in event_types (a doorbell's must be ring). On a route for "*" the field's value is the
//     event type and event_types lists the values.
//   - device_tracker: latitude and longitude (and gps_accuracy) name the route's fields with the
//     position; the route's other fields become the tracker's attributes. It takes no field.
//
// name and icon apply to every component.
type Entity struct {
	Component   string
	Field       string
	Name        string
	DeviceClass string
	Unit        string
	StateClass  string
	Icon        string
	Options     []string
	On, Off     []string
	EventTypes  []string
	Latitude    string
	Longitude   string
	GPSAccuracy string

	// Line is the entity's line in its file, for messages.
	Line int
	// lines holds each key's line.
	lines map[string]int
}

// Entities are a route's entities, in the order the file lists them.
type Entities []Entity

// UnmarshalYAML reads a list of entities. An entity with a problem stays in the list, so that the
// ones after it keep their index in messages, and its other keys are checked too.
func (es *Entities) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: entities must be a list, each like {field: battery, component: sensor}", n.Line)}}
	}
	var problems []string
	for _, item := range n.Content {
		var e Entity
		if err := item.Decode(&e); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				problems = append(problems, te.Errors...)
			} else {
				problems = append(problems, fmt.Sprintf("line %d: entities: %v", item.Line, err))
			}
		}
		e.Line = item.Line
		*es = append(*es, e)
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

// Subject is the route field the entity is about: its field, or a tracker's latitude field. With
// the component it identifies the entity among a route's entities.
func (e *Entity) Subject() string {
	if e.Component == ComponentDeviceTracker {
		return e.Latitude
	}
	return e.Field
}

// entityKeys are the keys an entity may have; the sequence keys take lists of strings.
var (
	entityScalarKeys = []string{"component", "field", "name", "device_class", "unit", "state_class", "icon", "latitude", "longitude", "gps_accuracy"}
	entityListKeys   = []string{"options", "on", "off", "event_types"}
)

// UnmarshalYAML reads an entity mapping, reporting unknown keys and values of the wrong shape
// with their lines.
func (e *Entity) UnmarshalYAML(n *yaml.Node) error {
	e.Line = n.Line
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: an entity must be a mapping like {field: battery, component: sensor}", n.Line)}}
	}
	e.lines = map[string]int{}
	var problems []string
	bad := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: entities: ", line)+fmt.Sprintf(format, args...))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if _, seen := e.lines[key]; seen {
			bad(k.Line, "key %q given twice", key)
			continue
		}
		e.lines[key] = k.Line
		switch {
		case slices.Contains(entityScalarKeys, key):
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				bad(v.Line, "%s must be a string", key)
				continue
			}
			*e.scalar(key) = v.Value
		case slices.Contains(entityListKeys, key):
			if v.Kind != yaml.SequenceNode {
				bad(v.Line, "%s must be a list, like [%s]", key, "a, b")
				continue
			}
			list := e.list(key)
			for _, item := range v.Content {
				switch {
				case item.Kind != yaml.ScalarNode || item.Tag == "!!null":
					bad(item.Line, "%s: every item must be a string", key)
				case item.Tag == "!!bool":
					bad(item.Line, "%s: %s is a boolean; write it in quotes to mean the text, or leave on out for a field that is a JSON boolean", key, item.Value)
				default:
					*list = append(*list, item.Value)
				}
			}
		default:
			bad(k.Line, "unknown key %q (known: %s)", key, strings.Join(append(slices.Clone(entityScalarKeys), entityListKeys...), ", "))
		}
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

func (e *Entity) scalar(key string) *string {
	switch key {
	case "component":
		return &e.Component
	case "field":
		return &e.Field
	case "name":
		return &e.Name
	case "device_class":
		return &e.DeviceClass
	case "unit":
		return &e.Unit
	case "state_class":
		return &e.StateClass
	case "icon":
		return &e.Icon
	case "latitude":
		return &e.Latitude
	case "longitude":
		return &e.Longitude
	case "gps_accuracy":
		return &e.GPSAccuracy
	}
	panic("policy: no entity key " + key)
}

func (e *Entity) list(key string) *[]string {
	switch key {
	case "options":
		return &e.Options
	case "on":
		return &e.On
	case "off":
		return &e.Off
	case "event_types":
		return &e.EventTypes
	}
	panic("policy: no entity list " + key)
}

// line returns the line of one of the entity's keys, else the entity's.
func (e *Entity) line(key string) int {
	if l, ok := e.lines[key]; ok {
		return l
	}
	return e.Line
}

// has reports whether the entity's mapping gives key.
func (e *Entity) has(key string) bool {
	_, ok := e.lines[key]
	return ok
}

var (
	// iconRE is Home Assistant's "prefix:name" icon form (cv.icon), e.g. mdi:lock.
	iconRE = regexp.MustCompile(`^[a-z0-9_-]+:[a-z0-9_-]+$`)
	// literalRE bounds the values of on, off and event_types: they are written into Home
	// Assistant templates in single quotes, so none may hold a quote, a backslash or a brace.
	literalRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:/+-]{0,63}$`)
	// currencyRE is an ISO 4217 code: the unit of a monetary sensor.
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// checkEntities checks route i's entities against its fields and Home Assistant's lists. Every
// problem is reported, each at its key's line. others are the routes before it, for entities
// that two routes on the same topic both declare.
func checkEntities(r *Route, i int, others []Route, add func(int, string, ...any)) {
	if len(r.Entities) == 0 {
		return
	}
	where := fmt.Sprintf("routes[%d].entities", i)
	if len(r.Entities) > MaxEntities {
		add(r.Entities[MaxEntities].Line, "%s: at most %d entities per route", where, MaxEntities)
	}
	fields := map[string]bool{}
	for _, f := range r.Fields {
		fields[f.Name] = true
	}
	seen := map[string]int{} // component + subject -> index
	for j := range r.Entities {
		e := &r.Entities[j]
		at := fmt.Sprintf("%s[%d]", where, j)
		if e.lines == nil {
			continue // not a mapping: said when it was read
		}
		checkEntity(e, r, at, fields, add)
		if e.Component == "" || e.Subject() == "" {
			continue
		}
		key := e.Component + "\x00" + e.Subject()
		if k, dup := seen[key]; dup {
			if o := &r.Entities[k]; e.Name == "" || o.Name == "" || e.Name == o.Name {
				add(e.Line, "%s: a %s for %q is declared twice in this route (also entities[%d]); give each a different name", at, e.Component, e.Subject(), k)
			}
		}
		seen[key] = j
		for oi := range others {
			o := &others[oi]
			if o.Topic != r.Topic {
				continue
			}
			for ok := range o.Entities {
				if o.EntityKey(ok) == r.EntityKey(j) {
					add(e.Line, "%s: routes[%d] on the same topic already declares this %s for %q; declare it once", at, oi, e.Component, e.Subject())
				}
			}
		}
	}
}

// EntityKey identifies entity j among the route's entities, for its unique id: its component and
// subject, and its name too when another entity of the route has the same component and subject
// (a lock and a jammed binary sensor reading one state field). So renaming an entity keeps its
// id, unless it is one of such a pair.
func (r *Route) EntityKey(j int) string {
	e := &r.Entities[j]
	key := e.Component + "\x00" + e.Subject()
	for k := range r.Entities {
		if k != j && r.Entities[k].Component == e.Component && r.Entities[k].Subject() == e.Subject() {
			return key + "\x00" + e.Name
		}
	}
	return key
}

func checkEntity(e *Entity, r *Route, at string, fields map[string]bool, add func(int, string, ...any)) {
	field := func(key, name string) {
		switch {
		case name == "":
			add(e.line(key), "%s: %s is required for a %s", at, key, e.Component)
		case !fields[name]:
			add(e.line(key), "%s: %s %q is not one of the route's fields", at, key, name)
		}
	}
	only := func(key string, components ...string) {
		if e.has(key) && !slices.Contains(components, e.Component) {
			add(e.line(key), "%s: %s applies only to %s, not to a %s", at, key, strings.Join(components, " and "), e.Component)
		}
	}
	switch e.Component {
	case ComponentSensor, ComponentBinarySensor, ComponentEvent:
		field("field", e.Field)
	case ComponentDeviceTracker:
		if e.has("field") {
			add(e.line("field"), "%s: a device_tracker takes latitude and longitude instead of field", at)
		}
		field("latitude", e.Latitude)
		field("longitude", e.Longitude)
		if e.Latitude != "" && e.Latitude == e.Longitude {
			add(e.line("longitude"), "%s: latitude and longitude must be different fields", at)
		}
		if e.has("gps_accuracy") {
			field("gps_accuracy", e.GPSAccuracy)
		}
	case "":
		add(e.Line, "%s: component is required (one of %s)", at, strings.Join(Components, ", "))
		return
	default:
		add(e.line("component"), "%s: component %q is not one of %s", at, e.Component, strings.Join(Components, ", "))
		return
	}
	only("unit", ComponentSensor)
	only("state_class", ComponentSensor)
	only("options", ComponentSensor)
	only("on", ComponentBinarySensor)
	only("off", ComponentBinarySensor)
	only("event_types", ComponentEvent)
	only("latitude", ComponentDeviceTracker)
	only("longitude", ComponentDeviceTracker)
	only("gps_accuracy", ComponentDeviceTracker)
	only("device_class", ComponentSensor, ComponentBinarySensor, ComponentEvent)

	if e.has("name") {
		if err := checkText(e.Name, 64); err != nil {
			add(e.line("name"), "%s: name %v", at, err)
		}
	}
	if e.has("icon") && !iconRE.MatchString(e.Icon) {
		add(e.line("icon"), "%s: icon must look like mdi:lock (Home Assistant's prefix:name form)", at)
	}
	switch e.Component {
	case ComponentSensor:
		checkSensor(e, at, add)
	case ComponentBinarySensor:
		if e.has("device_class") && !slices.Contains(binarySensorClasses, e.DeviceClass) {
			add(e.line("device_class"), "%s: device_class %q is not a Home Assistant binary_sensor class (%s)", at, e.DeviceClass, strings.Join(binarySensorClasses, ", "))
		}
		checkLiterals(e, "on", e.On, at, add)
		checkLiterals(e, "off", e.Off, at, add)
		if e.has("off") && !e.has("on") {
			add(e.line("off"), "%s: off needs on (without on, the field is a JSON boolean)", at)
		}
		for _, v := range e.Off {
			if slices.Contains(e.On, v) {
				add(e.line("off"), "%s: %q is in both on and off", at, v)
			}
		}
	case ComponentEvent:
		checkEvent(e, r, at, add)
	}
}

func checkSensor(e *Entity, at string, add func(int, string, ...any)) {
	if e.has("unit") {
		if err := checkText(e.Unit, 32); err != nil {
			add(e.line("unit"), "%s: unit %v", at, err)
		}
	}
	if e.has("state_class") && !slices.Contains(StateClasses, e.StateClass) {
		add(e.line("state_class"), "%s: state_class %q is not one of %s", at, e.StateClass, strings.Join(StateClasses, ", "))
		return
	}
	if need, ok := stateClassUnits[e.StateClass]; ok && !slices.Contains(need, e.Unit) {
		add(e.line("state_class"), "%s: state_class %s needs unit %s", at, e.StateClass, strings.Join(need, " or "))
	}
	if !e.has("device_class") {
		if e.has("options") {
			add(e.line("options"), "%s: options need device_class enum", at)
		}
		return
	}
	c, ok := sensorClasses[e.DeviceClass]
	if !ok {
		add(e.line("device_class"), "%s: device_class %q is not a Home Assistant sensor class (%s)", at, e.DeviceClass, strings.Join(sensorClassNames(), ", "))
		return
	}
	switch c.Unit {
	case unitForbidden:
		if e.has("unit") {
			add(e.line("unit"), "%s: a %s sensor takes no unit", at, e.DeviceClass)
		}
	case unitCurrency:
		if !currencyRE.MatchString(e.Unit) {
			add(e.line("unit"), "%s: a monetary sensor needs an ISO 4217 currency as its unit, like EUR", at)
		}
	default:
		if !slices.Contains(c.Units, e.Unit) {
			units := make([]string, 0, len(c.Units))
			for _, u := range c.Units {
				if u == "" {
					u = "none"
				}
				units = append(units, u)
			}
			add(e.line("unit"), "%s: unit %q does not go with device_class %s (Home Assistant takes %s)", at, e.Unit, e.DeviceClass, strings.Join(units, ", "))
		}
	}
	if e.has("state_class") && !slices.Contains(c.StateClasses, e.StateClass) {
		if len(c.StateClasses) == 0 {
			add(e.line("state_class"), "%s: a %s sensor takes no state_class", at, e.DeviceClass)
		} else {
			add(e.line("state_class"), "%s: state_class %s does not go with device_class %s (Home Assistant takes %s)", at, e.StateClass, e.DeviceClass, strings.Join(c.StateClasses, ", "))
		}
	}
	switch {
	case e.DeviceClass == "enum" && len(e.Options) == 0:
		add(e.line("device_class"), "%s: an enum sensor needs options: the values it takes", at)
	case e.DeviceClass != "enum" && e.has("options"):
		add(e.line("options"), "%s: options need device_class enum", at)
	}
	for i, o := range e.Options {
		if err := checkText(o, 64); err != nil {
			add(e.line("options"), "%s: option %v", at, err)
		}
		if slices.Contains(e.Options[:i], o) {
			add(e.line("options"), "%s: option %q given twice", at, o)
		}
	}
}

func checkEvent(e *Entity, r *Route, at string, add func(int, string, ...any)) {
	if e.has("device_class") && !slices.Contains(eventClasses, e.DeviceClass) {
		add(e.line("device_class"), "%s: device_class %q is not a Home Assistant event class (%s)", at, e.DeviceClass, strings.Join(eventClasses, ", "))
	}
	checkLiterals(e, "event_types", e.EventTypes, at, add)
	switch {
	case r.When == "*" && len(e.EventTypes) == 0:
		add(e.Line, "%s: on a route for \"*\" the field's value is the event type: list its values in event_types", at)
	case r.When != "*" && len(e.EventTypes) > 1:
		add(e.line("event_types"), "%s: a route for one event type (%s) gives one event type; name it in event_types, or leave event_types out to use %q", at, r.When, r.When)
	case r.When != "*" && r.When != "" && len(e.EventTypes) == 0 && !literalRE.MatchString(r.When):
		add(e.Line, "%s: the route's event type cannot be a Home Assistant event type as it is; name one in event_types", at)
	}
	if req, ok := eventRequiredTypes[e.DeviceClass]; ok {
		types := e.EventTypes
		if len(types) == 0 && r.When != "*" {
			types = []string{r.When}
		}
		for _, t := range req {
			if !slices.Contains(types, t) {
				add(e.line("event_types"), "%s: a %s event entity must have the event type %s (Home Assistant 2026.4); write event_types: [%s]", at, e.DeviceClass, t, t)
			}
		}
	}
}

// checkLiterals checks the values of on, off or event_types.
func checkLiterals(e *Entity, key string, values []string, at string, add func(int, string, ...any)) {
	if e.has(key) && len(values) == 0 {
		add(e.line(key), "%s: %s must not be empty", at, key)
	}
	for i, v := range values {
		if !literalRE.MatchString(v) {
			add(e.line(key), "%s: %s value %q must be 1 to 64 letters, digits, spaces or _.:/+- (starting with a letter or digit)", at, key, v)
		}
		if slices.Contains(values[:i], v) {
			add(e.line(key), "%s: %s value %q given twice", at, key, v)
		}
	}
}

// checkText reports a display text that is empty, too long, or holds control characters.
func checkText(s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("must not be empty")
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("must be at most %d characters", max)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("must be printable text")
	}
	return nil
}

// Home Assistant's lists, as of Home Assistant Core 2026: sensor device classes, their units and
// state classes from homeassistant/components/sensor/const.py (SensorDeviceClass,
// DEVICE_CLASS_UNITS, DEVICE_CLASS_STATE_CLASSES, STATE_CLASS_UNITS; read at cdce8p/ha-core
// 5dcb0873, a fork tracking dev, cross-checked with home-assistant/core 3fd1a330 and the developer
// docs of 2026-08-19), the unit strings from homeassistant/const.py (UnitOf*), binary sensor and
// event classes from binary_sensor/__init__.py and event/const.py. Home Assistant's MQTT sensor
// refuses a unit that does not go with its device class (vol.Invalid since 2025.7), so a policy
// naming one fails at load rather than as an entity that never appears. Accepting a subset of
// what Home Assistant takes is safe; accepting more is not.

// unitRule is how a sensor device class takes units.
type unitRule int

const (
	unitListed    unitRule = iota // one of Units; "" in Units means no unit is allowed too
	unitForbidden                 // non-numeric classes (date, enum, timestamp, uptime): no unit
	unitCurrency                  // monetary: an ISO 4217 code
)

// sensorClass is what Home Assistant accepts with one sensor device class.
type sensorClass struct {
	Unit         unitRule
	Units        []string
	StateClasses []string
}

// NumericSensorClass reports whether a sensor of device class dc holds a number, so that Home
// Assistant expects a numeric state of it (and takes "None" as unknown).
func NumericSensorClass(dc string) bool {
	c, ok := sensorClasses[dc]
	return ok && c.Unit != unitForbidden
}

// StateClasses are the sensor state classes.
var StateClasses = []string{"measurement", "measurement_angle", "total", "total_increasing"}

// stateClassUnits are state classes that need a particular unit (STATE_CLASS_UNITS).
var stateClassUnits = map[string][]string{"measurement_angle": {"°"}}

// binarySensorClasses are Home Assistant's binary sensor device classes.
var binarySensorClasses = []string{"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
	"garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
	"power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}

// eventClasses are Home Assistant's event device classes.
var eventClasses = []string{"button", "doorbell", "motion"}

// eventRequiredTypes are event types a device class must list (a doorbell rings, HA 2026.4).
var eventRequiredTypes = map[string][]string{"doorbell": {"ring"}}

// sensorClasses are Home Assistant's sensor device classes with their units and state classes.
var sensorClasses = map[string]sensorClass{
	"absolute_humidity":                {unitListed, []string{"g/m³", "mg/m³"}, []string{"measurement"}},
	"apparent_power":                   {unitListed, []string{"mVA", "VA", "kVA"}, []string{"measurement"}},
	"aqi":                              {unitListed, []string{""}, []string{"measurement"}},
	"area":                             {unitListed, []string{"m²", "cm²", "km²", "mm²", "in²", "ft²", "yd²", "mi²", "ac", "ha"}, []string{"measurement", "measurement_angle", "total", "total_increasing"}},
	"atmospheric_pressure":             {unitListed, []string{"mPa", "Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "inH₂O", "psi"}, []string{"measurement"}},
	"battery":                          {unitListed, []string{"%"}, []string{"measurement"}},
	"blood_glucose_concentration":      {unitListed, []string{"mg/dL", "mmol/L"}, []string{"measurement"}},
	"carbon_monoxide":                  {unitListed, []string{"ppb", "ppm", "mg/m³", "μg/m³"}, []string{"measurement"}},
	"carbon_dioxide":                   {unitListed, []string{"ppm"}, []string{"measurement"}},
	"conductivity":                     {unitListed, []string{"S/cm", "μS/cm", "mS/cm"}, []string{"measurement"}},
	"current":                          {unitListed, []string{"μA", "mA", "A"}, []string{"measurement"}},
	"data_rate":                        {unitListed, []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"}, []string{"measurement"}},
	"data_size":                        {unitListed, []string{"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}, []string{"measurement", "measurement_angle", "total", "total_increasing"}},
	"date":                             {unitForbidden, nil, nil},
	"distance":                         {unitListed, []string{"mm", "cm", "m", "km", "in", "ft", "yd", "mi", "nmi"}, []string{"measurement", "measurement_angle", "total", "total_increasing"}},
	"duration":                         {unitListed, []string{"d", "h", "min", "s", "ms", "μs"}, []string{"measurement", "measurement_angle", "total", "total_increasing"}},
	"energy":                           {unitListed, []string{"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}, []string{"total", "total_increasing"}},
	"energy_distance":                  {unitListed, []string{"kWh/100km", "Wh/km", "mi/kWh", "km/kWh"}, []string{"measurement"}},
	"energy_storage":                   {unitListed, []string{"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}, []string{"measurement"}},
	"enum":                             {unitForbidden, nil, nil},
	"frequency":                        {unitListed, []string{"mHz", "Hz", "kHz", "MHz", "GHz"}, []string{"measurement"}},
	"gas":                              {unitListed, []string{"CCF", "ft³", "m³", "L", "MCF"}, []string{"total", "total_increasing"}},
	"humidity":                         {unitListed, []string{"%"}, []string{"measurement"}},
	"illuminance":                      {unitListed, []string{"lx"}, []string{"measurement"}},
	"irradiance":                       {unitListed, []string{"W/m²", "BTU/(h⋅ft²)"}, []string{"measurement"}},
	"moisture":                         {unitListed, []string{"%"}, []string{"measurement"}},
	"monetary":                         {unitCurrency, nil, []string{"total"}},
	"nitrogen_dioxide":                 {unitListed, []string{"ppb", "ppm", "μg/m³"}, []string{"measurement"}},
	"nitrogen_monoxide":                {unitListed, []string{"ppb", "μg/m³"}, []string{"measurement"}},
	"nitrous_oxide":                    {unitListed, []string{"μg/m³"}, []string{"measurement"}},
	"ozone":                            {unitListed, []string{"ppb", "ppm", "μg/m³"}, []string{"measurement"}},
	"ph":                               {unitListed, []string{""}, []string{"measurement"}},
	"pm1":                              {unitListed, []string{"μg/m³"}, []string{"measurement"}},
	"pm10":                             {unitListed, []string{"μg/m³"}, []string{"measurement"}},
	"pm25":                             {unitListed, []string{"μg/m³"}, []string{"measurement"}},
	"pm4":                              {unitListed, []string{"μg/m³"}, []string{"measurement"}},
	"power_factor":                     {unitListed, []string{"%", ""}, []string{"measurement"}},
	"power":                            {unitListed, []string{"mW", "W", "kW", "MW", "GW", "TW"}, []string{"measurement"}},
	"precipitation":                    {unitListed, []string{"in", "mm", "cm"}, []string{"measurement", "measurement_angle", "total", "total_increasing"}},
	"precipitation_intensity":          {unitListed, []string{"in/d", "in/h", "mm/d", "mm/h"}, []string{"measurement"}},
	"pressure":                         {unitListed, []string{"mPa", "Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "inH₂O", "psi"}, []string{"measurement"}},
	"radon":                            {unitListed, []string{"Bq/m³", "pCi/L"}, []string{"measurement"}},
	"reactive_energy":                  {unitListed, []string{"varh", "kvarh"}, []string{"total", "total_increasing"}},
	"reactive_power":                   {unitListed, []string{"mvar", "var", "kvar"}, []string{"measurement"}},
	"signal_strength":                  {unitListed, []string{"dB", "dBm"}, []string{"measurement"}},
	"sound_pressure":                   {unitListed, []string{"dB", "dBA"}, []string{"measurement"}},
	"speed":                            {unitListed, []string{"Beaufort", "ft/s", "in/s", "m/min", "m/s", "km/h", "kn", "mph", "mm/s", "in/d", "in/h", "mm/d", "mm/h"}, []string{"measurement"}},
	"sulphur_dioxide":                  {unitListed, []string{"ppb", "μg/m³"}, []string{"measurement"}},
	"temperature":                      {unitListed, []string{"°C", "°F", "K"}, []string{"measurement"}},
	"temperature_delta":                {unitListed, []string{"°C", "°F", "K"}, []string{"measurement"}},
	"timestamp":                        {unitForbidden, nil, nil},
	"uptime":                           {unitForbidden, nil, nil},
	"volatile_organic_compounds":       {unitListed, []string{"μg/m³", "mg/m³"}, []string{"measurement"}},
	"volatile_organic_compounds_parts": {unitListed, []string{"ppb", "ppm"}, []string{"measurement"}},
	"voltage":                          {unitListed, []string{"μV", "mV", "V", "kV", "MV"}, []string{"measurement"}},
	"volume":                           {unitListed, []string{"ft³", "CCF", "MCF", "m³", "L", "mL", "gal", "fl. oz."}, []string{"total", "total_increasing"}},
	"volume_flow_rate":                 {unitListed, []string{"m³/h", "m³/min", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/h", "gal/min", "gal/d", "mL/s"}, []string{"measurement"}},
	"volume_storage":                   {unitListed, []string{"ft³", "CCF", "MCF", "m³", "L", "mL", "gal", "fl. oz."}, []string{"measurement"}},
	"water":                            {unitListed, []string{"CCF", "ft³", "m³", "gal", "L", "MCF"}, []string{"total", "total_increasing"}},
	"weight":                           {unitListed, []string{"g", "kg", "mg", "μg", "oz", "lb", "st"}, []string{"measurement", "total", "total_increasing"}},
	"wind_direction":                   {unitListed, []string{"°"}, []string{"measurement_angle"}},
	"wind_speed":                       {unitListed, []string{"Beaufort", "ft/s", "in/s", "m/min", "m/s", "km/h", "kn", "mph", "mm/s"}, []string{"measurement"}},
}

// sensorClassNames returns the sensor device classes, sorted.
func sensorClassNames() []string {
	out := make([]string, 0, len(sensorClasses))
	for name := range sensorClasses {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
