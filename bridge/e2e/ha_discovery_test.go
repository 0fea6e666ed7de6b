package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// haKinds are the components and object-id suffixes of each vendor's entities.
var haKinds = []struct{ component, kind string }{
	{"binary_sensor", discovery.KindHealth},
	{"sensor", discovery.KindAccepted},
	{"sensor", discovery.KindRejected},
	{"switch", discovery.KindSwitch},
}

// configTopics returns the discovery config topics Hookbridge announces for vendors.
func configTopics(vendors ...string) []string {
	var out []string
	for _, v := range vendors {
		for _, k := range haKinds {
			out = append(out, fmt.Sprintf("homeassistant/%s/hookbridge/%s_%s/config", k.component, v, k.kind))
		}
	}
	return append(out, "homeassistant/event/hookbridge/alerts/config")
}

// haOn turns the Home Assistant topics on (on the embedded broker), whatever the other tests'
// default is.
func haOn(o *options.Options) { o.HAMQTT = options.HAMQTTEmbedded }

// testVendorNames are the vendors of bridgetest.DefaultOptions, sorted.
func testVendorNames() []string {
	var out []string
	for _, v := range bridgetest.DefaultOptions().Vendors {
		out = append(out, v.Name)
	}
	sort.Strings(out)
	return out
}

// haClient connects as Home Assistant does and subscribes to discovery and Hookbridge's own
// topics, which it keeps (internal).
func haClient(t *testing.T, ta *bridgetest.Instance, id string) *bridgetest.Subscriber {
	t.Helper()
	sub, err := bridgetest.Connect(t, ta.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, id, true)
	if err != nil {
		t.Fatalf("connect homeassistant: %v", err)
	}
	sub.Internal = true
	for _, f := range []string{"homeassistant/#", "hookbridge/_ha/#", "hookbridge/_switch/#", "hookbridge/_status/#"} {
		if code := sub.Subscribe(f); code > 2 {
			t.Fatalf("homeassistant subscribe %s: 0x%02x", f, code)
		}
	}
	return sub
}

// TestHADiscovery checks, with a real MQTT client logged in as Home Assistant, the retained
// discovery configs and availability, the kill switch commanded from Home Assistant (and refused
// from a device account, and never lifting a quarantine), and the re-publish on Home Assistant's
// online announcement.
func TestHADiscovery(t *testing.T) {
	ta := bridgetest.Start(t, "", haOn)
	ha := haClient(t, ta, "ha-discovery")
	vendors := testVendorNames()
	topics := configTopics(vendors...)

	msgs := ha.WaitFor("every discovery config, retained", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		for _, topic := range topics {
			if r, ok := bridgetest.LastOn(m, topic); !ok || !r.Retained || r.Payload == "" {
				return false
			}
		}
		r, ok := bridgetest.LastOn(m, "hookbridge/_ha/availability")
		return ok && r.Payload == "online" && r.Retained
	})
	for _, m := range msgs {
		if strings.HasSuffix(m.Topic, "/config") && !strings.HasPrefix(m.Topic, "homeassistant/") || strings.HasPrefix(m.Topic, "homeassistant/") && strings.Split(m.Topic, "/")[2] != "hookbridge" {
			t.Errorf("config outside this node: %s", m.Topic)
		}
	}

	t.Run("payloads", func(t *testing.T) {
		seen := map[string]bool{}
		for _, topic := range topics {
			r, _ := bridgetest.LastOn(msgs, topic)
			var c map[string]any
			if err := json.Unmarshal([]byte(r.Payload), &c); err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			id, _ := c["unique_id"].(string)
			if id == "" || seen[id] {
				t.Errorf("%s: unique_id %q empty or repeated", topic, id)
			}
			seen[id] = true
			dev, _ := c["device"].(map[string]any)
			if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "hookbridge" || dev["name"] != "Hookbridge" ||
				dev["manufacturer"] == nil || dev["model"] == nil || dev["sw_version"] != "test" {
				t.Errorf("%s: device = %v", topic, dev)
			}
			if o, _ := c["origin"].(map[string]any); o["name"] != "Hookbridge" {
				t.Errorf("%s: origin = %v", topic, c["origin"])
			}
			if c["availability_topic"] != "hookbridge/_ha/availability" || c["payload_available"] != "online" || c["payload_not_available"] != "offline" {
				t.Errorf("%s: availability = %v %v %v", topic, c["availability_topic"], c["payload_available"], c["payload_not_available"])
			}
			if c["state_topic"] == nil || c["name"] == nil {
				t.Errorf("%s: no state_topic or name: %v", topic, c)
			}
		}
		r, _ := bridgetest.LastOn(msgs, "homeassistant/switch/hookbridge/acme-locks_webhooks/config")
		var sw map[string]any
		json.Unmarshal([]byte(r.Payload), &sw)
		want := map[string]any{
			"command_topic": "hookbridge/_switch/acme-locks/set", "state_topic": "hookbridge/_switch/acme-locks/state",
			"payload_on": "ON", "payload_off": "OFF", "name": "Acme Locks cloud webhooks", "unique_id": "hookbridge_acme-locks_webhooks",
		}
		for k, v := range want {
			if sw[k] != v {
				t.Errorf("switch config %s = %v, want %v", k, sw[k], v)
			}
		}
		r, _ = bridgetest.LastOn(msgs, "homeassistant/binary_sensor/hookbridge/acme-locks_health/config")
		var hs map[string]any
		json.Unmarshal([]byte(r.Payload), &hs)
		if hs["device_class"] != "problem" || hs["state_topic"] != "hookbridge/_status/acme-locks" {
			t.Errorf("health config = %v", hs)
		}
		r, _ = bridgetest.LastOn(msgs, "homeassistant/event/hookbridge/alerts/config")
		var al map[string]any
		json.Unmarshal([]byte(r.Payload), &al)
		if al["state_topic"] != "hookbridge/_alerts" {
			t.Errorf("alert config = %v", al)
		}
	})

	switchState := func(vendor string) string {
		r, _ := bridgetest.LastOn(ha.Messages(), "hookbridge/_switch/"+vendor+"/state")
		return r.Payload
	}
	waitSwitch := func(t *testing.T, vendor, want string) {
		t.Helper()
		ha.WaitFor(vendor+" switch "+want, bridgetest.WaitForDeliveries, func([]bridgetest.Message) bool { return switchState(vendor) == want })
	}
	countOn := func(topic string) int {
		n := 0
		for _, m := range ha.Messages() {
			if m.Topic == topic {
				n++
			}
		}
		return n
	}
	event := func(t *testing.T) bridgetest.Response {
		t.Helper()
		id := fmt.Sprintf("evt_ha_%d", time.Now().UnixNano())
		return ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-ha", 80))
	}

	t.Run("switch", func(t *testing.T) {
		waitSwitch(t, "acme-locks", "ON")
		if err := ha.Publish("hookbridge/_switch/acme-locks/set", "OFF", false); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "acme-locks", "OFF")
		if r := event(t); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("event to a vendor switched off = %d %s (Retry-After %q), want 503 with Retry-After", r.Status, r.Raw, r.Header.Get("Retry-After"))
		}
		if st, _ := ta.Switches().Get("acme-locks"); st.By != killswitch.ByMQTT {
			t.Errorf("state by %q, want %q", st.By, killswitch.ByMQTT)
		}
		ha.WaitFor("status topic says disabled", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
			r, _ := bridgetest.LastOn(m, "hookbridge/_status/acme-locks")
			return strings.Contains(r.Payload, `"mode":"disabled"`) && strings.Contains(r.Payload, `"healthy":false`)
		})
		if err := ha.Publish("hookbridge/_switch/acme-locks/set", "ON", false); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "acme-locks", "ON")
		if r := event(t); r.Status != http.StatusAccepted {
			t.Fatalf("event after switching on = %d %s, want 202", r.Status, r.Raw)
		}
		ha.WaitFor("status counts the accepted event", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
			r, _ := bridgetest.LastOn(m, "hookbridge/_status/acme-locks")
			return strings.Contains(r.Payload, `"accepted":1,`) && strings.Contains(r.Payload, `"healthy":true`)
		})
	})

	t.Run("device account cannot command", func(t *testing.T) {
		panel, err := bridgetest.Connect(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "panel-cmd", true)
		if err != nil {
			t.Fatal(err)
		}
		// The broker refuses the publish (and drops the 3.1.1 client); whatever it answers, the
		// vendor stays on. A command from Home Assistant for another vendor, applied after it,
		// shows the command topic was being served meanwhile.
		_ = panel.Publish("hookbridge/_switch/acme-locks/set", "OFF", false)
		if err := ha.Publish("hookbridge/_switch/gridwise-energy/set", "OFF", false); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "gridwise-energy", "OFF")
		time.Sleep(50 * time.Millisecond)
		if !ta.Switches().Open("acme-locks") {
			t.Fatal("a device account's command disabled the vendor")
		}
		if err := ha.Publish("hookbridge/_switch/gridwise-energy/set", "ON", false); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "gridwise-energy", "ON")
	})

	t.Run("quarantine is not lifted by MQTT", func(t *testing.T) {
		if err := ta.Switches().Quarantine("acme-locks", "test: burst of bad signatures"); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "acme-locks", "OFF")
		before := countOn("hookbridge/_switch/acme-locks/state")
		if err := ha.Publish("hookbridge/_switch/acme-locks/set", "ON", false); err != nil {
			t.Fatal(err)
		}
		ha.WaitFor("switch state put back", bridgetest.WaitForDeliveries, func([]bridgetest.Message) bool {
			return countOn("hookbridge/_switch/acme-locks/state") > before
		})
		if st, _ := ta.Switches().Get("acme-locks"); st.Mode != killswitch.Quarantined {
			t.Fatalf("mode after ON from Home Assistant = %s, want quarantined", st.Mode)
		}
		if got := switchState("acme-locks"); got != "OFF" {
			t.Fatalf("switch state = %s, want OFF", got)
		}
		if r := event(t); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("event while quarantined = %d, want 503", r.Status)
		}
		if err := ta.Switches().Lift("acme-locks", killswitch.ByAPI); err != nil {
			t.Fatal(err)
		}
		waitSwitch(t, "acme-locks", "ON")
	})

	t.Run("republish on homeassistant online", func(t *testing.T) {
		// A live subscription gets a re-published config with the retain flag off, which tells it
		// from the retained copy delivered at subscribe time. (The events above announced route
		// entities live, once each: those are not re-publications, so only Hookbridge's own count.)
		own := map[string]bool{}
		for _, topic := range topics {
			own[topic] = true
		}
		fresh := func(m []bridgetest.Message) map[string]bool {
			out := map[string]bool{}
			for _, r := range m {
				if own[r.Topic] && !r.Retained && r.Payload != "" {
					out[r.Topic] = true
				}
			}
			return out
		}
		if n := len(fresh(ha.Messages())); n != 0 {
			t.Fatalf("%d configs re-published before Home Assistant said online", n)
		}
		if err := ha.Publish("homeassistant/status", "online", false); err != nil {
			t.Fatal(err)
		}
		ha.WaitFor("every config re-published", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
			f := fresh(m)
			for _, topic := range topics {
				if !f[topic] {
					return false
				}
			}
			return true
		})
	})
}

// TestHADiscoveryRemovedVendor restarts with one vendor fewer: its entities and retained states
// are removed; availability was offline, retained, after the clean stop.
func TestHADiscoveryRemovedVendor(t *testing.T) {
	dir := t.TempDir()
	ta := bridgetest.Start(t, dir, haOn)
	ha := haClient(t, ta, "ha-removed-1")
	ha.WaitFor("bearer-vendor announced", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		_, cfg := bridgetest.LastOn(m, "homeassistant/switch/hookbridge/bearer-vendor_webhooks/config")
		_, st := bridgetest.LastOn(m, "hookbridge/_status/bearer-vendor")
		return cfg && st
	})
	ha.Client.Disconnect(100)
	ta.Stop()

	st, err := store.Open(dir, store.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	retained, err := st.Hook().StoredRetainedMessages()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var avail string
	for _, m := range retained {
		if m.TopicName == "hookbridge/_ha/availability" {
			avail = string(m.Payload)
		}
	}
	if avail != "offline" {
		t.Fatalf("retained availability after a clean stop = %q, want offline", avail)
	}

	remaining := []string{}
	ta = bridgetest.Start(t, dir, func(o *options.Options) {
		haOn(o)
		var keep []options.Vendor
		for _, v := range o.Vendors {
			if v.Name != "bearer-vendor" {
				keep = append(keep, v)
				remaining = append(remaining, v.Name)
			}
		}
		o.Vendors = keep
	})
	removed := configTopics("bearer-vendor")
	removed = removed[:len(removed)-1] // the alert entity stays
	removed = append(removed, "hookbridge/_status/bearer-vendor", "hookbridge/_switch/bearer-vendor/state")
	ha = haClient(t, ta, "ha-removed-2")
	ha.WaitFor("remaining configs, and the removed vendor's topics gone", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		for _, topic := range configTopics(remaining...) {
			if r, ok := bridgetest.LastOn(m, topic); !ok || r.Payload == "" {
				return false
			}
		}
		for _, topic := range removed {
			if r, ok := bridgetest.LastOn(m, topic); ok && r.Payload != "" {
				return false
			}
		}
		r, ok := bridgetest.LastOn(m, "hookbridge/_ha/availability")
		return ok && r.Payload == "online"
	})
	// A client connecting now finds nothing of the removed vendor.
	late := haClient(t, ta, "ha-removed-3")
	late.WaitFor("retained configs", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		_, ok := bridgetest.LastOn(m, "homeassistant/event/hookbridge/alerts/config")
		return ok
	})
	for _, m := range late.Messages() {
		if strings.Contains(m.Topic, "bearer-vendor") {
			t.Errorf("removed vendor's retained topic still served: %s %q", m.Topic, m.Payload)
		}
	}
}

// TestHAMQTTOff runs without the Home Assistant topics: nothing is announced, the status page
// still serves.
func TestHAMQTTOff(t *testing.T) {
	ta := bridgetest.Start(t, "", func(o *options.Options) { o.HAMQTT = options.HAMQTTOff })
	ha := haClient(t, ta, "ha-off")
	// An accepted event is published after anything the start would have announced.
	id := "evt_ha_off"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-off", 70)); r.Status != http.StatusAccepted {
		t.Fatalf("event = %d %s", r.Status, r.Raw)
	}
	if code := ha.Subscribe("hookbridge/acme-locks/#"); code > 2 {
		t.Fatalf("subscribe: 0x%02x", code)
	}
	ha.WaitCount(1)
	for _, m := range ha.Messages() {
		if strings.HasPrefix(m.Topic, "homeassistant/") || strings.Contains(m.Topic, "/_") {
			t.Errorf("ha_mqtt off, yet %s was published", m.Topic)
		}
	}
	r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/", nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, "acme-locks") {
		t.Fatalf("status page with ha_mqtt off = %d", r.Status)
	}
}
