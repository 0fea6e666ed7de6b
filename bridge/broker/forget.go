package broker

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Forget deletes the broker's messages on topics under prefix (which ends with "/", such as
// "hookbridge/acme-locks/"), for offboarding a vendor: its retained messages, so a fresh
// subscriber gets none, and the messages queued for sessions, connected or not, that were not
// acknowledged yet; from memory and from the store, durably. A message already written to a
// connected client's socket is not called back. It returns how many retained and queued messages
// it deleted.
//
// Nothing is published: clearing a retained message by publishing an empty one would deliver
// that empty message to every subscriber (and through the relay to Home Assistant's broker).
func (b *Broker) Forget(prefix string) (retained, queued int, err error) {
	if !strings.HasSuffix(prefix, "/") || strings.ContainsAny(prefix, "+#") {
		return 0, 0, fmt.Errorf("broker: forget topics: prefix %q must be a topic ending with /", prefix)
	}
	// Under the retain guard, so that no retained publish of the same topic interleaves.
	b.guard.mu.Lock()
	for topic := range b.srv.Topics.Retained.GetAll() {
		if strings.HasPrefix(topic, prefix) {
			b.srv.Topics.RetainMessage(packets.Packet{TopicName: topic}) // an empty payload deletes
			retained++
		}
	}
	b.guard.mu.Unlock()
	for _, cl := range b.srv.Clients.GetAll() {
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if !strings.HasPrefix(pk.TopicName, prefix) {
				continue
			}
			// As an acknowledgement would: the quota the message held is free again.
			if cl.State.Inflight.Delete(pk.PacketID) {
				cl.State.Inflight.IncreaseSendQuota()
				atomic.AddInt64(&b.srv.Info.Inflight, -1)
				queued++
			}
		}
	}
	if b.store != nil {
		r, q, err := b.store.ForgetTopics(prefix)
		if err != nil {
			return retained, queued, fmt.Errorf("broker: forget topics: %w", err)
		}
		retained, queued = max(retained, r), max(queued, q)
	}
	b.log.Info().Str("component", "mqtt").Str("topic", prefix+"#").Int("retained", retained).Int("queued", queued).
		Msg("messages forgotten")
	return retained, queued, nil
}
