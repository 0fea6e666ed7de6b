package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// qos2Publish sends a QoS 2 PUBLISH and returns its PUBREC's code, or closed when the broker
// closed the connection instead.
func qos2Publish(t *testing.T, c *rawmqtt.Conn, id uint16) (code byte, closed bool) {
	t.Helper()
	if err := c.Write(rawmqtt.PublishPacket(c.Version(), id, "ha/qos2", []byte("x"), 2, false)); err != nil {
		return 0, true
	}
	for {
		pk, err := c.Read(3 * time.Second)
		if err != nil {
			return 0, true
		}
		if pk.FixedHeader.Type == packets.Pubrec && pk.PacketID == id {
			return pk.ReasonCode, false
		} // else a PUBREC mochi resends to a session taken over
	}
}

// TestQoS2PendingBounded: mochi bounds the QoS 2 PUBLISHes awaiting their PUBREL per
// connection only, and a session taken over keeps them with a fresh quota, so a reconnecting
// client could pile up 65,535 per session. A QoS 2 PUBLISH while its session holds MaxInflight
// messages is refused: MQTT 5 PUBREC 0x97, 3.1.1 the connection closed; a PUBREL makes room.
func TestQoS2PendingBounded(t *testing.T) {
	b := newTestBroker(t, Options{MaxInflight: 4})
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			o := rawmqtt.Options{Version: v, ClientID: "qos2-" + versionName(v), Username: haUser, Password: haPass, SessionExpiry: 600}
			c := login(t, b.Addr(), o)
			for id := uint16(1); id <= 4; id++ {
				if code, closed := qos2Publish(t, c, id); closed || code != 0 {
					t.Fatalf("publish %d: 0x%02x (closed %v), want 0", id, code, closed)
				}
			}
			c.Close()
			c = login(t, b.Addr(), o) // takes the session over, and its four PUBRECs
			code, closed := qos2Publish(t, c, 5)
			if v == rawmqtt.V5 && (closed || code != packets.ErrQuotaExceeded.Code) {
				t.Errorf("a fifth: 0x%02x (closed %v), want PUBREC 0x97", code, closed)
			}
			if v == rawmqtt.V311 {
				if !closed {
					t.Fatalf("a fifth: PUBREC 0x%02x, want the connection closed", code)
				}
				c = login(t, b.Addr(), o)
			}
			c.Write([]byte{0x62, 0x02, 0x00, 0x01}) // PUBREL 1
			for {
				pk, err := c.Read(3 * time.Second)
				if err != nil {
					t.Fatalf("PUBREL: no PUBCOMP: %v", err)
				}
				if pk.FixedHeader.Type == packets.Pubcomp {
					break
				} // else a PUBREC mochi resends to a session taken over
			}
			if code, closed := qos2Publish(t, c, 6); closed || code != 0 {
				t.Errorf("after a PUBREL: 0x%02x (closed %v), want 0", code, closed)
			}
		})
	}
	if got := b.Stats().QoS2Refused; got != 2 {
		t.Errorf("Stats().QoS2Refused = %d, want 2", got)
	}
}

// TestAcksCarryNoPublishProperties: mochi copied a PUBLISH's properties (user properties up to
// the packet size) into its PUBACK or PUBREC, which it keeps until the PUBREL. They carry their
// reason only. And a client may use topic aliases up to 16, not mochi's 65,535 (mochi offers
// none in its CONNACK, so a client that follows the protocol uses none).
func TestAcksCarryNoPublishProperties(t *testing.T) {
	b := newTestBroker(t, Options{})
	c := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "props", Username: haUser, Password: haPass, Clean: true})
	for _, s := range []struct {
		qos   byte
		alias uint16
	}{{1, 0}, {2, 0}, {1, 16}} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: s.qos}, ProtocolVersion: rawmqtt.V5,
			TopicName: "ha/props", PacketID: uint16(s.qos) + s.alias, Payload: []byte("x"),
			Properties: packets.Properties{User: []packets.UserProperty{{Key: "big", Val: "echoed back"}},
				TopicAlias: s.alias, TopicAliasFlag: s.alias > 0}}
		var buf bytes.Buffer
		if err := pk.PublishEncode(&buf); err != nil {
			t.Fatal(err)
		}
		c.Write(buf.Bytes())
		got, err := c.Read(3 * time.Second)
		if err != nil || got.ReasonCode != 0 {
			t.Fatalf("QoS %d alias %d: code 0x%02x, %v", s.qos, s.alias, got.ReasonCode, err)
		}
		if len(got.Properties.User) > 0 {
			t.Errorf("QoS %d acknowledgement carries %s", s.qos, fmt.Sprint(got.Properties.User))
		}
	}
	c.Write(v5AliasPublish(t, 17))
	if pk, err := c.Read(3 * time.Second); err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrTopicAliasInvalid.Code {
		t.Errorf("topic alias 17: type %d code 0x%02x, %v; want DISCONNECT 0x94", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
}

// v5AliasPublish encodes an MQTT 5 QoS 1 PUBLISH to ha/props with a topic alias.
func v5AliasPublish(t *testing.T, alias uint16) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: rawmqtt.V5,
		TopicName: "ha/props", PacketID: 100, Payload: []byte("x"), Properties: packets.Properties{TopicAlias: alias, TopicAliasFlag: true}}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
