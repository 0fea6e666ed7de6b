package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// BenchmarkPublish measures the publish stage: one event of one QoS 1 message through the embedded
// broker to one subscriber (paho, persistent session), with no store, with the store without
// fsync, and with the store as shipped. "serial" publishes one event at a time, so with fsync an
// op is a whole commit; "parallel" publishes from 32 goroutines, so events share commits (group
// commit), as concurrent webhooks do. The subscriber must keep up: at most benchWindow messages
// are undelivered at any time, and the clock stops when it has them all.
func BenchmarkPublish(b *testing.B) {
	for _, st := range []string{"none", "nosync", "fsync"} {
		for _, par := range []bool{false, true} {
			name := st + "/serial"
			if par {
				name = st + "/parallel"
			}
			b.Run(name, func(b *testing.B) { benchPublish(b, st, par) })
		}
	}
}

// benchWindow bounds the messages published and not yet received in BenchmarkPublish.
const benchWindow = 512

func benchPublish(b *testing.B, storeMode string, parallel bool) {
	var st *store.Store
	if storeMode != "none" {
		var err error
		st, err = store.Open(b.TempDir(), store.Options{NoSync: storeMode == "nosync", Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
	}
	br, err := New(Options{
		Accounts: []Account{{Username: "bench", Password: "bench-password-1", Read: []string{"p/v/#"}}},
		Store:    st,
		Log:      zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer br.Close()

	var got atomic.Int64
	opts := paho.NewClientOptions().AddBroker("tcp://" + br.Addr()).SetClientID("bench-sub").
		SetUsername("bench").SetPassword("bench-password-1").SetCleanSession(false).SetAutoReconnect(false)
	opts.SetDefaultPublishHandler(func(paho.Client, paho.Message) { got.Add(1) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.Subscribe("p/v/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}

	payload := []byte(`{"device":"caa2914cae882aad3d862d9e9fb11a61","state":"unlocked","battery":87,"method":"keypad","actor":"7e325fe1d1faaee5f0e8a0d6726615df"}`)
	var seq atomic.Int64
	one := func() {
		n := seq.Add(1)
		token := fmt.Sprintf("%032x", n)
		ev := &publish.Event{
			Vendor: "v", Token: token, At: time.Now(),
			Messages: []route.Message{{Topic: fmt.Sprintf("p/v/%d", n%64), Payload: payload, QoS: 1}},
		}
		if err := br.Publish(context.Background(), ev); err != nil {
			b.Error(err)
		}
		// Without a store nothing slows the publisher down to the subscriber's pace, and past the
		// session's queue the broker drops: keep at most a window of messages undelivered.
		for seq.Load()-got.Load() > benchWindow {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one()
			}
		})
	} else {
		for i := 0; i < b.N; i++ {
			one()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < seq.Load() {
		if time.Now().After(deadline) {
			b.Fatalf("subscriber got %d of %d messages", got.Load(), seq.Load())
		}
		time.Sleep(time.Millisecond)
	}
}
