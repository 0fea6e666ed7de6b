package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// TestFiltersPerUnsubscribe: an UNSUBSCRIBE with more filters than Limits.Filters is refused
// whole and unsubscribes from nothing, in the broker and in the store: MQTT 5 gets 0x83
// (implementation specific error; quota exceeded is no UNSUBACK code) for each filter with the
// reason string "quota exceeded", and keeps its connection; MQTT 3.1.1, whose UNSUBACK has no
// codes, has its connection closed. Up to the bound, UNSUBSCRIBE works as before. Each refusal is
// counted, and logged once a minute naming the account.
func TestFiltersPerUnsubscribe(t *testing.T) {
	logs := &syncBuffer{}
	st := openStore(t)
	b := newTestBroker(t, Options{Store: st, Log: zerolog.New(logs), DeviceLimits: Limits{Filters: 8}})
	nine := []string{"p/v/a0"}
	for i := 1; i < 9; i++ {
		nine = append(nine, fmt.Sprintf("p/v/never%d", i))
	}
	stored := func(id string) int {
		subs, _ := st.Hook().StoredSubscriptions()
		n := 0
		for _, s := range subs {
			if s.Client == sessionID(devUser, id) {
				n++
			}
		}
		return n
	}
	for _, v := range []byte{rawmqtt.V311, rawmqtt.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			id := "unsub-" + versionName(v)
			o := rawmqtt.Options{Version: v, ClientID: id, Username: devUser, Password: devPass, SessionExpiry: 600}
			c := login(t, b.Addr(), o)
			if codes, _, err := c.Subscribe(1, "p/v/a0", "p/v/a1"); err != nil || len(codes) != 2 || codes[1] != 1 {
				t.Fatalf("SUBSCRIBE: %x %v", codes, err)
			}
			codes, err := c.Unsubscribe(nine...)
			if v == rawmqtt.V5 {
				if err != nil || len(codes) != 9 {
					t.Fatalf("UNSUBSCRIBE of 9: codes %x, %v; want 9 codes", codes, err)
				}
				for i, code := range codes {
					if code != packets.ErrImplementationSpecificError.Code {
						t.Errorf("filter %d: code 0x%02x, want 0x83", i, code)
					}
				}
			} else if err == nil || !c.Closed(2*time.Second) {
				t.Fatalf("UNSUBSCRIBE of 9: answered (%v), want the connection closed", err)
			}
			if got, _ := b.Sessions(devUser); len(got) == 0 || got[len(got)-1].Subscriptions != 2 {
				t.Errorf("sessions after the refused UNSUBSCRIBE: %+v, want its 2 subscriptions", got)
			}
			if n := stored(id); n != 2 {
				t.Errorf("%d subscriptions stored after the refused UNSUBSCRIBE, want 2", n)
			}

			if v == rawmqtt.V311 {
				c = login(t, b.Addr(), o)
			}
			codes, err = c.Unsubscribe(nine[:8]...)
			if err != nil {
				t.Fatalf("UNSUBSCRIBE of 8: %v", err)
			}
			if v == rawmqtt.V5 && (len(codes) != 8 || codes[0] != 0 || codes[1] != packets.CodeNoSubscriptionExisted.Code) {
				t.Errorf("UNSUBSCRIBE of 8: codes %x, want 00 then 11s", codes)
			}
			checkFor(t, 2*time.Second, func() error {
				if n := stored(id); n != 1 {
					return fmt.Errorf("%d subscriptions stored after unsubscribing from one, want 1", n)
				}
				return nil
			})
		})
	}
	if got := b.Stats().UnsubscribesRefused; got != 2 {
		t.Errorf("Stats().UnsubscribesRefused = %d, want 2", got)
	}
	if n := strings.Count(logs.String(), "unsubscribe refused"); n != 1 || !strings.Contains(logs.String(), `"account":"dev"`) {
		t.Errorf("%d log lines on refused UNSUBSCRIBEs, want 1 naming the account:\n%s", n, logs.String())
	}
}
