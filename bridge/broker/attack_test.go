package broker

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// attackResult is what one account's session flood did to the publish path.
type attackResult struct {
	base, attacked        time.Duration // median Broker.Publish (one event, fsync), without and with the flood
	rssGrowth, heapGrowth int64
	accepted              int           // attacker sessions accepted
	flood                 time.Duration // how long the 2,000 logins took
}

// floodEnv is a broker with a store as shipped (fsync) and a steady device of another account
// that acknowledges everything.
type floodEnv struct {
	b   *Broker
	seq atomic.Int64
	got atomic.Int64
}

func newFloodEnv(t *testing.T, limits Limits) *floodEnv {
	st, err := store.Open(t.TempDir(), store.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &floodEnv{b: newTestBroker(t, Options{Store: st, DeviceLimits: limits})}
	steady := login(t, e.b.Addr(), rawmqtt.Options{ClientID: "steady", Username: devUser, Password: devPass})
	if _, _, err := steady.Subscribe(1, "p/v/+"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			pk, err := steady.Read(time.Minute)
			if err != nil {
				return
			}
			if pk.FixedHeader.Type == packets.Publish {
				e.got.Add(1)
				_ = steady.Ack(pk)
			}
		}
	}()
	return e
}

// publish publishes n events one at a time and returns their latencies.
func (e *floodEnv) publish(t *testing.T, n int) []time.Duration {
	var lat []time.Duration
	for i := 0; i < n; i++ {
		k := e.seq.Add(1)
		token := fmt.Sprintf("%032x", k)
		ev := &publish.Event{Vendor: "v", Token: token, At: time.Now(),
			Messages: []route.Message{{Topic: fmt.Sprintf("p/v/%d", k%16), Payload: []byte(`{"state":"locked","battery":80}`), QoS: 1}}}
		start := time.Now()
		if err := e.b.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// sessionFlood has one device account (dev2) open 2,000 persistent sessions with distinct client
// ids, each subscribed, plus one SUBSCRIBE of 5,000 filters, while events are published through
// Broker.Publish to a steady device. A second, identical broker that no one floods publishes in
// turn with it: the machine is shared, and alternating chunks lets both see the same neighbours.
func sessionFlood(t *testing.T, limits Limits) attackResult {
	ctl, atk := newFloodEnv(t, limits), newFloodEnv(t, limits)
	ctl.publish(t, 20) // warm up
	atk.publish(t, 20)
	var r attackResult
	rss0, heap0 := rssBytes(t), heapInUse()

	floodStart := time.Now()
	for i := 0; i < 2000; i++ {
		c, err := rawmqtt.Dial(atk.b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		ack, err := c.Connect(rawmqtt.Options{ClientID: fmt.Sprintf("flood-%d", i), Username: dev2User, Password: dev2Pass})
		if err == nil && ack.ReasonCode == 0 {
			r.accepted++
			if _, _, err := c.Subscribe(1, "p/v/+"); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				var filters []string
				for j := 0; j < 5000; j++ {
					filters = append(filters, fmt.Sprintf("p/v/%d", j))
				}
				c.Subscribe(1, filters...)
			}
		}
		c.Close() // the session stays, offline, and queues every event
	}
	r.flood = time.Since(floodStart)
	runtime.GC() // the flood's garbage (2,000 connections), not its lasting cost
	if f := os.Getenv("HOOKBRIDGE_FLOOD_PROFILE"); f != "" {
		out, _ := os.Create(f)
		pprof.StartCPUProfile(out)
		atk.publish(t, 2000)
		pprof.StopCPUProfile()
		out.Close()
	}
	var base, attacked []time.Duration
	for i := 0; i < 10; i++ {
		base = append(base, ctl.publish(t, 20)...)
		attacked = append(attacked, atk.publish(t, 20)...)
	}
	r.base, r.attacked = median(base), median(attacked)
	for _, e := range []*floodEnv{ctl, atk} {
		checkFor(t, 30*time.Second, func() error {
			if e.got.Load() < e.seq.Load() {
				return fmt.Errorf("steady device got %d of %d messages", e.got.Load(), e.seq.Load())
			}
			return nil
		})
	}
	rss1, heap1 := rssBytes(t), heapInUse()
	r.rssGrowth, r.heapGrowth = int64(rss1)-int64(rss0), int64(heap1)-int64(heap0)
	return r
}

// TestOneAccountCannotDegradeOthers runs the session flood against the default bounds: the
// publish path stays within 3x of its latency (not judged under -race), and the process grows by
// less than 60 MB. (With the bounds lifted, HOOKBRIDGE_MEASURE=1 runs it again for comparison.)
func TestOneAccountCannotDegradeOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	r := sessionFlood(t, Limits{})
	t.Logf("bounded: %d attacker sessions accepted in %v; publish p50 %v -> %v (x%.1f); RSS %+.1f MiB, heap %+.1f MiB",
		r.accepted, r.flood.Round(time.Millisecond), r.base, r.attacked, float64(r.attacked)/float64(r.base), float64(r.rssGrowth)/(1<<20), float64(r.heapGrowth)/(1<<20))
	if r.accepted > DefaultDeviceLimits.PersistentSessions {
		t.Errorf("%d attacker sessions accepted, want at most %d", r.accepted, DefaultDeviceLimits.PersistentSessions)
	}
	if r.attacked > 3*r.base && !raceEnabled {
		t.Errorf("publish p50 went from %v to %v under the flood, want within 3x", r.base, r.attacked)
	}
	if r.rssGrowth > 60<<20 || r.heapGrowth > 60<<20 {
		t.Errorf("the flood grew RSS by %d MiB and the heap by %d MiB, want under 60", r.rssGrowth>>20, r.heapGrowth>>20)
	}
	if os.Getenv("HOOKBRIDGE_MEASURE") != "" {
		u := sessionFlood(t, Limits{Sessions: 1 << 20, PersistentSessions: 1 << 20, Subscriptions: 1 << 20, Filters: 1 << 20})
		t.Logf("unbounded: %d attacker sessions accepted in %v; publish p50 %v -> %v (x%.1f); RSS %+.1f MiB, heap %+.1f MiB",
			u.accepted, u.flood.Round(time.Millisecond), u.base, u.attacked, float64(u.attacked)/float64(u.base), float64(u.rssGrowth)/(1<<20), float64(u.heapGrowth)/(1<<20))
	}
}
