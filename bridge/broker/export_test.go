package broker

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// publishHeld injects one message of an event without committing it, for tests of the hold.
func (b *Broker) publishHeld(token string, m route.Message) error {
	return b.srv.InjectPacket(b.pub, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.QoS},
		TopicName:   m.Topic, Payload: m.Payload, PacketID: uint16(m.QoS),
		Properties: packets.Properties{User: []packets.UserProperty{{Key: store.EventProperty, Val: token}}},
	})
}
