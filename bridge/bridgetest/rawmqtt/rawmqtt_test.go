package rawmqtt_test

import (
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// allowAll lets every client in and everywhere.
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }

func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// startMochi runs a bare mochi broker that lets everyone in.
func startMochi(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestRoundTrip logs in, subscribes, publishes to itself and reads the message back, over MQTT
// 3.1.1 and 5, then loses the connection and sees its Will arrive at a second client.
func TestRoundTrip(t *testing.T) {
	addr := startMochi(t)
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		watcher, err := rawmqtt.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer watcher.Close()
		if ack, err := watcher.Connect(rawmqtt.Options{Version: v, ClientID: "watcher", Clean: true}); err != nil || ack.ReasonCode != 0 {
			t.Fatalf("v%d connect: %v 0x%02x", v, err, ack.ReasonCode)
		}
		if codes, _, err := watcher.Subscribe(1, "a/#", "will/+"); err != nil || len(codes) != 2 || codes[0] != 1 || codes[1] != 1 {
			t.Fatalf("v%d Subscribe = %x, %v; want [1 1]", v, codes, err)
		}

		c, err := rawmqtt.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := c.Connect(rawmqtt.Options{Version: v, ClientID: "c", Clean: v == rawmqtt.V311, SessionExpiry: 30,
			Will: &rawmqtt.Will{Topic: "will/c", Payload: []byte("gone"), QoS: 1, Delay: 0}})
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("v%d connect: %v 0x%02x", v, err, ack.ReasonCode)
		}
		if err := c.Publish("a/b", []byte("hello"), 1, false); err != nil {
			t.Fatal(err)
		}
		if pk, err := c.Read(time.Second); err != nil || pk.FixedHeader.Type != packets.Puback {
			t.Fatalf("v%d after Publish: type %d, %v; want PUBACK", v, pk.FixedHeader.Type, err)
		}
		c.Close()
		got := watcher.Publishes(time.Second)
		if len(got) != 2 || got[0].TopicName != "a/b" || string(got[0].Payload) != "hello" || got[1].TopicName != "will/c" {
			t.Fatalf("v%d watcher got %d messages %v, want a/b then will/c", v, len(got), got)
		}
		if codes, err := watcher.Unsubscribe("a/#"); err != nil || (v == rawmqtt.V5 && (len(codes) != 1 || codes[0] != 0)) {
			t.Fatalf("v%d Unsubscribe = %x, %v", v, codes, err)
		}
		if err := watcher.Disconnect(); err != nil {
			t.Fatal(err)
		}
		if !watcher.Closed(time.Second) {
			t.Fatalf("v%d: Closed = false after Disconnect", v)
		}
	}
}
