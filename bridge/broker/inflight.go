package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// qos2Bound bounds the QoS 2 PUBLISHes a session may leave waiting for their PUBREL. mochi keeps
// each (its PUBREC) in the session's inflight set until then, and in the store for a persistent
// session, and bounds them only per connection (the receive maximum, 1,024): a session taken over
// keeps its predecessor's and gets a fresh quota, so a client that reconnected in a loop could
// pile up one per packet id, 65,535 a session. A QoS 2 PUBLISH while its session holds
// Options.MaxInflight messages awaiting acknowledgement (either way) is refused: MQTT 5 PUBREC
// 0x97, 3.1.1 the connection closed; counted (Stats.QoS2Refused) and logged with the account at
// most once a minute. Only accounts with write rules get this far: a device's PUBLISH is refused
// by the ACL before.
type qos2Bound struct {
	mqtt.HookBase
	max   int
	count *counters
	limit *logLimiter
	log   zerolog.Logger
}

func (q *qos2Bound) ID() string { return "hookbridge-qos2-bound" }

func (q *qos2Bound) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish refuses a QoS 2 PUBLISH past the bound (see qos2Bound).
func (q *qos2Bound) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.FixedHeader.Qos < 2 || cl.State.Inflight.Len() < q.max {
		return pk, nil
	}
	q.count.qos2Refused.Add(1)
	account := string(cl.Properties.Username)
	if ok, n := q.limit.allow("qos2:" + account); ok {
		q.log.Warn().Str("component", "mqtt").Str("account", account).Int("limit", q.max).Int64("suppressed", n).
			Msg("QoS 2 publish refused: its session holds as many messages awaiting acknowledgement as it may")
	}
	return pk, refusePublish(cl, pk, "quota exceeded: messages awaiting acknowledgement")
}

// refusePublish refuses a QoS 1 or 2 PUBLISH from an OnPublish hook and returns the error that
// has mochi drop it: MQTT 5 gets PUBACK (QoS 2: PUBREC) 0x97 with reason, and MQTT 3.1.1, which
// cannot refuse a PUBLISH in its acknowledgement, has its connection closed [MQTT-3.3.5-2]; a
// QoS 0 PUBLISH is dropped. mochi's own refusal from OnPublish answers a QoS 2 PUBLISH with a
// PUBACK and logs an error each time: the hook answers itself.
func refusePublish(cl *mqtt.Client, pk packets.Packet, reason string) error {
	switch {
	case pk.FixedHeader.Qos == 0:
	case cl.Properties.ProtocolVersion == 5:
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.ErrQuotaExceeded.Code, Properties: packets.Properties{ReasonString: reason}}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		_ = cl.WritePacket(ack)
	default:
		cl.Stop(packets.ErrQuotaExceeded)
	}
	return packets.ErrRejectPacket
}
