package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/stats"
)

// fakeConn is an in-memory broker with one client: retained messages, and subscriptions whose
// handlers run synchronously in the publishing call (as the embedded broker's inline client does).
type fakeConn struct {
	mu       sync.Mutex
	retained map[string][]byte
	subs     []fakeSub
	log      []msg // every publish, in order
	fail     int   // the next fail publishes return an error
}

type fakeSub struct {
	filter string
	fn     func(string, []byte)
}

type msg struct {
	topic   string
	payload string
	retain  bool
}

func newFakeConn() *fakeConn { return &fakeConn{retained: map[string][]byte{}} }

func (c *fakeConn) Publish(topic string, payload []byte, retain bool) error {
	c.mu.Lock()
	if c.fail > 0 {
		c.fail--
		c.mu.Unlock()
		return errors.New("not connected")
	}
	c.log = append(c.log, msg{topic, string(payload), retain})
	if retain {
		if len(payload) == 0 {
			delete(c.retained, topic)
		} else {
			c.retained[topic] = append([]byte(nil), payload...)
		}
	}
	var fns []func(string, []byte)
	for _, s := range c.subs {
		if match(s.filter, topic) {
			fns = append(fns, s.fn)
		}
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn(topic, payload)
	}
	return nil
}

func (c *fakeConn) Subscribe(filter string, fn func(string, []byte)) error {
	c.mu.Lock()
	c.subs = append(c.subs, fakeSub{filter, fn})
	var hits []msg
	for t, p := range c.retained {
		if match(filter, t) {
			hits = append(hits, msg{t, string(p), true})
		}
	}
	c.mu.Unlock()
	for _, m := range hits {
		fn(m.topic, []byte(m.payload))
	}
	return nil
}

// match reports whether an MQTT filter matches a topic.
func match(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(t) || (level != "+" && level != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

func (c *fakeConn) get(topic string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.retained[topic]
	return string(p), ok
}

func (c *fakeConn) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.log {
		if m.topic == topic {
			n++
		}
	}
	return n
}

func (c *fakeConn) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.log)
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var testVendors = []Vendor{{Name: "acme-locks", Title: "Acme Locks cloud"}, {Name: "gridwise-energy"}}

type fixture struct {
	conn *fakeConn
	sw   *killswitch.Switches
	st   *stats.Stats
	d    *Discovery
	tp   Topics
}

// newFixture starts an announcer for testVendors over conn (a fresh one when nil).
func newFixture(t *testing.T, conn *fakeConn, mutate func(*Config)) *fixture {
	t.Helper()
	if conn == nil {
		conn = newFakeConn()
	}
	on := map[string]bool{}
	var names []string
	for _, v := range testVendors {
		on[v.Name] = true
		names = append(names, v.Name)
	}
	sw := killswitch.New(on, on, nil, nil)
	st := stats.New(names)
	cfg := Config{Conn: conn, Prefix: "hookbridge", Version: "1.2.3", Vendors: testVendors,
		Switches: sw, Counters: st, Log: zerolog.Nop(), StatusInterval: 20 * time.Millisecond,
		RetryInterval: 10 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	f := &fixture{conn: conn, sw: sw, st: st, d: d, tp: d.Topics()}
	waitFor(t, "availability online", func() bool { p, _ := f.conn.get(f.tp.Availability()); return p == Online })
	return f
}

// config returns the retained discovery config of an entity, decoded.
func (f *fixture) config(t *testing.T, component, object string) map[string]any {
	t.Helper()
	raw, ok := f.conn.get(f.tp.Config(component, object))
	if !ok {
		t.Fatalf("no retained config for %s/%s", component, object)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("config %s/%s: %v", component, object, err)
	}
	return m
}

func TestAnnounce(t *testing.T) {
	f := newFixture(t, nil, nil)
	type want struct {
		component, object, stateTopic, command string
	}
	cases := []want{
		{"binary_sensor", "acme-locks_health", "hookbridge/_status/acme-locks", ""},
		{"sensor", "acme-locks_accepted", "hookbridge/_status/acme-locks", ""},
		{"sensor", "acme-locks_rejected", "hookbridge/_status/acme-locks", ""},
		{"switch", "acme-locks_webhooks", "hookbridge/_switch/acme-locks/state", "hookbridge/_switch/acme-locks/set"},
		{"binary_sensor", "gridwise-energy_health", "hookbridge/_status/gridwise-energy", ""},
		{"switch", "gridwise-energy_webhooks", "hookbridge/_switch/gridwise-energy/state", "hookbridge/_switch/gridwise-energy/set"},
		{"event", "alerts", "hookbridge/_alerts", ""},
	}
	uniq := map[string]bool{}
	for _, c := range cases {
		t.Run(c.component+"/"+c.object, func(t *testing.T) {
			m := f.config(t, c.component, c.object)
			if got := m["state_topic"]; got != c.stateTopic {
				t.Errorf("state_topic = %v, want %s", got, c.stateTopic)
			}
			if got, _ := m["command_topic"].(string); got != c.command {
				t.Errorf("command_topic = %q, want %q", got, c.command)
			}
			if got := m["availability_topic"]; got != "hookbridge/_ha/availability" {
				t.Errorf("availability_topic = %v", got)
			}
			if m["payload_available"] != Online || m["payload_not_available"] != Offline {
				t.Errorf("availability payloads = %v/%v", m["payload_available"], m["payload_not_available"])
			}
			dev, _ := m["device"].(map[string]any)
			if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "hookbridge" || dev["name"] != "Hookbridge" || dev["sw_version"] != "1.2.3" {
				t.Errorf("device = %v", dev)
			}
			if o, _ := m["origin"].(map[string]any); o["name"] != "Hookbridge" {
				t.Errorf("origin = %v", m["origin"])
			}
			id, _ := m["unique_id"].(string)
			if id != "hookbridge_"+c.object || uniq[id] {
				t.Errorf("unique_id = %q, want hookbridge_%s and unique", id, c.object)
			}
			uniq[id] = true
		})
	}
	if got := f.config(t, "switch", "acme-locks_webhooks")["name"]; got != "Acme Locks cloud webhooks" {
		t.Errorf("switch name = %v, want the policy title", got)
	}
	if got := f.config(t, "binary_sensor", "gridwise-energy_health")["name"]; got != "gridwise-energy health" {
		t.Errorf("health name without a title = %v", got)
	}
	waitFor(t, "switch state", func() bool { p, _ := f.conn.get(f.tp.SwitchState("acme-locks")); return p == On })
	waitFor(t, "status", func() bool { _, ok := f.conn.get(f.tp.Status("acme-locks")); return ok })
	raw, _ := f.conn.get(f.tp.Status("acme-locks"))
	var st Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Mode != killswitch.Enabled || !st.Healthy {
		t.Errorf("status = %s (%v), want enabled and healthy", raw, err)
	}
}

func TestRepublishOnHomeAssistantOnline(t *testing.T) {
	f := newFixture(t, nil, nil)
	topic := f.tp.Config("switch", "acme-locks_webhooks")
	if n := f.conn.count(topic); n != 1 {
		t.Fatalf("config published %d times at start, want 1", n)
	}
	f.conn.Publish(HAStatusTopic, []byte(Offline), false)
	f.conn.Publish(HAStatusTopic, []byte(Online), false)
	waitFor(t, "second announcement", func() bool { return f.conn.count(topic) == 2 })
	waitFor(t, "every config again", func() bool {
		for _, e := range Entities(f.tp, "1.2.3", testVendors) {
			if f.conn.count(f.tp.Config(e.Component, e.Object)) != 2 {
				return false
			}
		}
		return true
	})
}

func TestCommands(t *testing.T) {
	f := newFixture(t, nil, nil)
	cmd := func(vendor, payload string) { f.conn.Publish(f.tp.SwitchCommand(vendor), []byte(payload), false) }
	state := func(vendor string) func() killswitch.Mode {
		return func() killswitch.Mode { s, _ := f.sw.Get(vendor); return s.Mode }
	}
	waitState := func(vendor, want string) {
		t.Helper()
		waitFor(t, vendor+" switch state "+want, func() bool { p, _ := f.conn.get(f.tp.SwitchState(vendor)); return p == want })
	}

	cmd("acme-locks", Off)
	waitFor(t, "disabled", func() bool { return state("acme-locks")() == killswitch.Disabled })
	waitState("acme-locks", Off)
	if s, _ := f.sw.Get("acme-locks"); s.By != killswitch.ByMQTT {
		t.Errorf("By = %q, want %q", s.By, killswitch.ByMQTT)
	}
	cmd("acme-locks", On)
	waitFor(t, "enabled", func() bool { return state("acme-locks")() == killswitch.Enabled })
	waitState("acme-locks", On)

	// An MQTT command never lifts a quarantine, and Home Assistant's switch is put back to OFF.
	if err := f.sw.Quarantine("gridwise-energy", "burst of bad signatures"); err != nil {
		t.Fatal(err)
	}
	waitState("gridwise-energy", Off)
	before := f.conn.count(f.tp.SwitchState("gridwise-energy"))
	cmd("gridwise-energy", On)
	waitFor(t, "state republished after a refused command", func() bool {
		return f.conn.count(f.tp.SwitchState("gridwise-energy")) > before
	})
	if got := state("gridwise-energy")(); got != killswitch.Quarantined {
		t.Fatalf("after ON: mode = %s, want quarantined", got)
	}
	if p, _ := f.conn.get(f.tp.SwitchState("gridwise-energy")); p != Off {
		t.Fatalf("switch state = %s, want OFF", p)
	}
	before = f.conn.count(f.tp.SwitchState("gridwise-energy"))
	cmd("gridwise-energy", Off)
	waitFor(t, "state republished", func() bool { return f.conn.count(f.tp.SwitchState("gridwise-energy")) > before })
	if got := state("gridwise-energy")(); got != killswitch.Quarantined {
		t.Fatalf("after OFF: mode = %s, want still quarantined", got)
	}

	// Unknown payloads and vendors change nothing.
	for _, p := range []string{"on", "toggle", "1", " ON"} {
		cmd("acme-locks", Off)
		waitFor(t, "disabled", func() bool { return state("acme-locks")() == killswitch.Disabled })
		cmd("acme-locks", p)
		cmd("not-configured", On)
		time.Sleep(20 * time.Millisecond)
		if got := state("acme-locks")(); got != killswitch.Disabled {
			t.Fatalf("payload %q: mode = %s, want disabled", p, got)
		}
		cmd("acme-locks", On)
		waitFor(t, "enabled", func() bool { return state("acme-locks")() == killswitch.Enabled })
	}
}

func TestRetainedCommandNotApplied(t *testing.T) {
	conn := newFakeConn()
	tp := NewTopics("hookbridge")
	conn.retained[tp.SwitchCommand("acme-locks")] = []byte(Off)
	f := newFixture(t, conn, nil)
	if _, ok := conn.get(tp.SwitchCommand("acme-locks")); ok {
		t.Error("retained command still on the broker")
	}
	time.Sleep(30 * time.Millisecond)
	if s, _ := f.sw.Get("acme-locks"); s.Mode != killswitch.Enabled {
		t.Fatalf("mode = %s after a stale retained OFF, want enabled", s.Mode)
	}
}

func TestRemovedVendorEntitiesCleared(t *testing.T) {
	conn := newFakeConn()
	tp := NewTopics("hookbridge")
	// A previous run announced old-vendor too; another node's config is not ours to touch.
	for _, e := range Entities(tp, "1.0.0", []Vendor{{Name: "old-vendor"}, {Name: "acme-locks"}}) {
		conn.retained[tp.Config(e.Component, e.Object)] = []byte(`{"name":"x"}`)
	}
	conn.retained[tp.Status("old-vendor")] = []byte(`{"mode":"enabled"}`)
	conn.retained[tp.SwitchState("old-vendor")] = []byte(On)
	foreign := "homeassistant/switch/other-node/old-vendor_webhooks/config"
	conn.retained[foreign] = []byte(`{"name":"y"}`)
	dropped := tp.Config("button", "acme-locks_restart") // an entity a newer version dropped
	conn.retained[dropped] = []byte(`{"name":"z"}`)

	f := newFixture(t, conn, nil)
	waitFor(t, "old-vendor entities cleared", func() bool {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		for topic := range conn.retained {
			if strings.Contains(topic, "old-vendor") && topic != foreign {
				return false
			}
		}
		_, ok := conn.retained[dropped]
		return !ok
	})
	if _, ok := conn.get(foreign); !ok {
		t.Error("another node's config was cleared")
	}
	for _, e := range Entities(f.tp, "1.2.3", testVendors) {
		if _, ok := conn.get(f.tp.Config(e.Component, e.Object)); !ok {
			t.Errorf("config %s/%s of a configured vendor missing", e.Component, e.Object)
		}
	}
}

func TestStatusFollowsCounters(t *testing.T) {
	f := newFixture(t, nil, nil)
	waitFor(t, "first status", func() bool { _, ok := f.conn.get(f.tp.Status("acme-locks")); return ok })
	start := f.conn.count(f.tp.Status("acme-locks"))
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := range 200 {
		f.st.Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Received: now.Add(time.Duration(i) * time.Millisecond)})
	}
	f.st.Observe(&outcome.Outcome{Vendor: "acme-locks", Status: 401, Reason: outcome.BadSignature, Received: now.Add(time.Second)})
	var st Status
	waitFor(t, "status with the counts", func() bool {
		raw, _ := f.conn.get(f.tp.Status("acme-locks"))
		return json.Unmarshal([]byte(raw), &st) == nil && st.Accepted == 200 && st.Rejected == 1
	})
	if st.Healthy || st.Problem != "the last request was refused" || st.ByReason["bad_signature"] != 1 {
		t.Errorf("status = %+v, want unhealthy by a refused request", st)
	}
	if n := f.conn.count(f.tp.Status("acme-locks")) - start; n > 20 {
		t.Errorf("201 outcomes published the status %d times; want them coalesced", n)
	}
}

func TestPublishRetried(t *testing.T) {
	// The broker refuses the first publishes (the retained-command clearing and part of the first
	// announcement): Start goes on and everything is published on a retry.
	conn := newFakeConn()
	f := newFixture(t, conn, func(c *Config) { c.Conn = &failAfter{fakeConn: conn, after: 3, n: 4} })
	waitFor(t, "every config despite failures", func() bool {
		for _, e := range Entities(f.tp, "1.2.3", testVendors) {
			if _, ok := conn.get(f.tp.Config(e.Component, e.Object)); !ok {
				return false
			}
		}
		return true
	})
}

// failAfter lets after publishes through, then fails n.
type failAfter struct {
	*fakeConn
	mu       sync.Mutex
	after, n int
}

func (c *failAfter) Publish(topic string, payload []byte, retain bool) error {
	c.mu.Lock()
	if c.after > 0 {
		c.after--
	} else if c.n > 0 {
		c.n--
		c.mu.Unlock()
		return errors.New("connection lost")
	}
	c.mu.Unlock()
	return c.fakeConn.Publish(topic, payload, retain)
}

func TestCloseSaysOffline(t *testing.T) {
	f := newFixture(t, nil, nil)
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.conn.get(f.tp.Availability()); p != Offline {
		t.Fatalf("availability after Close = %q, want offline", p)
	}
	// Changes after Close publish nothing.
	n := f.conn.total()
	f.sw.Disable("acme-locks", killswitch.ByAPI, "")
	f.conn.Publish(HAStatusTopic, []byte(Online), false)
	time.Sleep(20 * time.Millisecond)
	if got := f.conn.total(); got != n+1 { // the test's own publish
		t.Fatalf("%d publishes after Close, want none", got-n-1)
	}
	if err := f.d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	on := killswitch.State{Mode: killswitch.Enabled}
	cases := []struct {
		name    string
		state   killswitch.State
		counts  stats.Vendor
		problem string
	}{
		{"fresh", on, stats.Vendor{}, ""},
		{"last event ok", on, stats.Vendor{LastEvent: t0.Add(time.Second), LastError: t0}, ""},
		{"last refused", on, stats.Vendor{LastEvent: t0, LastError: t0.Add(time.Second)}, "the last request was refused"},
		{"only refused", on, stats.Vendor{LastError: t0}, "the last request was refused"},
		{"disabled", killswitch.State{Mode: killswitch.Disabled, Reason: "by hand"}, stats.Vendor{}, "disabled: by hand"},
		{"disabled no reason", killswitch.State{Mode: killswitch.Disabled}, stats.Vendor{}, "disabled"},
		{"quarantined", killswitch.State{Mode: killswitch.Quarantined, Reason: "spike"}, stats.Vendor{}, "quarantined: spike"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewStatus("v", c.state, c.counts)
			if s.Problem != c.problem || s.Healthy != (c.problem == "") {
				t.Errorf("NewStatus = problem %q healthy %v, want %q", s.Problem, s.Healthy, c.problem)
			}
			var m map[string]any
			if err := json.Unmarshal(s.payload(), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"mode", "reason", "by", "since", "healthy", "accepted", "rejected", "by_reason", "last_event", "last_error"} {
				if _, ok := m[k]; !ok {
					t.Errorf("payload lacks %q (templates read it): %v", k, m)
				}
			}
		})
	}
}

func TestTopics(t *testing.T) {
	cases := []struct {
		prefix, node string
	}{
		{"hookbridge", "hookbridge"},
		{"home/hooks", "home_hooks"},
		{"a b.c", "a_b_c"},
	}
	for _, c := range cases {
		if got := NewTopics(c.prefix).Node; got != c.node {
			t.Errorf("NewTopics(%q).Node = %q, want %q", c.prefix, got, c.node)
		}
	}
	tp := NewTopics("hookbridge")
	commands := []struct {
		topic, vendor string
		ok            bool
	}{
		{"hookbridge/_switch/acme-locks/set", "acme-locks", true},
		{"hookbridge/_switch/acme-locks/state", "", false},
		{"hookbridge/_switch/Acme/set", "", false},
		{"hookbridge/_switch//set", "", false},
		{"other/_switch/acme-locks/set", "", false},
		{"hookbridge/_switch/a/b/set", "", false},
	}
	for _, c := range commands {
		v, ok := tp.vendorOf(c.topic)
		if ok != c.ok || (ok && v != c.vendor) {
			t.Errorf("vendorOf(%q) = %q, %v, want %q, %v", c.topic, v, ok, c.vendor, c.ok)
		}
	}
	// Every state topic sits under a level no vendor can have.
	for _, topic := range []string{tp.Availability(), tp.Status("x"), tp.SwitchState("x"), tp.SwitchCommand("x"), tp.Alerts()} {
		level := strings.Split(topic, "/")[1]
		if validVendor(level) {
			t.Errorf("%s: level %q could be a vendor", topic, level)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	on := map[string]bool{}
	good := Config{Conn: newFakeConn(), Prefix: "hookbridge", Switches: killswitch.New(on, on, nil, nil), Counters: stats.New(nil)}
	cases := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no conn", func(c *Config) { c.Conn = nil }},
		{"empty prefix", func(c *Config) { c.Prefix = "" }},
		{"wildcard prefix", func(c *Config) { c.Prefix = "a/#" }},
		{"bad vendor", func(c *Config) { c.Vendors = []Vendor{{Name: "a_b"}} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.mutate(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Errorf("New(good) = %v", err)
	}
}

func ExampleEntities() {
	for _, e := range Entities(NewTopics("hookbridge"), "dev", []Vendor{{Name: "acme-locks"}}) {
		fmt.Println(NewTopics("hookbridge").Config(e.Component, e.Object))
	}
	// Output:
	// homeassistant/binary_sensor/hookbridge/acme-locks_health/config
	// homeassistant/sensor/hookbridge/acme-locks_accepted/config
	// homeassistant/sensor/hookbridge/acme-locks_rejected/config
	// homeassistant/switch/hookbridge/acme-locks_webhooks/config
	// homeassistant/sensor/hookbridge/acme-locks_mode/config
	// homeassistant/event/hookbridge/alerts/config
}

// TestAnnounceMode checks the vendor's mode for Home Assistant: an enum sensor per vendor that
// reads vendor_mode from its status, which says live unless the vendor is in shadow or learn
// mode.
func TestAnnounceMode(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Vendors = []Vendor{{Name: "acme-locks", Title: "Acme Locks cloud", Mode: "shadow"}, {Name: "gridwise-energy"}}
	})
	m := f.config(t, "sensor", "acme-locks_mode")
	if m["state_topic"] != "hookbridge/_status/acme-locks" || m["value_template"] != "{{ value_json.vendor_mode }}" ||
		m["device_class"] != "enum" || fmt.Sprint(m["options"]) != "[live shadow learn]" || m["name"] != "Acme Locks cloud mode" {
		t.Errorf("mode sensor config = %v", m)
	}
	for vendor, want := range map[string]string{"acme-locks": "shadow", "gridwise-energy": "live"} {
		waitFor(t, vendor+" status", func() bool { _, ok := f.conn.get(f.tp.Status(vendor)); return ok })
		raw, _ := f.conn.get(f.tp.Status(vendor))
		var st Status
		if err := json.Unmarshal([]byte(raw), &st); err != nil || st.VendorMode != want || st.Mode != killswitch.Enabled {
			t.Errorf("status of %s = %s (%v), want vendor_mode %s and the kill switch enabled", vendor, raw, err, want)
		}
	}
}
