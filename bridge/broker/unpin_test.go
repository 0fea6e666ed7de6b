package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// TestRetainedCostBoundsMemory: what an account's retained messages cost the broker's memory
// stays near Limits.RetainedBytes, whatever their shape. Topics of many levels cost 640 bytes a
// level in mochi's index (a one-byte message on a 500-level topic cost 315 KiB), and each
// message kept its whole PUBLISH buffer alive besides its own copy (twice its size): the bound
// counts the first, and the broker copies the topic out of the buffer.
func TestRetainedCostBoundsMemory(t *testing.T) {
	const bound = 4 << 20
	for _, c := range []struct {
		name    string
		topic   func(i int) string
		payload int
	}{
		{"topics of 100 levels", func(i int) string { return fmt.Sprintf("ha/%d/", i) + strings.Repeat("x/", 97) + "x" }, 1},
		{"messages of 64 KiB", func(i int) string { return fmt.Sprintf("ha/sensor/big-%d/config", i) }, 64<<10 - 64},
		{"discovery configs", func(i int) string { return fmt.Sprintf("ha/sensor/node%d/entity%d/config", i/10, i) }, 1200},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			b := newTestBroker(t, Options{Store: st, WriterLimits: Limits{RetainedMessages: 1 << 20, RetainedBytes: bound, RetainedMessageSize: 64 << 10}})
			cl := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "writer", Username: haUser, Password: haPass, Clean: true})
			before := heapInUse()
			kept := 0
			for i := range 5000 {
				code, closed := publishAck(t, cl, uint16(i+1), c.topic(i), bytes.Repeat([]byte("x"), c.payload), 1)
				if closed {
					t.Fatal("connection closed")
				}
				if code != 0 {
					break
				}
				kept++
			}
			if err := st.Write(); err != nil { // the retained messages are on disk, not queued
				t.Fatal(err)
			}
			grow := int64(heapInUse()) - int64(before)
			t.Logf("%d messages kept: heap %+.1f MiB for a bound of %d MiB", kept, float64(grow)/(1<<20), bound>>20)
			if kept == 0 || kept == 5000 {
				t.Fatalf("%d messages kept, want the bound to refuse one", kept)
			}
			// Within the measuring noise of a heap shared with the test's clients; without the
			// fixes it grew by 2 to 28 times the bound.
			if grow > bound*3/2 {
				t.Errorf("heap grew by %.1f MiB, want at most %.1f", float64(grow)/(1<<20), float64(bound*3/2)/(1<<20))
			}
		})
	}
}

// TestSubscriptionsUnpinned: a subscription's filter kept its whole SUBSCRIBE packet alive (mochi
// decodes strings as views of the packet's buffer): a filter sent with 180 KiB of user
// properties cost 192 KiB, and a device session may hold 256. The broker copies filters.
func TestSubscriptionsUnpinned(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	cl := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "pin", Username: devUser, Password: devPass, SessionExpiry: 600})
	props := []packets.UserProperty{{Key: "k", Val: strings.Repeat("x", 60<<10)}, {Key: "k", Val: strings.Repeat("y", 60<<10)}, {Key: "k", Val: strings.Repeat("z", 60<<10)}}
	before := heapInUse()
	const n = 100
	for i := range n {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: rawmqtt.V5, PacketID: uint16(i + 1),
			Filters: packets.Subscriptions{{Filter: fmt.Sprintf("p/v/%d", i), Qos: 1}}, Properties: packets.Properties{User: props}}
		var buf bytes.Buffer
		if err := pk.SubscribeEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if err := cl.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if ack, err := cl.Read(5 * time.Second); err != nil || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
			t.Fatalf("SUBSCRIBE %d: %v %x", i, err, ack.ReasonCodes)
		}
	}
	each := (int64(heapInUse()) - int64(before)) / n
	t.Logf("heap %+d bytes a subscription", each)
	if each > 32<<10 {
		t.Errorf("each subscription costs %d KiB of heap, want less than 32", each>>10)
	}
}
