package broker

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// resendCount is how many messages the resend-order tests queue: mochi's sort.Slice is an
// insertion sort (stable) up to 12 elements and unstable past it.
const resendCount = 60

// readSeqs reads PUBLISHes until n arrived, acknowledges the first acks of them, and returns
// their payloads as numbers, in arrival order.
func readSeqs(t *testing.T, c *rawmqtt.Conn, n, acks int) []int {
	t.Helper()
	var got []int
	end := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(end) {
			t.Fatalf("got %d messages %v, want %d", len(got), got, n)
		}
		pk, err := c.Read(time.Until(end))
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(got), err)
		}
		if pk.FixedHeader.Type != 3 { // PUBLISH
			continue
		}
		v, err := strconv.Atoi(string(pk.Payload))
		if err != nil {
			t.Fatalf("payload %q: %v", pk.Payload, err)
		}
		if len(got) < acks {
			_ = c.Ack(pk)
		}
		got = append(got, v)
	}
	return got
}

// checkOrder fails unless got is from, from+1, ..., to.
func checkOrder(t *testing.T, got []int, from, to int) {
	t.Helper()
	for i, v := range got {
		if v != from+i || len(got) != to-from+1 {
			t.Fatalf("resent messages in order %v, want %d..%d in order", got, from, to)
		}
	}
}

// A persistent session's messages queued while it was offline reach the client, when it resumes
// the session, in the order they were published, after a broker restart too. Without the fix mochi
// resends them sorted by the second they were queued in (sort.Slice, unstable): all were queued in
// the same second or two, and they arrive shuffled.
//
// Packet ids are no guide to the order either: a resumed session's new connection numbers new
// messages from 1 again, filling the ids its predecessor's acknowledged messages freed. The test
// has the device acknowledge only the first half of the messages it got online, resume and leave
// without acknowledging, and then queues more: those take the freed ids, below the older ones'.
func TestResendKeepsQueueOrder(t *testing.T) {
	const online, acked = 10, 5
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			dir := t.TempDir()
			st, err := store.Open(dir, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			opts := Options{Accounts: testAccounts(), Store: st, Log: zerolog.Nop()}
			b := newTestBroker(t, opts)
			publish := func(from, to int) {
				t.Helper()
				for i := from; i < to; i++ {
					if err := b.PublishPlain("p/v/lock", []byte(strconv.Itoa(i)), false, 1); err != nil {
						t.Fatal(err)
					}
				}
			}
			leave := func(c *rawmqtt.Conn) {
				t.Helper()
				_ = c.Disconnect()
				checkFor(t, 5*time.Second, func() error {
					if s, _ := b.Sessions(devUser); len(s) != 1 || s[0].Connected {
						return fmt.Errorf("Sessions(dev) = %+v, want one offline", s)
					}
					return nil
				})
			}
			dev := rawmqtt.Options{ClientID: "lock-panel", Username: devUser, Password: devPass}
			c := login(t, b.Addr(), dev)
			if codes, _, err := c.Subscribe(1, "p/v/+"); err != nil || len(codes) != 1 || codes[0] != 1 {
				t.Fatalf("subscribe = %v, %v, want [1]", codes, err)
			}
			publish(0, online)
			checkOrder(t, readSeqs(t, c, online, acked), 0, online-1)
			leave(c)
			c = login(t, b.Addr(), dev)
			checkOrder(t, readSeqs(t, c, online-acked, 0), acked, online-1)
			leave(c)
			publish(online, resendCount)
			if restart {
				checkFor(t, 5*time.Second, func() error {
					if msgs, _ := st.Hook().StoredInflightMessages(); len(msgs) != resendCount-acked {
						return fmt.Errorf("stored inflight = %d, want %d", len(msgs), resendCount-acked)
					}
					return nil
				})
				b.Close()
				st.Close()
				if st, err = store.Open(dir, store.Options{}); err != nil {
					t.Fatal(err)
				}
				opts.Store = st
				b = newTestBroker(t, opts)
			}
			c = login(t, b.Addr(), dev)
			checkOrder(t, readSeqs(t, c, resendCount-acked, resendCount-acked), acked, resendCount-1)
		})
	}
}

// Messages queued across a multiple of 65,536 seconds, and several in one second, come out of
// mochi's sort (Inflight.GetAll, which ResendInflightMessages and NextImmediate use) in queue
// order once reorder has rewritten their times, and no time moves earlier.
func TestReorderInflight(t *testing.T) {
	const wrap = 1 << 16
	base := int64(29_000 * wrap) // a multiple of 65,536 seconds near 2026
	cases := []struct {
		name    string
		created []int64 // in queue order; packet ids count down so that id order is no help
	}{
		{"same second", []int64{base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5, base + 5}},
		{"across a wrap", []int64{base - 3, base - 2, base - 2, base - 1, base, base, base + 1, base + 7}},
		{"hours across a wrap", []int64{base - 20_000, base - 10, base + 30_000}},
		{"crowding the end of a block", []int64{base - 2, base - 1, base - 1, base - 1, base - 1}},
		{"clock stepped back", []int64{base + 10, base + 9, base + 9, base + 3}},
		{"in order already", []int64{base + 1, base + 2, base + 40}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newResendOrder()
			cl := &mqtt.Client{ID: "dev\x00panel"}
			in := mqtt.NewInflights()
			n := len(tc.created)
			for i, c := range tc.created {
				pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
					PacketID: uint16(n - i), Created: c, Payload: []byte(strconv.Itoa(i))}
				in.Set(pk)
				o.OnQosPublish(cl, pk, c, 0)
			}
			o.reorder(cl.ID, in)
			got := in.GetAll(false)
			if len(got) != n {
				t.Fatalf("GetAll after reorder: %d packets, want %d", len(got), n)
			}
			for i, pk := range got {
				if string(pk.Payload) != strconv.Itoa(i) {
					t.Fatalf("GetAll after reorder [%d] = message %s, want %d (created %v)", i, pk.Payload, i, createdOf(got))
				}
				if want := tc.created[i]; pk.Created < want {
					t.Errorf("message %d created %d after reorder, want not before %d", i, pk.Created, want)
				}
			}
			if pk, ok := in.NextImmediate(); ok {
				t.Errorf("NextImmediate() = %d, want none waiting", pk.PacketID)
			}
		})
	}
}

func createdOf(pks []packets.Packet) []int64 {
	var out []int64
	for _, pk := range pks {
		out = append(out, pk.Created)
	}
	return out
}

// queueTimes moves no time later than needed: a message alone in its second keeps its time.
func TestQueueTimes(t *testing.T) {
	const wrap = 1 << 16
	cases := []struct {
		name     string
		in, want []int64
	}{
		{"empty", nil, []int64{}},
		{"distinct", []int64{10, 20, 30}, []int64{10, 20, 30}},
		{"same second", []int64{10, 10, 10, 12}, []int64{10, 11, 12, 13}},
		{"across a wrap", []int64{wrap - 2, wrap - 1, wrap, wrap + 5}, []int64{wrap, wrap + 1, wrap + 2, wrap + 5}},
		{"crowding the end", []int64{2*wrap - 2, 2*wrap - 1, 2*wrap - 1, 2*wrap - 1}, []int64{2 * wrap, 2*wrap + 1, 2*wrap + 2, 2*wrap + 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := queueTimes(tc.in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("queueTimes(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
