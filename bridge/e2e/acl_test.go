package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// TestDeviceACL checks the device-side promise (DOCS.md, "Security model and its limits") on the
// embedded broker: a device sees only what its allow list covers, cannot publish, and anonymous or
// wrong logins are refused.
func TestDeviceACL(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	// hallway-panel may read acme-locks/locks/+/state only.
	panel := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "acl-panel", true, "hookbridge/acme-locks/locks/+/state")

	refused := []string{
		"#",
		"hookbridge/#",
		"hookbridge/acme-locks/#",
		"hookbridge/acme-locks/locks/+/battery", // a sibling topic
		"hookbridge/acme-locks/locks/#",         // broader than granted
		"hookbridge/+/locks/+/state",            // broader '+'
		"hookbridge/acme-locks/+/+/state",
		"+/acme-locks/locks/+/state",
		"$SYS/#",
		"$SYS/broker/clients/connected",
		"$share/g/hookbridge/#",
		"homeassistant/#",
	}
	for _, f := range refused {
		if code := panel.Subscribe(f); code < 0x80 {
			t.Errorf("device subscribe %q = granted qos %d, want refused", f, code)
		}
	}
	for _, f := range []string{
		"hookbridge/acme-locks/locks/abc/state",
		"$share/panels/hookbridge/acme-locks/locks/+/state",
	} {
		if code := panel.Subscribe(f); code > 2 {
			t.Errorf("device subscribe %q refused (0x%02x), want granted", f, code)
		}
	}

	// The device gets its state topic and nothing else (battery goes to a sibling topic).
	id := "evt_acl_1"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-ACL", 70)); r.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	battery := []byte(`{"id":"evt_acl_2","type":"lock.battery_low","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-ACL","battery_pct":5}}`)
	if r := ta.Send("acme-locks", "evt_acl_2", battery); r.Status != http.StatusAccepted {
		t.Fatalf("send battery: %d %s", r.Status, r.Raw)
	}
	id3 := "evt_acl_3"
	if r := ta.Send("acme-locks", id3, bridgetest.AcmeEvent(id3, "LCK-ACL", 69)); r.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	msgs := panel.WaitFor("two state messages", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		n := 0
		for _, x := range m {
			if strings.Contains(x.Payload, `"battery":69`) {
				n++
			}
		}
		return n >= 1
	})
	for _, m := range msgs {
		if !strings.HasSuffix(m.Topic, "/state") || !strings.HasPrefix(m.Topic, "hookbridge/acme-locks/locks/") {
			t.Errorf("device received %s, outside its ACL", m.Topic)
		}
	}

	// Devices cannot publish at all: a QoS 1 publish disconnects an MQTT 3.1.1 client, and nothing
	// reaches subscribers.
	ha := bridgetest.Subscribe(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "acl-ha", true, "hookbridge/#")
	pub, err := bridgetest.Connect(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "acl-panel-pub", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"hookbridge/acme-locks/locks/x/state", "hookbridge/_switch/acme-locks/set", "other/topic"} {
		tok := pub.Client.Publish(topic, 0, false, "forged")
		tok.WaitTimeout(2 * time.Second)
	}
	tok := pub.Client.Publish("hookbridge/acme-locks/locks/x/state", 1, false, "forged")
	tok.WaitTimeout(3 * time.Second)
	bridgetest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if pub.Client.IsConnectionOpen() {
			return errString("device still connected after a refused QoS 1 publish")
		}
		return nil
	})
	// Barrier: a real event after the forgeries; nothing forged may arrive before it.
	if r := ta.Send("acme-locks", "evt_acl_4", bridgetest.AcmeEvent("evt_acl_4", "LCK-ACL", 44)); r.Status != http.StatusAccepted {
		t.Fatalf("send: %d", r.Status)
	}
	for _, m := range ha.WaitFor("barrier", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool { return bridgetest.Contains(m, `"battery":44`) }) {
		if m.Payload == "forged" {
			t.Errorf("a device's publish reached %s", m.Topic)
		}
	}

	// Logins.
	for _, c := range []struct{ name, user, pass string }{
		{"anonymous", "", ""},
		{"wrong password", bridgetest.PanelUser, "nope-nope-nope"},
		{"unknown user", "mallory", bridgetest.PanelPassword},
		{"homeassistant with the panel's password", "homeassistant", bridgetest.PanelPassword},
	} {
		if _, err := bridgetest.Connect(t, ta.MQTTAddr, c.user, c.pass, "acl-login-"+strings.ReplaceAll(c.name, " ", "-"), true); err == nil {
			t.Errorf("%s: connected, want refused", c.name)
		}
	}
	// The client id mochi reserves for its inline publisher cannot be taken over.
	if _, err := bridgetest.Connect(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "inline", true); err == nil {
		t.Errorf("client id inline: connected, want refused")
	}
	_ = paho.ErrNotConnected
}

type errString string

func (e errString) Error() string { return string(e) }
