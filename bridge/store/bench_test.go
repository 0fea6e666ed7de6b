package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// BenchmarkStoreWrite measures recording one event's replay record through the group committer:
// "serial" waits for each transaction alone, "parallel" lets 32 writers share transactions.
func BenchmarkStoreWrite(b *testing.B) {
	for _, mode := range []string{"nosync", "fsync"} {
		for _, par := range []bool{false, true} {
			name := mode + "/serial"
			if par {
				name = mode + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				s, err := Open(b.TempDir(), Options{NoSync: mode == "nosync", Log: zerolog.Nop()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var seq atomic.Int64
				one := func() {
					if err := s.Write(SeenOps("v", fmt.Sprintf("%032x", seq.Add(1)), time.Now())...); err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				if par {
					b.SetParallelism(16)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							one()
						}
					})
				} else {
					for b.Loop() {
						one()
					}
				}
				st := s.Stats()
				b.ReportMetric(float64(st.Ops)/float64(max(st.Commits, 1))/2, "events/commit")
			})
		}
	}
}

// BenchmarkStoreSeen measures the replay check of the reserve stage, on a store holding 100,000
// replay records.
func BenchmarkStoreSeen(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ops []Op
	for i := 0; i < 100_000; i++ {
		ops = append(ops, SeenOps("v", fmt.Sprintf("%032x", i), time.Now())...)
	}
	if err := s.Write(ops...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Seen(fmt.Sprintf("%032x", 200_000+i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetainMessage measures storing a retained message inside a pending event's group (no
// disk write: the staged op is replaced each time), i.e. building and encoding the record.
func BenchmarkRetainMessage(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.hook.Begin("ev")
	defer s.hook.Commit("ev")
	cl := &mqtt.Client{ID: "$hookbridge"}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName: "hookbridge/acme-locks/locks/front-door/state", Payload: []byte(`{"state":"locked","battery":87,"at":"2025-11-25T08:14:03Z"}`),
		Properties: packets.Properties{ContentType: "application/json", User: []packets.UserProperty{{Key: EventProperty, Val: "ev"}}}}
	b.ReportAllocs()
	for b.Loop() {
		s.hook.OnRetainMessage(cl, pk, 1)
	}
}
