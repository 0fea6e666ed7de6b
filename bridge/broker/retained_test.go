package broker

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// retainLimits are small retained bounds for the tests: 4 messages of 300 bytes each at most,
// 1,000 bytes in all besides what the broker counts for each message (retainedOverhead: the
// tests' topics have three levels, which cost nothing more).
var retainLimits = Limits{RetainedMessages: 4, RetainedBytes: 1000 + 4*retainedOverhead, RetainedMessageSize: 300}

// publishAck sends a retained PUBLISH at QoS 1 or 2 and returns its acknowledgement's code
// (PUBACK, or PUBREC for QoS 2; MQTT 3.1.1 ones carry none: 0), or closed when the broker closed
// the connection instead of acknowledging.
func publishAck(t *testing.T, c *rawmqtt.Conn, id uint16, topic string, payload []byte, qos byte) (code byte, closed bool) {
	t.Helper()
	if err := c.Write(rawmqtt.PublishPacket(c.Version(), id, topic, payload, qos, true)); err != nil {
		return 0, true
	}
	for {
		pk, err := c.Read(3 * time.Second)
		if err != nil {
			return 0, true
		}
		if (pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubrec) && pk.PacketID == id {
			return pk.ReasonCode, false
		}
	}
}

// retainedPayload returns the payload the broker retains on topic, or nil.
func retainedPayload(b *Broker, topic string) []byte {
	pk, ok := b.srv.Topics.Retained.Get(topic)
	if !ok {
		return nil
	}
	return pk.Payload
}

// TestRetainedPerAccount: an account retains at most Limits.RetainedMessages messages of
// Limits.RetainedBytes in all and Limits.RetainedMessageSize each (topic, payload, properties).
// Past a bound an MQTT 5 retained PUBLISH gets PUBACK 0x97 (QoS 2: PUBREC 0x97) and a QoS 0 one
// is dropped, none retained or delivered; replacing its own message counts the difference,
// clearing one frees it; what the broker publishes itself counts for no account, and replaces
// an account's message, freeing it. Every refusal is counted, and logged once a minute.
func TestRetainedPerAccount(t *testing.T) {
	logs := &syncBuffer{}
	b := newTestBroker(t, Options{Store: openStore(t), Log: zerolog.New(logs), WriterLimits: retainLimits})
	tp := newTap(t, b, "ha/r/+")
	c := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "writer", Username: haUser, Password: haPass, Clean: true})
	x := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	quota := packets.ErrQuotaExceeded.Code
	steps := []struct {
		name     string
		topic    string // 6 bytes each: a message costs 6 + its payload
		payload  []byte
		qos      byte
		want     byte
		messages int   // held after the step
		bytes    int64 // held after the step, without retainedOverhead
	}{
		{"first", "ha/r/0", x(100), 1, 0, 1, 106},
		{"second", "ha/r/1", x(100), 1, 0, 2, 212},
		{"larger than a message may be", "ha/r/2", x(295), 1, quota, 2, 212},
		{"as large as a message may be", "ha/r/2", x(294), 1, 0, 3, 512},
		{"fourth", "ha/r/3", x(290), 1, 0, 4, 808},
		{"a fifth message", "ha/r/4", x(10), 1, quota, 4, 808},
		{"replacing its own", "ha/r/0", x(150), 1, 0, 4, 858},
		{"clearing its own", "ha/r/1", nil, 1, 0, 3, 752},
		{"past the bytes", "ha/r/4", x(290), 1, quota, 3, 752},
		{"up to the bytes", "ha/r/4", x(242), 1, 0, 4, 1000},
		{"QoS 2 past the bound", "ha/r/5", x(10), 2, quota, 4, 1000},
		{"QoS 0 past the bound", "ha/r/6", x(10), 0, 0, 4, 1000},
		{"clearing one it never had", "ha/r/7", nil, 1, 0, 4, 1000},
	}
	refusals := 0
	for i, s := range steps {
		if s.qos == 0 {
			c.Write(rawmqtt.PublishPacket(rawmqtt.V5, 0, s.topic, s.payload, 0, true))
			refusals++
		} else {
			code, closed := publishAck(t, c, uint16(i+1), s.topic, s.payload, s.qos)
			if closed || code != s.want {
				t.Fatalf("%s: code 0x%02x (closed %v), want 0x%02x", s.name, code, closed, s.want)
			}
			if code != 0 {
				refusals++
			}
		}
		checkFor(t, 2*time.Second, func() error {
			want := s.bytes + int64(s.messages)*retainedOverhead
			if n, by := b.quota.retainedHeld(haUser); n != s.messages || by != want {
				return fmt.Errorf("%s: the account holds %d messages of %d bytes, want %d of %d", s.name, n, by, s.messages, want)
			}
			return nil
		})
	}
	for topic, want := range map[string]int{"ha/r/0": 150, "ha/r/1": 0, "ha/r/2": 294, "ha/r/3": 290, "ha/r/4": 242, "ha/r/5": 0, "ha/r/6": 0} {
		if got := len(retainedPayload(b, topic)); got != want {
			t.Errorf("retained on %s: %d bytes, want %d", topic, got, want)
		}
	}
	for _, topic := range []string{"ha/r/5", "ha/r/6"} {
		if slices.Contains(tp.topics(), topic) {
			t.Errorf("a refused message on %s was delivered", topic)
		}
	}
	if got := b.Stats().RetainedRefused; got != int64(refusals) {
		t.Errorf("Stats().RetainedRefused = %d, want %d", got, refusals)
	}
	if n := strings.Count(logs.String(), "retained message refused"); n != 1 || !strings.Contains(logs.String(), `"account":"ha"`) {
		t.Errorf("%d log lines on refused retained messages, want 1 naming the account:\n%s", n, logs.String())
	}

	// The broker's own retained messages count for no account, and take over an account's topic.
	for i := range 10 {
		if err := b.PublishPlain(fmt.Sprintf("ha/own/%d", i), x(200), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PublishPlain("ha/r/0", x(10), true, 1); err != nil {
		t.Fatal(err)
	}
	if n, by := b.quota.retainedHeld(haUser); n != 3 || by != 844+3*retainedOverhead {
		t.Errorf("after the broker's own: the account holds %d messages of %d bytes, want 3 of %d", n, by, 844+3*retainedOverhead)
	}
	if code, closed := publishAck(t, c, 100, "ha/r/8", x(100), 1); closed || code != 0 {
		t.Errorf("a message in the room the broker's own freed: 0x%02x (closed %v), want 0", code, closed)
	}
}

// TestRetainedRefusedV311: MQTT 3.1.1 cannot refuse a PUBLISH in its acknowledgement, so past a
// bound a QoS 1 or 2 retained PUBLISH closes the connection, unacknowledged [MQTT-3.3.5-2], and a
// QoS 0 one is dropped (the connection stays); neither is retained. Other accounts are not
// affected: the bounds are per account.
func TestRetainedRefusedV311(t *testing.T) {
	accounts := append(testAccounts(), Account{Username: "ha2", Password: "ha2-12345678", Write: []string{"ha/#"}})
	b := newTestBroker(t, Options{Accounts: accounts, WriterLimits: Limits{RetainedMessages: 1, RetainedMessageSize: 300}})
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("QoS %d", qos), func(t *testing.T) {
			c := login(t, b.Addr(), rawmqtt.Options{ClientID: fmt.Sprintf("v3-%d", qos), Username: haUser, Password: haPass, Clean: true})
			if qos == 0 {
				code, closed := publishAck(t, c, 1, "ha/v3/held", []byte("one"), 1)
				if closed || code != 0 {
					t.Fatalf("the one it may keep: code 0x%02x, closed %v", code, closed)
				}
				c.Write(rawmqtt.PublishPacket(rawmqtt.V311, 0, "ha/v3/0", []byte("x"), 0, true))
				c.Write([]byte{0xc0, 0x00}) // PINGREQ
				if pk, err := c.Read(2 * time.Second); err != nil || pk.FixedHeader.Type != packets.Pingresp {
					t.Errorf("after a dropped QoS 0 publish: type %d, %v; want PINGRESP", pk.FixedHeader.Type, err)
				}
			} else if _, closed := publishAck(t, c, 1, fmt.Sprintf("ha/v3/%d", qos), []byte("x"), qos); !closed {
				t.Errorf("a refused QoS %d publish was acknowledged, want the connection closed", qos)
			}
			if p := retainedPayload(b, fmt.Sprintf("ha/v3/%d", qos)); p != nil {
				t.Errorf("refused message retained: %q", p)
			}
		})
	}
	other := login(t, b.Addr(), rawmqtt.Options{ClientID: "other", Username: "ha2", Password: "ha2-12345678", Clean: true})
	if code, closed := publishAck(t, other, 1, "ha/other", []byte("x"), 1); closed || code != 0 {
		t.Errorf("another account: code 0x%02x, closed %v; want accepted", code, closed)
	}
	if got := b.Stats().RetainedRefused; got != 3 {
		t.Errorf("Stats().RetainedRefused = %d, want 3", got)
	}
}

// TestRetainedWillBounded: a retained Will counts against its account like a retained PUBLISH.
// One larger than Limits.RetainedMessageSize is refused at CONNECT (0x97; 3.1.1: 3); one that
// would take the account past its bounds when it is due is published, but not retained.
func TestRetainedWillBounded(t *testing.T) {
	b := newTestBroker(t, Options{WriterLimits: Limits{RetainedMessages: 2, RetainedMessageSize: 300}})
	tp := newTap(t, b, "ha/will/+")
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		big := &rawmqtt.Will{Topic: "ha/will/big", Payload: bytes.Repeat([]byte("x"), 300), Retain: true}
		if code, _ := connack(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "big", Username: haUser, Password: haPass, Clean: true, Will: big}); code != quotaCode(v) {
			t.Errorf("%s: a retained Will larger than a message may be: CONNACK 0x%02x, want 0x%02x", versionName(v), code, quotaCode(v))
		}
	}
	will := func(id, topic string) {
		c := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: id, Username: haUser, Password: haPass, Clean: true,
			Will: &rawmqtt.Will{Topic: topic, Payload: []byte("offline"), Retain: true}})
		c.Close() // no DISCONNECT: the Will is due
		checkFor(t, 2*time.Second, func() error {
			if !slices.Contains(tp.topics(), topic) {
				return fmt.Errorf("the Will on %s was not published", topic)
			}
			return nil
		})
	}
	will("w1", "ha/will/1")
	will("w2", "ha/will/2")
	will("w3", "ha/will/3")
	for topic, want := range map[string]bool{"ha/will/1": true, "ha/will/2": true, "ha/will/3": false} {
		if got := retainedPayload(b, topic) != nil; got != want {
			t.Errorf("Will on %s retained: %v, want %v", topic, got, want)
		}
	}
	if n, _ := b.quota.retainedHeld(haUser); n != 2 {
		t.Errorf("the account holds %d retained messages, want 2", n)
	}
	if got := b.Stats().RetainedRefused; got != 3 {
		t.Errorf("Stats().RetainedRefused = %d, want 3", got)
	}
}

// TestRetainedCountedAfterRestart: the retained messages an account left in the store count
// against it when the broker starts again.
func TestRetainedCountedAfterRestart(t *testing.T) {
	st := openStore(t)
	opts := Options{Store: st, Accounts: testAccounts(), Log: zerolog.Nop(), WriterLimits: Limits{RetainedMessages: 2, RetainedMessageSize: 300}}
	start := func() *Broker {
		b, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start()
	c := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "writer", Username: haUser, Password: haPass, Clean: true})
	for i := range 2 {
		if code, closed := publishAck(t, c, uint16(i+1), fmt.Sprintf("ha/keep/%d", i), []byte("kept"), 1); closed || code != 0 {
			t.Fatalf("publish %d: 0x%02x, closed %v", i, code, closed)
		}
	}
	if err := b.PublishPlain("ha/keep/own", []byte("the broker's"), true, 1); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 2*time.Second, func() error {
		if msgs, _ := st.Hook().StoredRetainedMessages(); len(msgs) != 3 {
			return fmt.Errorf("%d retained messages stored, want 3", len(msgs))
		}
		return nil
	})
	b.Close()

	b = start()
	defer b.Close()
	c = login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "writer", Username: haUser, Password: haPass, Clean: true})
	if code, closed := publishAck(t, c, 1, "ha/keep/2", []byte("one more"), 1); closed || code != packets.ErrQuotaExceeded.Code {
		t.Errorf("after the restart, a third: 0x%02x (closed %v), want 0x97", code, closed)
	}
	if code, closed := publishAck(t, c, 2, "ha/keep/0", []byte("replaced"), 1); closed || code != 0 {
		t.Errorf("after the restart, replacing one of its own: 0x%02x (closed %v), want 0", code, closed)
	}
}
