package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hookbridge/hookbridge/bridge/loadgen"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestBenchSmoke runs `hookbridge bench` in-process for a moment, both fsync modes, two
// subscribers and a few idle clients, and checks that the report is whole and sane, so the
// measuring harness cannot rot unnoticed.
func TestBenchSmoke(t *testing.T) {
	args := []string{"bench", "--in-process", "--json", "--dir", t.TempDir(),
		"--duration", "600ms", "--warmup", "200ms", "--rounds", "1", "--concurrency", "4", "--subscribers", "2",
		"--fsync", "both", "--idle-clients", "10", "--subs-per-client", "2", "--settle", "50ms"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench exited %d\nstderr:\n%s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	want := []string{"bare saturation", "bridge saturation", "bridge no-fsync saturation", "bridge paced", "bridge no-fsync paced"}
	var got []string
	for _, r := range rep.Runs {
		got = append(got, r.Server+" "+r.Mode)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("runs = %v, want %v", got, want)
	}
	for _, r := range rep.Runs {
		name := r.Server + " " + r.Mode
		if r.Accepted == 0 || r.Sent != r.Accepted || r.Errors != 0 {
			t.Errorf("%s: sent %d, accepted %d, errors %d (%s), statuses %v; want all accepted", name, r.Sent, r.Accepted, r.Errors, r.FirstError, r.Statuses)
		}
		if r.RPS <= 0 || r.Elapsed <= 0 {
			t.Errorf("%s: rps %v over %v, want positive", name, r.RPS, r.Elapsed)
		}
		benchCheckLatency(t, name+" http", r.HTTP, r.Accepted)
		if r.CPUPerEvent <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: CPU/event %v, peak RSS %d, want positive", name, r.CPUPerEvent, r.PeakRSS)
		}
		if r.Mode == "paced" && (r.TargetRate <= 0 || r.RPS > 1.5*r.TargetRate) {
			t.Errorf("%s: %v/s against a target of %v/s", name, r.RPS, r.TargetRate)
		}
		if r.Server == "bare" {
			if r.Delivery != nil {
				t.Errorf("%s: a delivery record for the bare handler", name)
			}
			continue
		}
		if r.Delivery == nil {
			t.Fatalf("%s: no delivery record", name)
		}
		if r.Commits <= 0 || r.Dropped != 0 {
			t.Errorf("%s: %d store commits, %d broker drops; want some commits, no drops", name, r.Commits, r.Dropped)
		}
		for i, n := range r.Delivery.Received {
			if n != r.Accepted {
				t.Errorf("%s: subscriber %d received %d events, want %d (the accepted ones)", name, i, n, r.Accepted)
			}
		}
		if len(r.Delivery.Received) != 2 || r.Delivery.Missing != 0 || r.Duplicates != 0 || r.Unknown != 0 {
			t.Errorf("%s: delivery %+v, duplicates %d, unknown %d; want 2 subscribers, none missing", name, r.Delivery, r.Duplicates, r.Unknown)
		}
		benchCheckLatency(t, name+" end-to-end", r.Delivery.Latency, 2*r.Accepted)
	}
	if len(rep.Idle) != 2 {
		t.Fatalf("idle results = %d, want one per bridge", len(rep.Idle))
	}
	for _, idle := range rep.Idle {
		if idle.Clients != 10 || idle.RSSBefore <= 0 || idle.RSSAfter <= 0 || idle.GoAfter == nil || idle.GoAfter.Goroutines <= idle.GoBefore.Goroutines {
			t.Errorf("idle clients on %s: %+v, want 10 clients, memory read, more goroutines after", idle.Server, idle)
		}
	}
	if len(rep.Summary) < 6 {
		t.Errorf("summary has %d lines, want the ratio, latency, RSS, durability, idle and delivery lines", len(rep.Summary))
	}
	// The text report renders the same runs.
	var text bytes.Buffer
	rep.print(&text)
	if !strings.Contains(text.String(), "bridge no-fsync") || !strings.Contains(text.String(), "durability cost") {
		t.Errorf("text report lacks runs or summary:\n%s", text.String())
	}
}

func benchCheckLatency(t *testing.T, name string, l loadgen.Latency, n int) {
	t.Helper()
	if l.N != n || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max > time.Minute {
		t.Errorf("%s latency = %+v over %d samples, want %d samples with 0 < p50 <= p99 <= max < 1m", name, l, l.N, n)
	}
}

// BenchmarkPipeline measures whole webhooks through the receiver's ServeHTTP (no network on the
// HTTP side), with the bridge as `serve` builds it: the embedded broker with one subscriber (paho,
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
	a        *app
	samples  []*loadgen.Sample
	signers  map[string]verify.Signer
	run      string
	seq      atomic.Uint64
	received atomic.Int64
}

func benchStartPipeline(b *testing.B, vendors []string, noSync bool) *benchPipeline {
	b.Helper()
	f := &flags{}
	cat, _, err := loadCatalog(f)
	if err != nil {
		b.Fatal(err)
	}
	o, err := benchOptions(cat, vendors, "info")
	if err != nil {
		b.Fatal(err)
	}
	a, err := startLoopback(context.Background(), b.TempDir(), "", o, noSync, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.stop(ctx)
	})
	ps, err := pseudo.New([]byte(o.PseudonymKey))
	if err != nil {
		b.Fatal(err)
	}
	bp := &benchPipeline{a: a, signers: map[string]verify.Signer{}, run: "pipe"}
	if bp.samples, err = loadgen.NewSamples(vendors, ps); err != nil {
		b.Fatal(err)
	}
	for _, v := range o.Vendors {
		cv, _ := cat.Vendor(v.Name)
		bp.signers[v.Name] = verify.Signer{Auth: cv.Policy.Auth, Secret: v.Secrets[0]}
	}
	opts := paho.NewClientOptions().AddBroker("tcp://" + a.broker.Addr()).SetClientID("bench-pipeline-sub").
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
	bp.a.recv.ServeHTTP(w, r)
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
