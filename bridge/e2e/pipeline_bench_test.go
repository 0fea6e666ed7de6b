package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/loadgen"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// benchDevice is the device account of BenchmarkPipeline's subscriber.
const benchDevice = "bench-device"

// BenchmarkPipeline measures whole webhooks through the partner listener's handler
// (App.Handler; no network on the HTTP side), with the bridge as `serve` builds it: the embedded broker with one subscriber (paho,
// QoS 1, persistent session) and the store. Requests are signed before the clock starts. Per
// vendor without fsync, for the CPU and allocations of one event; then all vendors from 32
// goroutines, without and with fsync, where events share commits.
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		name     string
		vendors  []string
		noSync   bool
		parallel bool
	}{
		{"acme-locks/nosync", []string{"acme-locks"}, true, false},
		{"porchlight-cams/nosync", []string{"porchlight-cams"}, true, false},
		{"gridwise-energy/nosync", []string{"gridwise-energy"}, true, false},
		{"all/nosync/parallel", loadgen.SampleVendors, true, true},
		{"all/fsync/parallel", loadgen.SampleVendors, false, true},
	}
	for _, tc := range cases {
		bp := benchStartPipeline(b, tc.vendors, tc.noSync)
		b.Run(tc.name, func(b *testing.B) {
			reqs := bp.requests(b, b.N)
			w := &benchWriter{h: http.Header{}}
			start := bp.received.Load()
			b.ReportAllocs()
			b.ResetTimer()
			if tc.parallel {
				var next atomic.Int64
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					w := &benchWriter{h: http.Header{}}
					for pb.Next() {
						bp.serve(b, w, reqs[next.Add(1)-1])
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					bp.serve(b, w, reqs[i])
				}
			}
			bp.waitReceived(b, start+int64(b.N))
		})
	}
}

// benchPipeline is a bridge started in the test process for BenchmarkPipeline.
type benchPipeline struct {
	h        http.Handler // the partner listener's handler
	samples  []*loadgen.Sample
	signers  map[string]verify.Signer
	run      string
	seq      atomic.Uint64
	received atomic.Int64
}

func benchStartPipeline(b *testing.B, vendors []string, noSync bool) *benchPipeline {
	b.Helper()
	cat := bridgetest.Catalog(b, "")
	o, err := app.FreshOptions(cat)
	if err != nil {
		b.Fatal(err)
	}
	o.PseudonymKey = "bench-pipeline-pseudonym-key-0123456789"
	o.SourceRatePerMinute = 1_000_000
	for i := range o.Vendors {
		o.Vendors[i].RatePerMinute = 1_000_000
	}
	o.Devices = []options.Device{{Username: benchDevice, Password: "bench-device-password", Allow: []string{"#"}}}
	a, err := bridgetest.Launch(b, bridgetest.Config{Options: o, NoSync: noSync, Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	ps, err := pseudo.New([]byte(o.PseudonymKey))
	if err != nil {
		b.Fatal(err)
	}
	bp := &benchPipeline{h: a.Handler(), signers: map[string]verify.Signer{}, run: "pipe"}
	if bp.samples, err = loadgen.NewSamples(vendors, ps); err != nil {
		b.Fatal(err)
	}
	for _, v := range o.Vendors {
		cv, _ := cat.Vendor(v.Name)
		bp.signers[v.Name] = verify.Signer{Auth: cv.Policy.Auth, Secret: v.Secrets[0]}
	}
	opts := paho.NewClientOptions().AddBroker("tcp://" + a.MQTTAddr).SetClientID("bench-pipeline-sub").
		SetUsername(benchDevice).SetPassword(o.Devices[0].Password).SetCleanSession(false).SetAutoReconnect(false)
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		if !strings.HasSuffix(m.Topic(), "/activity") { // porchlight's second, catch-all route
			bp.received.Add(1)
		}
	})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(0) })
	filters := map[string]byte{}
	for _, v := range vendors {
		filters[o.TopicPrefix+"/"+v+"/#"] = 1
	}
	if tok := c.SubscribeMultiple(filters, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return bp
}

// requests signs n fresh events, round-robin over the vendors.
func (bp *benchPipeline) requests(b *testing.B, n int) []*http.Request {
	b.Helper()
	out := make([]*http.Request, n)
	now := time.Now()
	for i := range out {
		seq := bp.seq.Add(1)
		s := bp.samples[seq%uint64(len(bp.samples))]
		body, id, _ := s.Build(nil, bp.run, seq, now)
		hdr, err := bp.signers[s.Vendor].Sign(body, id, now)
		if err != nil {
			b.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/hooks/"+s.Vendor, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		out[i] = r
	}
	return out
}

func (bp *benchPipeline) serve(b *testing.B, w *benchWriter, r *http.Request) {
	clear(w.h)
	w.status = 0
	bp.h.ServeHTTP(w, r)
	if w.status != http.StatusAccepted {
		b.Errorf("status %d, want 202", w.status)
	}
}

func (bp *benchPipeline) waitReceived(b *testing.B, n int64) {
	deadline := time.Now().Add(30 * time.Second)
	for bp.received.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("subscriber received %d messages, want %d", bp.received.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// benchWriter is a ResponseWriter that keeps the status and drops the body, reused across
// requests so that the benchmark counts the pipeline's allocations, not a recorder's.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) { w.status = status }

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
