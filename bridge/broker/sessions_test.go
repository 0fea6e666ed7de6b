package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// TestClientIDSquatting: a device that holds another account's client id, with a persistent
// session at the longest expiry and subscriptions, keeps no one out: the owner logs in with its
// own id and gets a fresh session of its own, and each account's queued messages stay its own.
func TestClientIDSquatting(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			id := "panel-" + versionName(v)
			squat := rawmqtt.Options{Version: v, ClientID: id, Username: dev2User, Password: dev2Pass, SessionExpiry: 0xFFFFFFFF}
			owner := rawmqtt.Options{Version: v, ClientID: id, Username: devUser, Password: devPass, SessionExpiry: 3600}
			sq := login(t, b.Addr(), squat)
			if codes, _, err := sq.Subscribe(1, "p/v/+"); err != nil || codes[0] != 1 {
				t.Fatalf("squatter subscribe: %x %v", codes, err)
			}
			sq.Disconnect()
			if err := b.PublishPlain("p/v/queued-"+versionName(v), []byte("{}"), false, 1); err != nil {
				t.Fatal(err)
			}

			c := dial(t, b.Addr())
			ack, err := c.Connect(owner)
			if err != nil {
				t.Fatal(err)
			}
			if ack.ReasonCode != 0 {
				t.Fatalf("owner CONNACK = 0x%02x while another account holds its client id, want 0", ack.ReasonCode)
			}
			if ack.SessionPresent {
				t.Errorf("owner got a session present: the squatter's")
			}
			if got := c.Publishes(300 * time.Millisecond); len(got) > 0 {
				t.Errorf("owner received the squatter's queued messages: %d", len(got))
			}
			c.Disconnect()

			// The squatter's own session is intact, queued message included.
			sq2 := dial(t, b.Addr())
			ack, err = sq2.Connect(squat)
			if err != nil || ack.ReasonCode != 0 || !ack.SessionPresent {
				t.Fatalf("squatter back: %v code 0x%02x present %v, want its session", err, ack.ReasonCode, ack.SessionPresent)
			}
			if got := sq2.Publishes(time.Second); len(got) != 1 {
				t.Errorf("squatter got %d queued messages back, want 1", len(got))
			}
		})
	}
}

// TestSessionIDNeverShown: the id a v5 client is assigned is the plain one mochi generated, never
// the account-qualified session id; the assigned id resumes the session.
func TestSessionIDNeverShown(t *testing.T) {
	b := newTestBroker(t, Options{Store: openStore(t)})
	c := dial(t, b.Addr())
	ack, err := c.Connect(rawmqtt.Options{Version: rawmqtt.V5, Username: devUser, Password: devPass, SessionExpiry: 60})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %v 0x%02x", err, ack.ReasonCode)
	}
	assigned := ack.Properties.AssignedClientID
	if assigned == "" || strings.Contains(assigned, devUser) || strings.ContainsRune(assigned, 0) {
		t.Fatalf("AssignedClientID = %q, want mochi's plain generated id", assigned)
	}
	c.Disconnect()
	c2 := dial(t, b.Addr())
	ack, err = c2.Connect(rawmqtt.Options{Version: rawmqtt.V5, ClientID: assigned, Username: devUser, Password: devPass, SessionExpiry: 60})
	if err != nil || ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("resume with the assigned id: %v 0x%02x present %v", err, ack.ReasonCode, ack.SessionPresent)
	}
}

// TestClientIDTooLong: a client id longer than 256 bytes is refused with "client identifier not
// valid" (a CONNECT past the gate's 16 KiB is closed unanswered). Accepted with a persistent
// session and a subscription, a 40,000-byte id made every event's transaction fail ("key too
// large": its inflight records are keyed by it), so every webhook answered 5xx.
func TestClientIDTooLong(t *testing.T) {
	st := openStore(t)
	b := newTestBroker(t, Options{Store: st})
	for i, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		for _, n := range []int{1000, 40_000} {
			c := dial(t, b.Addr())
			ack, err := c.Connect(rawmqtt.Options{Version: v, ClientID: strings.Repeat("x", n), Username: devUser, Password: devPass, SessionExpiry: 600})
			want := packets.ErrClientIdentifierNotValid.Code
			if v == rawmqtt.V311 {
				want = packets.Err3ClientIdentifierNotValid.Code
			}
			switch {
			case err != nil && n > maxConnectSize:
				// Closed unanswered by the gate: fine.
			case err != nil:
				t.Errorf("%s, %d-byte client id: %v, want CONNACK 0x%02x", versionName(v), n, err, want)
			case ack.ReasonCode != want:
				t.Errorf("%s, %d-byte client id: CONNACK = 0x%02x, want 0x%02x", versionName(v), n, ack.ReasonCode, want)
			}
			if err == nil && ack.ReasonCode == 0 {
				c.Subscribe(1, "p/v/+")
			}
			token := fmt.Sprintf("long-id-%d-%d", i, n)
			ev := &publish.Event{Vendor: "v", Token: token, Messages: []route.Message{{Topic: "p/v/x", Payload: []byte("{}"), QoS: 1}},
				At: time.Now()}
			if err := b.Publish(context.Background(), ev); err != nil {
				t.Errorf("%s: an event's publish after a %d-byte client id: %v", versionName(v), n, err)
			}
		}
	}
}

// TestSessionsAndDrop lists an account's sessions and drops them: a connected one is cut off
// (v5: DISCONNECT 0x98) without its Will, an offline one is forgotten, and neither comes back,
// from the broker or the store, after a restart.
func TestSessionsAndDrop(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBroker(t, Options{Store: st})
	if _, err := b.Sessions("nobody"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Sessions(nobody) error = %v, want ErrUnknownAccount", err)
	}
	if _, err := b.DropSessions("nobody", ""); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("DropSessions(nobody) error = %v, want ErrUnknownAccount", err)
	}

	online := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "online", Username: devUser, Password: devPass, SessionExpiry: 600})
	if _, _, err := online.Subscribe(1, "p/v/a", "p/v/b"); err != nil {
		t.Fatal(err)
	}
	off := login(t, b.Addr(), rawmqtt.Options{ClientID: "offline", Username: devUser, Password: devPass})
	if _, _, err := off.Subscribe(1, "p/v/+"); err != nil {
		t.Fatal(err)
	}
	off.Disconnect()
	login(t, b.Addr(), rawmqtt.Options{ClientID: "clean", Username: devUser, Password: devPass, Clean: true})
	other := login(t, b.Addr(), rawmqtt.Options{ClientID: "offline", Username: dev2User, Password: dev2Pass})
	if _, _, err := other.Subscribe(1, "p/v/+"); err != nil {
		t.Fatal(err)
	}
	haTopic := "ha/status/dropped"
	tp := newTap(t, b, haTopic)
	ha := login(t, b.Addr(), rawmqtt.Options{Version: rawmqtt.V5, ClientID: "ha", Username: haUser, Password: haPass, Clean: true,
		Will: &rawmqtt.Will{Topic: haTopic, Payload: []byte("offline")}})
	checkFor(t, 2*time.Second, func() error {
		if _, ok := b.srv.Clients.Get(sessionID(devUser, "offline")); !ok {
			return errors.New("offline session not yet kept")
		}
		return nil
	})
	if err := b.PublishPlain("p/v/x", []byte("{}"), false, 1); err != nil { // queued for "offline"
		t.Fatal(err)
	}

	got, err := b.Sessions(devUser)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SessionInfo{
		"clean":   {ClientID: "clean", Connected: true},
		"offline": {ClientID: "offline", Persistent: true, Subscriptions: 1},
		"online":  {ClientID: "online", Connected: true, Persistent: true, Subscriptions: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("Sessions(dev) = %+v, want %d sessions", got, len(want))
	}
	for _, s := range got {
		w := want[s.ClientID]
		exp := s.ExpiresAt
		s.ExpiresAt = time.Time{}
		if ref := b.refs.of(sessionID(devUser, s.ClientID)); s.LogRef != ref || strings.Contains(ref, s.ClientID) {
			t.Errorf("session %s LogRef = %q, want %q", s.ClientID, s.LogRef, ref)
		}
		s.LogRef = ""
		if s != w {
			t.Errorf("session %s = %+v, want %+v", s.ClientID, s, w)
		}
		if (exp.IsZero()) != (s.Connected || !s.Persistent) {
			t.Errorf("session %s ExpiresAt = %v", s.ClientID, exp)
		}
		if !exp.IsZero() && (exp.Before(time.Now()) || exp.After(time.Now().Add(8*24*time.Hour))) {
			t.Errorf("session %s ExpiresAt = %v, want within the expiry", s.ClientID, exp)
		}
	}

	if n, err := b.DropSessions(devUser, "online"); err != nil || n != 1 {
		t.Fatalf("DropSessions(dev, online) = %d, %v; want 1", n, err)
	}
	pk, err := online.Read(2 * time.Second)
	if err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrAdministrativeAction.Code {
		t.Errorf("dropped v5 client got type %d code 0x%02x (%v), want DISCONNECT 0x98", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	if n, err := b.DropSessions(haUser, ""); err != nil || n != 1 {
		t.Fatalf("DropSessions(ha) = %d, %v; want 1", n, err)
	}
	if !ha.Closed(2 * time.Second) {
		t.Error("the dropped client is still connected")
	}
	time.Sleep(200 * time.Millisecond)
	if got := tp.topics(); len(got) > 0 {
		t.Errorf("dropping a session fired its Will: %v", got)
	}
	if n, err := b.DropSessions(devUser, ""); err != nil || n != 2 {
		t.Fatalf("DropSessions(dev, all) = %d, %v; want 2", n, err)
	}
	if got, _ := b.Sessions(devUser); len(got) != 0 {
		t.Errorf("Sessions(dev) after dropping all = %+v", got)
	}
	if got, _ := b.Sessions(dev2User); len(got) != 1 {
		t.Errorf("Sessions(dev2) = %+v, want its one session untouched", got)
	}
	// On disk: nothing of dev's sessions is left, dev2's is intact.
	checkStored := func() {
		t.Helper()
		clients, _ := st.Hook().StoredClients()
		subs, _ := st.Hook().StoredSubscriptions()
		msgs, _ := st.Hook().StoredInflightMessages()
		for _, c := range clients {
			if u, _, _ := splitSessionID(c.ID); u == devUser {
				t.Errorf("stored client %q after the drop", c.ID)
			}
		}
		for _, s := range subs {
			if u, _, _ := splitSessionID(s.Client); u == devUser {
				t.Errorf("stored subscription %q of %q after the drop", s.Filter, s.Client)
			}
		}
		for _, m := range msgs {
			if u, _, _ := splitSessionID(m.Client); u == devUser {
				t.Errorf("stored message for %q after the drop", m.Client)
			}
		}
		if len(clients) != 1 || len(subs) != 1 {
			t.Errorf("stored %d clients and %d subscriptions, want dev2's 1 and 1", len(clients), len(subs))
		}
	}
	checkStored()
	b.Close()
	other.Close()
	st.Close()
	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b = newTestBroker(t, Options{Store: st})
	if got, _ := b.Sessions(devUser); len(got) != 0 {
		t.Errorf("after a restart Sessions(dev) = %+v, want none", got)
	}
	checkStored()
}

// TestLegacySessionsPurged: sessions a 0.1 broker stored under a plain client id are deleted at
// start, so no account can ever resume one (another account's subscriptions and queued
// messages), and neither are the sessions of an account that was removed.
func TestLegacySessionsPurged(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Write sessions the way the 0.1 hook did: the client id alone as the key. One 0.1 client id
	// is an account's name, which its 0.2 session ids start with: purging it must leave them.
	srv := mqtt.New(&mqtt.Options{})
	for _, s := range []struct{ id, user string }{{"legacy", devUser}, {dev2User, dev2User}, {sessionID("removed", "x"), "removed"}, {sessionID(dev2User, "kept"), dev2User}} {
		cl := srv.NewClient(nil, "t", s.id, false)
		cl.Properties.Username = []byte(s.user)
		cl.Properties.ProtocolVersion = 4
		st.Hook().OnSessionEstablished(cl, packets.Packet{})
		st.Hook().OnSubscribed(cl, packets.Packet{Filters: packets.Subscriptions{{Filter: "p/v/+", Qos: 1}}}, []byte{1})
		st.Hook().OnQosPublish(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "p/v/x", PacketID: 1}, 0, 0)
	}
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	b := newTestBroker(t, Options{Store: st})
	clients, _ := st.Hook().StoredClients()
	subs, _ := st.Hook().StoredSubscriptions()
	msgs, _ := st.Hook().StoredInflightMessages()
	if len(clients) != 1 || clients[0].ID != sessionID(dev2User, "kept") || len(subs) != 1 || len(msgs) != 1 {
		t.Errorf("after start the store holds %d clients, %d subscriptions, %d messages; want dev2's kept session only", len(clients), len(subs), len(msgs))
	}
	for _, id := range []string{"legacy", dev2User, sessionID("removed", "x")} {
		if _, ok := b.srv.Clients.Get(id); ok {
			t.Errorf("session %q restored", id)
		}
	}
	for _, user := range []struct{ name, pass string }{{devUser, devPass}, {dev2User, dev2Pass}} {
		c := dial(t, b.Addr())
		ack, err := c.Connect(rawmqtt.Options{ClientID: "legacy", Username: user.name, Password: user.pass})
		if err != nil || ack.ReasonCode != 0 || ack.SessionPresent {
			t.Errorf("%s as legacy: %v 0x%02x present %v, want a fresh session", user.name, err, ack.ReasonCode, ack.SessionPresent)
		}
		if got := c.Publishes(200 * time.Millisecond); len(got) > 0 {
			t.Errorf("%s as legacy got the 0.1 session's messages", user.name)
		}
	}
	if got, _ := b.Sessions(dev2User); len(got) != 2 || got[0].ClientID != "kept" {
		t.Errorf("Sessions(dev2) = %+v, want kept and legacy", got)
	}
}
