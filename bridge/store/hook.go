package store

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// EventProperty is the MQTT 5 user property that carries an event's pseudonymized id on every
// message the event produced. The hook uses it to tie broker writes to their event.
const EventProperty = "event"

// Hook is the embedded broker's storage hook. Beyond storing what mochi's stock hooks store, it:
//
//   - stages the records an event's publish produces (inflight messages of every persistent
//     session, the retained message) in a group of their own, which Commit writes in one
//     transaction with the event's replay record;
//   - holds each of the event's messages back from subscribers (in OnPacketEncode, on the
//     subscriber's own writer goroutine) until that transaction is on disk, so a crash can never
//     leave a message delivered whose event the bridge would accept again;
//   - stores inflight packet ids (mochi's bolt hook drops them, and restored messages collapse);
//   - keeps a session's records when a reconnecting client takes the session over (mochi clears
//     the old client's inflights through the hook, deleting what the new session now owns);
//   - never stores a refused subscription;
//   - moves a client's SUBSCRIBE or UNSUBSCRIBE off a packet id that an outbound message of its
//     session holds (mochi shares one id space for both directions and would refuse it with 0x91).
type Hook struct {
	mqtt.HookBase
	s *Store

	// pending, committing and staged are guarded by s.mu. An event's group is pending from Begin
	// until Commit hands it to the committer, then committing until its transaction is on disk:
	// its messages are held all that time (waitFor), and pendingCount counts both.
	pending      map[string]*group // event token -> its staged records
	committing   map[string]*group // event token -> its records being written
	staged       map[string]*group // bucket + "\x00" + key -> the group staging it
	pendingCount atomic.Int64

	remapMu sync.Mutex
	remap   map[*mqtt.Client]map[uint16]uint16 // substitute id -> the client's id

	seqs Sequencer // set before the broker serves; nil stores sequence 0
}

// Sequencer keeps the order in which each session's inflight messages were queued: mochi orders
// them by the second they were queued in, modulo 65,536, when it resends them. The hook stores
// each message's sequence with it and hands the stored ones back when the broker restores them.
type Sequencer interface {
	// Seq returns the queue sequence of the session's message with packetID, 0 when unknown.
	Seq(clientID string, packetID uint16) uint64
	// Restore records the queue sequence of a message restored from the store.
	Restore(clientID string, packetID uint16, seq uint64)
}

// SetSequencer makes the hook store each inflight message's queue sequence from s and restore
// them into s. Call it before the broker starts serving.
func (h *Hook) SetSequencer(s Sequencer) { h.seqs = s }

// group is one event's staged records.
type group struct {
	ops  []Op
	idx  map[string]int // staged key -> index in ops
	done chan struct{}  // closed once the records are on disk (or failed)
}

var _ mqtt.Hook = (*Hook)(nil)

func newHook(s *Store) *Hook {
	return &Hook{s: s, pending: map[string]*group{}, committing: map[string]*group{}, staged: map[string]*group{},
		remap: map[*mqtt.Client]map[uint16]uint16{}}
}

// ID names the hook.
func (h *Hook) ID() string { return "hookbridge-store" }

// Provides reports which hook methods the hook implements.
func (h *Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage, mqtt.OnWillSent, mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped,
		mqtt.OnClientExpired, mqtt.OnRetainedExpired, mqtt.OnPacketRead, mqtt.OnPacketEncode,
		mqtt.StoredClients, mqtt.StoredInflightMessages, mqtt.StoredRetainedMessages, mqtt.StoredSubscriptions:
		return true
	}
	return false
}

// Begin opens an event's group; call it before publishing the event's messages.
func (h *Hook) Begin(token string) {
	h.s.mu.Lock()
	if _, ok := h.pending[token]; !ok {
		h.pending[token] = &group{idx: map[string]int{}, done: make(chan struct{})}
		h.pendingCount.Add(1)
	}
	h.s.mu.Unlock()
}

// Commit writes the event's staged records together with extra ops (its replay record) in one
// transaction, waits for it, and then releases the event's messages to subscribers. The messages
// are released even when the write fails: they are in the broker's memory already, and holding
// them would stall the subscribers' connections.
func (h *Hook) Commit(token string, extra ...Op) error {
	return h.CommitAll([]string{token}, extra...)
}

// CommitAll is Commit for several events at once: their staged records and extra ops go in one
// transaction.
func (h *Hook) CommitAll(tokens []string, extra ...Op) error {
	h.s.mu.Lock()
	var ops []Op
	held := map[string]*group{}
	for _, token := range tokens {
		g := h.pending[token]
		if g == nil {
			continue
		}
		// No longer staging (later writes go their own way), but still held until on disk: a
		// subscriber's writer that reaches the event's message during the write must wait.
		delete(h.pending, token)
		h.committing[token] = g
		held[token] = g
		for k := range g.idx {
			if h.staged[k] == g {
				delete(h.staged, k)
			}
		}
		ops = append(ops, g.ops...)
	}
	ch := h.s.enqueueLocked(append(ops, extra...), true)
	h.s.mu.Unlock()
	err := <-ch
	h.s.mu.Lock()
	for token := range held {
		delete(h.committing, token)
		h.pendingCount.Add(-1)
	}
	h.s.mu.Unlock()
	for _, g := range held {
		close(g.done)
	}
	return err
}

// write stages an op in the event's group when the event is pending, else queues it.
func (h *Hook) write(token string, op Op) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	sk := string(op.Bucket) + "\x00" + string(op.Key)
	if g := h.staged[sk]; g != nil && op.Value == nil {
		// Deleting a record not yet written: drop the staged put, and delete any older version.
		g.ops[g.idx[sk]].Bucket = nil
		delete(g.idx, sk)
		delete(h.staged, sk)
	}
	if g := h.pending[token]; token != "" && g != nil && op.Value != nil {
		if i, ok := g.idx[sk]; ok {
			g.ops[i] = op
		} else {
			g.idx[sk] = len(g.ops)
			g.ops = append(g.ops, op)
		}
		h.staged[sk] = g
		return
	}
	h.s.enqueueLocked([]Op{op}, false)
}

// waitFor blocks until the event's group, if pending or being written, is on disk.
func (h *Hook) waitFor(token string) {
	h.s.mu.Lock()
	g := h.pending[token]
	if g == nil {
		g = h.committing[token]
	}
	h.s.mu.Unlock()
	if g != nil {
		<-g.done
	}
}

// EventToken returns the event token a packet carries, or "".
func EventToken(pk *packets.Packet) string {
	for _, u := range pk.Properties.User {
		if u.Key == EventProperty {
			return u.Val
		}
	}
	return ""
}

func clientKey(id string) []byte { return []byte(id) }

func subKey(id, filter string) []byte { return []byte(id + "\x00" + filter) }

func inflightKey(id string, packetID uint16) []byte {
	k := make([]byte, len(id)+3)
	copy(k, id)
	k[len(id)] = 0
	binary.BigEndian.PutUint16(k[len(id)+1:], packetID)
	return k
}

func clean(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

// OnSessionEstablished stores a persistent session's client record.
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) { h.putClient(cl) }

// OnWillSent stores the client record without its will.
func (h *Hook) OnWillSent(cl *mqtt.Client, _ packets.Packet) { h.putClient(cl) }

func (h *Hook) putClient(cl *mqtt.Client) {
	if cl.Net.Inline {
		return
	}
	if clean(cl) {
		h.write("", Op{Bucket: bucketClients, Key: clientKey(cl.ID)})
		return
	}
	props := cl.Properties.Props.Copy(false)
	rec := storage.Client{
		ID:              cl.ID,
		T:               storage.ClientKey,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     props.SessionExpiryInterval,
			SessionExpiryIntervalFlag: props.SessionExpiryIntervalFlag,
			AuthenticationMethod:      props.AuthenticationMethod,
			AuthenticationData:        props.AuthenticationData,
			RequestProblemInfo:        props.RequestProblemInfo,
			RequestProblemInfoFlag:    props.RequestProblemInfoFlag,
			RequestResponseInfo:       props.RequestResponseInfo,
			ReceiveMaximum:            props.ReceiveMaximum,
			TopicAliasMaximum:         props.TopicAliasMaximum,
			User:                      props.User,
			MaximumPacketSize:         props.MaximumPacketSize,
		},
		Will: clientWill(cl),
	}
	data, _ := rec.MarshalBinary()
	h.write("", Op{Bucket: bucketClients, Key: clientKey(cl.ID), Value: data})
}

// clientWill copies a client's Will for its record, reading Flag atomically: mochi and the
// broker's DropSessions clear it with an atomic store from other goroutines.
func clientWill(cl *mqtt.Client) storage.ClientWill {
	w := &cl.Properties.Will
	return storage.ClientWill{Payload: w.Payload, User: w.User, TopicName: w.TopicName, Flag: atomic.LoadUint32(&w.Flag),
		WillDelayInterval: w.WillDelayInterval, Qos: w.Qos, Retain: w.Retain}
}

// OnDisconnect deletes the record of a session that ends with its connection.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.remapMu.Lock()
	delete(h.remap, cl)
	h.remapMu.Unlock()
	if !expire || cl.Net.Inline || cl.StopCause() == packets.ErrSessionTakenOver || cl.IsTakenOver() {
		return
	}
	h.write("", Op{Bucket: bucketClients, Key: clientKey(cl.ID)})
}

// OnClientExpired deletes an expired session: its record, subscriptions and queued messages.
func (h *Hook) OnClientExpired(cl *mqtt.Client) {
	ops := []Op{{Bucket: bucketClients, Key: clientKey(cl.ID)}} // deleted even if the read fails
	_ = h.s.db.View(func(tx *bbolt.Tx) error {
		ops = storedSessionOps(tx, cl.ID)
		return nil
	})
	for _, op := range ops {
		h.write("", op)
	}
}

// OnSubscribed stores granted subscriptions and waits until they are on disk, so a SUBACK means
// the subscription survives a crash. Refused ones are deleted, never stored.
func (h *Hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if cl.Net.Inline || clean(cl) {
		return // a clean session's subscriptions end with it
	}
	var ops []Op
	for i, f := range pk.Filters {
		if i >= len(codes) {
			break
		}
		if codes[i] >= packets.ErrUnspecifiedError.Code {
			ops = append(ops, Op{Bucket: bucketSubs, Key: subKey(cl.ID, f.Filter)})
			continue
		}
		rec := storage.Subscription{
			ID: string(subKey(cl.ID, f.Filter)), T: storage.SubscriptionKey, Client: cl.ID,
			Qos: codes[i], Filter: f.Filter, Identifier: f.Identifier, NoLocal: f.NoLocal,
			RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		}
		data, _ := rec.MarshalBinary()
		ops = append(ops, Op{Bucket: bucketSubs, Key: subKey(cl.ID, f.Filter), Value: data})
	}
	if err := h.s.Write(ops...); err != nil {
		h.s.log.Error().Err(err).Msg("store subscription")
	}
}

// OnUnsubscribed deletes the stored subscriptions among the filters a session unsubscribed
// from, or that mochi dropped with the session, and writes nothing for the others: a clean
// session stores none, and a client may unsubscribe from filters it never subscribed to, as many
// as its packets hold. A session's subscriptions are on disk before its SUBACK (OnSubscribed
// waits), so what is stored is what the store holds. The session need not be persistent now: a
// v5 client may end a persistent session with a session expiry of 0 in its DISCONNECT.
func (h *Hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || cl.IsTakenOver() || len(pk.Filters) == 0 {
		return
	}
	var ops []Op
	_ = h.s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSubs)
		for _, f := range pk.Filters {
			if k := subKey(cl.ID, f.Filter); b.Get(k) != nil {
				ops = append(ops, Op{Bucket: bucketSubs, Key: k})
			}
		}
		return nil
	})
	for _, op := range ops {
		h.write("", op)
	}
}

// OnRetainMessage stores or clears a retained message.
func (h *Hook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if r == -1 {
		h.write("", Op{Bucket: bucketRetained, Key: []byte(pk.TopicName)})
		return
	}
	seq := h.s.nextSeq()
	msg := message(pk, cl.ID)
	// The sequence number (8 bytes BE, read by the conditional put), then the message, in one buffer.
	val := make([]byte, 8, 8+sizeHint(&msg))
	binary.BigEndian.PutUint64(val, seq)
	val = appendMessage(val, &msg)
	h.write(EventToken(&pk), Op{Bucket: bucketRetained, Key: []byte(pk.TopicName), Value: val, Seq: seq})
}

// OnRetainedExpired deletes an expired retained message.
func (h *Hook) OnRetainedExpired(topic string) {
	h.write("", Op{Bucket: bucketRetained, Key: []byte(topic)})
}

// OnQosPublish stores an inflight message of a session, with its packet id.
func (h *Hook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, _ int) {
	if cl.Net.Inline || clean(cl) {
		return
	}
	msg := message(pk, pk.Origin)
	msg.Client = cl.ID
	msg.Sent = sent
	msg.PacketID = pk.PacketID
	var seq uint64
	if h.seqs != nil {
		seq = h.seqs.Seq(cl.ID, pk.PacketID)
	}
	data := encodeInflight(&msg, seq)
	h.write(EventToken(&pk), Op{Bucket: bucketInflight, Key: inflightKey(cl.ID, pk.PacketID), Value: data})
}

// OnQosComplete deletes an acknowledged inflight message.
func (h *Hook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || clean(cl) {
		return
	}
	h.write("", Op{Bucket: bucketInflight, Key: inflightKey(cl.ID, pk.PacketID)})
}

// OnQosDropped deletes an abandoned inflight message, except when the session was taken over by a
// new connection, which now owns the record.
func (h *Hook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	h.OnQosComplete(cl, pk)
}

// OnPacketRead moves a SUBSCRIBE or UNSUBSCRIBE off a packet id held by an outbound message.
func (h *Hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Subscribe && pk.FixedHeader.Type != packets.Unsubscribe {
		return pk, nil
	}
	if _, busy := cl.State.Inflight.Get(pk.PacketID); !busy {
		return pk, nil
	}
	h.remapMu.Lock()
	defer h.remapMu.Unlock()
	m := h.remap[cl]
	if m == nil {
		m = map[uint16]uint16{}
		h.remap[cl] = m
	}
	for id := uint16(65535); id > 0; id-- {
		if _, busy := cl.State.Inflight.Get(id); busy {
			continue
		}
		if _, used := m[id]; used {
			continue
		}
		m[id] = pk.PacketID
		pk.PacketID = id
		return pk, nil
	}
	return pk, nil
}

// OnPacketEncode gives a SUBACK or UNSUBACK back the client's own packet id, and holds an event's
// message until the event is on disk.
func (h *Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Suback, packets.Unsuback:
		h.remapMu.Lock()
		if m := h.remap[cl]; m != nil {
			if orig, ok := m[pk.PacketID]; ok {
				delete(m, pk.PacketID)
				pk.PacketID = orig
			}
		}
		h.remapMu.Unlock()
	case packets.Publish:
		if h.pendingCount.Load() > 0 {
			if token := EventToken(&pk); token != "" {
				h.waitFor(token)
			}
		}
	}
	return pk
}

func message(pk packets.Packet, origin string) storage.Message {
	props := pk.Properties.Copy(false)
	return storage.Message{
		T:           storage.InflightKey,
		Origin:      origin,
		FixedHeader: pk.FixedHeader,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Created:     pk.Created,
		Properties: storage.MessageProperties{
			PayloadFormat:          props.PayloadFormat,
			PayloadFormatFlag:      props.PayloadFormatFlag,
			MessageExpiryInterval:  props.MessageExpiryInterval,
			ContentType:            props.ContentType,
			ResponseTopic:          props.ResponseTopic,
			CorrelationData:        props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier,
			User:                   props.User,
		},
	}
}

// StoredClients returns the stored sessions.
func (h *Hook) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	err := h.each(bucketClients, func(_, v []byte) error {
		var c storage.Client
		if err := c.UnmarshalBinary(v); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// StoredSubscriptions returns the stored subscriptions.
func (h *Hook) StoredSubscriptions() ([]storage.Subscription, error) {
	var out []storage.Subscription
	err := h.each(bucketSubs, func(_, v []byte) error {
		var sub storage.Subscription
		if err := sub.UnmarshalBinary(v); err != nil {
			return err
		}
		if sub.Qos < packets.ErrUnspecifiedError.Code {
			out = append(out, sub)
		}
		return nil
	})
	return out, err
}

// StoredInflightMessages returns the stored inflight messages, with their packet ids, and hands
// their queue sequences to the Sequencer. Records stored without one (before 0.2) were all
// queued before any with one; among themselves they are taken in the order of their time, then
// packet id, and get sequences 1, 2, ... per session, below any sequence ever assigned.
func (h *Hook) StoredInflightMessages() ([]storage.Message, error) {
	var out []storage.Message
	var legacy []int // indexes in out of records without a sequence
	err := h.each(bucketInflight, func(k, v []byte) error {
		var m storage.Message
		seq, err := decodeInflight(v, &m)
		if err != nil {
			return err
		}
		if len(k) >= 3 {
			m.PacketID = binary.BigEndian.Uint16(k[len(k)-2:])
		}
		if h.seqs != nil {
			if seq == 0 {
				legacy = append(legacy, len(out))
			} else {
				h.seqs.Restore(m.Client, m.PacketID, seq)
			}
		}
		out = append(out, m)
		return nil
	})
	if err != nil || len(legacy) == 0 {
		return out, err
	}
	slices.SortFunc(legacy, func(a, b int) int {
		x, y := &out[a], &out[b]
		return cmp.Or(strings.Compare(x.Client, y.Client), cmp.Compare(x.Created, y.Created), cmp.Compare(x.PacketID, y.PacketID))
	})
	var seq uint64
	for i, j := range legacy {
		if i == 0 || out[j].Client != out[legacy[i-1]].Client {
			seq = 0
		}
		seq++
		h.seqs.Restore(out[j].Client, out[j].PacketID, seq)
	}
	return out, nil
}

// StoredRetainedMessages returns the stored retained messages.
func (h *Hook) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := h.each(bucketRetained, func(_, v []byte) error {
		if len(v) < 8 {
			return nil
		}
		var m storage.Message
		if err := decodeMessage(v[8:], &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

func (h *Hook) each(bucket []byte, fn func(k, v []byte) error) error {
	return h.s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(fn)
	})
}
