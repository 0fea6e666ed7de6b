package broker

import (
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// retainQuota bounds the retained messages each account keeps on the broker
// (Limits.RetainedMessages, RetainedBytes, RetainedMessageSize). mochi keeps every retained
// message in memory and the store keeps it on disk, with no bound of their own: 500 retained
// messages of 200 KiB from the writer account cost 235 MiB of memory and 124 MiB of state file.
//
// A retained message belongs to the account whose client published it last on its topic; one
// Hookbridge publishes itself (events, discovery, entities, through the inline client) belongs to
// none, and replacing an account's message frees that account's share. Past a bound a retained
// PUBLISH is refused before mochi retains or delivers it:
//   - MQTT 5, QoS 1: PUBACK 0x97 (quota exceeded); QoS 2: PUBREC 0x97;
//   - MQTT 3.1.1, QoS 1 and 2: the connection is closed, the one refusal 3.1.1 allows
//     [MQTT-3.3.5-2] (mochi does the same for a PUBLISH the ACL denies); the client sees its
//     publish unacknowledged;
//   - QoS 0 (either version): dropped.
//
// A retained Will past a bound is published without being retained. Every refusal is counted
// (Stats.RetainedRefused) and logged with the account, at most once a minute per account.
// Replacing one of the account's own messages counts only the difference, and clearing one (an
// empty payload) is always accepted and frees its share.
//
// The check (OnPublish) and the accounting (OnRetainMessage) are two steps; retained PUBLISHes
// run one at a time under the retain guard, so no other retained PUBLISH comes between them. A
// retained Will is checked before the guard is taken (see retainGuard) and may pass a bound by
// the Wills of the account's sessions that end at the same moment.
type retainQuota struct {
	mqtt.HookBase
	accounts map[string]*account
	count    *counters
	limit    *logLimiter
	log      zerolog.Logger
	// retained returns mochi's retained messages, to index those it restored from the store.
	retained func() map[string]packets.Packet

	mu     sync.Mutex // guards held, used and seeded
	held   map[string]heldRetained
	used   map[string]retainedUse // by account name
	seeded bool
}

// heldRetained is the account holding a topic's retained message, and what the message costs
// (retainedCost).
type heldRetained struct {
	account string
	cost    int64
}

// retainedUse is what one account holds: messages, and their cost (retainedCost).
type retainedUse struct {
	messages int
	bytes    int64
}

func newRetainQuota(h *authHook, retained func() map[string]packets.Packet) *retainQuota {
	return &retainQuota{accounts: h.accounts, count: h.count, limit: h.limit, log: h.log, retained: retained,
		held: map[string]heldRetained{}, used: map[string]retainedUse{}}
}

func (q *retainQuota) ID() string { return "hookbridge-retain-quota" }

func (q *retainQuota) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnWill, mqtt.OnRetainMessage, mqtt.OnRetainedExpired:
		return true
	}
	return false
}

// retainedSize is a retained message's size, as Limits.RetainedMessageSize bounds it: its topic,
// payload and the properties mochi keeps with it.
func retainedSize(pk *packets.Packet) int64 {
	p := &pk.Properties
	n := len(pk.TopicName) + len(pk.Payload) + len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
	for _, u := range p.User {
		n += len(u.Key) + len(u.Val)
	}
	return int64(n)
}

// What a retained message costs the broker beyond its bytes, measured on mochi v2.7.9 (see
// TestRetainedCostBoundsMemory): some 1.35 KiB for the packet, its map entry and the leaf of the
// topic index, and 640 bytes for each level of the topic that the index did not hold yet. A topic
// of 500 levels made each retained message of one byte cost 315 KiB. A message is charged
// retainedOverhead, which covers a new level or so, and retainedLevelCost for each level past
// the third: the first levels are shared by many topics (homeassistant/sensor/<node>/ in
// Home Assistant's discovery, whose topics have five).
const (
	retainedOverhead   = 2 << 10
	retainedLevelCost  = 640
	retainedFreeLevels = 3
)

// retainedCost is what a retained message counts against Limits.RetainedBytes: its size, and
// what the broker spends on it beyond (see retainedOverhead).
func retainedCost(pk *packets.Packet) int64 {
	levels := strings.Count(pk.TopicName, "/") + 1
	return retainedSize(pk) + retainedOverhead + retainedLevelCost*int64(max(0, levels-retainedFreeLevels))
}

// willPacket is the retained message a Will would become.
func willPacket(w mqtt.Will) packets.Packet {
	return packets.Packet{TopicName: w.TopicName, Payload: w.Payload, Properties: packets.Properties{User: w.User}}
}

// Bounds a retained message can pass, as logged.
const (
	boundRetainedSize     = "message size"
	boundRetainedMessages = "messages"
	boundRetainedBytes    = "bytes"
)

// admit returns the bound that storing pk as its topic's retained message would take the
// account past, or "", and what the account holds now.
func (q *retainQuota) admit(a *account, pk *packets.Packet) (bound string, use retainedUse) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seedLocked()
	use = q.used[a.name]
	if retainedSize(pk) > int64(a.limits.RetainedMessageSize) {
		return boundRetainedSize, use
	}
	after := use
	if h, ok := q.held[pk.TopicName]; ok && h.account == a.name {
		after.messages--
		after.bytes -= h.cost
	}
	switch {
	case after.messages+1 > a.limits.RetainedMessages:
		return boundRetainedMessages, use
	case after.bytes+retainedCost(pk) > a.limits.RetainedBytes:
		return boundRetainedBytes, use
	}
	return "", use
}

// refused counts and logs a retained message of size refused past bound.
func (q *retainQuota) refused(a *account, bound string, use retainedUse, size int64, what string) {
	q.count.retainedRefused.Add(1)
	if ok, n := q.limit.allow("retained:" + a.name); ok {
		q.log.Warn().Str("component", "mqtt").Str("account", a.name).Str("bound", bound).Str("refused", what).
			Int64("size", size).Int("retained", use.messages).Int64("retained_bytes", use.bytes).
			Int("limit_messages", a.limits.RetainedMessages).Int64("limit_bytes", a.limits.RetainedBytes).
			Int("limit_message_size", a.limits.RetainedMessageSize).Int64("suppressed", n).
			Msg("retained message refused: the account holds as many retained messages as it may")
	}
}

// OnPublish refuses a retained PUBLISH that would take its account past a bound (see
// retainQuota). mochi calls it after the ACL check, with a topic alias resolved, before it
// retains or delivers the message.
func (q *retainQuota) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !pk.FixedHeader.Retain || len(pk.Payload) == 0 {
		return pk, nil
	}
	a, ok := q.accounts[string(cl.Properties.Username)]
	if !ok {
		return pk, nil
	}
	bound, use := q.admit(a, &pk)
	if bound == "" {
		return pk, nil
	}
	q.refused(a, bound, use, retainedSize(&pk), "publish")
	return pk, refusePublish(cl, pk, "quota exceeded: retained messages")
}

// OnWill publishes a retained Will that would take its account past a bound without retaining
// it. It runs before the retain guard's OnWill, which then takes no hold for it.
func (q *retainQuota) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if !will.Retain || len(will.Payload) == 0 {
		return will, nil
	}
	a, ok := q.accounts[string(cl.Properties.Username)]
	if !ok {
		return will, nil
	}
	pk := willPacket(will)
	if bound, use := q.admit(a, &pk); bound != "" {
		q.refused(a, bound, use, retainedSize(&pk), "will")
		will.Retain = false
	}
	return will, nil
}

// OnRetainMessage records who holds a topic's retained message now, or that it was cleared.
func (q *retainQuota) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, _ int64) {
	owner := ""
	if !cl.Net.Inline {
		if a, ok := q.accounts[string(cl.Properties.Username)]; ok {
			owner = a.name
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.seeded && owner == "" {
		return // before any client's: the seed will find this message as it is (see seedLocked)
	}
	q.seedLocked()
	q.setLocked(pk.TopicName, owner, &pk)
}

// OnRetainedExpired frees the share of a retained message that expired.
func (q *retainQuota) OnRetainedExpired(topic string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seeded {
		q.setLocked(topic, "", nil)
	}
}

// setLocked records that owner ("" for none) holds pk as topic's retained message; a nil or
// empty pk clears it. q.mu must be held.
func (q *retainQuota) setLocked(topic, owner string, pk *packets.Packet) {
	if h, ok := q.held[topic]; ok {
		u := q.used[h.account]
		u.messages--
		u.bytes -= h.cost
		if u.messages <= 0 {
			delete(q.used, h.account)
		} else {
			q.used[h.account] = u
		}
		delete(q.held, topic)
	}
	if owner == "" || pk == nil || len(pk.Payload) == 0 {
		return
	}
	cost := retainedCost(pk)
	q.held[topic] = heldRetained{account: owner, cost: cost}
	u := q.used[owner]
	u.messages++
	u.bytes += cost
	q.used[owner] = u
}

// seedLocked indexes the retained messages mochi restored from the store, once, by the account
// of the session that published them (the store keeps it). Only a client's publish or Will
// seeds: clients come after mochi read the store, while the broker's own inline client may
// publish before (and what it retains then belongs to no account, as the seed finds). Recording
// a message twice is harmless (setLocked replaces), so a message retained just before seeding is
// counted once. q.mu must be held.
func (q *retainQuota) seedLocked() {
	if q.seeded {
		return
	}
	q.seeded = true
	for topic, pk := range q.retained() {
		if u, _, ok := splitSessionID(pk.Origin); ok {
			if a, ok := q.accounts[u]; ok {
				q.setLocked(topic, a.name, &pk)
			}
		}
	}
}

// retainedHeld returns how many retained messages an account holds, and what they cost
// (retainedCost).
func (q *retainQuota) retainedHeld(name string) (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seedLocked()
	u := q.used[name]
	return u.messages, u.bytes
}
