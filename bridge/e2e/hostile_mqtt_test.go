package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/acl"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/broker"
)

// hostileDialMQTT opens a raw MQTT connection (bridgetest/rawmqtt), closed when the test ends.
func hostileDialMQTT(t testing.TB, addr string) *rawmqtt.Conn {
	t.Helper()
	m, err := rawmqtt.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// hostileConnectPacket encodes a CONNECT.
func hostileConnectPacket(version byte, id, user, password string, clean bool) []byte {
	return rawmqtt.ConnectPacket(rawmqtt.Options{Version: version, ClientID: id, Username: user, Password: password, Clean: clean})
}

// hostileConnect logs in over m's protocol version and returns the CONNACK's reason code.
func hostileConnect(t testing.TB, m *rawmqtt.Conn, id, user, password string, clean bool) byte {
	t.Helper()
	ack, err := m.Connect(rawmqtt.Options{Version: m.Version(), ClientID: id, Username: user, Password: password, Clean: clean})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return ack.ReasonCode
}

// hostileTopics returns the topics of the PUBLISH packets m receives within d.
func hostileTopics(m *rawmqtt.Conn, d time.Duration) []string {
	var topics []string
	for _, pk := range m.Publishes(d) {
		topics = append(topics, pk.TopicName)
	}
	return topics
}

// hostileMQTTCase is a malformed or abusive byte sequence sent on a fresh connection.
type hostileMQTTCase struct {
	name string
	// login sends a valid CONNECT as the panel first.
	login bool
	bytes func() []byte
	// refused: a CONNACK refusing the login comes before the close (else the broker just closes).
	refused bool
	// survives: the packet is harmless and the connection stays usable.
	survives bool
}

func hostileMQTTCases() []hostileMQTTCase {
	connect := func(id, user, password string) func() []byte {
		return func() []byte { return hostileConnectPacket(4, id, user, password, true) }
	}
	raw := func(b ...byte) func() []byte { return func() []byte { return b } }
	return []hostileMQTTCase{
		{name: "HTTP request", bytes: func() []byte { return []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }},
		{name: "TLS client hello", bytes: raw(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03)},
		{name: "remaining length of five bytes", bytes: raw(0x10, 0xff, 0xff, 0xff, 0xff, 0x7f)},
		{name: "CONNECT claiming 256 MB", bytes: raw(0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04, 'M', 'Q', 'T', 'T')},
		{name: "SUBSCRIBE before CONNECT", bytes: func() []byte { return rawmqtt.SubscribePacket(4, 1, 1, "#") }},
		{name: "PUBLISH before CONNECT", bytes: func() []byte { return rawmqtt.PublishPacket(4, 7, "hookbridge/x", []byte("x"), 0, false) }},
		{name: "protocol name MQTX", refused: true, bytes: func() []byte {
			return bytes.Replace(hostileConnectPacket(4, "mqtx", bridgetest.PanelUser, bridgetest.PanelPassword, true), []byte("MQTT"), []byte("MQTX"), 1)
		}},
		{name: "protocol level 9", refused: true, bytes: func() []byte {
			b := hostileConnectPacket(4, "lvl9", bridgetest.PanelUser, bridgetest.PanelPassword, true)
			b[8] = 9
			return b
		}},
		{name: "reserved CONNECT flag set", bytes: func() []byte {
			b := hostileConnectPacket(4, "rsv", bridgetest.PanelUser, bridgetest.PanelPassword, true)
			b[9] |= 1
			return b
		}},
		{name: "reserved fixed-header flags on CONNECT", bytes: func() []byte {
			b := hostileConnectPacket(4, "fh", bridgetest.PanelUser, bridgetest.PanelPassword, true)
			b[0] |= 0x0f
			return b
		}},
		{name: "client id with invalid UTF-8", bytes: connect("id-\xff\xfe", bridgetest.PanelUser, bridgetest.PanelPassword)},
		{name: "client id with NUL", bytes: connect("id-\x00", bridgetest.PanelUser, bridgetest.PanelPassword)},
		{name: "password flag without username", bytes: func() []byte {
			b := hostileConnectPacket(4, "pwonly", "", bridgetest.PanelPassword, true)
			return b
		}, refused: true},
		{name: "anonymous", refused: true, bytes: connect("anon", "", "")},
		{name: "wrong password", refused: true, bytes: connect("wrongpw", bridgetest.PanelUser, "not-the-password-1")},
		{name: "the broker's own client id", refused: true, bytes: connect("$hookbridge", bridgetest.PanelUser, bridgetest.PanelPassword)},
		{name: "mochi's inline client id", refused: true, bytes: connect("inline", bridgetest.PanelUser, bridgetest.PanelPassword)},
		{name: "a second CONNECT", login: true, bytes: connect("second", bridgetest.PanelUser, bridgetest.PanelPassword)},
		{name: "SUBSCRIBE with no filters", login: true, bytes: raw(0x82, 0x02, 0x00, 0x01)},
		{name: "SUBSCRIBE with bad fixed-header flags", login: true, bytes: func() []byte {
			b := rawmqtt.SubscribePacket(4, 1, 1, "hookbridge/acme-locks/locks/+/state")
			b[0] = 0x80
			return b
		}},
		{name: "SUBSCRIBE with invalid UTF-8 filter", login: true, bytes: func() []byte { return rawmqtt.SubscribePacket(4, 1, 1, "hookbridge/\xff/#") }},
		{name: "SUBSCRIBE with a filter longer than the packet", login: true, bytes: raw(0x82, 0x06, 0x00, 0x01, 0xff, 0xff, 'a', 0x01)},
		{name: "SUBSCRIBE with QoS 3", login: true, bytes: func() []byte {
			b := rawmqtt.SubscribePacket(4, 1, 1, "hookbridge/acme-locks/locks/+/state")
			b[len(b)-1] = 3
			return b
		}},
		{name: "PUBLISH with QoS 3", login: true, bytes: func() []byte {
			b := rawmqtt.PublishPacket(4, 7, "hookbridge/acme-locks/locks/x/state", []byte("{}"), 1, false)
			b[0] |= 0x06
			return b
		}},
		{name: "PUBLISH with invalid UTF-8 topic", login: true, bytes: func() []byte { return rawmqtt.PublishPacket(4, 7, "hookbridge/\xff", []byte("x"), 0, false) }},
		{name: "PUBLISH with a wildcard topic", login: true, bytes: func() []byte { return rawmqtt.PublishPacket(4, 7, "hookbridge/#", []byte("x"), 0, false) }},
		{name: "PUBACK for a packet never sent: ignored", login: true, survives: true, bytes: raw(0x40, 0x02, 0x12, 0x34)},
		{name: "reserved packet type 0", login: true, bytes: raw(0x00, 0x00)},
		{name: "AUTH packet on MQTT 3.1.1", login: true, bytes: raw(0xf0, 0x00)},
	}
}

// TestHostileMQTTMalformed sends malformed and abusive packets on fresh connections to the
// embedded broker. Each must be refused or cut off, and the broker must keep serving a device that
// was connected all along, and new ones.
func TestHostileMQTTMalformed(t *testing.T) {
	h := hostileStart(t, nil)
	h.forbid("a wrong password", "not-the-password-1")
	panel := bridgetest.Subscribe(t, h.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "hostile-panel-steady", true, "hookbridge/acme-locks/locks/+/state")
	for _, c := range hostileMQTTCases() {
		t.Run(c.name, func(t *testing.T) {
			m := hostileDialMQTT(t, h.MQTTAddr)
			if c.login {
				if code := hostileConnect(t, m, "hostile-"+strings.ReplaceAll(c.name, " ", "-"), bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
					t.Fatalf("login: CONNACK 0x%02x", code)
				}
			}
			m.Write(c.bytes())
			if c.survives {
				m.Write([]byte{0xc0, 0x00}) // PINGREQ
				if pk, err := m.Read(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Pingresp {
					t.Errorf("after the packet, PINGREQ got type %d, err %v; want PINGRESP", pk.FixedHeader.Type, err)
				}
				return
			}
			if c.refused {
				pk, err := m.Read(5 * time.Second)
				if err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode == 0 {
					t.Errorf("answer: type %d code 0x%02x err %v, want a CONNACK refusing the login", pk.FixedHeader.Type, pk.ReasonCode, err)
				}
			}
			if !m.Closed(5 * time.Second) {
				t.Errorf("the broker kept the connection open")
			}
		})
	}
	// Still serving: the steady device gets a new event, and a new device can log in.
	n := len(panel.Messages())
	id := h.nextID()
	if r := h.Send("acme-locks", id, hostileAcme(id)); r.Status != http.StatusAccepted {
		t.Fatalf("event after the attacks: %d %s", r.Status, r.Raw)
	}
	panel.WaitCount(n + 1)
	if _, err := bridgetest.Connect(t, h.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "hostile-after", true); err != nil {
		t.Fatalf("a new device after the attacks: %v", err)
	}
}

// TestHostileMQTTSubscriptions has a device ask for what its ACL does not cover, through shared
// subscriptions, $SYS, wildcards, very long, deep and odd filters, over MQTT 3.1.1 and 5, then
// checks that it received nothing outside the ACL while events go everywhere. It also tries to
// publish.
func TestHostileMQTTSubscriptions(t *testing.T) {
	h := hostileStart(t, nil)
	allowed := acl.NewFilters(bridgetest.TopicPrefix + "/acme-locks/locks/+/state")
	type sub struct {
		filter  string
		granted bool
	}
	long := bridgetest.TopicPrefix + "/acme-locks/locks/" + strings.Repeat("L", 60_000) + "/state"
	deep := bridgetest.TopicPrefix + "/acme-locks/locks/+/state" + strings.Repeat("/+", 5000)
	subs := []sub{
		{"#", false}, {"+", false}, {"+/#", false}, {"/#", false},
		{"hookbridge/#", false}, {"hookbridge/+/#", false}, {"hookbridge/acme-locks/#", false},
		{"hookbridge/acme-locks/locks/+/+", false}, {"hookbridge/acme-locks/locks/+/state/#", false},
		{"+/acme-locks/locks/+/state", false}, {"hookbridge/+/locks/+/state", false},
		{"$SYS/#", false}, {"$SYS/broker/clients/connected", false}, {"$sys/#", false}, {"$hookbridge/#", false},
		{"$share/g/#", false}, {"$share/g/hookbridge/#", false}, {"$share/g/$SYS/#", false},
		{"$share//hookbridge/acme-locks/locks/+/state", false}, {"$share/g+/hookbridge/acme-locks/locks/+/state", false},
		{"$share/g", false}, {"$share/g/", false}, {"$share/a/$share/b/#", false},
		{"homeassistant/#", false}, {"hookbridge/_alerts", false}, {"hookbridge/_switch/+/set", false},
		{long, false}, {deep, false},
		{"hookbridge/acme-locks/locks/+/state", true},
		{"$share/panels/hookbridge/acme-locks/locks/+/state", true},
	}
	var clients []*rawmqtt.Conn
	for _, version := range []byte{4, 5} {
		m := hostileDialMQTT(t, h.MQTTAddr)
		m.SetVersion(version)
		if code := hostileConnect(t, m, fmt.Sprintf("hostile-subs-v%d", version), bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
			t.Fatalf("v%d connect: 0x%02x", version, code)
		}
		for _, s := range subs {
			codes, early, _ := m.Subscribe(1, s.filter)
			if codes == nil {
				t.Fatalf("v%d subscribe %s: the broker closed the connection", version, hostileClip(s.filter))
			}
			if granted := len(codes) == 1 && codes[0] < 0x80; granted != s.granted {
				t.Errorf("v%d subscribe %s: codes %x, want granted=%v", version, hostileClip(s.filter), codes, s.granted)
			}
			for _, pk := range early {
				if !allowed.Matches(pk.TopicName) {
					t.Errorf("v%d subscribe %s delivered %q outside the ACL", version, hostileClip(s.filter), pk.TopicName)
				}
			}
		}
		clients = append(clients, m)
		// Devices publish nothing, anywhere (on a connection of their own: a refused publish may
		// cost the connection).
		for i, topic := range []string{"hookbridge/acme-locks/locks/forged/state", "$SYS/broker/forged", "homeassistant/status", "hookbridge/_switch/acme-locks/set"} {
			p := hostileDialMQTT(t, h.MQTTAddr)
			p.SetVersion(version)
			if code := hostileConnect(t, p, fmt.Sprintf("hostile-pub-v%d-%d", version, i), bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
				t.Fatalf("v%d connect: 0x%02x", version, code)
			}
			p.Write(rawmqtt.PublishPacket(version, 7, topic, []byte(`{"state":"unlocked"}`), 1, true))
			p.Write(rawmqtt.PublishPacket(version, 7, topic, []byte(`{"state":"unlocked"}`), 0, false))
		}
	}
	// A filter with invalid UTF-8 or NUL costs the connection, not the broker.
	for i, f := range []string{"hookbridge/acme-locks/locks/\xff/state", "hookbridge/acme-locks/locks/\x00/state"} {
		bad := hostileDialMQTT(t, h.MQTTAddr)
		if code := hostileConnect(t, bad, fmt.Sprintf("hostile-subs-bad-%d", i), bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
			t.Fatalf("connect: 0x%02x", code)
		}
		if codes, _, _ := bad.Subscribe(1, f); codes != nil && codes[0] < 0x80 {
			t.Errorf("filter %q was granted: %x", f, codes)
		}
	}

	// Events to every vendor and the topics Hookbridge publishes itself.
	n := len(h.sub.Messages())
	for _, v := range []string{"acme-locks", "gridwise-energy"} {
		id := h.nextID()
		body := hostileAcme(id)
		if v == "gridwise-energy" {
			body = hostileGridwise(id)
		}
		if r := h.Send(v, id, body); r.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", v, r.Status, r.Raw)
		}
	}
	battery := h.nextID()
	if r := h.Send("acme-locks", battery, []byte(fmt.Sprintf(`{"id":%q,"type":"lock.battery_low","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"x","battery_pct":5}}`, battery))); r.Status != http.StatusAccepted {
		t.Fatalf("battery: %d %s", r.Status, r.Raw)
	}
	msgs := h.sub.WaitCount(n + 3)
	for _, m := range msgs[n:] {
		if strings.Contains(m.Topic, "forged") || strings.Contains(m.Payload, "unlocked") {
			t.Errorf("a device's publish reached another client: %v", m)
		}
	}
	// Nor did a device's retained publish stick.
	late := bridgetest.Subscribe(t, h.MQTTAddr, "homeassistant", bridgetest.HAPassword, "hostile-subs-late", true, "hookbridge/acme-locks/locks/forged/state")
	time.Sleep(200 * time.Millisecond)
	if got := late.Messages(); len(got) > 0 {
		t.Errorf("a device's retained publish was kept: %v", got)
	}
	for _, m := range clients {
		topics := hostileTopics(m, time.Second)
		if len(topics) == 0 {
			t.Errorf("v%d client got no event on its own topic", m.Version())
		}
		for _, topic := range topics {
			if !allowed.Matches(topic) || strings.Contains(topic, "forged") {
				t.Errorf("v%d client received %q, outside its ACL", m.Version(), topic)
			}
		}
	}
}

// TestHostileMQTTSessionTakeover has a device log in with the client id of the homeassistant
// account's persistent session, while messages outside the device's ACL are queued for that
// session: the device must not receive them, nor take the session over.
func TestHostileMQTTSessionTakeover(t *testing.T) {
	h := hostileStart(t, nil)
	const sessionID = "hostile-ha-persistent"
	ha := bridgetest.Subscribe(t, h.MQTTAddr, "homeassistant", bridgetest.HAPassword, sessionID, false, "hookbridge/gridwise-energy/#")
	ha.Client.Disconnect(50)
	id := h.nextID()
	if r := h.Send("gridwise-energy", id, hostileGridwise(id)); r.Status != http.StatusAccepted {
		t.Fatalf("event: %d %s", r.Status, r.Raw)
	}
	h.sub.WaitCount(1)

	m := hostileDialMQTT(t, h.MQTTAddr)
	code := hostileConnect(t, m, sessionID, bridgetest.PanelUser, bridgetest.PanelPassword, false)
	if code == 0 {
		for _, topic := range hostileTopics(m, 2*time.Second) {
			t.Errorf("the device took over homeassistant's session and received %q", topic)
		}
		if codes, _, _ := m.Subscribe(1, "hookbridge/#"); codes == nil || codes[0] < 0x80 {
			t.Errorf("after the takeover the device may subscribe to hookbridge/#: %x", codes)
		}
	}
	m.Close()
	// homeassistant comes back to its queued message.
	back, err := bridgetest.Connect(t, h.MQTTAddr, "homeassistant", bridgetest.HAPassword, sessionID, false)
	if err != nil {
		t.Fatalf("homeassistant reconnect: %v", err)
	}
	back.WaitFor("the queued gridwise message", 5*time.Second, func(msgs []bridgetest.Message) bool {
		return len(msgs) > 0 && strings.HasPrefix(msgs[0].Topic, "hookbridge/gridwise-energy/")
	})
}

// hostileBroker starts a bare embedded broker with small limits and a device account.
func hostileBroker(t *testing.T, opts broker.Options) (*broker.Broker, *bridgetest.LogBuffer) {
	t.Helper()
	logs := &bridgetest.LogBuffer{}
	opts.Log = app.NewLogger(logs, hostileLogLevel)
	opts.Accounts = []broker.Account{{Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Read: []string{"p/v/+"}}}
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { b.Close() }) }
	t.Cleanup(func() {
		hostileScanLog(t, stop, logs.String, func() map[string]string {
			return map[string]string{bridgetest.PanelPassword: "the device password", "not-the-password-1": "a wrong password"}
		})
	})
	return b, logs
}

// TestHostileMQTTLimits runs a broker with MaxPacketSize 1 KiB and MaxClients 8: oversized packets
// are cut off without being read, a login flood gets no more than 8 sessions, and connections that
// never log in are dropped and cannot pile up.
func TestHostileMQTTLimits(t *testing.T) {
	b, _ := hostileBroker(t, broker.Options{MaxClients: 8, MaxPacketSize: 1024, MaxPending: 32, ConnectTimeout: time.Second})
	addr := b.Addr()

	t.Run("oversized packets", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			login bool
			pk    []byte
		}{
			{"CONNECT of 2 KiB", false, hostileConnectPacket(4, "big", bridgetest.PanelUser, strings.Repeat("p", 2048), true)},
			{"SUBSCRIBE of 2 KiB", true, rawmqtt.SubscribePacket(4, 1, 1, "p/v/"+strings.Repeat("f", 2048))},
			{"PUBLISH declaring 200 MB", true, []byte{0x30, 0x80, 0x80, 0x80, 0x64, 0x00, 0x03, 'p', '/', 'v'}},
			{"CONNECT cut short: dropped at ConnectTimeout", false, func() []byte {
				b := hostileConnectPacket(4, "cut", bridgetest.PanelUser, bridgetest.PanelPassword, true)
				return b[:len(b)-5]
			}()},
		} {
			t.Run(c.name, func(t *testing.T) {
				m := hostileDialMQTT(t, addr)
				if c.login {
					if code := hostileConnect(t, m, "limits-"+c.name[:4], bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
						t.Fatalf("login: 0x%02x", code)
					}
				}
				start := time.Now()
				m.Write(c.pk)
				if !m.Closed(3 * time.Second) {
					t.Fatalf("the broker kept reading an oversized packet")
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("cut off after %v", d)
				}
			})
		}
	})

	t.Run("login flood", func(t *testing.T) {
		var conns []*rawmqtt.Conn
		accepted, refused := 0, 0
		for i := 0; i < 40; i++ {
			m := hostileDialMQTT(t, addr)
			switch code := hostileConnect(t, m, fmt.Sprintf("flood-%d", i), bridgetest.PanelUser, bridgetest.PanelPassword, true); code {
			case 0:
				accepted++
				conns = append(conns, m)
			case 0x03: // server unavailable (MQTT 3.1.1)
				refused++
			default:
				t.Errorf("login %d: CONNACK 0x%02x", i, code)
			}
		}
		if accepted != 8 || refused != 32 {
			t.Errorf("login flood: %d accepted, %d refused; want 8 and 32", accepted, refused)
		}
		if got := b.Stats().Clients; got > 8 {
			t.Errorf("broker holds %d clients, want at most 8", got)
		}
		for _, m := range conns {
			m.Close()
		}
		bridgetest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			m := hostileDialMQTT(t, addr)
			if code := hostileConnect(t, m, "after-flood", bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
				return fmt.Errorf("login after the flood: 0x%02x", code)
			}
			m.Close()
			return nil
		})
	})

	t.Run("connections that never log in", func(t *testing.T) {
		const idle = 500
		heapBefore := hostileHeap()
		goroutinesBefore := runtime.NumGoroutine()
		var conns []net.Conn
		for i := 0; i < idle; i++ {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			if i%2 == 1 {
				c.Write([]byte{0x10}) // a CONNECT's first byte, and nothing more
			}
			conns = append(conns, c)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		time.Sleep(300 * time.Millisecond)
		heapOpen := hostileHeap()
		goroutinesOpen := runtime.NumGoroutine()
		// A device can still log in while they are open.
		bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
			m := hostileDialMQTT(t, addr)
			defer m.Close()
			m.Write(hostileConnectPacket(4, "during-idle", bridgetest.PanelUser, bridgetest.PanelPassword, true))
			pk, err := m.Read(2 * time.Second)
			if err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
				return fmt.Errorf("login while %d idle connections are open: %v code 0x%02x", idle, err, pk.ReasonCode)
			}
			return nil
		})
		// The broker drops them all on its own.
		var open int
		deadline := time.Now().Add(5 * time.Second)
		for _, c := range conns {
			c.SetReadDeadline(deadline)
			if _, err := c.Read(make([]byte, 1)); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					open++
				}
			}
		}
		heapAfter := hostileHeap()
		t.Logf("memory: heap in use %.1f MiB before, %.1f MiB with %d connections that never log in (%+.1f KiB each), %.1f MiB after the broker dropped them; goroutines %d, %d, %d",
			mib(heapBefore), mib(heapOpen), idle, (float64(heapOpen)-float64(heapBefore))/1024/idle, mib(heapAfter),
			goroutinesBefore, goroutinesOpen, runtime.NumGoroutine())
		if open > 0 {
			t.Errorf("%d of %d connections that never logged in were still open after 5s", open, idle)
		}
		if grow := int64(heapOpen) - int64(heapBefore); grow > 16<<20 {
			t.Errorf("heap grew by %d KiB for %d connections that never logged in", grow>>10, idle)
		}
	})

	t.Run("still serving", func(t *testing.T) {
		m := hostileDialMQTT(t, addr)
		if code := hostileConnect(t, m, "last", bridgetest.PanelUser, bridgetest.PanelPassword, true); code != 0 {
			t.Fatalf("login: 0x%02x", code)
		}
		if codes, _, _ := m.Subscribe(1, "p/v/+"); len(codes) != 1 || codes[0] > 2 {
			t.Fatalf("subscribe: %x", codes)
		}
		if err := b.PublishPlain("p/v/x", []byte("{}"), false, 1); err != nil {
			t.Fatal(err)
		}
		if topics := hostileTopics(m, time.Second); len(topics) != 1 || topics[0] != "p/v/x" {
			t.Errorf("got %v, want one message on p/v/x", topics)
		}
	})
}
