package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// testRoot is the repository's root, where the built-in catalog and the test data are, as an
// absolute path: the real binary runs there too.
var testRoot = func() string {
	p, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return p
}()

// testPolicies are the test catalog's extra policies.
var testPolicies = testRoot + "/testdata/catalog/policies"

// testFiles reads the built-in catalog from the repository.
func testFiles() Files { return Files{Builtin: os.DirFS(testRoot)} }

// startLoopback starts the whole bridge in this process, as serve does, on loopback ports, with
// the data in data, the built-in policies plus those in policies (when not ""), and no fsync when
// noSync.
func startLoopback(ctx context.Context, data, policies string, o *options.Options, noSync bool, log io.Writer) (*App, error) {
	files := testFiles()
	files.Policies = policies
	cat, _, err := files.Catalog()
	if err != nil {
		return nil, err
	}
	a, err := New(Config{Options: o, Catalog: cat, DataDir: data, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		MQTTAddr: "127.0.0.1:0", NoSync: noSync, Log: NewLogger(log, o.LogLevel), Version: "test"})
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Test secrets and accounts. Fixed values make golden pseudonyms reproducible.
const (
	testPseudonymKey  = "test-pseudonym-key-0123456789abcdef"
	acmeSecret        = "whsec_dGVzdC1hY21lLXNlY3JldC0wMTIzNDU2Nzg5"
	acmeOldSecret     = "whsec_b2xkLWFjbWUtc2VjcmV0LTAxMjM0NTY3ODk="
	porchlightSecret  = "whsec_porchlight_test_secret_0123"
	gridwiseSecret    = "gridwise-test-secret-0123456789"
	lockedDownSecret  = "locked-down-secret-0123456789"
	bearerSecret      = "bearer-token-secret-0123456789"
	panelUser         = "hallway-panel"
	panelPassword     = "panel-password-123"
	haPassword        = "ha-password-12345"
	testTopicPrefix   = "hookbridge"
	testMaxBodyKB     = 8
	waitForDeliveries = 10 * time.Second
)

var testSecrets = map[string]string{
	"acme-locks": acmeSecret, "porchlight-cams": porchlightSecret, "gridwise-energy": gridwiseSecret,
	"locked-down": lockedDownSecret, "bearer-vendor": bearerSecret,
}

// testOptions returns the options the end-to-end tests run with.
func testOptions() *options.Options {
	o := options.Defaults()
	o.LogLevel = "debug"
	o.PseudonymKey = testPseudonymKey
	o.MaxBodyKB = testMaxBodyKB
	o.SourceRatePerMinute = 100_000
	vendor := func(name string, secrets ...string) options.Vendor {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = name, secrets, 100_000
		return v
	}
	locked := vendor("locked-down", lockedDownSecret)
	locked.AllowedCIDRs = []string{"10.0.0.0/8"}
	slow := vendor("bearer-vendor", bearerSecret)
	slow.RatePerMinute = 1
	o.Vendors = []options.Vendor{
		vendor("acme-locks", acmeSecret, acmeOldSecret),
		vendor("porchlight-cams", porchlightSecret),
		vendor("gridwise-energy", gridwiseSecret),
		locked, slow,
	}
	o.Devices = []options.Device{
		{Username: panelUser, Password: panelPassword, Allow: []string{"acme-locks/locks/+/state"}},
		{Username: options.HomeAssistantUser, Password: haPassword, Allow: []string{}},
	}
	return &o
}

// syncBuffer is a bytes.Buffer safe for concurrent writes: the process log in tests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testApp is Hookbridge running in the test process on loopback ports.
type testApp struct {
	*App
	t        *testing.T
	dir      string
	opts     *options.Options
	logs     *syncBuffer
	url      string // partner listener base URL
	adminURL string
	mqttAddr string
}

// startTestApp starts Hookbridge with the test options (changed by mutate, if set) in a fresh data
// dir, or in dir when it is not empty (a restart).
func startTestApp(t *testing.T, dir string, mutate func(*options.Options)) *testApp {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o := testOptions()
	if mutate != nil {
		mutate(o)
	}
	logs := &syncBuffer{}
	a, err := startLoopback(context.Background(), dir, testPolicies, o, false, logs)
	if err != nil {
		t.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	return newTestApp(t, a, dir, o, logs)
}

// newTestApp wraps a started app and stops it at the end of the test.
func newTestApp(t *testing.T, a *App, dir string, o *options.Options, logs *syncBuffer) *testApp {
	ta := &testApp{App: a, t: t, dir: dir, opts: o, logs: logs,
		url: "http://" + a.Addrs().HTTP, adminURL: "http://" + a.Addrs().Admin}
	if a.broker != nil {
		ta.mqttAddr = a.broker.Addr()
	}
	t.Cleanup(func() { ta.shutdown() })
	return ta
}

// shutdown stops the app once.
func (ta *testApp) shutdown() {
	if ta.App == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ta.App.Stop(ctx); err != nil {
		ta.t.Errorf("stop: %v", err)
	}
	ta.App = nil
}

// response is a partner listener answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends a request to the partner listener.
func (ta *testApp) post(path string, header map[string]string, body []byte) response {
	ta.t.Helper()
	return doRequest(ta.t, http.MethodPost, ta.url+path, header, body)
}

func doRequest(t *testing.T, method, url string, header map[string]string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// signed returns headers that authenticate body as vendor's event id at now.
func signed(t *testing.T, ta *testApp, vendor, id string, body []byte, now time.Time) map[string]string {
	t.Helper()
	return signWith(t, ta, vendor, testSecrets[vendor], id, body, now)
}

func signWith(t *testing.T, ta *testApp, vendor, secret, id string, body []byte, now time.Time) map[string]string {
	t.Helper()
	v, ok := ta.vendors[vendor]
	if !ok {
		t.Fatalf("vendor %s not configured", vendor)
	}
	h, err := verify.Signer{Auth: v.Policy.Auth, Secret: secret}.Sign(body, id, now)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	h["Content-Type"] = "application/json"
	return h
}

// sendEvent posts a signed event and returns the answer.
func (ta *testApp) sendEvent(vendor, id string, body []byte) response {
	ta.t.Helper()
	return ta.post("/hooks/"+vendor, signed(ta.t, ta, vendor, id, body, time.Now()), body)
}

// received is one message a test subscriber got.
type received struct {
	Topic    string
	Payload  string
	Retained bool
	QoS      byte
	Dup      bool
}

// subscriber is a paho MQTT client that records each message before its handler returns (and so
// before paho acknowledges it).
type subscriber struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	msgs   []received
	// internal makes the subscriber keep Hookbridge's own topics ({prefix}/_alerts, _switch,
	// _status, ...) too; by default only vendor topics are kept, so tests that count vendor
	// messages are not disturbed by alerts, discovery and state.
	internal bool
	// liveOnly drops retained copies: mochi sends a subscription's retained messages after its
	// SUBACK, so a message published right after subscribing can arrive twice, live and retained.
	liveOnly bool
}

// connectMQTT connects a paho client. clean selects a clean session.
func connectMQTT(t *testing.T, addr, user, password, clientID string, clean bool) (*subscriber, error) {
	t.Helper()
	s := &subscriber{t: t}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(clean).SetAutoReconnect(false).
		SetConnectRetry(false).SetOrderMatters(true).SetConnectTimeout(5 * time.Second)
	opts.SetDefaultPublishHandler(s.record)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	s.client = c
	t.Cleanup(func() { c.Disconnect(100) })
	return s, nil
}

// newSubscriber connects and subscribes, failing the test on error or refusal.
func newSubscriber(t *testing.T, addr, user, password, clientID string, clean bool, filter string) *subscriber {
	t.Helper()
	return newSubscriberWith(t, addr, user, password, clientID, clean, filter, nil)
}

// newLiveSubscriber is newSubscriber keeping only live deliveries, no retained copies.
func newLiveSubscriber(t *testing.T, addr, user, password, clientID string, filter string) *subscriber {
	t.Helper()
	return newSubscriberWith(t, addr, user, password, clientID, true, filter, func(s *subscriber) { s.liveOnly = true })
}

func newSubscriberWith(t *testing.T, addr, user, password, clientID string, clean bool, filter string, set func(*subscriber)) *subscriber {
	t.Helper()
	s, err := connectMQTT(t, addr, user, password, clientID, clean)
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	if set != nil {
		set(s)
	}
	if code := s.subscribe(filter); code > 2 {
		t.Fatalf("subscribe %q as %s: refused with 0x%02x", filter, user, code)
	}
	return s
}

func (s *subscriber) record(_ paho.Client, m paho.Message) {
	if !s.internal && strings.HasPrefix(m.Topic(), testTopicPrefix+"/_") || s.liveOnly && m.Retained() {
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, received{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained(), QoS: m.Qos(), Dup: m.Duplicate()})
	s.mu.Unlock()
}

// subscribe returns the SUBACK code for filter (0-2 granted QoS, 0x80 refused).
func (s *subscriber) subscribe(filter string) byte {
	s.t.Helper()
	tok := s.client.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		s.t.Fatalf("subscribe %q timed out", filter)
	}
	if err := tok.Error(); err != nil {
		return 0x80
	}
	// paho keys the result by the filter without a "$share/{group}/" prefix.
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	return 0x80
}

// messages returns a copy of what was received so far.
func (s *subscriber) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// waitFor polls until cond holds on the messages or the deadline passes.
func (s *subscriber) waitFor(what string, d time.Duration, cond func([]received) bool) []received {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		msgs := s.messages()
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; got %d messages: %v", what, len(msgs), msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCount waits until at least n messages arrived.
func (s *subscriber) waitCount(n int) []received {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%d messages", n), waitForDeliveries, func(m []received) bool { return len(m) >= n })
}

// checkFor polls fn until it returns nil or the deadline passes (nats-server style).
func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(every)
	}
}

// readTestdata reads a file under testdata.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testRoot, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// acmeEvent returns an Acme Locks event body with an id and values.
func acmeEvent(id, device string, battery int) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"state":"locked","battery_pct":%d,"method":"app","user":{"id":"usr_1","name":"Jane Doe","email":"jane@example.com"}}}`, id, device, battery))
}

// quietLogger discards logs.
var quietLogger = zerolog.Nop()

// contains reports whether any message's topic or payload contains s.
func contains(msgs []received, s string) bool {
	for _, m := range msgs {
		if strings.Contains(m.Topic, s) || strings.Contains(m.Payload, s) {
			return true
		}
	}
	return false
}
