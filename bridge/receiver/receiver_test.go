package receiver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// testPolicies are vendors of the shapes the findings were about, next to the built-in ones
// (acme-locks: standard-webhooks; gridwise-energy: github with the id in the body; porchlight-cams:
// stripe). All use acme-locks' schema and route lock.state_changed to state/{device}.
var testPolicies = map[string]string{
	// A bearer sender with an unsigned id header and the id in the body.
	"hdr-bearer": "auth:\n  scheme: bearer\n  header: X-Token\n  id_header: X-Event-Id\nevent:\n  id: /id\n  type: /type\n",
	// An HMAC sender with an unsigned id header and no event.id: keyed by the body's digest.
	"hdr-hmac": "auth:\n  scheme: hmac-sha256\n  header: X-Signature\n  id_header: X-Event-Id\nevent:\n  type: /type\n",
	// A sender that signs a timestamp and re-signs its retries, with no id: keyed by the body's digest.
	"resign-stripe": "auth:\n  scheme: stripe\nevent:\n  type: /type\n",
	// A bearer sender whose ids are numbers (its schema takes any object).
	"num-id": "auth:\n  scheme: bearer\nevent:\n  id: /id\n  type: /type\nschema: loose/v1.json\n",
}

const looseSchema = `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}`

func policyFile(name, authAndEvent string) string {
	if !strings.Contains(authAndEvent, "schema:") {
		authAndEvent += "schema: acme-locks/v1.json\n"
	}
	return "vendor: " + name + "\ntitle: Test " + name + "\nowner: Tests\ncontact: tests@hookbridge.invalid\nrisk: low\n" +
		authAndEvent + "routes:\n  - when: lock.state_changed\n    topic: state/{device}\n    qos: 1\n" +
		"    fields:\n      device: {from: /data/device_id, pseudonymize: true}\n      battery: /data/battery_pct\n"
}

var secrets = map[string]string{
	"acme-locks":      "whsec_" + base64.StdEncoding.EncodeToString([]byte("receiver-test-acme-key")),
	"gridwise-energy": "gridwise-receiver-secret-0123",
	"porchlight-cams": "porchlight-receiver-secret-0123",
	"hdr-bearer":      "bearer-receiver-token-0123456",
	"hdr-hmac":        "hmac-receiver-secret-01234567",
	"resign-stripe":   "stripe-receiver-secret-0123456",
	"num-id":          "numeric-id-receiver-token-0123",
}

// recorder is the publisher: it keeps the messages and writes the replay record to the real store,
// as the broker does once it holds them.
type recorder struct {
	st   *store.Store
	mu   sync.Mutex
	msgs []route.Message
}

func (r *recorder) Publish(_ context.Context, evs ...*publish.Event) error {
	r.mu.Lock()
	for _, ev := range evs {
		r.msgs = append(r.msgs, ev.Messages...)
	}
	r.mu.Unlock()
	return r.st.Record(evs...)
}

func (r *recorder) messages() []route.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]route.Message(nil), r.msgs...)
}

// served is the real receiver with a real pipeline (catalog, verifiers, schema, routes,
// pseudonyms, replay store) behind a real listener on 127.0.0.1: what both harnesses run.
type served struct {
	url     string
	addr    string // the listener's address, for raw requests
	rc      *receiver.Receiver
	vendors vendor.Vendors
	pub     *recorder
	logs    *syncBuffer
}

// syncBuffer is a log destination for concurrent writers. (bridgetest.LogBuffer is one, but
// bridgetest imports the Home Assistant side, which no pipeline package may, its tests included.)
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadCatalog loads the built-in policies and schemas next to the test's own: policies by vendor
// name, schemas by their path under the schema directory (VENDOR/v1.json).
func loadCatalog(t *testing.T, policies, schemas map[string]string) *catalog.Catalog {
	t.Helper()
	pdir, sdir := t.TempDir(), t.TempDir()
	for name, body := range policies {
		if err := os.WriteFile(filepath.Join(pdir, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for path, doc := range schemas {
		path = filepath.Join(sdir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat, _, err := catalog.Load(catalog.Sources{Builtin: os.DirFS("../.."), PolicyDir: pdir, SchemaDir: sdir})
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	return cat
}

// serve compiles the vendors, each switched on, and serves them on 127.0.0.1 with a real
// receiver, pipeline, pseudonyms and store. cfg gives the receiver's limits and observers;
// serve fills in the vendors, the switches, the pipeline and the log.
func serve(t *testing.T, cat *catalog.Catalog, cfgs []vendor.Config, cfg receiver.Config) served {
	t.Helper()
	ps, err := pseudo.New([]byte("receiver-test-pseudonym-key-0123"))
	if err != nil {
		t.Fatal(err)
	}
	vendors, err := vendor.Compile("hookbridge", cfgs, cat, ps)
	if err != nil {
		t.Fatalf("vendor.Compile: %v", err)
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	on := map[string]bool{}
	for _, c := range cfgs {
		on[c.Name] = true
	}
	pub := &recorder{st: st}
	logs := &syncBuffer{}
	cfg.Vendors, cfg.Switches, cfg.Pipeline = vendors, killswitch.New(on, on, nil, nil), pipeline.New(ps, st, pub)
	cfg.Log = zerolog.New(logs)
	rc := receiver.New(cfg)
	srv := httptest.NewUnstartedServer(rc)
	srv.Config = receiver.NewServer(rc)
	srv.Start()
	t.Cleanup(srv.Close)
	return served{url: srv.URL, addr: srv.Listener.Addr().String(), rc: rc, vendors: vendors, pub: pub, logs: logs}
}

// harness serves testPolicies and the built-in vendors.
type harness struct {
	t *testing.T
	served
}

// settings are what a harness runs with: the receiver's limits and the vendors' settings.
type settings struct {
	MaxBodyKB           int
	SourceRatePerMinute int
	Vendors             []vendor.Config
}

func start(t *testing.T, mutate func(o *settings)) *harness {
	t.Helper()
	policies := map[string]string{}
	for name, body := range testPolicies {
		policies[name] = policyFile(name, body)
	}
	cat := loadCatalog(t, policies, map[string]string{"loose/v1.json": looseSchema})
	o := settings{MaxBodyKB: 64, SourceRatePerMinute: 100_000}
	for _, name := range []string{"acme-locks", "gridwise-energy", "porchlight-cams", "hdr-bearer", "hdr-hmac", "resign-stripe", "num-id"} {
		o.Vendors = append(o.Vendors, vendor.Config{Name: name, Enabled: true, Secrets: []string{secrets[name]}, RatePerMinute: 100_000})
	}
	if mutate != nil {
		mutate(&o)
	}
	return &harness{t: t, served: serve(t, cat, o.Vendors, receiver.Config{
		MaxBody: int64(o.MaxBodyKB) << 10,
		Sources: ratelimit.NewSources(o.SourceRatePerMinute, 10_000),
	})}
}

// from returns a client whose requests come from a loopback address of its own: a source.
func from(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

var localClient = from("127.0.0.1")

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) post(c *http.Client, vendor string, hdr http.Header, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/hooks/"+vendor, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = hdr.Clone()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", vendor, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		h.t.Errorf("POST %s: body %q is not a JSON object", vendor, raw)
	}
	if r.status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		h.t.Errorf("POST %s: 429 without Retry-After", vendor)
	}
	return r
}

// signed returns the headers the vendor's sender would send for body: its signature and, where it
// has one, its (unsigned) id header holding id.
func (h *harness) signed(vendor, id string, body []byte, at time.Time) http.Header {
	h.t.Helper()
	a := h.vendors[vendor].Policy.Auth
	m, err := verify.Signer{Auth: a, Secret: secrets[vendor]}.Sign(body, id, at)
	if err != nil {
		h.t.Fatal(err)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	for k, v := range m {
		hdr.Set(k, v)
	}
	return hdr
}

func acmeBody(id, battery string) []byte {
	return []byte(fmt.Sprintf(`{"id":%s,"type":"lock.state_changed","created_at":"2026-11-25T09:02:11Z","data":{"device_id":"LCK-1","state":"locked","battery_pct":%s}}`, id, battery))
}

func gridwiseBody(deliveryID string) []byte {
	id := ""
	if deliveryID != "" {
		id = fmt.Sprintf(`"delivery_id":%q,`, deliveryID)
	}
	return []byte(`{` + id + `"event":"demand_response.started","account":{"id":"a-1","meter_serial":"MTR-1"},` +
		`"demand_response":{"level":"high","start":"2026-11-25T17:00:00Z","end":"2026-11-25T19:00:00Z","target_kw":2.5}}`)
}

// TestReplayKeyFromSignedBytes resends captured requests with what an attacker can change without
// the secret: unsigned id headers. Each must stay a duplicate (200, nothing published), while what
// the signature covers still tells events apart.
func TestReplayKeyFromSignedBytes(t *testing.T) {
	h := start(t, nil)
	now := time.Now()
	type step struct {
		vendor string
		hdr    http.Header
		body   []byte
		status int
	}
	with := func(hdr http.Header, key, value string) http.Header {
		out := hdr.Clone()
		if value == "" {
			out.Del(key)
		} else {
			out.Set(key, value)
		}
		return out
	}
	gw := gridwiseBody("dlv-1")
	gwHdr := h.signed("gridwise-energy", "dlv-1", gw, now)
	bb := acmeBody(`"evt-b1"`, "50")
	bbHdr := h.signed("hdr-bearer", "evt-b1", bb, now)
	hb := acmeBody(`"evt-h1"`, "50")
	hbHdr := h.signed("hdr-hmac", "evt-h1", hb, now)
	rs := acmeBody(`"evt-r1"`, "50")
	ac := acmeBody(`"evt-in-body"`, "50")
	tests := []struct {
		name  string
		steps []step
	}{
		{"github: a new X-GitHub-Delivery", []step{
			{"gridwise-energy", gwHdr, gw, 202},
			{"gridwise-energy", with(gwHdr, "X-GitHub-Delivery", "dlv-forged-1"), gw, 200},
			{"gridwise-energy", with(gwHdr, "X-GitHub-Delivery", "dlv-forged-2"), gw, 200},
			{"gridwise-energy", with(gwHdr, "X-GitHub-Delivery", ""), gw, 200},
		}},
		{"github: the body's id is the key", []step{
			{"gridwise-energy", h.signed("gridwise-energy", "dlv-1", gridwiseBody("dlv-2"), now), gridwiseBody("dlv-2"), 202},
		}},
		{"github: no id in the body is 400 whatever the header says", []step{
			{"gridwise-energy", h.signed("gridwise-energy", "dlv-3", gridwiseBody(""), now), gridwiseBody(""), 400},
		}},
		{"bearer: a new id_header", []step{
			{"hdr-bearer", bbHdr, bb, 202},
			{"hdr-bearer", with(bbHdr, "X-Event-Id", "evt-b2"), bb, 200},
			{"hdr-bearer", with(bbHdr, "X-Event-Id", ""), bb, 200},
		}},
		{"hmac-sha256: a new id_header, keyed by the body", []step{
			{"hdr-hmac", hbHdr, hb, 202},
			{"hdr-hmac", with(hbHdr, "X-Event-Id", "evt-h2"), hb, 200},
			{"hdr-hmac", with(hbHdr, "X-Event-Id", ""), hb, 200},
			{"hdr-hmac", h.signed("hdr-hmac", "evt-h1", acmeBody(`"evt-h1"`, "51"), now), acmeBody(`"evt-h1"`, "51"), 202},
		}},
		{"stripe without an id: a retry re-signed later stays a duplicate", []step{
			{"resign-stripe", h.signed("resign-stripe", "", rs, now), rs, 202},
			{"resign-stripe", h.signed("resign-stripe", "", rs, now.Add(time.Minute)), rs, 200},
			{"resign-stripe", h.signed("resign-stripe", "", acmeBody(`"evt-r2"`, "50"), now), acmeBody(`"evt-r2"`, "50"), 202},
		}},
		{"standard-webhooks: the signed webhook-id wins over the body's id", []step{
			{"acme-locks", h.signed("acme-locks", "msg-1", ac, now), ac, 202},
			{"acme-locks", h.signed("acme-locks", "msg-1", acmeBody(`"evt-other"`, "50"), now), acmeBody(`"evt-other"`, "50"), 200},
			{"acme-locks", h.signed("acme-locks", "msg-2", ac, now), ac, 202},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, s := range tt.steps {
				before := len(h.pub.messages())
				r := h.post(localClient, s.vendor, s.hdr, s.body)
				if r.status != s.status {
					t.Fatalf("step %d: POST %s = %d %s, want %d", i, s.vendor, r.status, r.raw, s.status)
				}
				published := len(h.pub.messages()) - before
				switch {
				case s.status == 202 && published != 1:
					t.Errorf("step %d: published %d messages, want 1", i, published)
				case s.status != 202 && published != 0:
					t.Errorf("step %d: published %d messages, want none", i, published)
				}
				if s.status == 200 && r.body["status"] != "duplicate" {
					t.Errorf("step %d: body %s, want status duplicate", i, r.raw)
				}
			}
		})
	}
}

// TestJunkNeverSpendsVendorBudget sends 40 unsigned junk requests from one source, then the
// vendor's real webhooks from another: none of those is a 429. Before, the vendor's bucket was
// charged before the signature check and the junk spent it all.
func TestJunkNeverSpendsVendorBudget(t *testing.T) {
	h := start(t, func(o *settings) {
		o.SourceRatePerMinute = 1200 // the default: the per-source budget is above the vendor's
		o.Vendors[0].RatePerMinute = 60
	})
	junk, real := from("127.0.0.2"), from("127.0.0.3")
	counts := map[int]int{}
	for i := range 40 {
		id := fmt.Sprintf("junk-%d", i)
		body := acmeBody(`"`+id+`"`, "50")
		hdr := h.signed("acme-locks", id, body, time.Now())
		hdr.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
		r := h.post(junk, "acme-locks", hdr, body)
		counts[r.status]++
	}
	if counts[401]+counts[429] != 40 || counts[401] == 0 {
		t.Errorf("junk answers = %v, want 401s, then 429s once the source's failure budget is spent", counts)
	}
	// The vendor's budget is 60 a minute with a burst of 6: all of it is there for the real ones,
	// and only they spend it.
	realStart := time.Now()
	accepted := 0
	for i := range 10 {
		id := fmt.Sprintf("real-%d", i)
		body := acmeBody(`"`+id+`"`, "50")
		r := h.post(real, "acme-locks", h.signed("acme-locks", id, body, time.Now()), body)
		switch {
		case r.status == 202:
			accepted++
		case i < 6:
			t.Errorf("real webhook %d after the junk = %d %s, want 202", i, r.status, r.raw)
		case r.status != 429:
			t.Errorf("real webhook %d = %d %s, want 202 or 429", i, r.status, r.raw)
		}
	}
	if limit := 6 + int(time.Since(realStart).Seconds()) + 1; accepted > limit {
		t.Errorf("%d of 10 real webhooks accepted at once, want at most %d (the vendor's burst of 6, then 1/s)", accepted, limit)
	}
}

// TestJunkFromManySources floods a vendor from 60 addresses, each sending bad signatures, while the
// real sender keeps sending from its own: every real webhook is accepted, and the flood is held to
// about one body read and MAC check per address once the vendor counts as flooded.
func TestJunkFromManySources(t *testing.T) {
	h := start(t, func(o *settings) { o.Vendors[0].RatePerMinute = 6000 })
	real := from("127.0.0.3")
	const sources, perSource = 60, 4
	counts := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	startAt := time.Now()
	for s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := from(fmt.Sprintf("127.0.1.%d", s+1))
			for i := range perSource {
				id := fmt.Sprintf("junk-%d-%d", s, i)
				body := acmeBody(`"`+id+`"`, "50")
				hdr := h.signed("acme-locks", id, body, time.Now())
				hdr.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
				r := h.post(c, "acme-locks", hdr, body)
				mu.Lock()
				counts[r.status]++
				mu.Unlock()
			}
		}()
	}
	realDone := make(chan int)
	go func() {
		ok := 0
		for i := range 30 {
			id := fmt.Sprintf("real-%d", i)
			body := acmeBody(`"`+id+`"`, "50")
			if r := h.post(real, "acme-locks", h.signed("acme-locks", id, body, time.Now()), body); r.status == 202 {
				ok++
			} else {
				t.Errorf("real webhook %d during the flood = %d %s, want 202", i, r.status, r.raw)
			}
		}
		realDone <- ok
	}()
	wg.Wait()
	ok := <-realDone
	elapsed := time.Since(startAt)
	t.Logf("flood of %d from %d sources in %v: %v; real webhooks accepted: %d of 30", sources*perSource, sources, elapsed, counts, ok)
	if counts[401]+counts[429] != sources*perSource {
		t.Errorf("junk answers = %v, want only 401 and 429", counts)
	}
	// Checked in full: each source's first failure, the vendor's failure burst (a tenth of a tenth
	// of 6000: 60) and its refill of 10 a second, and as many as were in flight at once (one per
	// source) when the vendor flooded.
	if limit := sources + 60 + 10*(int(elapsed.Seconds())+1) + sources; counts[401] > limit {
		t.Errorf("%d junk requests were read and checked, want at most %d", counts[401], limit)
	}
	if counts[429] == 0 {
		t.Errorf("no junk request was refused before its body was read")
	}
	// Logging is bounded too: refusals of unverified requests are sampled.
	lines := strings.Count(h.logs.String(), `"status":401`) + strings.Count(h.logs.String(), `"status":429`)
	if limit := 50 + 5*int(elapsed.Seconds()+1); lines > limit {
		t.Errorf("%d log lines for %d junk requests, want at most %d", lines, sources*perSource, limit)
	}
}

// countingBody records whether the handler read the body.
type countingBody struct {
	r    io.Reader
	read bool
}

func (b *countingBody) Read(p []byte) (int, error) { b.read = true; return b.r.Read(p) }
func (b *countingBody) Close() error               { return nil }

// TestFailureBudgetBeforeBody checks that a source past its failure budget is refused before the
// receiver reads its body, with Retry-After, and that a source that never failed is not.
func TestFailureBudgetBeforeBody(t *testing.T) {
	h := start(t, func(o *settings) { o.SourceRatePerMinute = 1200 }) // 120 failures a minute, 12 at once
	send := func(remote string, good bool) (*httptest.ResponseRecorder, *countingBody) {
		body := acmeBody(`"evt-cb"`, "50")
		hdr := h.signed("acme-locks", "evt-cb", body, time.Now())
		if !good {
			hdr.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)))
		}
		cb := &countingBody{r: bytes.NewReader(body)}
		req := httptest.NewRequest(http.MethodPost, "/hooks/acme-locks", cb)
		req.Header = hdr
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.rc.ServeHTTP(w, req)
		return w, cb
	}
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatalf("100 failures from one source, all read and checked: want a refusal before the body")
		}
		w, cb := send("192.0.2.1:1000", false)
		if w.Code == 401 {
			if !cb.read {
				t.Fatalf("request %d: 401 without reading the body", i)
			}
			continue
		}
		if w.Code != 429 || cb.read || w.Header().Get("Retry-After") == "" {
			t.Fatalf("request %d = %d (body read %v, Retry-After %q), want 429 before the body, with Retry-After",
				i, w.Code, cb.read, w.Header().Get("Retry-After"))
		}
		if i != 12 {
			t.Errorf("refused after %d failures, want the source's failure burst (12)", i)
		}
		break
	}
	if w, _ := send("192.0.2.2:1000", true); w.Code != 202 {
		t.Errorf("another source's real webhook = %d %s, want 202", w.Code, w.Body)
	}
}

// TestContentEncoding refuses every body that is not sent as identity, 415 with a JSON error, before
// anything else is done with it.
func TestContentEncoding(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		name   string
		values []string // Content-Encoding header copies; nil for none
		status int
	}{
		{"none", nil, 202},
		{"identity", []string{"identity"}, 202},
		{"Identity", []string{"Identity"}, 202},
		{"gzip", []string{"gzip"}, 415},
		{"GZIP", []string{"GZIP"}, 415},
		{"x-gzip", []string{"x-gzip"}, 415},
		{"deflate", []string{"deflate"}, 415},
		{"br", []string{"br"}, 415},
		{"zstd", []string{"zstd"}, 415},
		{"identity then gzip", []string{"identity, gzip"}, 415},
		{"gzip twice", []string{"gzip, gzip"}, 415},
		{"repeated header", []string{"identity", "gzip"}, 415},
		{"with a parameter", []string{"identity;q=1"}, 415},
		{"unknown coding", []string{"rot13"}, 415},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("evt-ce-%d", i)
			body := acmeBody(`"`+id+`"`, "50")
			hdr := h.signed("acme-locks", id, body, time.Now())
			for _, v := range tt.values {
				hdr.Add("Content-Encoding", v)
			}
			before := len(h.pub.messages())
			r := h.post(localClient, "acme-locks", hdr, body)
			if r.status != tt.status {
				t.Fatalf("POST with Content-Encoding %q = %d %s, want %d", tt.values, r.status, r.raw, tt.status)
			}
			if tt.status == 415 {
				if e, _ := r.body["error"].(string); !strings.Contains(e, "encoding") {
					t.Errorf("415 body = %s, want a JSON error about the encoding", r.raw)
				}
				if n := len(h.pub.messages()) - before; n != 0 {
					t.Errorf("published %d messages, want none", n)
				}
			}
		})
	}
}

// TestNumbersPublishedCanonical checks what a device gets for numbers the vendor spelled oddly: one
// canonical form, and one event id for one value.
func TestNumbersPublishedCanonical(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		battery string
		want    string
	}{
		{"1e2", `"battery":100`},
		{"1E1", `"battery":10`},
		{"-0", `"battery":0`},
		{"5.0", `"battery":5`},
		{"0.000000000000000000000000000000001e33", `"battery":1`},
		{"42", `"battery":42`},
	}
	for i, tt := range tests {
		t.Run(tt.battery, func(t *testing.T) {
			id := fmt.Sprintf("evt-num-%d", i)
			body := acmeBody(`"`+id+`"`, tt.battery)
			before := len(h.pub.messages())
			if r := h.post(localClient, "acme-locks", h.signed("acme-locks", id, body, time.Now()), body); r.status != 202 {
				t.Fatalf("POST battery %s = %d %s, want 202", tt.battery, r.status, r.raw)
			}
			msgs := h.pub.messages()[before:]
			if len(msgs) != 1 || !bytes.Contains(msgs[0].Payload, []byte(tt.want)) {
				var payloads []string
				for _, m := range msgs {
					payloads = append(payloads, string(m.Payload))
				}
				t.Fatalf("published %q, want one message holding %s", payloads, tt.want)
			}
		})
	}
	t.Run("a numeric event id is one id whatever its spelling", func(t *testing.T) {
		first := acmeBody("1e2", "50")
		if r := h.post(localClient, "num-id", h.signed("num-id", "", first, time.Now()), first); r.status != 202 {
			t.Fatalf("id 1e2 = %d %s, want 202", r.status, r.raw)
		}
		for _, spelling := range []string{"100", "100.0", "1.00E+2"} {
			body := acmeBody(spelling, "51")
			if r := h.post(localClient, "num-id", h.signed("num-id", "", body, time.Now()), body); r.status != 200 {
				t.Errorf("id %s after 1e2 = %d %s, want 200 duplicate", spelling, r.status, r.raw)
			}
		}
	})
}

// TestRetryAfterOnEvery429 checks the wait on each budget's refusal.
func TestRetryAfterOnEvery429(t *testing.T) {
	h := start(t, func(o *settings) {
		o.SourceRatePerMinute = 60 // a burst of 6
		o.Vendors[1].RatePerMinute = 10
	})
	c := from("127.0.0.4")
	var statuses []int
	for i := range 8 {
		id := fmt.Sprintf("dlv-ra-%d", i)
		body := gridwiseBody(id)
		r := h.post(c, "gridwise-energy", h.signed("gridwise-energy", id, body, time.Now()), body)
		statuses = append(statuses, r.status)
		if r.status == 429 {
			if s := r.header.Get("Retry-After"); s == "" || s == "0" {
				t.Errorf("request %d: 429 with Retry-After %q", i, s)
			}
		}
	}
	// The vendor's burst (1) first, then the source's (6) refuses the rest.
	want := "[202 429 429 429 429 429 429 429]"
	if got := fmt.Sprint(statuses); got != want {
		t.Errorf("statuses = %s, want %s", got, want)
	}
}
