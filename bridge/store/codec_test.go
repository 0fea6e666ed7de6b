package store

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMessageCodecRoundTrip(t *testing.T) {
	for _, m := range []storage.Message{
		{},
		{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true, Dup: true}, PacketID: 65535,
			TopicName: "hookbridge/acme-locks/locks/x/state", Payload: []byte(`{"state":"locked"}`), Origin: "$hookbridge",
			Client: "panel", Created: 1764058443, Sent: -5,
			Properties: storage.MessageProperties{PayloadFormat: 1, PayloadFormatFlag: true, MessageExpiryInterval: 3600,
				ContentType: "application/json", ResponseTopic: "r/t", CorrelationData: []byte{0, 1, 2}, TopicAlias: 7,
				SubscriptionIdentifier: []int{1, 300000}, User: []packets.UserProperty{{Key: "event", Val: "00ff"}, {Key: "", Val: ""}}}},
	} {
		var got storage.Message
		if err := decodeMessage(encodeMessage(&m), &got); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip = %+v,\nwant         %+v", got, m)
		}
	}
	// mochi's own JSON form is still read.
	m := storage.Message{TopicName: "a/b", Payload: []byte("x"), PacketID: 3}
	js, _ := m.MarshalBinary()
	var got storage.Message
	if err := decodeMessage(js, &got); err != nil || got.TopicName != "a/b" || got.PacketID != 3 {
		t.Errorf("JSON record = %+v, %v", got, err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(&storage.Message{TopicName: "t", Payload: []byte("p"), Properties: storage.MessageProperties{User: []packets.UserProperty{{Key: "k", Val: "v"}}}}))
	f.Add([]byte{codecV1, 3, 1, 0, 0, 1, 0, 0})
	f.Add(encodeInflight(&storage.Message{TopicName: "t", Payload: []byte("p")}, 1<<60))
	// A damaged record is an error, never a panic or a huge allocation.
	f.Fuzz(func(t *testing.T, data []byte) {
		var m storage.Message
		if err := decodeMessage(data, &m); err == nil && len(data) > 0 && data[0] == codecV1 {
			var again storage.Message
			if err := decodeMessage(encodeMessage(&m), &again); err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("decoded %+v does not survive a round trip: %v", m, err)
			}
		}
	})
}

// The retained record is the 8-byte sequence number (big-endian) followed by the message's codec
// form, exactly; StoredRetainedMessages and the conditional put depend on that layout.
func TestRetainedValueLayout(t *testing.T) {
	s := openTest(t, Options{NoSync: true})
	cl := &mqtt.Client{ID: "panel"}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName: "hookbridge/acme/locks/x/state", Payload: []byte(`{"state":"locked"}`), Created: 1764058443,
		Properties: packets.Properties{ContentType: "application/json", User: []packets.UserProperty{{Key: "k", Val: "v"}}}}
	before := s.seq.Load()
	s.hook.OnRetainMessage(cl, pk, 1)
	if err := s.Write(); err != nil { // flush the async write
		t.Fatal(err)
	}
	var got []byte
	s.hook.each(bucketRetained, func(_, v []byte) error { got = append([]byte(nil), v...); return nil })
	msg := message(pk, cl.ID)
	want := encodeMessage(&msg)
	if len(got) != 8+len(want) || !bytes.Equal(got[8:], want) {
		t.Fatalf("retained value = %x,\nwant seq + %x", got, want)
	}
	if seq := binary.BigEndian.Uint64(got); seq <= before || seq > s.seq.Load() {
		t.Fatalf("retained seq = %d, want in (%d, %d]", seq, before, s.seq.Load())
	}
}

// An inflight record carries its queue sequence (version 2); records written before it (version
// 1, mochi's JSON) still decode, with sequence 0.
func TestInflightCodecSeq(t *testing.T) {
	m := storage.Message{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 9,
		TopicName: "p/v/lock", Payload: []byte("1"), Client: "dev\x00panel", Created: 1764058443}
	js, _ := m.MarshalBinary()
	cases := []struct {
		name string
		data []byte
		want uint64
	}{
		{"v2", encodeInflight(&m, 1<<62+3), 1<<62 + 3},
		{"v2 zero", encodeInflight(&m, 0), 0},
		{"v1", encodeMessage(&m), 0},
		{"json", js, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got storage.Message
			seq, err := decodeInflight(tc.data, &got)
			if err != nil || seq != tc.want {
				t.Fatalf("decodeInflight = %d, %v, want %d, nil", seq, err, tc.want)
			}
			if got.TopicName != m.TopicName || got.Created != m.Created || !bytes.Equal(got.Payload, m.Payload) {
				t.Errorf("decodeInflight message = %+v, want %+v", got, m)
			}
		})
	}
	if err := decodeMessage(append(encodeInflight(&m, 7), 0), new(storage.Message)); err == nil {
		t.Error("decodeMessage(v2 record + a trailing byte) = nil, want an error")
	}
}
