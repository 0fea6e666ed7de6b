package broker

import (
	"bytes"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mochi decodes the strings of a packet (topic names, filters, property strings) as views of the
// packet's read buffer, without copying them (packets.bytesToString), so whatever mochi keeps
// such a string in keeps the whole packet alive: a subscription's filter pins its SUBSCRIBE (a
// filter of a few bytes sent with 180 KiB of user properties cost 192 KiB per subscription; a
// device session holds 256), a retained message's topic pins its PUBLISH (twice what the message
// is), and so does a topic alias. The broker copies, before mochi sees a client's PUBLISH or
// SUBSCRIBE, every string of it that mochi may keep; the payload mochi copies itself wherever it
// keeps one.

// unpinPublish returns pk with its topic and property strings copied out of its buffer.
func unpinPublish(pk packets.Packet) packets.Packet {
	pk.TopicName = strings.Clone(pk.TopicName)
	p := &pk.Properties
	p.ContentType = strings.Clone(p.ContentType)
	p.ResponseTopic = strings.Clone(p.ResponseTopic)
	p.CorrelationData = bytes.Clone(p.CorrelationData)
	if len(p.User) > 0 {
		user := make([]packets.UserProperty, len(p.User))
		for i, u := range p.User {
			user[i] = packets.UserProperty{Key: strings.Clone(u.Key), Val: strings.Clone(u.Val)}
		}
		p.User = user
	}
	return pk
}

// unpinFilters returns a copy of fs whose filters are copied out of their packet's buffer.
func unpinFilters(fs packets.Subscriptions) packets.Subscriptions {
	out := make(packets.Subscriptions, len(fs))
	for i, f := range fs {
		f.Filter = strings.Clone(f.Filter)
		out[i] = f
	}
	return out
}
