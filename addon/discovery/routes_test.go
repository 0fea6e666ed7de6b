package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// memKnown is an in-memory KnownTopics; fail makes writes fail.
type memKnown struct {
	mu   sync.Mutex
	recs map[string]store.EntityTopic
	fail bool
	puts int
}

func newMemKnown() *memKnown { return &memKnown{recs: map[string]store.EntityTopic{}} }

func (k *memKnown) EntityTopics() ([]store.EntityTopic, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := slices.Sorted(maps.Keys(k.recs))
	out := make([]store.EntityTopic, 0, len(keys))
	for _, key := range keys {
		out = append(out, k.recs[key])
	}
	return out, nil
}

func (k *memKnown) PutEntityTopic(vendor, topic string, record []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return errors.New("disk full")
	}
	k.puts++
	k.recs[vendor+"\x00"+topic] = store.EntityTopic{Vendor: vendor, Topic: topic, Record: bytes.Clone(record)}
	return nil
}

func (k *memKnown) DeleteEntityTopic(vendor, topic string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return errors.New("disk full")
	}
	delete(k.recs, vendor+"\x00"+topic)
	return nil
}

func (k *memKnown) get(vendor, topic string) (record, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	rec, ok := k.recs[vendor+"\x00"+topic]
	var r record
	json.Unmarshal(rec.Record, &r)
	return r, ok
}

func (k *memKnown) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.recs)
}

// entityRoutes is the acme-locks policy of the tests: a state route with entities of three
// components, a battery route without entities, a "*" route with an event, and a tracker route.
const entityRoutes = `vendor: acme-locks
title: Acme Locks cloud
owner: Tests
contact: tests@hookbridge.invalid
risk: low
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
      battery: /data/battery_pct
      items: /data/items
    entities:
      - {field: battery, component: sensor, device_class: battery, unit: "%", state_class: measurement}
      - {field: state, component: binary_sensor, name: Unlocked, device_class: lock, on: [unlocked], off: [locked]}
      - {field: items, component: binary_sensor, name: Open}
      - {field: state, component: event, name: Changed, event_types: [changed]}
  - when: lock.battery_low
    topic: locks/{device}/battery
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      battery: /data/battery_pct
  - when: "*"
    topic: activity
    fields:
      kind: /type
    entities:
      - {field: kind, component: event, device_class: button, event_types: [lock.state_changed, lock.jammed]}
  - when: lock.moved
    topic: trackers/{device}
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      lat: /data/location/lat
      lon: /data/location/lon
      acc: /data/location/acc
    entities:
      - {component: device_tracker, latitude: lat, longitude: lon, gps_accuracy: acc}
`

func entityVendors(t *testing.T) []RouteVendor {
	t.Helper()
	p, problems := policy.Parse("acme-locks.yaml", []byte(entityRoutes))
	if len(problems) > 0 {
		t.Fatalf("policy: %v", problems)
	}
	return []RouteVendor{{Name: "acme-locks", Title: p.Title, Routes: p.Routes}, {Name: "gridwise-energy"}}
}

type routeFixture struct {
	*fixture
	ents  *RouteEntities
	known *memKnown
	logs  *syncBuffer
	now   *fakeClock
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newRouteFixture loads the route entities from known (a fresh store when nil) and starts an
// announcer with them over conn (a fresh broker when nil).
func newRouteFixture(t *testing.T, conn *fakeConn, known *memKnown, mutate func(*RouteEntitiesConfig)) *routeFixture {
	t.Helper()
	if known == nil {
		known = newMemKnown()
	}
	logs := &syncBuffer{}
	clock := &fakeClock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	cfg := RouteEntitiesConfig{Prefix: "hookbridge", Version: "1.2.3", Vendors: entityVendors(t), Known: known,
		Log: zerolog.New(logs), Now: clock.Now}
	if mutate != nil {
		mutate(&cfg)
	}
	ents, err := NewRouteEntities(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ents.Load(); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, conn, func(c *Config) { c.Routes = ents })
	return &routeFixture{fixture: f, ents: ents, known: known, logs: logs, now: clock}
}

// routeConfigs returns the retained route entity configs, by topic.
func (f *routeFixture) routeConfigs() map[string]map[string]any {
	f.conn.mu.Lock()
	defer f.conn.mu.Unlock()
	out := map[string]map[string]any{}
	for topic, p := range f.conn.retained {
		if _, object, ok := f.tp.parseConfig(topic); ok && isRouteObject(object) {
			var m map[string]any
			json.Unmarshal(p, &m)
			out[topic] = m
		}
	}
	return out
}

const (
	lockA = "hookbridge/acme-locks/locks/tokA/state"
	lockB = "hookbridge/acme-locks/locks/tokB/state"
)

// TestRouteEntitiesAnnounce: two topics of a route make two devices, each with the route's four
// entities, announced retained and recorded before they are announced; the same topic again adds
// nothing.
func TestRouteEntitiesAnnounce(t *testing.T) {
	f := newRouteFixture(t, nil, nil, nil)
	if !f.ents.Admit(lockA) || !f.ents.Admit(lockB) {
		t.Fatal("Admit(new topic of a route with entities) = false, want true")
	}
	waitFor(t, "8 configs", func() bool { return len(f.routeConfigs()) == 8 })
	configs := f.routeConfigs()

	devices := map[string]int{}
	ids := map[string]bool{}
	for topic, c := range configs {
		parts := strings.Split(topic, "/")
		if c["unique_id"] != "hookbridge_"+parts[3] || ids[parts[3]] {
			t.Errorf("%s: unique_id %v, want hookbridge_%s and unique", topic, c["unique_id"], parts[3])
		}
		ids[parts[3]] = true
		dev := c["device"].(map[string]any)
		id := dev["identifiers"].([]any)[0].(string)
		devices[id]++
		if dev["via_device"] != "hookbridge" || dev["manufacturer"] != "Acme Locks cloud" || dev["model"] != "locks/{device}/state" ||
			!strings.HasPrefix(dev["name"].(string), "Acme Locks cloud locks state ") {
			t.Errorf("%s: device = %v", topic, dev)
		}
		if strings.Contains(topic, "tok") || strings.Contains(fmt.Sprint(c["unique_id"], dev), "tok") {
			t.Errorf("%s: the topic's token shows in the id or device: %v", topic, c)
		}
		av := c["availability"].([]any)
		if c["availability_mode"] != "all" || len(av) != 2 || av[0].(map[string]any)["topic"] != "hookbridge/_ha/availability" ||
			av[1].(map[string]any)["topic"] != "hookbridge/_status/acme-locks" || av[1].(map[string]any)["value_template"] != availabilityTemplate {
			t.Errorf("%s: availability = %v %v", topic, c["availability_mode"], av)
		}
		if c["state_topic"] != lockA && c["state_topic"] != lockB {
			t.Errorf("%s: state_topic = %v", topic, c["state_topic"])
		}
	}
	if len(devices) != 2 {
		t.Errorf("devices = %v, want 2 with 4 entities each", devices)
	}
	for _, n := range devices {
		if n != 4 {
			t.Errorf("devices = %v, want 2 with 4 entities each", devices)
		}
	}
	for _, topic := range []string{lockA, lockB} {
		r, ok := f.known.get("acme-locks", topic)
		if !ok || len(r.Configs) != 4 {
			t.Errorf("record of %s = %v, %v; want its 4 config topics", topic, r, ok)
		}
		for _, c := range r.Configs {
			if _, ok := configs[c]; !ok {
				t.Errorf("record of %s names %s, which is not announced", topic, c)
			}
		}
	}

	n := f.conn.total()
	for range 10 {
		f.ents.Admit(lockA)
	}
	f.ents.Observe(&outcome.Outcome{Vendor: "acme-locks", Topics: []string{lockB}})
	time.Sleep(20 * time.Millisecond)
	if got := f.conn.total(); got != n {
		t.Errorf("known topics again published %d messages, want none", got-n)
	}
	if got := f.ents.Devices(); !maps.Equal(got, map[string]int{"acme-locks": 2}) {
		t.Errorf("Devices() = %v", got)
	}
}

// TestRouteEntitiesAdmit lists which topics get entities.
func TestRouteEntitiesAdmit(t *testing.T) {
	ents, err := NewRouteEntities(RouteEntitiesConfig{Prefix: "hookbridge", Vendors: entityVendors(t), Known: newMemKnown()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		want  bool
	}{
		{lockA, true},
		{"hookbridge/acme-locks/locks/tokA/battery", false}, // its route declares no entities
		{"hookbridge/acme-locks/activity", true},
		{"hookbridge/acme-locks/trackers/tokA", true},
		{"hookbridge/acme-locks/trackers/tokA/x", false},
		{"hookbridge/acme-locks/locks//state", false},
		{"hookbridge/acme-locks/locks/tokA/state/x", false},
		{"hookbridge/acme-locks/locks/tokA", false},
		{"hookbridge/gridwise-energy/locks/tokA/state", false}, // a vendor with no entity routes
		{"hookbridge/other/locks/tokA/state", false},
		{"other/acme-locks/locks/tokA/state", false},
		{"hookbridge/acme-locks", false},
		{"hookbridge", false},
	}
	for _, tt := range tests {
		if got := ents.Admit(tt.topic); got != tt.want {
			t.Errorf("Admit(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
	if got, want := ents.Filters(), []string{"hookbridge/acme-locks/locks/+/state", "hookbridge/acme-locks/activity", "hookbridge/acme-locks/trackers/+"}; !slices.Equal(got, want) {
		t.Errorf("Filters() = %v, want %v", got, want)
	}
}

// TestRouteEntityConfigs checks each component's keys and templates.
func TestRouteEntityConfigs(t *testing.T) {
	f := newRouteFixture(t, nil, nil, nil)
	for _, topic := range []string{lockA, "hookbridge/acme-locks/activity", "hookbridge/acme-locks/trackers/tokA"} {
		f.ents.Admit(topic)
	}
	waitFor(t, "6 configs", func() bool { return len(f.routeConfigs()) == 6 })
	byName := map[string]map[string]any{}
	for topic, c := range f.routeConfigs() {
		c["component"] = strings.Split(topic, "/")[1]
		byName[c["name"].(string)] = c
	}
	tests := []struct {
		name string
		want map[string]any
	}{
		{"Battery", map[string]any{"component": "sensor", "state_topic": lockA, "device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement",
			"value_template": "{% if 'battery' in value_json %}{{ value_json['battery'] }}{% endif %}", "qos": 1.0}},
		{"Unlocked", map[string]any{"component": "binary_sensor", "device_class": "lock", "payload_on": "ON", "payload_off": "OFF",
			"value_template": "{% if 'state' in value_json %}{% if value_json['state'] is none %}None{% else %}{% if (value_json['state'] | string) in ['unlocked'] %}ON{% elif (value_json['state'] | string) in ['locked'] %}OFF{% endif %}{% endif %}{% endif %}"}},
		{"Open", map[string]any{"component": "binary_sensor", "payload_on": "true", "payload_off": "false",
			"value_template": "{% if 'items' in value_json %}{% if value_json['items'] is none %}None{% else %}{{ value_json['items'] | tojson }}{% endif %}{% endif %}"}},
		{"Changed", map[string]any{"component": "event", "event_types": []any{"changed"},
			"value_template": "{% if 'state' in value_json %}{{ dict(value_json, event_type='changed') | tojson }}{% endif %}"}},
		{"Kind", map[string]any{"component": "event", "device_class": "button", "state_topic": "hookbridge/acme-locks/activity",
			"event_types":    []any{"lock.state_changed", "lock.jammed"},
			"value_template": "{% if 'kind' in value_json and (value_json['kind'] | string) in ['lock.state_changed', 'lock.jammed'] %}{{ dict(value_json, event_type=(value_json['kind'] | string)) | tojson }}{% endif %}"}},
		{"Location", map[string]any{"component": "device_tracker", "json_attributes_topic": "hookbridge/acme-locks/trackers/tokA", "source_type": "gps",
			"json_attributes_template": "{{ dict(value_json, latitude=value_json['lat'], longitude=value_json['lon'], gps_accuracy=(value_json['acc'] if 'acc' in value_json else 0)) | tojson }}",
			"state_topic":              nil}},
	}
	for _, tt := range tests {
		c, ok := byName[tt.name]
		if !ok {
			t.Errorf("no entity named %q: %v", tt.name, slices.Collect(maps.Keys(byName)))
			continue
		}
		for k, want := range tt.want {
			if got := c[k]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, got, want)
			}
		}
	}
	// The activity route has no placeholder: one device for the vendor, named without an id.
	if dev := byName["Kind"]["device"].(map[string]any); dev["name"] != "Acme Locks cloud activity" {
		t.Errorf("activity device name = %v", dev["name"])
	}
}

// TestRouteEntitiesCap: past the cap a vendor's new topics are refused, counted, logged once a
// minute and alerted once; the devices under the cap stay.
func TestRouteEntitiesCap(t *testing.T) {
	f := newRouteFixture(t, nil, nil, func(c *RouteEntitiesConfig) { c.DeviceCap = 2 })
	for i := range 5 {
		got := f.ents.Admit(fmt.Sprintf("hookbridge/acme-locks/locks/tok%d/state", i))
		if want := i < 2; got != want {
			t.Errorf("Admit(topic %d) = %v, want %v", i, got, want)
		}
	}
	f.ents.Admit("hookbridge/acme-locks/locks/tok4/state") // a refused topic again: counted, not a new topic
	waitFor(t, "alert", func() bool { return f.conn.count(f.tp.Alerts()) == 1 })
	waitFor(t, "8 configs", func() bool { return len(f.routeConfigs()) == 8 })
	var alert map[string]any
	for _, m := range f.conn.log {
		if m.topic == f.tp.Alerts() {
			json.Unmarshal([]byte(m.payload), &alert)
			if m.retain {
				t.Error("the alert is retained")
			}
		}
	}
	// count is the topics refused when the alert went out: the first refusal wakes the announcer.
	if n, _ := alert["count"].(float64); alert["kind"] != KindEntityCap || alert["vendor"] != "acme-locks" || alert["event_type"] != "alert" || n < 1 || n > 3 || alert["threshold"] != 2.0 {
		t.Errorf("alert = %v", alert)
	}
	if n := strings.Count(f.logs.String(), "reached the cap"); n != 1 {
		t.Errorf("cap logged %d times, want once:\n%s", n, f.logs)
	}
	if f.known.len() != 2 {
		t.Errorf("%d topics recorded, want the 2 under the cap", f.known.len())
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.ents.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()+"{"+m.GetLabel()[0].GetValue()+"}"] = v
		}
	}
	if want := map[string]float64{"hookbridge_ha_devices{acme-locks}": 2, "hookbridge_ha_devices_refused_total{acme-locks}": 4}; !maps.Equal(got, want) {
		t.Errorf("metrics = %v, want %v", got, want)
	}

	// Within the minute more refusals are counted, not logged; after it, logged again but not
	// alerted again within the hour.
	f.ents.Admit("hookbridge/acme-locks/locks/tok5/state")
	time.Sleep(20 * time.Millisecond)
	f.now.Add(2 * time.Minute)
	f.ents.Admit("hookbridge/acme-locks/locks/tok6/state")
	waitFor(t, "second log line", func() bool { return strings.Count(f.logs.String(), "reached the cap") == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := f.conn.count(f.tp.Alerts()); n != 1 {
		t.Errorf("%d alerts within the hour, want 1", n)
	}
}

// TestRouteEntitiesRestart: a new run announces the recorded topics with the same ids and no new
// webhook; the entities of a route, an entity or a vendor that is gone are removed (empty
// retained configs) and forgotten.
func TestRouteEntitiesRestart(t *testing.T) {
	conn, known := newFakeConn(), newMemKnown()
	f := newRouteFixture(t, conn, known, nil)
	f.ents.Admit(lockA)
	f.ents.Admit("hookbridge/acme-locks/activity")
	waitFor(t, "5 configs", func() bool { return len(f.routeConfigs()) == 5 })
	first := f.routeConfigs()
	f.d.Close()

	// Records of topics that no longer have entities: a route removed, a vendor no longer
	// configured, an entity dropped from a route that stays.
	gone := []struct{ vendor, topic, config string }{
		{"acme-locks", "hookbridge/acme-locks/doors/tokD/state", "homeassistant/sensor/hookbridge/acme-locks_r00000000000000d1/config"},
		{"old-vendor", "hookbridge/old-vendor/x", "homeassistant/sensor/hookbridge/old-vendor_r00000000000000e1/config"},
	}
	for _, g := range gone {
		conn.retained[g.config] = []byte(`{"name":"old"}`)
		rec, _ := json.Marshal(record{Configs: []string{g.config}})
		known.PutEntityTopic(g.vendor, g.topic, rec)
	}
	dropped := "homeassistant/binary_sensor/hookbridge/acme-locks_r00000000000000f1/config"
	conn.retained[dropped] = []byte(`{"name":"dropped"}`)
	r, _ := known.get("acme-locks", lockA)
	rec, _ := json.Marshal(record{Configs: append(r.Configs, dropped)})
	known.PutEntityTopic("acme-locks", lockA, rec)
	for topic := range first {
		delete(conn.retained, topic) // the broker lost them: the new run must announce them itself
	}

	f2 := newRouteFixture(t, conn, known, nil)
	waitFor(t, "configs announced again", func() bool { return len(f2.routeConfigs()) == 5 })
	if got := f2.routeConfigs(); !mapsEqualJSON(got, first) {
		t.Errorf("configs after a restart differ:\n%v\nwant\n%v", got, first)
	}
	waitFor(t, "stale records forgotten", func() bool { return known.len() == 2 })
	for _, g := range gone {
		if _, ok := conn.get(g.config); ok {
			t.Errorf("%s still retained", g.config)
		}
	}
	if _, ok := conn.get(dropped); ok {
		t.Errorf("the dropped entity %s is still retained", dropped)
	}
	if r, _ := known.get("acme-locks", lockA); len(r.Configs) != 4 || slices.Contains(r.Configs, dropped) {
		t.Errorf("record of %s = %v, want its 4 configs without the dropped one", lockA, r.Configs)
	}
}

func mapsEqualJSON(a, b map[string]map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestRouteEntitiesStaleSweep: a route entity's config on the broker with no record behind it (a
// record deleted while stopped, a wiped data dir) is cleared; one with a record stays.
func TestRouteEntitiesStaleSweep(t *testing.T) {
	conn, known := newFakeConn(), newMemKnown()
	f := newRouteFixture(t, conn, known, nil)
	f.ents.Admit(lockA)
	waitFor(t, "4 configs", func() bool { return len(f.routeConfigs()) == 4 })
	f.d.Close()
	orphan := "homeassistant/sensor/hookbridge/acme-locks_r0123456789abcdef/config"
	conn.retained[orphan] = []byte(`{"name":"orphan"}`)
	f2 := newRouteFixture(t, conn, known, nil)
	waitFor(t, "the orphan cleared", func() bool { _, ok := conn.get(orphan); return !ok })
	if n := len(f2.routeConfigs()); n != 4 {
		t.Errorf("%d route configs after the sweep, want the 4 recorded", n)
	}
	if strings.Contains(f2.logs.String()+fmt.Sprint(conn.log), "old-vendor") {
		t.Error("a route entity's object id was taken for a vendor's")
	}
}

// TestRouteEntitiesHomeAssistantOnline: Home Assistant's birth message announces every device
// again.
func TestRouteEntitiesHomeAssistantOnline(t *testing.T) {
	f := newRouteFixture(t, nil, nil, nil)
	f.ents.Admit(lockA)
	waitFor(t, "4 configs", func() bool { return len(f.routeConfigs()) == 4 })
	var topic string
	for topic = range f.routeConfigs() {
		break
	}
	before := f.conn.count(topic)
	f.conn.Publish(HAStatusTopic, []byte(Online), false)
	waitFor(t, "configs again", func() bool { return f.conn.count(topic) == before+1 })
}

// TestRouteEntitiesRemoveVendor: offboarding removes a vendor's entities (empty retained configs)
// and records, and its topics are not admitted again.
func TestRouteEntitiesRemoveVendor(t *testing.T) {
	f := newRouteFixture(t, nil, nil, nil)
	f.ents.Admit(lockA)
	f.ents.Admit(lockB)
	waitFor(t, "8 configs", func() bool { return len(f.routeConfigs()) == 8 })
	configs := f.routeConfigs()
	n, err := f.ents.RemoveVendor("acme-locks")
	if n != 2 || err != nil {
		t.Fatalf("RemoveVendor = %d, %v; want 2", n, err)
	}
	if f.known.len() != 0 {
		t.Errorf("%d records left, want none", f.known.len())
	}
	waitFor(t, "configs cleared", func() bool { return len(f.routeConfigs()) == 0 })
	for topic := range configs {
		if f.conn.count(topic) != 2 {
			t.Errorf("%s published %d times, want the config and one empty payload", topic, f.conn.count(topic))
		}
	}
	if f.ents.Admit(lockA) || f.ents.Admit("hookbridge/acme-locks/locks/tokC/state") {
		t.Error("a removed vendor's topic was admitted again")
	}
}

// TestRouteEntitiesRecordedBeforeAnnounced: a topic that cannot be recorded is not announced (a
// config on the broker always has a record, so a restart can remove it); it is once the store
// takes it.
func TestRouteEntitiesRecordedBeforeAnnounced(t *testing.T) {
	known := newMemKnown()
	known.fail = true
	f := newRouteFixture(t, nil, known, nil)
	f.ents.Admit(lockA)
	time.Sleep(50 * time.Millisecond)
	if n := len(f.routeConfigs()); n != 0 {
		t.Fatalf("%d configs announced without a record", n)
	}
	known.mu.Lock()
	known.fail = false
	known.mu.Unlock()
	waitFor(t, "4 configs after the store recovered", func() bool { return len(f.routeConfigs()) == 4 })
}

// TestRouteEntitiesVendorAvailability: the vendor's entities follow its kill switch through the
// status topic their availability reads.
func TestRouteEntitiesVendorAvailability(t *testing.T) {
	f := newRouteFixture(t, nil, nil, nil)
	f.sw.Disable("acme-locks", killswitch.ByAPI, "test")
	waitFor(t, "status disabled", func() bool {
		p, _ := f.conn.get(f.tp.Status("acme-locks"))
		return strings.Contains(p, `"mode":"disabled"`)
	})
	// The template Home Assistant applies: mode enabled is online, anything else offline.
	if !strings.Contains(availabilityTemplate, "value_json.mode == 'enabled'") {
		t.Errorf("availability template %q does not read the mode", availabilityTemplate)
	}
}

// BenchmarkAdmit measures the webhook path's cost for a known topic and for a topic of a route
// without entities.
func BenchmarkAdmit(b *testing.B) {
	p, _ := policy.Parse("acme-locks.yaml", []byte(entityRoutes))
	ents, _ := NewRouteEntities(RouteEntitiesConfig{Prefix: "hookbridge", Known: newMemKnown(),
		Vendors: []RouteVendor{{Name: "acme-locks", Routes: p.Routes}}})
	ents.Admit(lockA)
	for _, bc := range []struct{ name, topic string }{
		{"known", lockA},
		{"no entities", "hookbridge/acme-locks/locks/tokA/battery"},
		{"other vendor", "hookbridge/porchlight-cams/cameras/tokA/motion"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ents.Admit(bc.topic)
				}
			})
		})
	}
}

// renderPy renders Jinja templates as Home Assistant renders an MQTT value template: in Jinja's
// immutable sandbox with value and value_json (the payload parsed as JSON). StrictUndefined is
// stricter than Home Assistant, which renders an undefined value as empty with a warning: a
// template that reads a field the message leaves out fails here.
const renderPy = `
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2 import StrictUndefined
env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
out = []
for case in json.load(sys.stdin):
    try:
        v = {"value": case["payload"], "value_json": json.loads(case["payload"])}
        out.append({"out": env.from_string(case["tpl"]).render(v)})
    except Exception as e:
        out.append({"err": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
`

// TestRouteEntityTemplatesRender renders every template a route entity sends with Jinja, the
// engine Home Assistant renders them with, against the messages the route publishes: what each
// entity's state, event or position becomes, and that a message without the field changes nothing.
// It needs a python3 with jinja2 (Debian: python3-jinja2, which scripts/test installs).
func TestRouteEntityTemplatesRender(t *testing.T) {
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import jinja2.sandbox").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Fatal("needs a python3 with jinja2 (apt-get install -y python3-jinja2; scripts/test installs it)")
	}
	// Two more entities on the lock's state: an enum sensor and a binary sensor with only on.
	changed := "      - {field: state, component: event, name: Changed, event_types: [changed]}\n"
	more := changed + "      - {field: state, component: sensor, name: State, device_class: enum, options: [locked, unlocked]}\n" +
		"      - {field: state, component: binary_sensor, name: Locked, on: [locked]}\n"
	p, probs := policy.Parse("acme-locks.yaml", []byte(strings.Replace(entityRoutes, changed, more, 1)))
	if len(probs) > 0 || !strings.Contains(entityRoutes, changed) {
		t.Fatalf("policy: %v", probs)
	}
	ents, err := NewRouteEntities(RouteEntitiesConfig{Prefix: "hookbridge", Known: newMemKnown(),
		Vendors: []RouteVendor{{Name: "acme-locks", Routes: p.Routes}}})
	if err != nil {
		t.Fatal(err)
	}
	tpl := map[string]string{} // entity name -> its template
	for _, topic := range []string{lockA, "hookbridge/acme-locks/activity", "hookbridge/acme-locks/trackers/tokA"} {
		v, routes := ents.routesFor(topic)
		for _, c := range routeEntities(NewTopics("hookbridge"), "1", &device{vendor: v, topic: topic, routes: routes}) {
			key := "value_template"
			if c.Component == policy.ComponentDeviceTracker {
				key = "json_attributes_template"
			}
			tpl[c.Config["name"].(string)] = c.Config[key].(string)
		}
	}
	tpl["availability"] = availabilityTemplate
	tests := []struct {
		entity, payload, want string
	}{
		{"Battery", `{"device":"tokA","state":"locked","battery":87}`, "87"},
		{"Battery", `{"device":"tokA","battery":12.5}`, "12.5"},
		{"Battery", `{"device":"tokA","battery":null}`, "None"}, // Home Assistant's "None": unknown
		{"Battery", `{"device":"tokA","state":"locked"}`, ""},   // no field: ignored
		{"Unlocked", `{"state":"unlocked"}`, "ON"},
		{"Unlocked", `{"state":"locked"}`, "OFF"},
		{"Unlocked", `{"state":"jammed"}`, ""}, // in neither list: unchanged
		{"Unlocked", `{"battery":3}`, ""},
		{"Unlocked", `{"state":null}`, "None"}, // unknown
		{"Locked", `{"state":"locked"}`, "ON"},
		{"Locked", `{"state":"jammed"}`, "OFF"},
		{"Locked", `{"state":null}`, "None"}, // unknown, not OFF
		{"State", `{"state":"locked"}`, "locked"},
		{"State", `{"state":null}`, ""}, // an enum refuses "None": unchanged
		{"State", `{}`, ""},
		{"Open", `{"items":true}`, "true"}, // payload_on
		{"Open", `{"items":false}`, "false"},
		{"Open", `{"items":"true"}`, `"true"`}, // a string matches neither payload
		{"Open", `{}`, ""},
		{"Open", `{"items":null}`, "None"}, // unknown, where "null" matched neither payload
		{"Changed", `{"device":"tokA","state":"locked"}`, `{"device": "tokA", "state": "locked", "event_type": "changed"}`},
		{"Changed", `{"device":"tokA"}`, ""},
		{"Kind", `{"kind":"lock.jammed","at":1}`, `{"kind": "lock.jammed", "at": 1, "event_type": "lock.jammed"}`},
		{"Kind", `{"kind":"lock.unknown"}`, ""},
		{"Kind", `{}`, ""},
		{"Location", `{"device":"tokA","lat":52.1,"lon":4.3,"acc":7}`, `{"device": "tokA", "lat": 52.1, "lon": 4.3, "acc": 7, "latitude": 52.1, "longitude": 4.3, "gps_accuracy": 7}`},
		{"Location", `{"device":"tokA","lat":52.1,"lon":4.3}`, `{"device": "tokA", "lat": 52.1, "lon": 4.3, "latitude": 52.1, "longitude": 4.3, "gps_accuracy": 0}`},
		{"availability", `{"mode":"enabled","healthy":false}`, "online"},
		{"availability", `{"mode":"disabled"}`, "offline"},
		{"availability", `{"mode":"quarantined"}`, "offline"},
	}
	type rcase struct {
		Tpl     string `json:"tpl"`
		Payload string `json:"payload"`
	}
	var in []rcase
	for _, tt := range tests {
		if tpl[tt.entity] == "" {
			t.Fatalf("no template for %s: %v", tt.entity, tpl)
		}
		in = append(in, rcase{tpl[tt.entity], tt.payload})
	}
	data, _ := json.Marshal(in)
	cmd := exec.Command(python, "-c", renderPy)
	cmd.Stdin = bytes.NewReader(data)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var out []struct{ Out, Err string }
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != len(tests) {
		t.Fatalf("python3 said %s (%v)", raw, err)
	}
	same := func(got, want string) bool {
		var g, w map[string]any
		if strings.HasPrefix(want, "{") && json.Unmarshal([]byte(got), &g) == nil && json.Unmarshal([]byte(want), &w) == nil {
			return fmt.Sprint(g) == fmt.Sprint(w) // JSON objects: the same keys and values
		}
		return got == want
	}
	for i, tt := range tests {
		if out[i].Err != "" || !same(out[i].Out, tt.want) {
			t.Errorf("%s with %s renders %q (%s), want %q\ntemplate: %s", tt.entity, tt.payload, out[i].Out, out[i].Err, tt.want, tpl[tt.entity])
		}
	}
}
