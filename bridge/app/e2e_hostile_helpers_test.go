package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The hostile-input suite (e2e_hostile_*_test.go and the fuzz targets) attacks DESIGN.md's
// invariants 1, 2, 3 and 5 on purpose. Every app it starts logs at the most verbose level, and when
// the test ends its whole log is searched for every secret, password, signature, body and clear
// identifier the test sent (hostileEnv.forbid): the log canary.

// hostileLogLevel is the level the suite's apps log at: trace, below debug, so every level is
// covered.
const hostileLogLevel = "trace"

// hostileEnv is an app under attack, with a homeassistant subscriber on everything under the
// prefix and the list of values its log must never hold.
type hostileEnv struct {
	*testApp
	sub *subscriber
	seq atomic.Int64

	mu        sync.Mutex        // guards forbidden
	forbidden map[string]string // value -> what it is, for the failure message
}

// hostileStart starts an app for the suite: the test options at log level trace, bearer-vendor's
// hard rate limit lifted (the rate tests set their own), then mutate. Its catalog is the test
// catalog with automatic quarantine turned off (alerts stay): the suite sends far more bad
// signatures than the default quarantine level, and a quarantined vendor would answer 503 to every
// case after it.
func hostileStart(t *testing.T, mutate func(*options.Options)) *hostileEnv {
	t.Helper()
	ta := hostileStartApp(t, func(o *options.Options) {
		o.LogLevel = hostileLogLevel
		for i := range o.Vendors {
			if o.Vendors[i].Name == "bearer-vendor" {
				o.Vendors[i].RatePerMinute = 100_000
			}
		}
		if mutate != nil {
			mutate(o)
		}
	})
	h := &hostileEnv{testApp: ta, forbidden: map[string]string{}}
	for _, v := range ta.opts.Vendors {
		for _, s := range v.Secrets {
			h.forbid("the secret of "+v.Name, s)
			if k, err := verify.Key(ta.vendors[v.Name].Policy.Auth.Scheme, s); err == nil {
				h.forbid("the key of "+v.Name, string(k))
			}
		}
	}
	for _, d := range ta.opts.Devices {
		h.forbid("the password of "+d.Username, d.Password)
	}
	h.forbid("the pseudonym key", ta.opts.PseudonymKey)
	// Registered after startTestApp's own cleanup, so it runs first: it stops the app itself, then
	// reads the complete log.
	t.Cleanup(func() { hostileScanLog(t, h.shutdown, h.logs.String, h.forbiddenValues()) })
	// Events only: the topics under the prefix that start with '_' (kill-switch state, status,
	// alerts) change as the suite runs and are not events.
	var sub *subscriber
	for _, v := range ta.opts.Vendors {
		filter := testTopicPrefix + "/" + v.Name + "/#"
		if sub == nil {
			sub = newSubscriber(t, ta.mqttAddr, options.HomeAssistantUser, haPassword, fmt.Sprintf("hostile-ha-%d", time.Now().UnixNano()), true, filter)
		} else if code := sub.subscribe(filter); code > 2 {
			t.Fatalf("subscribe %s: 0x%02x", filter, code)
		}
	}
	h.sub = sub
	return h
}

// hostileStartApp is startTestApp with a catalog whose policies never quarantine automatically.
func hostileStartApp(t *testing.T, mutate func(*options.Options)) *testApp {
	t.Helper()
	a, o, dir, logs := hostileLaunch(t, mutate)
	return newTestApp(t, a, dir, o, logs)
}

// hostileLaunch starts an app on loopback ports with the test options changed by mutate, the
// quarantine-free catalog and no fsync, logging into the returned buffer. The caller stops it.
func hostileLaunch(tb testing.TB, mutate func(*options.Options)) (*App, *options.Options, string, *syncBuffer) {
	tb.Helper()
	dir := tb.TempDir()
	policies := filepath.Join(tb.TempDir(), "policies")
	if err := os.MkdirAll(policies, 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, pattern := range []string{testRoot + "/policies/*.yaml", testRoot + "/testdata/catalog/policies/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			tb.Fatalf("glob %s: %v %v", pattern, files, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				tb.Fatal(err)
			}
			if bytes.Contains(data, []byte("\nanomaly:")) {
				tb.Fatalf("%s has its own anomaly block; hostileLaunch would override it", file)
			}
			data = append(data, "\nanomaly:\n  signature_failures: {alert: 5, quarantine: -1}\n  schema_failures: {alert: 5, quarantine: -1}\n"...)
			if err := os.WriteFile(filepath.Join(policies, filepath.Base(file)), data, 0o600); err != nil {
				tb.Fatal(err)
			}
		}
	}
	o := testOptions()
	if mutate != nil {
		mutate(o)
	}
	logs := &syncBuffer{}
	a, err := startLoopback(context.Background(), dir, policies, o, true, logs)
	if err != nil {
		tb.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	return a, o, dir, logs
}

// forbid adds values the log must never hold. Values shorter than 6 bytes are ignored: they could
// occur by chance.
func (h *hostileEnv) forbid(what string, values ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range values {
		if len(v) >= 6 {
			h.forbidden[v] = what
		}
	}
}

func (h *hostileEnv) forbiddenValues() func() map[string]string {
	return func() map[string]string {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := make(map[string]string, len(h.forbidden))
		for k, v := range h.forbidden {
			out[k] = v
		}
		return out
	}
}

// hostileScanLog stops an app and searches its complete log for the forbidden values, as they are
// and as they would look inside a JSON log string.
func hostileScanLog(t *testing.T, stop func(), logs func() string, forbidden func() map[string]string) {
	t.Helper()
	stop()
	text := logs()
	if !strings.Contains(text, `"level":"debug"`) && !strings.Contains(text, `"level":"trace"`) {
		t.Errorf("log canary: the app wrote no debug or trace line; the scan would prove little")
	}
	values := forbidden()
	t.Logf("log canary: %d values searched for in %d bytes of log", len(values), len(text))
	for v, what := range values {
		for _, form := range hostileForms(v) {
			if strings.Contains(text, form) {
				t.Errorf("log canary: the log holds %s (%s)", what, hostileClip(v))
				break
			}
		}
	}
}

// hostileForms returns v and its JSON string encoding (without quotes) when that differs.
func hostileForms(v string) []string {
	forms := []string{v}
	b, _ := json.Marshal(v)
	if s := string(b[1 : len(b)-1]); s != v {
		forms = append(forms, s)
	}
	return forms
}

// hostileClip shortens a value for a failure message.
func hostileClip(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// nextID returns a fresh event id.
func (h *hostileEnv) nextID() string {
	return fmt.Sprintf("evt_hostile_%d_%d", time.Now().UnixNano(), h.seq.Add(1))
}

// expectNothingPublished sends a marker event and checks that, after the before messages seen
// earlier, it is the only new one (as in TestStatusTable).
func (h *hostileEnv) expectNothingPublished(t *testing.T, before int) {
	t.Helper()
	marker := h.nextID()
	body := acmeEvent(marker, "marker-device", 50)
	if r := h.sendEvent("acme-locks", marker, body); r.status != http.StatusAccepted {
		t.Fatalf("marker event: status %d %s", r.status, r.raw)
	}
	msgs := h.sub.waitCount(before + 1)
	if extra := msgs[before+1:]; len(extra) > 0 || !strings.Contains(msgs[before].Payload, `"battery":50`) {
		t.Fatalf("a refused request published something: new messages %v", msgs[before:])
	}
}

// hostileSigner signs requests the way each configured vendor's scheme expects.
type hostileSigner struct {
	vendors pipeline.Vendors
}

// sign returns the headers that authenticate body as vendor's event id at now, under secret, in a
// fixed order, with Content-Type: application/json.
func (s hostileSigner) sign(vendor, secret, id string, body []byte, now time.Time) []hostileHeader {
	v, ok := s.vendors[vendor]
	if !ok {
		panic("hostile: vendor not configured: " + vendor)
	}
	m, err := verify.Signer{Auth: v.Policy.Auth, Secret: secret}.Sign(body, id, now)
	if err != nil {
		panic("hostile: sign: " + err.Error())
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []hostileHeader{{"Content-Type", "application/json"}}
	for _, k := range keys {
		out = append(out, hostileHeader{k, m[k]})
	}
	return out
}

// signed signs with the vendor's own test secret.
func (s hostileSigner) signed(vendor, id string, body []byte) []hostileHeader {
	return s.sign(vendor, testSecrets[vendor], id, body, time.Now())
}

// hostileHeader is one header line; a request may repeat a name.
type hostileHeader struct{ key, value string }

// hostileRequest is a request written byte for byte to the partner listener.
type hostileRequest struct {
	method string // default POST
	target string // request target, default /hooks/acme-locks
	header []hostileHeader
	body   []byte
	// noLength leaves Content-Length out; it is also left out when header sets Content-Length or
	// Transfer-Encoding.
	noLength bool
	// keepAlive leaves "Connection: close" out.
	keepAlive bool
	// halfClose closes the write side after sending, as a client that gives up mid-body.
	halfClose bool
}

// bytes serializes the request as HTTP/1.1.
func (r hostileRequest) bytes() []byte {
	method, target := r.method, r.target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/hooks/acme-locks"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hookbridge.test\r\n", method, target)
	framed := r.noLength
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h.key, h.value)
		if k := strings.ToLower(h.key); k == "content-length" || k == "transfer-encoding" {
			framed = true
		}
	}
	if !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	if !r.keepAlive {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// values returns the values of the header lines named key.
func (r hostileRequest) values(key string) []string {
	var out []string
	for _, h := range r.header {
		if strings.EqualFold(h.key, key) {
			out = append(out, h.value)
		}
	}
	return out
}

// hostileResponse is the listener's answer, parsed, with the raw bytes it came in.
type hostileResponse struct {
	status int
	header http.Header
	body   map[string]any
	text   string // the body
	raw    string // status line, headers and body as received
	closed bool   // the server closed the connection after answering
}

// hostileSend writes a request to addr and reads the answer. A server that closes the connection
// without any answer yields status 0.
func hostileSend(t testing.TB, addr string, r hostileRequest) hostileResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(r.bytes()); err != nil && !hostileReset(err) {
		t.Fatalf("write request: %v", err)
	}
	if r.halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	return hostileRead(t, c, method, !r.keepAlive)
}

// hostileRead reads one response from c; untilClose reads on until the server closes.
func hostileRead(t testing.TB, c net.Conn, method string, untilClose bool) hostileResponse {
	t.Helper()
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		if raw.Len() == 0 && (errors.Is(err, io.EOF) || hostileReset(err)) {
			return hostileResponse{closed: true}
		}
		t.Fatalf("read response: %v (got %q)", err, raw.String())
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !hostileReset(err) {
		t.Fatalf("read response body: %v", err)
	}
	out := hostileResponse{status: resp.StatusCode, header: resp.Header, text: string(text)}
	_ = json.Unmarshal(text, &out.body)
	if untilClose || resp.Close {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, br)
		out.closed = err == nil || hostileReset(err)
	}
	out.raw = raw.String()
	return out
}

// hostileReset reports whether err is the peer resetting or closing the connection.
func hostileReset(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// hostileHMAC returns the HMAC-SHA256 of the parts under key.
func hostileHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hostileHeap returns the heap in use after a garbage collection, in bytes.
func hostileHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
