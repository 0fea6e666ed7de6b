package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// Beyond issue 12's list: other ways a client could make the broker publish for it or hold
// resources. The tests that pass guard what holds; those named TestKnown* show what does not yet,
// and run only with HOOKBRIDGE_KNOWN_ISSUES=1 (they fail today; see each one's comment).

// knownIssue skips a test that shows an open problem unless HOOKBRIDGE_KNOWN_ISSUES is set.
func knownIssue(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("HOOKBRIDGE_KNOWN_ISSUES") == "" {
		t.Skipf("known issue, fails today: %s (HOOKBRIDGE_KNOWN_ISSUES=1 runs it)", what)
	}
}

// v5Publish encodes an MQTT 5 PUBLISH with a topic alias (none when alias is 0).
func v5Publish(t *testing.T, id uint16, topic string, alias uint16, qos byte, payload string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: 5,
		TopicName: topic, PacketID: id, Payload: []byte(payload)}
	if alias > 0 {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
	}
	var b bytes.Buffer
	if err := pk.PublishEncode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDevicePublishPathsClosed tries the publish paths the hostile suite does not: MQTT 5 topic
// aliases (mochi checks the ACL on the topic as sent, before it resolves an alias, so an alias
// set on an allowed topic and used with an empty one must not carry a message elsewhere), QoS 2
// publishes and their PUBREL, from a device and from homeassistant. Nothing reaches a vendor
// topic, a device publishes nowhere, and no refused QoS 2 publish is held.
func TestDevicePublishPathsClosed(t *testing.T) {
	p := startBinary(t, nil)
	obs := haObserver(t, p.MQTTAddr, uniqueID("paths-observer"))
	forged := bridgetest.TopicPrefix + "/acme-locks/locks/alias-forged/state"
	for _, acc := range []struct{ user, password string }{
		{options.HomeAssistantUser, bridgetest.HAPassword}, {bridgetest.PanelUser, bridgetest.PanelPassword},
	} {
		t.Run(acc.user, func(t *testing.T) {
			c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: "paths-" + acc.user,
				Username: acc.user, Password: acc.password, Clean: true})
			if code != 0 {
				t.Fatalf("login: 0x%02x", code)
			}
			steps := []struct {
				topic      string
				alias      uint16
				qos        byte
				mayPublish bool // homeassistant on homeassistant/#
			}{
				{"homeassistant/e2e-alias/" + acc.user, 1, 1, acc.user == options.HomeAssistantUser},
				{"", 1, 1, false}, // the alias alone: refused even where the topic was allowed
				{forged, 1, 1, false},
				{"", 1, 2, false},
				{forged, 0, 2, false},
			}
			for i, s := range steps {
				if err := c.Write(v5Publish(t, uint16(i+1), s.topic, s.alias, s.qos, "alias-forged-"+acc.user)); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				ack, err := c.Read(5 * time.Second)
				if err != nil {
					t.Fatalf("step %d (%q alias %d QoS %d): no acknowledgement: %v", i, s.topic, s.alias, s.qos, err)
				}
				want := packets.ErrNotAuthorized.Code
				if s.mayPublish {
					want = 0
				}
				if ack.ReasonCode != want {
					t.Errorf("step %d (%q alias %d QoS %d): type %d code 0x%02x, want 0x%02x", i, s.topic, s.alias, s.qos, ack.FixedHeader.Type, ack.ReasonCode, want)
				}
				if s.qos == 2 {
					// A PUBREL for the refused QoS 2 publish: nothing is held for it.
					c.Write([]byte{0x62, 0x02, 0x00, byte(i + 1)})
					if pk, err := c.Read(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Pubcomp {
						t.Errorf("step %d: PUBREL answered with type %d, err %v; want PUBCOMP", i, pk.FixedHeader.Type, err)
					}
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	allowed := "homeassistant/e2e-alias/" + options.HomeAssistantUser
	for _, m := range obs.Messages() {
		if m.Topic == forged || strings.HasPrefix(m.Payload, "alias-forged-") && m.Topic != allowed {
			t.Errorf("published: %s %s", m.Topic, m.Payload)
		}
	}
	bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if v, ok := p.metric(t, "hookbridge_mqtt_inflight"); ok && v > 0 {
			return fmt.Errorf("hookbridge_mqtt_inflight = %v after refused QoS 2 publishes, want 0", v)
		}
		return nil
	})
}

// TestKnownWriterRetainedUnbounded: the homeassistant account (and whoever holds its password)
// may retain any number of messages of up to 256 KiB under homeassistant/#; mochi keeps each in
// memory and the store on disk, with no bound. 500 retained messages of 200 KiB raised the
// bridge's RSS by some 235 MiB and its store by 124 MiB. The test asks for growth under 60 MB, the
// bound issue 12 set for one device account's attack.
func TestKnownWriterRetainedUnbounded(t *testing.T) {
	knownIssue(t, "retained messages of the writer account are not bounded")
	p := startBinary(t, nil)
	before := p.rss(t)
	c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: "ha-retain", Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Clean: true})
	if code != 0 {
		t.Fatalf("login: 0x%02x", code)
	}
	payload := bytes.Repeat([]byte("x"), 200<<10)
	refused := 0
	for i := range 500 {
		if err := c.Write(rawmqtt.PublishPacket(rawmqtt.V311, uint16(i+1), fmt.Sprintf("homeassistant/sensor/e2e-%d/config", i), payload, 1, true)); err != nil {
			refused = 500 - i // the broker closed the connection
			break
		}
		if _, err := c.Read(5 * time.Second); err != nil {
			refused = 500 - i
			break
		}
	}
	time.Sleep(500 * time.Millisecond)
	grow := p.rss(t) - before
	t.Logf("500 retained messages of 200 KiB (%d refused): RSS +%.1f MiB", refused, float64(grow)/(1<<20))
	if grow > 60<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 60", float64(grow)/(1<<20))
	}
}

// TestKnownSessionDropLogsClientID: the admin API promises that dropping a device's session logs
// the account and the count, never the client id (devices choose them, and a phone's is its
// owner's name); the broker's own line for the drop ("sessions dropped by the operator") logs it.
func TestKnownSessionDropLogsClientID(t *testing.T) {
	knownIssue(t, "the broker logs the client id of a session the operator drops")
	p := startBinary(t, nil)
	const id = "Janes-iPhone-kitchen"
	c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: id, Username: porchUser, Password: porchPassword, SessionExpiry: 60})
	if code != 0 {
		t.Fatalf("login: 0x%02x", code)
	}
	if r := p.admin(t, http.MethodDelete, "/api/devices/"+porchUser+"/sessions/"+id, "", nil); r.Status != http.StatusOK {
		t.Fatalf("drop: %d %s", r.Status, r.Raw)
	}
	c.Closed(2 * time.Second)
	for _, line := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(line, id) {
			t.Errorf("the log holds the dropped session's client id: %s", line)
		}
	}
}

// TestKnownUnsubscribeStorm: the filters-per-SUBSCRIBE bound does not apply to UNSUBSCRIBE, and
// every filter of an UNSUBSCRIBE becomes a delete in the store's write queue, for clean sessions
// and filters never subscribed too. Eight connections of one device account sending UNSUBSCRIBEs
// of 5,800 filters (as many as 256 KiB holds) queue millions of deletes: RSS rose by 33-100 MiB in
// 3 s (the same bytes as refused publishes: +6 MiB). The test asks for growth under 30 MB.
func TestKnownUnsubscribeStorm(t *testing.T) {
	knownIssue(t, "UNSUBSCRIBE is not bounded and each filter is a store write")
	p := startBinary(t, nil)
	filters := make([]string, 5800)
	for i := range filters {
		filters[i] = fmt.Sprintf("%s/acme-locks/locks/u%05d/state", bridgetest.TopicPrefix, i)
	}
	pk := rawmqtt.UnsubscribePacket(rawmqtt.V311, 1, filters...)
	before := p.rss(t)
	var sent atomic.Int64
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: fmt.Sprintf("unsub-%d", w), Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true})
		if code != 0 {
			t.Fatalf("login %d: 0x%02x", w, code)
		}
		wg.Add(2)
		go func() { // the UNSUBACKs
			defer wg.Done()
			for {
				if _, err := c.Read(10 * time.Second); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c.Write(pk) != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		peak.Store(max(peak.Load(), p.rss(t)))
	}
	close(stop)
	wg.Wait()
	grow := peak.Load() - before
	t.Logf("%d UNSUBSCRIBEs of %d filters in 3 s: peak RSS +%.1f MiB", sent.Load(), len(filters), float64(grow)/(1<<20))
	if grow > 30<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 30", float64(grow)/(1<<20))
	}
}
