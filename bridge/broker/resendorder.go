package broker

import (
	"cmp"
	"slices"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/store"
)

// resendOrder has mochi resend a resumed session's queued messages in the order they were
// queued. mochi resends them (and picks the next message waiting for send quota) sorted by
// uint16(Created), the second each was queued in modulo 65,536, with an unstable sort: messages
// of one second arrive shuffled, and those queued across a multiple of 65,536 seconds (every
// 18.2 hours) arrive newest first. A lock that went locked, then unlocked while its display was
// offline would reach the display as unlocked, then locked.
//
// The hook numbers each session's messages as mochi queues them, and just before mochi sends a
// resuming session's CONNACK (after it took the queued messages over from the old connection,
// before it resends them) rewrites their Created so that sorting by uint16(Created) yields that
// order (see queueTimes). With a store the numbers are stored with the messages (see
// store.Sequencer), so the order survives a restart.
type resendOrder struct {
	mqtt.HookBase

	mu   sync.Mutex
	next uint64                       // guarded by mu: the last sequence handed out
	seqs map[string]map[uint16]uint64 // guarded by mu: session id -> packet id -> sequence
}

var _ store.Sequencer = (*resendOrder)(nil)

// newResendOrder starts the sequence at the time in nanoseconds, so that sequences stored by
// an earlier run are below all of this run's (a broker queues far fewer than 10^9 messages a
// second).
func newResendOrder() *resendOrder {
	return &resendOrder{next: uint64(time.Now().UnixNano()), seqs: map[string]map[uint16]uint64{}}
}

func (o *resendOrder) ID() string { return "hookbridge-resend-order" }

func (o *resendOrder) Provides(b byte) bool {
	switch b {
	case mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnDisconnect, mqtt.OnClientExpired,
		mqtt.OnPacketEncode:
		return true
	}
	return false
}

// OnQosPublish numbers a message the session queued. mochi calls it when it queues a message and
// again, DUP set, when it resends one: a resent PUBLISH keeps its number. Other packets (a
// PUBREC kept for an inbound QoS 2 PUBLISH) keep the first number their id got.
func (o *resendOrder) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if cl.Net.Inline {
		return
	}
	fresh := pk.FixedHeader.Type == packets.Publish && !pk.FixedHeader.Dup
	o.mu.Lock()
	s := innerMap(o.seqs, cl.ID)
	if _, ok := s[pk.PacketID]; fresh || !ok {
		o.next++
		s[pk.PacketID] = o.next
	}
	o.mu.Unlock()
}

// OnQosComplete forgets an acknowledged message's number.
func (o *resendOrder) OnQosComplete(cl *mqtt.Client, pk packets.Packet) { o.forget(cl.ID, pk.PacketID) }

// OnQosDropped forgets a dropped message's number, unless a new connection took the session (and
// the message) over: mochi drops the old connection's copies through the hooks.
func (o *resendOrder) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if !cl.IsTakenOver() {
		o.forget(cl.ID, pk.PacketID)
	}
}

func (o *resendOrder) forget(id string, packetID uint16) {
	o.mu.Lock()
	if s := o.seqs[id]; s != nil {
		delete(s, packetID)
		if len(s) == 0 {
			delete(o.seqs, id)
		}
	}
	o.mu.Unlock()
}

// OnDisconnect forgets a session that ends with its connection.
func (o *resendOrder) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if expire && !cl.Net.Inline && cl.StopCause() != packets.ErrSessionTakenOver && !cl.IsTakenOver() {
		o.forgetSession(cl.ID)
	}
}

// OnClientExpired forgets an expired session (mochi drops its messages without the hooks).
func (o *resendOrder) OnClientExpired(cl *mqtt.Client) { o.forgetSession(cl.ID) }

func (o *resendOrder) forgetSession(id string) {
	o.mu.Lock()
	delete(o.seqs, id)
	o.mu.Unlock()
}

// Seq returns a message's number, 0 when it has none (store.Sequencer).
func (o *resendOrder) Seq(clientID string, packetID uint16) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seqs[clientID][packetID]
}

// Restore records a stored message's number, unless the message has one already
// (store.Sequencer).
func (o *resendOrder) Restore(clientID string, packetID uint16, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := innerMap(o.seqs, clientID)
	if _, ok := s[packetID]; !ok {
		s[packetID] = seq
	}
	o.next = max(o.next, seq)
}

// OnPacketEncode puts the queue order into a resuming session's messages as mochi sends its
// CONNACK: mochi has moved them to the new connection, which cannot acknowledge any yet (its
// read loop starts after the resend), and resends them once the CONNACK is written.
func (o *resendOrder) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.SessionPresent {
		o.reorder(cl.ID, cl.State.Inflight)
	}
	return pk
}

// reorder rewrites the Created of a session's queued messages so that mochi's sort yields the
// order they were queued in: by number, messages without one first, by Created, then packet id.
func (o *resendOrder) reorder(id string, in *mqtt.Inflight) {
	pks := in.GetAll(false)
	if len(pks) < 2 {
		return
	}
	type entry struct {
		seq uint64
		pk  packets.Packet
	}
	es := make([]entry, len(pks))
	o.mu.Lock()
	s := o.seqs[id]
	for i, pk := range pks {
		es[i] = entry{seq: s[pk.PacketID], pk: pk}
	}
	o.mu.Unlock()
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.pk.Created, b.pk.Created), cmp.Compare(a.pk.PacketID, b.pk.PacketID))
	})
	created := make([]int64, len(es))
	for i, e := range es {
		created[i] = e.pk.Created
	}
	for i, t := range queueTimes(created) {
		if pk := es[i].pk; t != pk.Created {
			pk.Created = t
			// Set replaces the packet (counters and quotas are not Set's); a packet that left
			// meanwhile (expired) must not come back.
			if in.Set(pk) {
				in.Delete(pk.PacketID)
			}
		}
	}
}

// queueTimes returns, for the times (unix seconds) mochi stamped on messages, given in the order
// they were queued, times that increase strictly and share one aligned block of 65,536 seconds,
// so that sorting by their low 16 bits yields that order. Each is the earliest such time not
// before the message's own: Created also ages a message out under mochi's
// MaximumMessageExpiryInterval, which must never come early; it may come late, by a second for
// each message queued in the same second, or, when the messages straddle the start of a block,
// by up to the time from the oldest message to that start.
func queueTimes(created []int64) []int64 {
	const block = 1 << 16
	out := make([]int64, len(created))
	if len(created) == 0 {
		return out
	}
	floor := created[0] &^ (block - 1)
	for {
		for i, c := range created {
			v := max(c, floor)
			if i > 0 {
				v = max(v, out[i-1]+1)
			}
			out[i] = v
		}
		last := out[len(out)-1] &^ (block - 1)
		if last == out[0]&^(block-1) {
			return out
		}
		// Straddling: start over in the last one's block (a third round, when the messages
		// crowd past its end, has them all in the next block, from its start).
		floor = last
	}
}
