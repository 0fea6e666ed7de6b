package e2e_test

// End-to-end tests of the Home Assistant entities that routes declare (issue 16), against the real
// binary (bridgetest.Process), with a real MQTT client playing Home Assistant: logged in as the
// homeassistant account on the embedded broker, or on a real Mosquitto offered by a stand-in
// Supervisor. Every discovery config is checked against Home Assistant's MQTT platform schemas
// (ha_schema_test.go, from testdata/ha).

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// entCanaries are identifiers in the events these tests send that must never leave the process in
// clear: the device ids the routes pseudonymize and personal data no route lists.
var entCanaries = []string{"LCK-CANARY-A-5511", "LCK-CANARY-B-5522", "usr_canary_77", "Jane Canary", "jane.canary@example.com",
	"cam_canary_8842", "MTR-CANARY-0192"}

// entAcmeFields are the fields of acme-locks' lock.state_changed route: all a state message may carry.
var entAcmeFields = []string{"device", "state", "battery", "method", "actor"}

func entAcme(id, device, state string, battery int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"device_serial":"SN-CANARY-1","state":%q,"battery_pct":%d,"method":"keypad","user":{"id":"usr_canary_77","name":"Jane Canary","email":"jane.canary@example.com"}}}`,
		id, device, state, battery)
}

func entDoorbell(id, camera string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"object":"event","type":"doorbell.pressed","created":1764058443,"data":{"object":{"camera_id":%q,"owner":{"name":"Jane Canary"}}}}`, id, camera)
}

func entTariff(id string) []byte {
	return fmt.Appendf(nil, `{"delivery_id":%q,"event":"tariff.updated","account":{"id":"acct_1","meter_serial":"MTR-CANARY-0192","holder":"Jane Canary"},"tariff":{"price_eur_kwh":0.2412,"valid_from":"2026-11-25T00:00:00Z","valid_to":"2026-11-26T00:00:00Z"}}`, id)
}

// entSender signs and posts events to a bridge's partner listener.
type entSender struct {
	t   *testing.T
	url string
	p   *bridgetest.Process
}

func (s entSender) send(vendor, id string, body []byte) {
	s.t.Helper()
	cv, _ := s.p.Catalog.Vendor(vendor)
	h, err := verify.Signer{Auth: cv.Policy.Auth, Secret: bridgetest.Secrets()[vendor]}.Sign(body, id, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	h["Content-Type"] = "application/json"
	if r := bridgetest.Do(s.t, http.MethodPost, "http://"+s.p.HTTPAddr+"/hooks/"+vendor, h, body); r.Status != http.StatusAccepted {
		s.t.Fatalf("POST %s %s = %d %s", vendor, id, r.Status, r.Raw)
	}
}

// entConfig is a retained discovery config as a client received it.
type entConfig struct {
	Topic  string
	Raw    string
	Config map[string]any
}

// entObjectRE matches the object ids of route entities: "{vendor}_r" and 16 hex digits.
var entObjectRE = regexp.MustCompile(`^[a-z0-9-]+_r[0-9a-f]{16}$`)

// entRouteConfigs returns the last non-empty config of each route entity (object id "{vendor}_r…")
// among msgs, by topic.
func entRouteConfigs(msgs []entMsg) map[string]entConfig {
	out := map[string]entConfig{}
	for _, m := range msgs {
		parts := strings.Split(m.Topic, "/")
		if len(parts) != 5 || parts[0] != "homeassistant" || parts[4] != "config" || !entObjectRE.MatchString(parts[3]) {
			continue
		}
		if m.Payload == "" {
			delete(out, m.Topic)
			continue
		}
		var c map[string]any
		json.Unmarshal([]byte(m.Payload), &c)
		out[m.Topic] = entConfig{Topic: m.Topic, Raw: m.Payload, Config: c}
	}
	return out
}

// entMsg is a message from either kind of test client.
type entMsg struct {
	Topic, Payload string
	Retained       bool
}

func entFromBridge(ms []bridgetest.Message) []entMsg {
	out := make([]entMsg, len(ms))
	for i, m := range ms {
		out[i] = entMsg{m.Topic, m.Payload, m.Retained}
	}
	return out
}

func entFromMosquitto(ms []mosquittotest.Message) []entMsg {
	out := make([]entMsg, len(ms))
	for i, m := range ms {
		out[i] = entMsg{m.Topic, m.Payload, m.Retained}
	}
	return out
}

// entHA connects as Home Assistant to the embedded broker and subscribes to discovery and every
// topic under the prefix.
func entHA(t *testing.T, addr, id string) *bridgetest.Subscriber {
	t.Helper()
	sub, err := bridgetest.Connect(t, addr, options.HomeAssistantUser, bridgetest.HAPassword, id, true)
	if err != nil {
		t.Fatalf("connect homeassistant: %v", err)
	}
	sub.Internal = true
	for _, f := range []string{"homeassistant/#", "hookbridge/#"} {
		if code := sub.Subscribe(f); code > 2 {
			t.Fatalf("homeassistant subscribe %s: 0x%02x", f, code)
		}
	}
	return sub
}

// entCheckConfigs checks every discovery config received (Hookbridge's own too) against Home
// Assistant's schemas and returns how many were checked.
func entCheckConfigs(t *testing.T, msgs []entMsg) int {
	t.Helper()
	last := map[string]string{}
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, "homeassistant/") && strings.HasSuffix(m.Topic, "/config") {
			last[m.Topic] = m.Payload
		}
	}
	n := 0
	for topic, payload := range last {
		if payload == "" {
			continue
		}
		problems, checked := haCheck(topic, []byte(payload))
		if !checked {
			continue
		}
		n++
		for _, p := range problems {
			t.Errorf("%s: %s\n%s", topic, p, payload)
		}
	}
	return n
}

// entDevices groups route configs by their device's identifier.
func entDevices(configs map[string]entConfig) map[string][]entConfig {
	out := map[string][]entConfig{}
	for _, c := range configs {
		dev, _ := c.Config["device"].(map[string]any)
		ids, _ := dev["identifiers"].([]any)
		if len(ids) == 1 {
			id := ids[0].(string)
			out[id] = append(out[id], c)
		}
	}
	return out
}

func entUniqueIDs(configs map[string]entConfig) map[string]string {
	out := map[string]string{}
	for topic, c := range configs {
		out[topic] = fmt.Sprint(c.Config["unique_id"])
	}
	return out
}

// TestEntitiesEmbedded: with ha_mqtt embedded, two locks of one vendor become two Home Assistant
// devices with the policy's five entities each (the doorbell and the tariff theirs); every config
// passes Home Assistant's schema; the state messages carry only the route's fields; no canary
// shows in a topic, payload or the log; the unique ids survive a restart, which announces the
// known topics from the store when Home Assistant says online; a vendor no longer configured
// leaves no retained config for a fresh subscriber, and is not announced again without a new
// event.
func TestEntitiesEmbedded(t *testing.T) {
	o := bridgetest.DefaultOptions()
	o.HAMQTT = options.HAMQTTEmbedded
	p := bridgetest.NewProcess(t, o)
	p.Start()
	ha := entHA(t, p.MQTTAddr, "ent-ha-1")
	send := entSender{t: t, p: p}
	send.send("acme-locks", "evt_ent_1", entAcme("evt_ent_1", "LCK-CANARY-A-5511", "locked", 80))
	send.send("acme-locks", "evt_ent_2", entAcme("evt_ent_2", "LCK-CANARY-B-5522", "unlocked", 55))
	send.send("acme-locks", "evt_ent_3", entAcme("evt_ent_3", "LCK-CANARY-A-5511", "unlocked", 79))
	send.send("acme-locks", "evt_ent_4", bridgeBatteryLow("evt_ent_4", "LCK-CANARY-A-5511", 9)) // a route without entities
	send.send("porchlight-cams", "evt_ent5", entDoorbell("evt_ent5", "cam_canary_8842"))
	send.send("gridwise-energy", "evt_ent_6", entTariff("evt_ent_6"))

	const want = 2*5 + 1 + 3
	msgs := entFromBridge(ha.WaitFor(fmt.Sprint(want, " route entity configs"), bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= want
	}))
	time.Sleep(300 * time.Millisecond) // a config too many would arrive by now
	msgs = entFromBridge(ha.Messages())
	configs := entRouteConfigs(msgs)
	if len(configs) != want {
		t.Fatalf("%d route entity configs, want %d", len(configs), want)
	}
	if n := entCheckConfigs(t, msgs); n < want+len(testVendorNames())*3+1 {
		t.Errorf("%d configs checked against Home Assistant's schema, want every route entity and Hookbridge's own", n)
	}

	var lockStates []string // the acme state topics Home Assistant reads
	devices := entDevices(configs)
	acme := 0
	for id, cs := range devices {
		if !strings.HasPrefix(id, "hookbridge_acme-locks_d") {
			continue
		}
		acme++
		var names []string
		for _, c := range cs {
			names = append(names, fmt.Sprint(c.Config["name"]))
			dev := c.Config["device"].(map[string]any)
			if dev["via_device"] != "hookbridge" || !strings.HasPrefix(fmt.Sprint(dev["name"]), "Acme Locks cloud locks state ") {
				t.Errorf("%s: device = %v", c.Topic, dev)
			}
			if st := fmt.Sprint(c.Config["state_topic"]); !slices.Contains(lockStates, st) {
				lockStates = append(lockStates, st)
			}
		}
		slices.Sort(names)
		if w := []string{"Battery", "Jammed", "Last operated by", "Lock", "State"}; !slices.Equal(names, w) {
			t.Errorf("device %s has entities %v, want %v", id, names, w)
		}
	}
	if acme != 2 || len(lockStates) != 2 {
		t.Fatalf("acme-locks has %d Home Assistant devices reading %v, want 2 (one per lock)", acme, lockStates)
	}
	// via_device names a device Home Assistant knows: Hookbridge's own.
	if r, ok := bridgetest.LastOn(ha.Messages(), "homeassistant/binary_sensor/hookbridge/acme-locks_health/config"); !ok || !strings.Contains(r.Payload, `"identifiers":["hookbridge"]`) {
		t.Errorf("the Hookbridge device (via_device) is not announced: %v", r)
	}

	// State messages: the route's fields and nothing else.
	for _, topic := range lockStates {
		got := 0
		for _, m := range msgs {
			if m.Topic != topic {
				continue
			}
			got++
			var fields map[string]any
			if err := json.Unmarshal([]byte(m.Payload), &fields); err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			if k := slices.Sorted(maps.Keys(fields)); !isSubset(k, entAcmeFields) || len(k) != len(entAcmeFields) {
				t.Errorf("%s carries %v, want exactly the route's fields %v", topic, k, entAcmeFields)
			}
		}
		if got == 0 {
			t.Errorf("no state message on %s", topic)
		}
	}
	entNoCanary(t, msgs, p.Logs())
	ids := entUniqueIDs(configs)

	// A restart: the same configs, and every known topic announced again when Home Assistant says
	// online, from the store (no event since).
	if _, err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	p.Start()
	ha2 := entHA(t, p.MQTTAddr, "ent-ha-2")
	ha2.WaitFor("retained configs after a restart", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= want
	})
	if got := entUniqueIDs(entRouteConfigs(entFromBridge(ha2.Messages()))); !maps.Equal(got, ids) {
		t.Errorf("unique ids after a restart = %v, want %v", got, ids)
	}
	for _, m := range ha2.Messages() {
		if ids[m.Topic] != "" && !m.Retained {
			t.Errorf("%s came to a new subscriber live, want the retained copy", m.Topic)
		}
	}
	if err := ha2.Publish("homeassistant/status", "online", false); err != nil {
		t.Fatal(err)
	}
	ha2.WaitFor("every route config announced again", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		live := map[string]bool{}
		for _, x := range m {
			if !x.Retained && ids[x.Topic] != "" && x.Payload != "" {
				live[x.Topic] = true
			}
		}
		return len(live) == want
	})

	// acme-locks no longer configured: its entities go, for a subscriber that connects later too.
	if _, err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	entWriteOptions(t, p, func(o *options.Options) {
		o.Vendors = slices.DeleteFunc(o.Vendors, func(v options.Vendor) bool { return v.Name == "acme-locks" })
		o.Devices = slices.DeleteFunc(o.Devices, func(d options.Device) bool { return d.Username == bridgetest.PanelUser })
	})
	p.Start()
	ha3 := entHA(t, p.MQTTAddr, "ent-ha-3")
	ha3.WaitFor("porchlight's and gridwise's configs", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= want-10
	})
	time.Sleep(300 * time.Millisecond)
	for topic, c := range entRouteConfigs(entFromBridge(ha3.Messages())) {
		if strings.Contains(topic, "acme-locks") {
			t.Errorf("%s still retained after acme-locks was removed: %s", topic, c.Raw)
		}
	}

	// Configured again: nothing is announced until an event comes (its records are gone), and
	// then the same ids.
	if _, err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	entWriteOptions(t, p, func(o *options.Options) { *o = *p.Options })
	p.Start()
	ha4 := entHA(t, p.MQTTAddr, "ent-ha-4")
	if err := ha4.Publish("homeassistant/status", "online", false); err != nil {
		t.Fatal(err)
	}
	ha4.WaitFor("the other vendors' configs", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= want-10
	})
	time.Sleep(300 * time.Millisecond)
	for topic := range entRouteConfigs(entFromBridge(ha4.Messages())) {
		if strings.Contains(topic, "acme-locks") {
			t.Errorf("%s announced again with no event", topic)
		}
	}
	send.send("acme-locks", "evt_ent_7", entAcme("evt_ent_7", "LCK-CANARY-A-5511", "locked", 78))
	ha4.WaitFor("lock A's configs", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= want-5
	})
	for topic, c := range entRouteConfigs(entFromBridge(ha4.Messages())) {
		if strings.Contains(topic, "acme-locks") && ids[topic] != c.Config["unique_id"] {
			t.Errorf("%s: unique id %v, want %s as before", topic, c.Config["unique_id"], ids[topic])
		}
	}
	entNoCanary(t, entFromBridge(ha4.Messages()), p.Logs())
}

// Msg returns the last message on the config's topic.
func (c entConfig) Msg(msgs []entMsg) entMsg {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == c.Topic {
			return msgs[i]
		}
	}
	return entMsg{}
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// entNoCanary fails the test for a canary in a topic, a payload or the log.
func entNoCanary(t *testing.T, msgs []entMsg, logs string) {
	t.Helper()
	if len(logs) < 100 {
		t.Fatalf("the log looks empty: %q", logs)
	}
	for _, c := range entCanaries {
		for _, m := range msgs {
			if strings.Contains(m.Topic, c) || strings.Contains(m.Payload, c) {
				t.Errorf("canary %q in %s: %s", c, m.Topic, m.Payload)
			}
		}
		if strings.Contains(logs, c) {
			t.Errorf("canary %q in the log", c)
		}
	}
}

// entWriteOptions rewrites a stopped process's options file with edit applied to a copy of its
// options.
func entWriteOptions(t *testing.T, p *bridgetest.Process, edit func(*options.Options)) {
	t.Helper()
	data, _ := json.Marshal(p.Options)
	var o options.Options
	json.Unmarshal(data, &o)
	edit(&o)
	if err := app.WriteOptions(filepath.Join(p.Dir, "options.json"), &o); err != nil {
		t.Fatal(err)
	}
}

// TestEntitiesCap: a vendor that invents device ids gets at most the cap (256) Home Assistant
// devices: past it nothing is announced, the refusals are counted in /metrics, logged once (not
// once per message) and alerted once on the alerts topic.
func TestEntitiesCap(t *testing.T) {
	o := bridgetest.DefaultOptions()
	o.HAMQTT = options.HAMQTTEmbedded
	o.LogLevel = "info"
	p := bridgetest.NewProcess(t, o)
	p.Start()
	ha := entHA(t, p.MQTTAddr, "ent-cap-ha")
	send := entSender{t: t, p: p}
	const cap, n = 256, 300
	for i := range n {
		id := fmt.Sprintf("evt_cap%04d", i)
		send.send("porchlight-cams", id, entDoorbell(id, fmt.Sprintf("cam_flood_%04d", i)))
	}
	ha.WaitFor("the alert", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		_, ok := bridgetest.LastOn(m, "hookbridge/_alerts")
		return ok && len(entRouteConfigs(entFromBridge(m))) >= cap
	})
	time.Sleep(500 * time.Millisecond)
	msgs := ha.Messages()
	doorbells := 0
	for topic := range entRouteConfigs(entFromBridge(msgs)) {
		if strings.Contains(topic, "porchlight-cams") {
			doorbells++
		}
	}
	if doorbells != cap {
		t.Errorf("%d doorbell devices announced for %d cameras, want the cap, %d", doorbells, n, cap)
	}
	alerts := 0
	for _, m := range msgs {
		if m.Topic != "hookbridge/_alerts" {
			continue
		}
		alerts++
		var a map[string]any
		json.Unmarshal([]byte(m.Payload), &a)
		if a["kind"] != "entity_cap" || a["vendor"] != "porchlight-cams" || a["event_type"] != "alert" || a["threshold"] != float64(cap) || m.Retained {
			t.Errorf("alert = %s (retained %v)", m.Payload, m.Retained)
		}
	}
	if alerts != 1 {
		t.Errorf("%d alerts, want 1", alerts)
	}
	if k := strings.Count(p.Logs(), "reached the cap on Home Assistant devices"); k != 1 {
		t.Errorf("the cap logged %d times, want once (at most once a minute)", k)
	}
	metrics := bridgetest.Do(t, http.MethodGet, "http://"+p.AdminAddr+"/metrics", nil, nil).Raw
	for _, line := range []string{
		`hookbridge_ha_devices{vendor="porchlight-cams"} 256`,
		fmt.Sprintf(`hookbridge_ha_devices_refused_total{vendor="porchlight-cams"} %d`, n-cap),
		`hookbridge_ha_devices{vendor="acme-locks"} 0`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics has no %q", line)
		}
	}
	// The cap is per vendor: another vendor's devices are still announced.
	send.send("acme-locks", "evt_cap_acme", entAcme("evt_cap_acme", "LCK-CANARY-A-5511", "locked", 50))
	ha.WaitFor("acme's entities", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= cap+5
	})
}

// TestEntitiesSupervisor: with Home Assistant on the Supervisor's broker (a real Mosquitto), the
// configs are announced there and the routes' messages for those topics reach it without a
// bridge_topics entry, exactly as devices on the embedded broker get them, through the durable
// relay: in order and complete across an outage of Mosquitto. A route without entities is not
// forwarded. Home Assistant's online message announces again.
func TestEntitiesSupervisor(t *testing.T) {
	b := bridgeMosquitto(t)
	ha := b.Subscribe(t, "ent-sup-ha", "#", true) // persistent: it misses nothing while Mosquitto restarts
	o := bridgetest.DefaultOptions()
	p := bridgetest.NewProcess(t, o) // ha_mqtt auto, no bridge_topics
	p.Start()
	panel := bridgetest.Subscribe(t, p.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "ent-sup-panel", true, "hookbridge/acme-locks/locks/+/state")
	send := entSender{t: t, p: p}
	send.send("acme-locks", "evt_sup_1", entAcme("evt_sup_1", "LCK-CANARY-A-5511", "locked", 90))
	send.send("acme-locks", "evt_sup_2", entAcme("evt_sup_2", "LCK-CANARY-B-5522", "unlocked", 60))
	send.send("acme-locks", "evt_sup_3", bridgeBatteryLow("evt_sup_3", "LCK-CANARY-A-5511", 8))

	ha.WaitFor(t, bridgetest.WaitForDeliveries, "10 configs and 2 states", func(m []mosquittotest.Message) bool {
		return len(entRouteConfigs(entFromMosquitto(m))) >= 10 && len(bridgeVendorMessages(m)) >= 2
	})
	// The outage: every event while Mosquitto is away arrives after it is back, in order.
	b.Stop()
	for i := range 20 {
		id := fmt.Sprintf("evt_sup_out_%02d", i)
		send.send("acme-locks", id, entAcme(id, "LCK-CANARY-A-5511", "locked", i))
	}
	b.StartAgain()
	want := panel.WaitCount(22)
	ha.WaitFor(t, 30*time.Second, "every state forwarded", func(m []mosquittotest.Message) bool {
		return len(bridgeVendorMessages(m)) >= 22
	})
	time.Sleep(300 * time.Millisecond)
	msgs := ha.Messages()
	var got []mosquittotest.Message
	seen := map[string]bool{}
	for _, m := range bridgeVendorMessages(msgs) {
		if k := m.Topic + m.Payload; !seen[k] { // a copy whose acknowledgement was lost is QoS 1
			seen[k] = true
			got = append(got, m)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Mosquitto got %d vendor messages, want the %d states the embedded broker's device got: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Topic != want[i].Topic || got[i].Payload != want[i].Payload {
			t.Errorf("forwarded %d = %s %s, want %s %s", i, got[i].Topic, got[i].Payload, want[i].Topic, want[i].Payload)
		}
		if strings.HasSuffix(got[i].Topic, "/battery") {
			t.Errorf("%s forwarded: its route declares no entities", got[i].Topic)
		}
	}
	configs := entRouteConfigs(entFromMosquitto(msgs))
	if d := entDevices(configs); len(d) != 2 {
		t.Errorf("%d Home Assistant devices on Mosquitto, want 2", len(d))
	}
	for _, c := range configs {
		st := fmt.Sprint(c.Config["state_topic"])
		if !slices.ContainsFunc(got, func(m mosquittotest.Message) bool { return m.Topic == st }) {
			t.Errorf("%s reads %s, which Mosquitto never carried", c.Topic, st)
		}
	}
	entCheckConfigs(t, entFromMosquitto(msgs))
	// Retained on Mosquitto: Home Assistant connecting later finds them.
	late := b.Subscribe(t, "ent-sup-late", "homeassistant/#", false)
	late.WaitFor(t, bridgetest.WaitForDeliveries, "10 retained configs", func(m []mosquittotest.Message) bool {
		n := 0
		for _, x := range m {
			if x.Retained && configs[x.Topic].Raw == x.Payload {
				n++
			}
		}
		return n >= 10
	})

	// Home Assistant restarts: its birth message announces every device again.
	before := len(ha.Messages())
	bridgePub(t, b, "homeassistant/status", "online")
	ha.WaitFor(t, bridgetest.WaitForDeliveries, "10 configs again", func(m []mosquittotest.Message) bool {
		return len(entRouteConfigs(entFromMosquitto(m[before:]))) >= 10
	})
	entNoCanary(t, entFromMosquitto(ha.Messages()), p.Logs())
}

// TestEntitiesTracker: a device_tracker (a test vendor whose route carries a position) passes Home
// Assistant's schema with the position as attributes, beside the other components.
func TestEntitiesTracker(t *testing.T) {
	dir := t.TempDir()
	policy := `vendor: fleet-trackers
title: Fleet trackers
owner: Tests
contact: tests@hookbridge.invalid
risk: low
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
schema: acme-locks/v1.json
routes:
  - when: lock.state_changed
    topic: trackers/{device}
    retain: true
    fields:
      device: {from: /data/device_id, pseudonymize: true}
      lat: /data/location/lat
      lon: /data/location/lon
      battery: /data/battery_pct
    entities:
      - {component: device_tracker, latitude: lat, longitude: lon}
      - {field: battery, component: sensor, device_class: battery, unit: "%", state_class: measurement}
`
	if err := os.WriteFile(filepath.Join(dir, "fleet-trackers.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	o := bridgetest.DefaultOptions()
	o.HAMQTT = options.HAMQTTEmbedded
	secret := bridgetest.NewSecret(t)
	v := options.VendorDefaults()
	v.Name, v.Secrets = "fleet-trackers", []string{secret}
	o.Vendors = append(slices.DeleteFunc(o.Vendors, func(v options.Vendor) bool { return v.Name == "locked-down" || v.Name == "bearer-vendor" }), v)
	logs := &bridgetest.LogBuffer{}
	ta, err := bridgetest.Launch(t, bridgetest.Config{Options: o, Policies: dir, Log: logs})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, logs)
	}
	ha := entHA(t, ta.MQTTAddr, "ent-tracker-ha")
	body := []byte(`{"id":"evt_trk_1","type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-CANARY-A-5511","battery_pct":41,"location":{"lat":52.1,"lon":4.3,"label":"Jane Canary's"}}}`)
	if r := ta.Post("/hooks/fleet-trackers", ta.SignWith("fleet-trackers", secret, "evt_trk_1", body, time.Now()), body); r.Status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", r.Status, r.Raw)
	}
	msgs := entFromBridge(ha.WaitFor("tracker and battery configs", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(entRouteConfigs(entFromBridge(m))) >= 2
	}))
	entCheckConfigs(t, msgs)
	var tracker map[string]any
	for topic, c := range entRouteConfigs(msgs) {
		if strings.HasPrefix(topic, "homeassistant/device_tracker/hookbridge/fleet-trackers_r") {
			tracker = c.Config
		}
	}
	if tracker == nil || tracker["state_topic"] != nil || tracker["source_type"] != "gps" ||
		!strings.HasPrefix(fmt.Sprint(tracker["json_attributes_topic"]), "hookbridge/fleet-trackers/trackers/") {
		t.Fatalf("tracker config = %v", tracker)
	}
	state, ok := bridgetest.LastOn(ha.Messages(), fmt.Sprint(tracker["json_attributes_topic"]))
	var fields map[string]any
	if !ok || json.Unmarshal([]byte(state.Payload), &fields) != nil || fields["lat"] != 52.1 || fields["lon"] != 4.3 || len(fields) != 4 {
		t.Errorf("tracker state = %v, want the route's four fields", state)
	}
	entNoCanary(t, msgs, logs.String())
}
