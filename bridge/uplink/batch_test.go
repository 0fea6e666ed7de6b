package uplink_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/uplink"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
)

// ackingBroker accepts MQTT connections, answers CONNECT, acknowledges the first acks PUBLISH
// packets of each connection and then ends it. It ends it gracefully: it stops writing (a FIN after
// its acknowledgements) and keeps reading until the client closes, since closing with the client's
// later publishes unread makes the kernel reset the connection, and a reset can destroy the
// acknowledgements still on their way (the test would then flake).
func ackingBroker(t *testing.T, acks int) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		n := 0
		for {
			typ, body, err := readWhole(c)
			if err != nil {
				return
			}
			switch typ >> 4 {
			case 1: // CONNECT
				c.Write([]byte{0x20, 0x02, 0x00, 0x00})
			case 3: // PUBLISH, QoS 1: topic, packet id, payload
				if n == acks {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.CloseWrite()
					}
					continue // read on until the client closes
				}
				n++
				puback(c, body)
			case 12: // PINGREQ
				c.Write([]byte{0xd0, 0x00})
			}
		}
	})
}

// puback acknowledges the QoS 1 PUBLISH whose body (after the fixed header) is body.
func puback(c net.Conn, body []byte) {
	tl := int(binary.BigEndian.Uint16(body))
	c.Write([]byte{0x40, 0x02, body[2+tl], body[3+tl]})
}

func readWhole(r io.Reader) (byte, []byte, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n += int(b[0]&0x7f) * mult
		if b[0]&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	_, err := io.ReadFull(r, body)
	return hdr[0], body, err
}

// TestPublishBatchCut: a connection lost in the middle of a batch reports how many messages at the
// start the broker acknowledged, so the caller sends again from there.
func TestPublishBatchCut(t *testing.T) {
	addr := ackingBroker(t, 3)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: "tcp://" + addr}), AckTimeout: 3 * time.Second})
	waitConnected(t, u)
	var msgs []route.Message
	for i := range 8 {
		msgs = append(msgs, route.Message{Topic: fmt.Sprint("t/", i), Payload: []byte("{}"), QoS: 1})
	}
	acked, err := u.PublishBatch(context.Background(), msgs)
	if acked != 3 || !errors.Is(err, publish.ErrUnavailable) {
		t.Errorf("PublishBatch() = %d, %v; want 3 acknowledged and ErrUnavailable", acked, err)
	}
}

// stallingBroker answers CONNECT, acknowledges the first acks PUBLISH packets, then stops reading
// and, after a second (time enough for the acknowledgements to reach the client), drops the
// connection. A client sending large messages is still handing them over when it does.
func stallingBroker(t *testing.T, acks int) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		for n := 0; n < acks; {
			typ, body, err := readWhole(c)
			if err != nil {
				return
			}
			switch typ >> 4 {
			case 1:
				c.Write([]byte{0x20, 0x02, 0x00, 0x00})
			case 3:
				n++
				puback(c, body)
			}
		}
		time.Sleep(time.Second)
	})
}

// TestPublishBatchCutWhileSending: the connection is lost while later messages of the batch are
// still being handed over; the acknowledgements already received still count.
func TestPublishBatchCutWhileSending(t *testing.T) {
	addr := stallingBroker(t, 3)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: "tcp://" + addr}), AckTimeout: 2 * time.Second})
	waitConnected(t, u)
	big := make([]byte, 256<<10) // 64 of them fill any socket buffer the unread side offers
	var msgs []route.Message
	for i := range 64 {
		msgs = append(msgs, route.Message{Topic: fmt.Sprint("t/", i), Payload: big, QoS: 1})
	}
	acked, err := u.PublishBatch(context.Background(), msgs)
	if acked != 3 || !errors.Is(err, publish.ErrUnavailable) {
		t.Errorf("PublishBatch() = %d, %v; want 3 acknowledged and ErrUnavailable", acked, err)
	}
}

// TestPublishBatchOrder publishes batches to a real Mosquitto: a subscriber gets every message, in
// order, with its retain flag, at QoS 1 at least.
func TestPublishBatchOrder(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	live := b.Subscribe(t, "live", "hb/#", false)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b))})
	waitConnected(t, u)
	const n = 600
	var msgs []route.Message
	for i := range n {
		msgs = append(msgs, route.Message{Topic: fmt.Sprintf("hb/%d", i%7), Payload: []byte(fmt.Sprint(i)), QoS: byte(i % 2), Retain: i%5 == 0})
	}
	for i := 0; i < n; i += 200 {
		if acked, err := u.PublishBatch(context.Background(), msgs[i:i+200]); acked != 200 || err != nil {
			t.Fatalf("PublishBatch() = %d, %v; want 200, nil", acked, err)
		}
	}
	got := live.WaitFor(t, 10*time.Second, fmt.Sprint(n, " messages"), func(m []mosquittotest.Message) bool { return len(m) >= n })
	for i, m := range got {
		if m.Topic != msgs[i].Topic || m.Payload != string(msgs[i].Payload) || m.QoS != 1 {
			t.Fatalf("message %d = %+v, want %s %s at QoS 1", i, m, msgs[i].Topic, msgs[i].Payload)
		}
	}
	if got, err := u.PublishBatch(context.Background(), make([]route.Message, 2000)); got != 0 || err == nil {
		t.Errorf("PublishBatch(2000 messages) = %d, %v; want an error (more than MaxInflight)", got, err)
	}
}
