package e2e_test

// End-to-end tests of the outside-broker modes (broker: supervisor and external) against a real
// Mosquitto, which they start themselves. They need Debian's mosquitto and mosquitto-clients
// packages; without them they fail and say how to install them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/addon/supervisor"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

const (
	uplinkAcmeSecret   = "whsec_dXBsaW5rLXRlc3QtYWNtZS1zZWNyZXQtMDEyMzQ1"
	uplinkPseudonymKey = "uplink-test-pseudonym-key-0123456789abcdef"
	uplinkToken        = "uplink-test-supervisor-token"
)

// uplinkApp is Hookbridge running in the test process with an outside broker.
type uplinkApp struct {
	*bridgetest.Instance
	url    string // acme-locks' endpoint
	client *http.Client
}

// uplinkOptions returns options with the acme-locks vendor and no rate limit in the way.
func uplinkOptions(mode string) *options.Options {
	o := options.Defaults()
	o.LogLevel = "info"
	o.Broker = mode
	o.PseudonymKey = uplinkPseudonymKey
	o.SourceRatePerMinute = 1_000_000
	v := options.VendorDefaults()
	v.Name, v.Secrets, v.RatePerMinute = "acme-locks", []string{uplinkAcmeSecret}, 1_000_000
	o.Vendors = []options.Vendor{v}
	return &o
}

// uplinkStartApp starts Hookbridge with o in a fresh data dir and stops it at the end of the test.
// Its log keeps only the last part: enough to explain a failure, bounded so that it does not count
// as memory growth.
func uplinkStartApp(tb testing.TB, o *options.Options, noSync bool) (*uplinkApp, error) {
	tb.Helper()
	ta, err := bridgetest.Launch(tb, bridgetest.Config{Options: o, NoSync: noSync, Log: &bridgetest.LogBuffer{Max: 64 << 10}})
	if err != nil {
		return nil, err
	}
	ua := &uplinkApp{Instance: ta, url: ta.URL + "/hooks/acme-locks",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ta.Shutdown(ctx)
		ua.client.CloseIdleConnections()
		if tb.Failed() {
			tb.Logf("hookbridge log (tail):\n%s", ta.Logs)
		}
	})
	return ua, nil
}

// uplinkStandIn is a stand-in for the Supervisor API: GET /services/mqtt answers with b's
// address and credentials in the Supervisor's format (the port as a string, as some Supervisor
// versions send it), after checking the app's token.
func uplinkStandIn(t testing.TB, b *mosquittotest.Broker) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/services/mqtt" {
			http.Error(w, "404: Not Found", http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+uplinkToken {
			http.Error(w, "401: Unauthorized", http.StatusUnauthorized)
			return
		}
		calls.Add(1)
		host, port, _ := strings.Cut(b.Addr, ":")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"result": "ok", "data": map[string]any{
			"addon": "core_mosquitto", "host": host, "port": port, "ssl": false, "protocol": "3.1.1",
			"username": b.Username, "password": b.Password,
		}})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// uplinkUnderSupervisor makes the process look started by the Supervisor at url.
func uplinkUnderSupervisor(t testing.TB, url string) {
	t.Setenv(supervisor.TokenEnv, uplinkToken)
	t.Setenv(supervisor.URLEnv, url)
}

// uplinkPost sends a signed acme-locks lock.state_changed event for device and returns the status
// and Retry-After.
func (ua *uplinkApp) uplinkPost(tb testing.TB, id, device string, battery int) (int, string) {
	body := fmt.Appendf(nil, `{"id":%q,"type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"state":"locked","battery_pct":%d,"user":{"name":"Jane Doe"}}}`,
		id, device, battery)
	return ua.uplinkPostBody(tb, id, body)
}

func (ua *uplinkApp) uplinkPostBody(tb testing.TB, id string, body []byte) (int, string) {
	hdr, err := verify.Signer{Auth: ua.Policy("acme-locks").Auth, Secret: uplinkAcmeSecret}.Sign(body, id, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, ua.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ua.client.Do(req)
	if err != nil {
		tb.Errorf("POST %s: %v", id, err)
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// uplinkHealth returns the readiness status: /readyz fails while events cannot be published
// (/healthz, liveness, never fails for a broker outage).
func (ua *uplinkApp) uplinkHealth(tb testing.TB) int {
	resp, err := ua.client.Get(ua.AdminURL + "/readyz")
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// uplinkDeviceToken returns the pseudonym the acme-locks routes give a device id.
func uplinkDeviceToken(tb testing.TB, device string) string {
	ps, err := pseudo.New([]byte(uplinkPseudonymKey))
	if err != nil {
		tb.Fatal(err)
	}
	return ps.Token(pseudo.DomainField, "acme-locks", device)
}

// uplinkTopic returns the state topic and payload the acme-locks route makes for a device.
func uplinkTopic(tb testing.TB, device string, battery int) (string, string) {
	tok := uplinkDeviceToken(tb, device)
	return "hookbridge/acme-locks/locks/" + tok + "/state",
		fmt.Sprintf(`{"device":%q,"state":"locked","battery":%d}`, tok, battery)
}

// TestUplinkSupervisorMode runs broker: supervisor against a stand-in Supervisor that points at a
// real Mosquitto: events arrive with the route's topics, payloads and retain flags, a redelivery is
// a duplicate, the embedded broker does not run, and health shows the connection.
func TestUplinkSupervisorMode(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	srv, calls := uplinkStandIn(t, b)
	uplinkUnderSupervisor(t, srv.URL)
	live := b.Subscribe(t, "live", "hookbridge/acme-locks/#", false)
	ua, err := uplinkStartApp(t, uplinkOptions(options.BrokerSupervisor), false)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if calls.Load() == 0 {
		t.Error("the Supervisor's MQTT service was never asked")
	}
	if ua.Broker() != nil {
		t.Error("the embedded broker runs in broker mode supervisor")
	}
	if got := ua.uplinkHealth(t); got != http.StatusOK {
		t.Errorf("GET /readyz = %d while connected, want 200", got)
	}

	if st, _ := ua.uplinkPost(t, "evt-1", "LCK-1", 80); st != http.StatusAccepted {
		t.Fatalf("POST evt-1 = %d, want 202", st)
	}
	// lock.battery_low goes to a topic whose route does not retain.
	low := []byte(`{"id":"evt-2","type":"lock.battery_low","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-1","battery_pct":9}}`)
	if st, _ := ua.uplinkPostBody(t, "evt-2", low); st != http.StatusAccepted {
		t.Fatalf("POST evt-2 = %d, want 202", st)
	}
	if st, _ := ua.uplinkPost(t, "evt-1", "LCK-1", 80); st != http.StatusOK {
		t.Errorf("POST evt-1 again = %d, want 200 (duplicate)", st)
	}
	stateTopic, statePayload := uplinkTopic(t, "LCK-1", 80)
	batteryTopic := strings.TrimSuffix(stateTopic, "/state") + "/battery"
	batteryPayload := fmt.Sprintf(`{"device":%q,"battery":9}`, uplinkDeviceToken(t, "LCK-1"))
	got := live.WaitFor(t, 10*time.Second, "2 messages", func(m []mosquittotest.Message) bool { return len(m) >= 2 })
	time.Sleep(200 * time.Millisecond) // a duplicate publish would arrive by now
	got = live.Messages()
	want := []mosquittotest.Message{
		{Topic: stateTopic, Payload: statePayload, QoS: 1},
		{Topic: batteryTopic, Payload: batteryPayload, QoS: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("subscriber got\n%v\nwant\n%v", got, want)
	}
	late := b.Subscribe(t, "late", "hookbridge/acme-locks/#", false)
	late.WaitFor(t, 10*time.Second, "the retained state", func(m []mosquittotest.Message) bool { return len(m) >= 1 })
	time.Sleep(200 * time.Millisecond)
	want = []mosquittotest.Message{{Topic: stateTopic, Payload: statePayload, QoS: 1, Retained: true}}
	if got := late.Messages(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("late subscriber got %v, want only the retained state %v", got, want)
	}
	for _, secret := range []string{b.Password, uplinkToken, "Jane Doe"} {
		if strings.Contains(ua.Logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if !strings.Contains(ua.Logs.String(), "device ACLs are that broker's job") {
		t.Error("the log does not say that device ACLs are the outside broker's job")
	}
}

// TestUplinkSupervisorErrors checks that start fails with a clear error when the Supervisor cannot
// give the MQTT service for a reason that will not mend by itself.
func TestUplinkSupervisorErrors(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		status int
		body   string
		want   error
	}{
		{"no token", "", 0, "", supervisor.ErrNoToken},
		{"service not declared", uplinkToken, 403, `{"result":"error","message":"No access to mqtt service!"}`, supervisor.ErrServiceNotDeclared},
		{"token refused", uplinkToken, 401, `401: Unauthorized`, supervisor.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			t.Setenv(supervisor.TokenEnv, tt.token)
			t.Setenv(supervisor.URLEnv, srv.URL)
			_, err := uplinkStartApp(t, uplinkOptions(options.BrokerSupervisor), false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("start() error = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "broker: supervisor: ") {
				t.Errorf("start() error = %q, want it to name the broker option", err)
			}
		})
	}
}

// TestUplinkNoBrokerApp: with no broker app running yet, the app starts, answers 503 with
// Retry-After, and connects once the Supervisor offers a broker.
func TestUplinkNoBrokerApp(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	real, _ := uplinkStandIn(t, b)
	var offered atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !offered.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"result":"error","message":"Service not enabled"}`)
			return
		}
		real.Config.Handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	uplinkUnderSupervisor(t, srv.URL)
	ua, err := uplinkStartApp(t, uplinkOptions(options.BrokerSupervisor), false)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if !strings.Contains(ua.Logs.String(), "install and start the Mosquitto broker app") {
		t.Error("the log does not say that no broker app runs")
	}
	if st, ra := ua.uplinkPost(t, "evt-1", "LCK-1", 1); st != http.StatusServiceUnavailable || ra == "" {
		t.Errorf("POST with no broker = %d, Retry-After %q; want 503 with Retry-After", st, ra)
	}
	if got := ua.uplinkHealth(t); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d with no broker, want 503", got)
	}
	offered.Store(true)
	deadline := time.Now().Add(40 * time.Second)
	for !ua.Uplink().Connected() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := ua.uplinkPost(t, "evt-1", "LCK-1", 1); st != http.StatusAccepted {
		t.Errorf("POST once the broker app runs = %d, want 202", st)
	}
}

// TestUplinkExternalTLS runs broker: external over TLS with a CA file and a client certificate.
func TestUplinkExternalTLS(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{TLS: true})
	live := b.Subscribe(t, "live", "hookbridge/acme-locks/#", false)
	o := uplinkOptions(options.BrokerExternal)
	o.ExternalBroker = options.ExternalBroker{URL: "mqtts://" + b.TLSAddr, Username: b.Username, Password: b.Password,
		CAFile: b.CAFile, CertFile: b.CertFile, KeyFile: b.KeyFile}
	ua, err := uplinkStartApp(t, o, false)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, _ := ua.uplinkPost(t, "evt-1", "LCK-1", 80); st != http.StatusAccepted {
		t.Fatalf("POST = %d, want 202", st)
	}
	topic, payload := uplinkTopic(t, "LCK-1", 80)
	live.WaitFor(t, 10*time.Second, "the message", func(m []mosquittotest.Message) bool {
		return len(m) == 1 && m[0].Topic == topic && m[0].Payload == payload
	})
}

// TestUplinkExternalEndpoint checks the external_broker option: relative certificate files are
// under the app's config folder, and bad settings stop the start with the key named.
func TestUplinkExternalEndpoint(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{TLS: true})
	dir := t.TempDir()
	for _, name := range []string{"ca.crt", "client.crt", "client.key"} {
		data, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "certs"), 0o700)
		os.WriteFile(filepath.Join(dir, "certs", name), data, 0o600)
	}
	ep, err := hamqtt.ExternalEndpoint(options.ExternalBroker{URL: "ssl://" + b.TLSAddr, CAFile: "certs/ca.crt",
		CertFile: "certs/client.crt", KeyFile: "certs/client.key"}, dir)
	if err != nil {
		t.Fatalf("externalEndpoint(relative files) error = %v", err)
	}
	if ep.TLS == nil || ep.TLS.RootCAs == nil || len(ep.TLS.Certificates) != 1 {
		t.Errorf("externalEndpoint(relative files) TLS = %+v, want the CA and the client certificate", ep.TLS)
	}

	o := uplinkOptions(options.BrokerExternal)
	o.ExternalBroker = options.ExternalBroker{URL: "tcp://" + b.Addr, CAFile: "/nonexistent/ca.crt"}
	_, err = uplinkStartApp(t, o, false)
	if err == nil || !strings.HasPrefix(err.Error(), "external_broker: ") {
		t.Errorf("start(missing CA file) error = %v, want an external_broker error", err)
	}
	o.ExternalBroker = options.ExternalBroker{URL: "tcp://" + b.Addr, CAFile: filepath.Join(dir, "certs/ca.crt")}
	_, err = uplinkStartApp(t, o, false)
	if err == nil || !strings.Contains(err.Error(), "TLS settings need") {
		t.Errorf("start(CA file with tcp://) error = %v, want a TLS-needs-a-TLS-URL error", err)
	}
}

// TestUplinkOutage stops Mosquitto in the middle of a stream of webhooks. Every webhook answered
// 2xx must later be on the broker (a persistent subscriber receives it), every other one got 503
// with Retry-After and is accepted when sent again once Mosquitto is back; while it is down,
// goroutines and heap stay flat.
func TestUplinkOutage(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	srv, _ := uplinkStandIn(t, b)
	uplinkUnderSupervisor(t, srv.URL)
	sub := b.Subscribe(t, "outage-subscriber", "hookbridge/acme-locks/#", true)
	ua, err := uplinkStartApp(t, uplinkOptions(options.BrokerSupervisor), false)
	if err != nil {
		t.Fatalf("start: %v", err)
	}

	const workers = 4
	// status[n] is event n's last answer; allocated up front, so the test's own bookkeeping does not
	// show as heap growth.
	status := make([]atomic.Int32, 1<<18)
	var (
		next     atomic.Int64
		accepted atomic.Int64
		refused  atomic.Int64
		noRetry  atomic.Int64 // 503s without Retry-After
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	send := func(n int) int {
		st, ra := ua.uplinkPost(t, fmt.Sprintf("evt-%05d", n), fmt.Sprintf("LCK-%05d", n), n%101)
		switch st {
		case http.StatusAccepted:
			accepted.Add(1)
		case http.StatusServiceUnavailable:
			refused.Add(1)
			if secs, err := strconv.Atoi(ra); err != nil || secs < 1 {
				noRetry.Add(1)
			}
		default:
			t.Errorf("POST evt-%05d = %d, want 202 or 503", n, st)
		}
		status[n].Store(int32(st))
		return st
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(next.Add(1))
				if n >= len(status) {
					return
				}
				send(n)
				time.Sleep(time.Millisecond) // a brisk stream, not a flood

			}
		}()
	}
	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("waited %v for %s (accepted %d, refused %d)", d, what, accepted.Load(), refused.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUntil("200 accepted webhooks", 30*time.Second, func() bool { return accepted.Load() >= 200 })

	b.Stop()
	waitUntil("the uplink to notice the outage", 10*time.Second, func() bool { return !ua.Uplink().Connected() })
	if got := ua.uplinkHealth(t); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d during the outage, want 503", got)
	}
	r0 := refused.Load()
	waitUntil("500 refused webhooks", 30*time.Second, func() bool { return refused.Load() >= r0+500 })
	measure := func() (int, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	g0, h0 := measure()
	r1, t1 := refused.Load(), time.Now()
	waitUntil("10000 more refused webhooks", 60*time.Second, func() bool { return refused.Load() >= r1+10000 })
	g1, h1 := measure()
	r2 := refused.Load()
	rate := float64(r2-r1) / time.Since(t1).Seconds()
	t.Logf("during the outage: %d webhooks refused at %.0f/s; goroutines %d -> %d; heap %d KiB -> %d KiB",
		r2-r1, rate, g0, g1, h0>>10, h1>>10)
	if g1 > g0+8 {
		t.Errorf("goroutines grew from %d to %d while the broker was down", g0, g1)
	}
	if h1 > h0+4<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB while the broker was down", h0>>10, h1>>10)
	}

	b.StartAgain()
	a0 := accepted.Load()
	waitUntil("webhooks accepted again after the broker came back", 60*time.Second, func() bool { return accepted.Load() >= a0+200 })
	close(stop)
	wg.Wait()
	if n := noRetry.Load(); n > 0 {
		t.Errorf("%d answers 503 without a Retry-After", n)
	}

	// The vendor's retries: every webhook that was not accepted is accepted now (not a duplicate:
	// a refused event was never marked seen).
	var retry []int
	for n := range status {
		if st := status[n].Load(); st != 0 && st != http.StatusAccepted {
			retry = append(retry, n)
		}
	}
	resent := time.Now()
	var resend sync.WaitGroup
	queue := make(chan int)
	for range 16 {
		resend.Add(1)
		go func() {
			defer resend.Done()
			for n := range queue {
				st := 0
				for attempt := 0; attempt < 50; attempt++ {
					if st = send(n); st != http.StatusServiceUnavailable {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if st != http.StatusAccepted {
					t.Errorf("resent evt-%05d = %d, want 202", n, st)
				}
			}
		}()
	}
	for _, n := range retry {
		queue <- n
	}
	close(queue)
	resend.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("resent %d refused webhooks in %v", len(retry), time.Since(resent).Round(time.Millisecond))

	// Every event is on the broker.
	want := map[string]string{}
	for n := range status {
		switch st := status[n].Load(); st {
		case 0:
			continue // never sent
		case http.StatusAccepted:
		default:
			t.Fatalf("evt-%05d still has status %d", n, st)
		}
		topic, payload := uplinkTopic(t, fmt.Sprintf("LCK-%05d", n), n%101)
		want[topic] = payload
	}
	missing := func(msgs []mosquittotest.Message) int {
		got := map[string]string{}
		for _, m := range msgs {
			got[m.Topic] = m.Payload
		}
		n := 0
		for topic, payload := range want {
			if got[topic] != payload {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for missing(sub.Messages()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	msgs := sub.Messages()
	if m := missing(msgs); m > 0 {
		t.Fatalf("%d of %d accepted events never reached the broker's persistent subscriber", m, len(want))
	}
	redelivered := 0
	for _, m := range msgs {
		if m.Dup {
			redelivered++
		}
	}
	t.Logf("%d events: %d accepted at once, %d refused with 503 and accepted when resent; %d deliveries, %d of them the broker's redeliveries (DUP) of messages in flight to the subscriber when it stopped",
		len(want), len(want)-len(retry), len(retry), len(msgs), redelivered)
}

// BenchmarkUplinkWebhooks measures webhooks per second, end to end (HTTP, verification, schema,
// routing, publish with acknowledgement, replay record with fsync), with the embedded broker and
// with a real Mosquitto, side by side in the same run.
func BenchmarkUplinkWebhooks(b *testing.B) {
	mq := mosquittotest.Start(b, mosquittotest.Options{})
	for _, mode := range []string{options.BrokerEmbedded, options.BrokerExternal} {
		name := map[string]string{options.BrokerEmbedded: "embedded", options.BrokerExternal: "mosquitto"}[mode]
		b.Run(name, func(b *testing.B) {
			o := uplinkOptions(mode)
			o.LogLevel = "error"
			o.ExternalBroker = options.ExternalBroker{URL: mq.URL(), Username: mq.Username, Password: mq.Password}
			ua, err := uplinkStartApp(b, o, false)
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					if st, _ := ua.uplinkPost(b, fmt.Sprintf("%s-%d", prefix, n), fmt.Sprintf("LCK-%d", n%500), int(n%101)); st != http.StatusAccepted {
						b.Errorf("POST = %d, want 202", st)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "webhooks/s")
		})
	}
}

// TestUplinkCheckSaysACLs: in the outside-broker modes, check says plainly that device ACLs are
// that broker's job.
func TestUplinkCheckSaysACLs(t *testing.T) {
	for _, mode := range []string{options.BrokerSupervisor, options.BrokerExternal} {
		t.Run(mode, func(t *testing.T) {
			o := uplinkOptions(mode)
			o.ExternalBroker.URL = "tcp://broker.lan:1883"
			path := filepath.Join(t.TempDir(), "options.json")
			data, _ := json.Marshal(o)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := bridgetest.RunBinary(t, []string{"check", "--options", path}, &out, &errOut); code != 0 {
				t.Fatalf("check exit code = %d, want 0; output:\n%s%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "device ACLs are that broker's job") {
				t.Errorf("check output = %q, want it to say that device ACLs are the broker's job", out.String())
			}
		})
	}
}

// TestUplinkMetricsShowConnection: in broker mode external, /metrics answers (no embedded broker to
// read) and shows the outside broker's connection state.
func TestUplinkMetricsShowConnection(t *testing.T) {
	m := mosquittotest.Start(t, mosquittotest.Options{})
	ta := bridgetest.Start(t, "", func(o *options.Options) {
		o.Broker = options.BrokerExternal
		o.ExternalBroker = options.ExternalBroker{URL: m.URL(), Username: m.Username, Password: m.Password}
	})
	r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/metrics", nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, "hookbridge_uplink_connected 1") {
		t.Fatalf("/metrics = %d, want 200 with hookbridge_uplink_connected 1:\n%.2000s", r.Status, r.Raw)
	}
}
