package broker

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainGuard works around a data race in mochi v2.7.9: storing a retained message writes a topic
// node's retainPath under that node's lock, while a wildcard subscription reads it, to hand the
// subscriber the retained messages, without taking the lock (TopicsIndex.RetainMessage and
// scanMessages). A torn string read there can hand out a wrong message or crash.
//
// Subscriptions hold the guard shared from the moment their packet is read until it is processed
// (OnPacketRead to OnPacketProcessed, both on the client's own goroutine, with nothing between that
// could skip the second); retained publishes hold it exclusively: the embedded publisher around
// each retained message, a client's retained PUBLISH the same way as a subscription, and a
// retained Will from OnWill to OnWillSent (mochi's sendLWT calls both around retaining it, on the
// disconnecting client's goroutine). A delayed Will is retained later from mochi's event loop with
// no hook before it, so OnConnect drops the delay of a retained Will: it is published at once.
//
// A subscription's hold spans more than the retained scan it protects: the SUBACK's write, which
// mochi makes between the two with no hook in between, and the queueing of each retained message.
// That once let a client that stopped reading its socket keep the guard for as long as its
// connection lasted (its SUBACK's write blocked), and with it every retained publish. Client
// writes no longer wait for the peer (see clientConn), so the hold is bounded by the broker's
// own work; narrowing it to the scan would need the SUBACK's OnPacketSent paired with
// OnPacketProcessed, which a failed SUBACK write leaves unpaired, for no gain.
type retainGuard struct {
	mqtt.HookBase
	mu sync.RWMutex
}

func (g *retainGuard) ID() string { return "hookbridge-retain-guard" }

func (g *retainGuard) Provides(b byte) bool {
	switch b {
	case mqtt.OnPacketRead, mqtt.OnPacketProcessed, mqtt.OnWill, mqtt.OnWillSent:
		return true
	}
	return false
}

// willHolds reports whether sending a Will takes the guard: it is retained and sent now. A delayed
// Will is only queued by sendLWT (OnWillSent follows later, from the event loop, and is not
// paired), but OnConnect never lets a retained Will keep a delay.
func willHolds(retain bool, delay uint32) bool { return retain && delay == 0 }

// OnWill takes the guard exclusively for a retained Will, which sendLWT retains next.
func (g *retainGuard) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if willHolds(will.Retain, cl.Properties.Will.WillDelayInterval) {
		g.mu.Lock()
	}
	return will, nil
}

// OnWillSent releases what OnWill took. sendLWT marks a delayed Will's packet with its delay.
func (g *retainGuard) OnWillSent(_ *mqtt.Client, pk packets.Packet) {
	if willHolds(pk.FixedHeader.Retain, pk.Connect.WillProperties.WillDelayInterval) {
		g.mu.Unlock()
	}
}

// holds reports which kind of hold a packet takes; processPacket validates the same way before it
// processes, and OnPacketProcessed runs only for packets that passed, so the decision must be the
// same at both ends.
func (g *retainGuard) holds(pk packets.Packet) (shared, exclusive bool) {
	switch pk.FixedHeader.Type {
	case packets.Subscribe:
		return pk.SubscribeValidate() == packets.CodeSuccess, false
	case packets.Publish:
		if !pk.FixedHeader.Retain {
			return false, false
		}
		max := uint16(0)
		if g.Opts != nil && g.Opts.Capabilities != nil {
			max = g.Opts.Capabilities.TopicAliasMaximum
		}
		return false, pk.PublishValidate(max) == packets.CodeSuccess
	}
	return false, false
}

func (g *retainGuard) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the inline publisher takes the guard itself (Broker.inject)
	}
	switch shared, exclusive := g.holds(pk); {
	case shared:
		g.mu.RLock()
	case exclusive:
		g.mu.Lock()
	}
	return pk, nil
}

func (g *retainGuard) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if cl.Net.Inline {
		return // mochi calls this for injected packets too, which never passed OnPacketRead
	}
	switch shared, exclusive := g.holds(pk); {
	case shared:
		g.mu.RUnlock()
	case exclusive:
		g.mu.Unlock()
	}
}
