package store

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker messages (inflight and retained) are stored in a compact binary form instead of
// storage.Message's JSON: one is written per persistent subscriber per event, and encoding/json's
// reflection was a visible share of each webhook's CPU. Records that start with '{' are JSON
// (mochi's own form) and are still read.
//
// Version 2 (inflight messages) appends the message's queue sequence (see Sequencer) to the
// version 1 form; records without one (version 1, JSON) decode with sequence 0.

const (
	codecV1 = 1
	codecV2 = 2
)

var errCodec = errors.New("damaged message record")

func encodeMessage(m *storage.Message) []byte { return appendMessage(nil, m) }

// encodeInflight is encodeMessage with the message's queue sequence (version 2).
func encodeInflight(m *storage.Message, seq uint64) []byte {
	b := appendMessage(nil, m)
	b[0] = codecV2
	return binary.AppendUvarint(b, seq)
}

// sizeHint is roughly the encoded size of m, for sizing the buffer up front.
func sizeHint(m *storage.Message) int {
	return 74 + len(m.TopicName) + len(m.Payload) + len(m.Origin) + len(m.Client)
}

// appendMessage appends m's binary form to dst, growing it by sizeHint(m) at most once up front.
func appendMessage(dst []byte, m *storage.Message) []byte {
	b := slices.Grow(dst, sizeHint(m))
	b = append(b, codecV1, m.FixedHeader.Type, m.FixedHeader.Qos, flags(m.FixedHeader.Dup, m.FixedHeader.Retain, m.Properties.PayloadFormatFlag))
	b = binary.BigEndian.AppendUint16(b, m.PacketID)
	b = binary.AppendVarint(b, m.Created)
	b = binary.AppendVarint(b, m.Sent)
	for _, s := range []string{m.TopicName, m.Origin, m.Client, m.Properties.ContentType, m.Properties.ResponseTopic} {
		b = appendBytes(b, []byte(s))
	}
	b = appendBytes(b, m.Payload)
	b = appendBytes(b, m.Properties.CorrelationData)
	b = append(b, m.Properties.PayloadFormat)
	b = binary.AppendUvarint(b, uint64(m.Properties.MessageExpiryInterval))
	b = binary.AppendUvarint(b, uint64(m.Properties.TopicAlias))
	b = binary.AppendUvarint(b, uint64(len(m.Properties.SubscriptionIdentifier)))
	for _, id := range m.Properties.SubscriptionIdentifier {
		b = binary.AppendVarint(b, int64(id))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Properties.User)))
	for _, u := range m.Properties.User {
		b = appendBytes(b, []byte(u.Key))
		b = appendBytes(b, []byte(u.Val))
	}
	return b
}

func flags(bs ...bool) byte {
	var f byte
	for i, v := range bs {
		if v {
			f |= 1 << i
		}
	}
	return f
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	if n == 0 {
		return nil
	}
	return append([]byte(nil), s...)
}

func decodeMessage(data []byte, m *storage.Message) error {
	_, err := decodeInflight(data, m)
	return err
}

// decodeInflight decodes a message record of any version and returns its queue sequence, 0 when
// it has none.
func decodeInflight(data []byte, m *storage.Message) (uint64, error) {
	if len(data) > 0 && data[0] == '{' {
		return 0, m.UnmarshalBinary(data)
	}
	if len(data) < 6 || (data[0] != codecV1 && data[0] != codecV2) {
		return 0, errCodec
	}
	v2 := data[0] == codecV2
	r := &reader{b: data[1:]}
	m.FixedHeader.Type = r.byte()
	m.FixedHeader.Qos = r.byte()
	f := r.byte()
	m.FixedHeader.Dup, m.FixedHeader.Retain, m.Properties.PayloadFormatFlag = f&1 != 0, f&2 != 0, f&4 != 0
	if len(r.b) < 2 {
		return 0, errCodec
	}
	m.PacketID = binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	m.Created = r.varint()
	m.Sent = r.varint()
	m.TopicName = string(r.bytes())
	m.Origin = string(r.bytes())
	m.Client = string(r.bytes())
	m.Properties.ContentType = string(r.bytes())
	m.Properties.ResponseTopic = string(r.bytes())
	m.Payload = r.bytes()
	m.Properties.CorrelationData = r.bytes()
	m.Properties.PayloadFormat = r.byte()
	m.Properties.MessageExpiryInterval = uint32(r.uvarint())
	m.Properties.TopicAlias = uint16(r.uvarint())
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return 0, errCodec
	}
	for i := uint64(0); i < n && !r.err; i++ {
		m.Properties.SubscriptionIdentifier = append(m.Properties.SubscriptionIdentifier, int(r.varint()))
	}
	n = r.uvarint()
	if n > uint64(len(r.b)) {
		return 0, errCodec
	}
	for i := uint64(0); i < n && !r.err; i++ {
		k, v := r.bytes(), r.bytes()
		m.Properties.User = append(m.Properties.User, packets.UserProperty{Key: string(k), Val: string(v)})
	}
	var seq uint64
	if v2 {
		seq = r.uvarint()
	}
	if r.err || len(r.b) != 0 {
		return 0, errCodec
	}
	return seq, nil
}
