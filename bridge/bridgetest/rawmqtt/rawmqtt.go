// Package rawmqtt is a raw MQTT client for tests. It writes packets byte for byte and reads what
// the broker answers, so a test can send what a client library will not: a Will on any topic, a
// v5 Will delay, thousands of filters in one SUBSCRIBE, a CONNECT that never ends, or bytes that
// are no MQTT at all. It speaks MQTT 3.1.1 and 5; it never reconnects, retries or acknowledges
// anything on its own, except where a method says so.
//
// A typical test:
//
//	c, err := rawmqtt.Dial(addr)
//	...
//	defer c.Close()
//	ack, err := c.Connect(rawmqtt.Options{Version: rawmqtt.V5, ClientID: "panel", Username: "u", Password: "p",
//		Will: &rawmqtt.Will{Topic: "a/b", Payload: []byte("x"), Retain: true}})
//	if ack.ReasonCode != 0x87 { ... }
package rawmqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Protocol versions, as the CONNECT's protocol level byte carries them.
const (
	V311 byte = 4 // MQTT 3.1.1
	V5   byte = 5 // MQTT 5
)

// DefaultTimeout bounds Dial and the reads of Connect, Subscribe and Unsubscribe.
const DefaultTimeout = 5 * time.Second

// ErrUnexpected reports that the broker answered with a packet other than the one expected.
var ErrUnexpected = errors.New("rawmqtt: unexpected packet")

// Will is a CONNECT's Will message.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Delay is the MQTT 5 Will Delay Interval in seconds (sent only when non-zero, and only by v5).
	Delay uint32
}

// Options describe a CONNECT.
type Options struct {
	// Version is V311 (the default when zero) or V5.
	Version  byte
	ClientID string
	// Username and Password are sent when non-empty.
	Username string
	Password string
	// Clean is MQTT 3.1.1's clean session, MQTT 5's clean start.
	Clean bool
	// SessionExpiry is the MQTT 5 Session Expiry Interval property in seconds, sent when non-zero.
	SessionExpiry uint32
	// Keepalive is in seconds; zero sends 30.
	Keepalive uint16
	// Will, when set, is the connection's Will message.
	Will *Will
}

// version returns the protocol version the options ask for.
func (o Options) version() byte {
	if o.Version == 0 {
		return V311
	}
	return o.Version
}

// ConnectPacket encodes the CONNECT the options describe.
func ConnectPacket(o Options) []byte {
	keepalive := o.Keepalive
	if keepalive == 0 {
		keepalive = 30
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: o.version(),
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: o.Clean, Keepalive: keepalive, ClientIdentifier: o.ClientID,
			UsernameFlag: o.Username != "", Username: []byte(o.Username),
			PasswordFlag: o.Password != "", Password: []byte(o.Password),
		},
	}
	if o.version() == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	if o.SessionExpiry > 0 {
		pk.Properties.SessionExpiryInterval = o.SessionExpiry
		pk.Properties.SessionExpiryIntervalFlag = true
	}
	if w := o.Will; w != nil {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = w.Topic
		pk.Connect.WillPayload = w.Payload
		pk.Connect.WillQos = w.QoS
		pk.Connect.WillRetain = w.Retain
		pk.Connect.WillProperties.WillDelayInterval = w.Delay
	}
	var b bytes.Buffer
	if err := pk.ConnectEncode(&b); err != nil {
		panic(err) // ConnectEncode fails on nothing it is given here
	}
	return b.Bytes()
}

// SubscribePacket encodes a SUBSCRIBE of filters, each at qos.
func SubscribePacket(version byte, id uint16, qos byte, filters ...string) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: version, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: qos})
	}
	var b bytes.Buffer
	if err := pk.SubscribeEncode(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// UnsubscribePacket encodes an UNSUBSCRIBE of filters.
func UnsubscribePacket(version byte, id uint16, filters ...string) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, ProtocolVersion: version, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f})
	}
	var b bytes.Buffer
	if err := pk.UnsubscribeEncode(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// DisconnectPacket encodes a DISCONNECT. MQTT 5 carries the reason code, and the Session Expiry
// Interval property when sessionExpiry is non-zero (a client may change its expiry this way);
// MQTT 3.1.1 carries neither.
func DisconnectPacket(version byte, reason byte, sessionExpiry uint32) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: version, ReasonCode: reason}
	if sessionExpiry > 0 {
		pk.Properties.SessionExpiryInterval = sessionExpiry
		pk.Properties.SessionExpiryIntervalFlag = true
	}
	var b bytes.Buffer
	if err := pk.DisconnectEncode(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PublishPacket encodes a PUBLISH; id is used for QoS 1 and 2 only.
func PublishPacket(version byte, id uint16, topic string, payload []byte, qos byte, retain bool) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		ProtocolVersion: version, TopicName: topic, Payload: payload}
	if qos > 0 {
		pk.PacketID = id
	}
	var b bytes.Buffer
	if err := pk.PublishEncode(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Conn is one raw MQTT connection. Writes are safe from several goroutines; reads are not.
type Conn struct {
	c       net.Conn
	br      *bufio.Reader
	version byte

	wmu    sync.Mutex // guards writes and nextID
	nextID uint16
}

// Dial opens a TCP connection to addr, taking at most DefaultTimeout.
func Dial(addr string) (*Conn, error) { return DialTimeout(addr, DefaultTimeout) }

// DialTimeout opens a TCP connection to addr, taking at most d.
func DialTimeout(addr string, d time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return nil, fmt.Errorf("rawmqtt: dial %s: %w", addr, err)
	}
	return New(c), nil
}

// New wraps an open connection. It speaks MQTT 3.1.1 until Connect or SetVersion says otherwise.
func New(c net.Conn) *Conn {
	return &Conn{c: c, br: bufio.NewReader(c), version: V311}
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.c }

// Version returns the protocol version packets are encoded and decoded with.
func (c *Conn) Version() byte { return c.version }

// SetVersion sets the protocol version used to encode and decode, for a test that writes its own
// CONNECT with Write.
func (c *Conn) SetVersion(v byte) { c.version = v }

// Close closes the connection without a DISCONNECT: to the broker, the connection was lost (so
// a Will, if any, is due).
func (c *Conn) Close() error { return c.c.Close() }

// Disconnect sends a DISCONNECT (reason 0, so no Will) and closes the connection.
func (c *Conn) Disconnect() error {
	err := c.Write([]byte{0xe0, 0x00})
	if cerr := c.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Write sends raw bytes, taking at most DefaultTimeout.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	_, err := c.c.Write(b)
	return err
}

// id returns the next packet id, never 0.
func (c *Conn) id() uint16 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// Connect sends the CONNECT the options describe and returns the broker's CONNACK, whose
// ReasonCode is 0 when the login succeeded (MQTT 3.1.1 return codes and MQTT 5 reason codes
// both). An error means no CONNACK came within DefaultTimeout, or the connection ended first.
func (c *Conn) Connect(o Options) (packets.Packet, error) {
	c.version = o.version()
	if err := c.Write(ConnectPacket(o)); err != nil {
		return packets.Packet{}, fmt.Errorf("rawmqtt: write CONNECT: %w", err)
	}
	pk, err := c.Read(DefaultTimeout)
	if err != nil {
		return pk, fmt.Errorf("rawmqtt: no CONNACK: %w", err)
	}
	if pk.FixedHeader.Type != packets.Connack {
		return pk, fmt.Errorf("%w: type %d, want CONNACK", ErrUnexpected, pk.FixedHeader.Type)
	}
	return pk, nil
}

// Subscribe sends one SUBSCRIBE of all filters at qos and returns the SUBACK's reason codes, with
// the PUBLISH packets (retained messages) that arrived before it. An error means no SUBACK came
// within DefaultTimeout or the connection ended (the broker may close instead of answering).
func (c *Conn) Subscribe(qos byte, filters ...string) (codes []byte, early []packets.Packet, err error) {
	id := c.id()
	if err := c.Write(SubscribePacket(c.version, id, qos, filters...)); err != nil {
		return nil, nil, fmt.Errorf("rawmqtt: write SUBSCRIBE: %w", err)
	}
	end := time.Now().Add(DefaultTimeout)
	for {
		pk, err := c.Read(time.Until(end))
		if err != nil {
			return nil, early, fmt.Errorf("rawmqtt: no SUBACK: %w", err)
		}
		switch pk.FixedHeader.Type {
		case packets.Suback:
			if pk.PacketID != id {
				return pk.ReasonCodes, early, fmt.Errorf("%w: SUBACK for id %d, want %d", ErrUnexpected, pk.PacketID, id)
			}
			return pk.ReasonCodes, early, nil
		case packets.Publish:
			early = append(early, pk)
		}
	}
}

// Unsubscribe sends one UNSUBSCRIBE of filters and returns the UNSUBACK's reason codes (MQTT 5;
// none for MQTT 3.1.1), skipping other packets.
func (c *Conn) Unsubscribe(filters ...string) ([]byte, error) {
	id := c.id()
	if err := c.Write(UnsubscribePacket(c.version, id, filters...)); err != nil {
		return nil, fmt.Errorf("rawmqtt: write UNSUBSCRIBE: %w", err)
	}
	end := time.Now().Add(DefaultTimeout)
	for {
		pk, err := c.Read(time.Until(end))
		if err != nil {
			return nil, fmt.Errorf("rawmqtt: no UNSUBACK: %w", err)
		}
		if pk.FixedHeader.Type == packets.Unsuback && pk.PacketID == id {
			return pk.ReasonCodes, nil
		}
	}
}

// Publish sends a PUBLISH and does not wait for its acknowledgement.
func (c *Conn) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return c.Write(PublishPacket(c.version, c.id(), topic, payload, qos, retain))
}

// Ack acknowledges a PUBLISH the broker sent: PUBACK for QoS 1, PUBREC for QoS 2 (Read answers
// the broker's PUBREL). QoS 0 needs nothing.
func (c *Conn) Ack(pk packets.Packet) error {
	switch pk.FixedHeader.Qos {
	case 1:
		return c.Write([]byte{0x40, 0x02, byte(pk.PacketID >> 8), byte(pk.PacketID)})
	case 2:
		return c.Write([]byte{0x50, 0x02, byte(pk.PacketID >> 8), byte(pk.PacketID)})
	}
	return nil
}

// Read reads one packet, waiting at most d. It answers a PUBREL with PUBCOMP itself (and returns
// the PUBREL too). The error is the connection's (io.EOF when the broker closed it, a timeout
// when d passed) or a decoding error.
func (c *Conn) Read(d time.Duration) (packets.Packet, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	var pk packets.Packet
	hb, err := c.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.br)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		if err = pk.PubrelDecode(body); err == nil {
			err = c.Write([]byte{0x70, 0x02, byte(pk.PacketID >> 8), byte(pk.PacketID)})
		}
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
		if c.version == V5 && n == 1 {
			pk.ReasonCode = body[0] // mochi decodes the reason only when properties follow
		}
	}
	return pk, err
}

// Publishes reads for d and returns the PUBLISH packets that arrived, acknowledging each (see
// Ack). It returns early when the connection ends.
func (c *Conn) Publishes(d time.Duration) []packets.Packet {
	var out []packets.Packet
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		pk, err := c.Read(time.Until(end))
		if err != nil {
			if errors.As(err, new(packets.Code)) {
				continue // a packet it cannot decode: skip it
			}
			break // d passed, or the connection ended
		}
		if pk.FixedHeader.Type == packets.Publish {
			out = append(out, pk)
			_ = c.Ack(pk)
		}
	}
	return out
}

// Closed reports whether the broker closes the connection within d, discarding what it sends
// first.
func (c *Conn) Closed(d time.Duration) bool {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}
