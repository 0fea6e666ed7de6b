package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// TestSharedGroupsPerAccount: two accounts join the same "$share/{group}/{filter}": each
// account's group still gets every message (spread over its own members), the other account's
// members never take one away; an UNSUBSCRIBE leaves the group; a malformed shared filter is
// still refused, and the stored subscription keeps the group private after a restart.
func TestSharedGroupsPerAccount(t *testing.T) {
	st := openStore(t)
	b := newTestBroker(t, Options{Store: st})
	const shared = "$share/panels/p/v/+"
	type member struct {
		name string
		c    *rawmqtt.Conn
		got  atomic.Int64
	}
	var members []*member
	for i, m := range []struct {
		user, pass string
		v          byte
	}{{devUser, devPass, rawmqtt.V311}, {devUser, devPass, rawmqtt.V5}, {dev2User, dev2Pass, rawmqtt.V5}, {dev2User, dev2Pass, rawmqtt.V311}} {
		c := login(t, b.Addr(), rawmqtt.Options{Version: m.v, ClientID: fmt.Sprintf("member-%d", i), Username: m.user, Password: m.pass, Clean: true})
		if codes, _, err := c.Subscribe(1, shared); err != nil || len(codes) != 1 || codes[0] != 1 {
			t.Fatalf("%s subscribe %s: %x %v", m.user, shared, codes, err)
		}
		members = append(members, &member{name: m.user, c: c})
	}
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pk, err := m.c.Read(time.Second)
				if err != nil {
					return
				}
				if pk.FixedHeader.Type == packets.Publish {
					m.got.Add(1)
					m.c.Ack(pk)
				}
			}
		}()
	}
	const n = 40
	for i := 0; i < n; i++ {
		if err := b.PublishPlain(fmt.Sprintf("p/v/s%d", i), []byte("{}"), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait() // each reader stops a second after its last message
	per := map[string]int64{}
	for _, m := range members {
		per[m.name] += m.got.Load()
	}
	for _, user := range []string{devUser, dev2User} {
		if per[user] != n {
			t.Errorf("account %s's members got %d of %d messages on %s, want all (the other account took the rest)", user, per[user], n, shared)
		}
	}

	// UNSUBSCRIBE leaves the account's own group.
	if _, err := members[2].c.Unsubscribe(shared); err != nil {
		t.Fatal(err)
	}
	if _, err := members[3].c.Unsubscribe(shared); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishPlain("p/v/after", []byte("{}"), false, 1); err != nil {
		t.Fatal(err)
	}
	for i, m := range members[2:] {
		if got := m.c.Publishes(300 * time.Millisecond); len(got) > 0 {
			t.Errorf("dev2 member %d got %d messages after leaving the group", i, len(got))
		}
	}
	got := len(members[0].c.Publishes(300*time.Millisecond)) + len(members[1].c.Publishes(300*time.Millisecond))
	if got != 1 {
		t.Errorf("dev's group got %d messages after dev2 left, want 1", got)
	}

	for _, f := range []string{"$share//p/v/+", "$share/g+/p/v/+", "$share/g", "$SHARE/panels/p/v/+"} {
		c := login(t, b.Addr(), rawmqtt.Options{ClientID: "bad-share", Username: devUser, Password: devPass, Clean: true})
		if codes, _, err := c.Subscribe(1, f); err == nil && len(codes) == 1 && codes[0] < 0x80 {
			t.Errorf("malformed shared filter %q granted", f)
		}
		c.Close()
	}

	// Stored: the group's name is the account's own, so a restart keeps it private.
	p := login(t, b.Addr(), rawmqtt.Options{ClientID: "persistent-member", Username: devUser, Password: devPass})
	if _, _, err := p.Subscribe(1, shared); err != nil {
		t.Fatal(err)
	}
	subs, _ := st.Hook().StoredSubscriptions()
	for _, s := range subs {
		if s.Client == sessionID(devUser, "persistent-member") && (s.Filter == shared || !strings.HasPrefix(s.Filter, "$share/") || !strings.HasSuffix(s.Filter, ".panels/p/v/+")) {
			t.Errorf("stored shared filter %q, want the account's own group", s.Filter)
		}
	}
}
