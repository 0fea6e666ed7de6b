package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
)

// TestWillRefused has accounts connect with Wills they may not publish, over MQTT 3.1.1 and 5:
// each CONNECT is refused with "not authorized" (v5 0x87, 3.1.1 return code 5), the connection
// is dropped as a lost one would be, and nothing is ever published or retained on the Will's
// topic, delayed Wills included.
func TestWillRefused(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	cases := []struct {
		name string
		user string
		pass string
		will rawmqtt.Will
		// expiry is the v5 session expiry; clean is false when it is set.
		expiry uint32
	}{
		{name: "device, a topic it reads", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "p/v/lock1"}},
		{name: "device, retained, a topic it reads", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "p/v/lock2", Retain: true, QoS: 1}},
		{name: "device, retained QoS 2 on the writer's topic", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "ha/status", Retain: true, QoS: 2}},
		{name: "device, $SYS", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "$SYS/broker/forged"}},
		{name: "device, a wildcard topic", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "p/v/#"}},
		{name: "device, delayed with session expiry", user: devUser, pass: devPass, will: rawmqtt.Will{Topic: "p/v/lock3", Retain: true, Delay: 1}, expiry: 60},
		{name: "writer, a topic it only reads", user: haUser, pass: haPass, will: rawmqtt.Will{Topic: "p/v/lock4", Retain: true}},
		{name: "writer, $SYS", user: haUser, pass: haPass, will: rawmqtt.Will{Topic: "$SYS/broker/forged2"}},
		{name: "writer, a wildcard in its own tree", user: haUser, pass: haPass, will: rawmqtt.Will{Topic: "ha/+"}},
	}
	for _, c := range cases {
		for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
			t.Run(c.name+" "+versionName(v), func(t *testing.T) {
				if c.expiry > 0 && v != rawmqtt.V5 {
					t.Skip("session expiry and will delay are MQTT 5")
				}
				topic := c.will.Topic
				if !strings.ContainsAny(topic, "+#") {
					topic = fmt.Sprintf("%s-%s", topic, versionName(v))
				}
				tp := newTap(t, b, topic)
				retained := b.Stats().Retained
				w := c.will
				w.Topic, w.Payload = topic, []byte(`{"state":"unlocked"}`)
				id := fmt.Sprintf("will-%s-%s", strings.ReplaceAll(c.name, " ", "-"), versionName(v))
				code, conn := connack(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: id, Username: c.user, Password: c.pass,
					Clean: c.expiry == 0, SessionExpiry: c.expiry, Will: &w})
				want := byte(0x87)
				if v == rawmqtt.V311 {
					want = 5
				}
				if code != want {
					t.Fatalf("CONNACK = 0x%02x, want 0x%02x (not authorized)", code, want)
				}
				if !conn.Closed(2 * time.Second) {
					t.Fatal("the connection stayed open after the refusal")
				}
				wait := 300 * time.Millisecond
				if c.will.Delay > 0 {
					wait = time.Duration(c.will.Delay)*time.Second + 1500*time.Millisecond
				}
				time.Sleep(wait)
				if got := tp.topics(); len(got) > 0 {
					t.Errorf("the refused Will was published: %v", got)
				}
				if got := b.Stats().Retained; got != retained {
					t.Errorf("retained messages %d -> %d: the refused Will was retained", retained, got)
				}
				if _, ok := b.srv.Clients.Get(sessionID(c.user, id)); ok {
					t.Errorf("a session %q was kept for the refused CONNECT", id)
				}
			})
		}
	}
	if got := b.Stats().WillsRefused; got == 0 {
		t.Errorf("Stats().WillsRefused = 0 after refusals")
	}
}

// TestWillWrongPasswordSaysNothing: with a wrong password, a forbidden Will gets the answer any
// wrong password gets, so the refusal code tells nothing about the Will.
func TestWillWrongPasswordSaysNothing(t *testing.T) {
	b := newTestBroker(t, Options{})
	code, _ := connack(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "wrongpw", Username: devUser, Password: "wrong-password",
		Clean: true, Will: &rawmqtt.Will{Topic: "p/v/x", Payload: []byte("x")}})
	if code != packets.ErrBadUsernameOrPassword.Code {
		t.Errorf("CONNACK = 0x%02x, want 0x%02x (bad username or password)", code, packets.ErrBadUsernameOrPassword.Code)
	}
}

// TestWillAllowed: the writer account's Will on a topic it may publish is published when its
// connection is lost, retained when asked, over MQTT 3.1.1 and 5; a retained Will's delay is
// dropped (it is published at once) and a plain delayed Will waits for its delay.
func TestWillAllowed(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		for _, c := range []struct {
			name   string
			retain bool
			delay  uint32
		}{{"plain", false, 0}, {"retained", true, 0}, {"retained and delayed", true, 5}, {"delayed", false, 1}} {
			t.Run(c.name+" "+versionName(v), func(t *testing.T) {
				if c.delay > 0 && v != rawmqtt.V5 {
					t.Skip("will delay is MQTT 5")
				}
				topic := fmt.Sprintf("ha/status/%s/%s", strings.ReplaceAll(c.name, " ", "-"), versionName(v))
				tp := newTap(t, b, topic)
				conn := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "ha-" + topic, Username: haUser, Password: haPass,
					Clean: true, Will: &rawmqtt.Will{Topic: topic, Payload: []byte("offline"), Retain: c.retain, Delay: c.delay}})
				lost := time.Now()
				conn.Close()
				checkFor(t, 5*time.Second, func() error {
					if tp.len() != 1 {
						return fmt.Errorf("Will published %d times, want 1", tp.len())
					}
					return nil
				})
				took := time.Since(lost)
				if c.delay > 0 && !c.retain && took < time.Duration(c.delay)*time.Second {
					t.Errorf("delayed Will published after %v, want at least %ds", took, c.delay)
				}
				if c.retain && took > 2*time.Second {
					t.Errorf("retained Will published after %v, want at once", took)
				}
				if got := len(b.srv.Topics.Messages(topic)); (got == 1) != c.retain {
					t.Errorf("%d retained messages on %s, want retained=%v", got, topic, c.retain)
				}
			})
		}
	}
}

// TestRetainedWillWhileSubscribing loses retained Wills while wildcard subscriptions are being
// made: mochi retains a Will on the disconnecting client's goroutine, racing wildcard subscribers
// the way retained publishes do; under -race it fails without the retain guard covering Wills.
func TestRetainedWillWhileSubscribing(t *testing.T) {
	b := newTestBroker(t, Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 60; i++ {
			c, err := rawmqtt.Dial(b.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			ack, err := c.Connect(rawmqtt.Options{ClientID: fmt.Sprintf("ha-will-%d", i), Username: haUser, Password: haPass, Clean: true,
				Will: &rawmqtt.Will{Topic: fmt.Sprintf("ha/avail/%d", i%10), Payload: []byte("offline"), Retain: true}})
			if err != nil || ack.ReasonCode != 0 {
				t.Errorf("connect: %v 0x%02x", err, ack.ReasonCode)
			}
			c.Close()
		}
	}()
	for i := 0; i < 30; i++ {
		c := login(t, b.Addr(), rawmqtt.Options{ClientID: fmt.Sprintf("ha-sub-%d", i), Username: haUser, Password: haPass, Clean: true})
		if _, _, err := c.Subscribe(1, "ha/#"); err != nil {
			t.Fatal(err)
		}
		c.Disconnect()
	}
	<-done
}

// TestWillTakeover: a refused CONNECT never takes over the session it names, so the connected
// client keeps its session; and a device logging in with the writer's client id neither fires
// the writer's Will nor cuts it off.
func TestWillTakeover(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			own := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "panel-" + versionName(v), Username: devUser, Password: devPass, SessionExpiry: 60})
			if codes, _, err := own.Subscribe(1, "p/v/+"); err != nil || codes[0] != 1 {
				t.Fatalf("subscribe: %x %v", codes, err)
			}
			code, _ := connack(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "panel-" + versionName(v), Username: devUser, Password: devPass,
				SessionExpiry: 60, Will: &rawmqtt.Will{Topic: "p/v/forged", Payload: []byte("x"), Retain: true}})
			if code == 0 {
				t.Fatal("a CONNECT with a forbidden Will took over the session")
			}
			if err := b.PublishPlain("p/v/still", []byte("{}"), false, 1); err != nil {
				t.Fatal(err)
			}
			if got := own.Publishes(time.Second); len(got) != 1 {
				t.Errorf("the session's own connection got %d messages after the refused takeover, want 1", len(got))
			}

			haTopic := "ha/status/takeover-" + versionName(v)
			tp := newTap(t, b, haTopic)
			ha := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "ha-main-" + versionName(v), Username: haUser, Password: haPass, Clean: true,
				Will: &rawmqtt.Will{Topic: haTopic, Payload: []byte("offline"), Retain: true}})
			dev := dial(t, b.Addr())
			if _, err := dev.Connect(rawmqtt.Options{Version: v, ClientID: "ha-main-" + versionName(v), Username: devUser, Password: devPass, Clean: true}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if got := tp.topics(); len(got) > 0 {
				t.Errorf("a device with the writer's client id fired its Will: %v", got)
			}
			if ha.Closed(100 * time.Millisecond) {
				t.Errorf("a device with the writer's client id cut the writer off")
			}
		})
	}
}

// TestWillSecondConnect: a second CONNECT carrying a Will, and a DISCONNECT asking for the Will
// (v5 reason 0x04), publish nothing for a device.
func TestWillSecondConnect(t *testing.T) {
	b := newTestBroker(t, Options{})
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			topic := "p/v/second-" + versionName(v)
			tp := newTap(t, b, topic)
			c := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "second-" + versionName(v), Username: devUser, Password: devPass, Clean: true})
			_ = c.Write(rawmqtt.ConnectPacket(rawmqtt.Options{Version: v, ClientID: "second-" + versionName(v), Username: devUser, Password: devPass,
				Clean: true, Will: &rawmqtt.Will{Topic: topic, Payload: []byte("x"), Retain: true}}))
			if !c.Closed(2 * time.Second) {
				t.Error("a second CONNECT did not cost the connection")
			}
			if v == rawmqtt.V5 {
				d := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: "disc-" + versionName(v), Username: devUser, Password: devPass, Clean: true})
				_ = d.Write([]byte{0xe0, 0x01, 0x04}) // DISCONNECT, reason "with Will message"
				d.Closed(time.Second)
			}
			time.Sleep(200 * time.Millisecond)
			if got := tp.topics(); len(got) > 0 {
				t.Errorf("published %v", got)
			}
		})
	}
}

// TestLongTopicRefused: the writer account cannot publish (or set a Will) on a topic longer than
// 1 KiB. A retained message is stored under its topic, and a key past bbolt's 32 KiB failed the
// transaction it shared with the next event: that event's publish failed ("key too large").
func TestLongTopicRefused(t *testing.T) {
	st := openStore(t)
	b := newTestBroker(t, Options{Store: st})
	long := "ha/" + strings.Repeat("t", 40_000)
	for i, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		c := login(t, b.Addr(), rawmqtt.Options{Version: v, ClientID: fmt.Sprintf("ha-long-%d", i), Username: haUser, Password: haPass, Clean: true})
		if err := c.Publish(long, []byte("x"), 1, true); err != nil {
			t.Fatal(err)
		}
		c.Read(500 * time.Millisecond) // PUBACK, refusal or close
		token := fmt.Sprintf("after-long-topic-%d", i)
		ev := &publish.Event{Vendor: "v", Token: token, Messages: []route.Message{{Topic: "p/v/x", Payload: []byte("{}"), QoS: 1}},
			At: time.Now()}
		if err := b.Publish(context.Background(), ev); err != nil {
			t.Errorf("%s: an event's publish after a retained message on a 40 KB topic: %v", versionName(v), err)
		}
		if got := len(b.srv.Topics.Messages(long)); got != 0 {
			t.Errorf("%s: the 40 KB topic's message was retained", versionName(v))
		}
	}
	code, _ := connack(t, b.Addr(), rawmqtt.Options{ClientID: "ha-long-will", Username: haUser, Password: haPass, Clean: true,
		Will: &rawmqtt.Will{Topic: "ha/" + strings.Repeat("w", 2000), Payload: []byte("x")}})
	if code != 5 {
		t.Errorf("a Will on a 2 KB topic: CONNACK 0x%02x, want 5", code)
	}
}
