package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// hostileClient is an HTTP client whose connections come from a given loopback address, so one
// test process can be many sources (any 127.0.0.0/8 address is local on Linux).
func hostileClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// hostilePost sends a request through c and returns the answer.
func hostilePost(t testing.TB, c *http.Client, url string, header []bridgetest.Header, body []byte) bridgetest.RawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		req.Header.Add(h.Key, h.Value)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	r := bridgetest.RawResponse{Status: resp.StatusCode, Header: resp.Header, Text: string(text), Raw: string(text)}
	_ = json.Unmarshal(text, &r.Body)
	return r
}

// TestHostileSlowClients opens 200 connections that send their headers a byte at a time and 50
// that send their body a byte at a time, and checks that normal webhooks are answered quickly
// while they are open, that the server drops them on its own timeouts, and that memory comes back.
func TestHostileSlowClients(t *testing.T) {
	h := hostileStart(t, nil)
	addr := h.Addrs().HTTP
	const slowHeaders, slowBodies = 200, 50
	heapBefore := hostileHeap()
	goroutinesBefore := runtime.NumGoroutine()

	type slow struct {
		conn   net.Conn
		opened time.Time
		closed atomic.Int64 // unix nanos when the server closed it
		answer atomic.Value // the first bytes the server sent, if any
	}
	var conns []*slow
	var wg sync.WaitGroup
	stop := make(chan struct{})
	open := func(prefix string, body bool) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		s := &slow{conn: c, opened: time.Now()}
		conns = append(conns, s)
		if _, err := c.Write([]byte(prefix)); err != nil {
			t.Fatalf("write: %v", err)
		}
		wg.Add(2)
		go func() { // drip one byte every 100 ms
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				b := []byte("x")
				if body {
					b = []byte(" ")
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
		go func() { // wait for the server to answer or close
			defer wg.Done()
			buf := make([]byte, 512)
			n, _ := io.ReadAtLeast(c, buf, 1)
			s.answer.Store(string(buf[:n]))
			s.closed.Store(time.Now().UnixNano())
		}()
	}
	for i := 0; i < slowHeaders; i++ {
		open("POST /hooks/acme-locks HTTP/1.1\r\nHost: hookbridge.test\r\nX-Slow: ", false)
	}
	for i := 0; i < slowBodies; i++ {
		id := h.nextID()
		body := hostileAcme(id)
		var b strings.Builder
		b.WriteString("POST /hooks/acme-locks HTTP/1.1\r\nHost: hookbridge.test\r\n")
		for _, hd := range (hostileSigner{cat: h.Catalog}).signed("acme-locks", id, body) {
			fmt.Fprintf(&b, "%s: %s\r\n", hd.Key, hd.Value)
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body)+4096)
		open(b.String(), true)
	}
	defer func() {
		close(stop)
		for _, s := range conns {
			s.conn.Close()
		}
		wg.Wait()
	}()
	time.Sleep(300 * time.Millisecond)
	heapOpen := hostileHeap()
	goroutinesOpen := runtime.NumGoroutine()

	// Normal webhooks while the slow connections are open.
	var lat []time.Duration
	for i := 0; i < 50; i++ {
		id := h.nextID()
		start := time.Now()
		if r := h.Send("acme-locks", id, hostileAcme(id)); r.Status != http.StatusAccepted {
			t.Fatalf("normal webhook during the slow clients: %d %s", r.Status, r.Raw)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("normal webhooks with %d slow-header and %d slow-body connections open: p50 %v, p95 %v, max %v",
		slowHeaders, slowBodies, lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1])
	if lat[len(lat)-1] > time.Second {
		t.Errorf("a normal webhook took %v while slow clients were connected, want under 1s", lat[len(lat)-1])
	}

	// The server drops slow headers after ReadHeaderTimeout (5s) and slow bodies after ReadTimeout
	// (15s), answering the latter with the JSON body-read error.
	deadline := time.Now().Add(20 * time.Second)
	for {
		open := 0
		for _, s := range conns {
			if s.closed.Load() == 0 {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slow connections still open after 20s", open)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var worstHeader, worstBody time.Duration
	for i, s := range conns {
		d := time.Unix(0, s.closed.Load()).Sub(s.opened)
		answer, _ := s.answer.Load().(string)
		if i < slowHeaders {
			worstHeader = max(worstHeader, d)
			if d > 7*time.Second {
				t.Errorf("slow-header connection dropped after %v, want about 5s", d)
			}
			continue
		}
		worstBody = max(worstBody, d)
		if d > 17*time.Second {
			t.Errorf("slow-body connection dropped after %v, want about 15s", d)
		}
		if !strings.HasPrefix(answer, "HTTP/1.1 400") || !strings.Contains(answer, "could not read body") {
			t.Errorf("slow-body connection answered %q, want 400 could not read body", hostileClip(answer))
		}
	}
	h.expectNothingPublished(t, len(h.sub.Messages()))
	bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > goroutinesBefore+20 {
			return fmt.Errorf("%d goroutines after the slow clients left, %d before", n, goroutinesBefore)
		}
		return nil
	})
	heapAfter := hostileHeap()
	t.Logf("memory: heap in use %.1f MiB before, %.1f MiB with %d slow connections open (%+.1f KiB each, client side included), %.1f MiB after they were dropped; goroutines %d, %d, %d",
		mib(heapBefore), mib(heapOpen), slowHeaders+slowBodies, (float64(heapOpen)-float64(heapBefore))/1024/float64(slowHeaders+slowBodies),
		mib(heapAfter), goroutinesBefore, goroutinesOpen, runtime.NumGoroutine())
	t.Logf("slow-header connections dropped after at most %v, slow-body ones after at most %v", worstHeader, worstBody)
	if grow := int64(heapOpen) - int64(heapBefore); grow > (slowHeaders+slowBodies)*64<<10 {
		t.Errorf("heap grew by %d KiB for %d slow connections, want under 64 KiB each", grow>>10, slowHeaders+slowBodies)
	}
	if grow := int64(heapAfter) - int64(heapBefore); grow > 8<<20 {
		t.Errorf("heap %d KiB above the start after the slow clients left", grow>>10)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestHostileFlood floods one vendor from one source: the per-source limit holds it (429 with
// Retry-After), while another vendor, and the same vendor from another source, are unaffected; a
// spoofed X-Forwarded-For from an untrusted peer does not escape the limit; behind a trusted proxy
// each forwarded client has its own bucket.
func TestHostileFlood(t *testing.T) {
	h := hostileStart(t, func(o *options.Options) {
		o.SourceRatePerMinute = 60 // a burst of 6, then one a second
		o.TrustedProxies = []string{"127.0.0.2"}
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].RatePerMinute = 120 // a burst of 12, then two a second
			}
		}
	})
	s := hostileSigner{cat: h.Catalog}
	url := h.URL + "/hooks/"
	heapBefore := hostileHeap()
	seen := h.StoreStats().Seen
	published := len(h.sub.Messages())
	accepted := 0

	send := func(c *http.Client, vendor string, extra ...bridgetest.Header) bridgetest.RawResponse {
		id := h.nextID()
		var body []byte
		switch vendor {
		case "acme-locks":
			body = hostileAcme(id)
		case "gridwise-energy":
			body = hostileGridwise(id)
		}
		hdr := append(s.signed(vendor, id, body), extra...)
		r := hostilePost(t, c, url+vendor, hdr, body)
		switch r.Status {
		case http.StatusAccepted:
		case http.StatusTooManyRequests:
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			if e, _ := r.Body["error"].(string); e == "" {
				t.Errorf("429 body %q has no JSON error", r.Text)
			}
		default:
			t.Errorf("flood request: status %d %s, want 202 or 429", r.Status, r.Text)
		}
		return r
	}

	// The flood: 200 requests from 127.0.0.3, 20 at a time.
	flooder := hostileClient("127.0.0.3")
	var ok, limited atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if send(flooder, "acme-locks").Status == http.StatusAccepted {
					ok.Add(1)
				} else {
					limited.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	accepted += int(ok.Load())
	maxOK := int64(6 + int(elapsed.Seconds()) + 1)
	t.Logf("flood of 200 from one source in %v: %d accepted, %d refused with 429", elapsed, ok.Load(), limited.Load())
	if ok.Load() > maxOK || limited.Load() < 200-maxOK {
		t.Errorf("flood: %d accepted, want at most %d (burst 6, then 1/s)", ok.Load(), maxOK)
	}

	// Unaffected: another vendor from another source, and the same vendor from another source.
	for _, c := range []struct{ ip, vendor string }{
		{"127.0.0.4", "gridwise-energy"}, {"127.0.0.4", "gridwise-energy"}, {"127.0.0.4", "gridwise-energy"},
		{"127.0.0.5", "acme-locks"}, {"127.0.0.5", "acme-locks"}, {"127.0.0.5", "acme-locks"},
	} {
		if r := send(hostileClient(c.ip), c.vendor); r.Status != http.StatusAccepted {
			t.Errorf("%s from %s after the flood: status %d, want 202 (the flood must not spend its budget)", c.vendor, c.ip, r.Status)
		} else {
			accepted++
		}
	}

	// A spoofer rotating X-Forwarded-For from an untrusted peer stays one source.
	spoofer := hostileClient("127.0.0.6")
	spoofOK := 0
	spoofStart := time.Now()
	for i := 0; i < 20; i++ {
		if send(spoofer, "gridwise-energy", bridgetest.Header{Key: "X-Forwarded-For", Value: fmt.Sprintf("198.51.100.%d", i+1)}).Status == http.StatusAccepted {
			spoofOK++
		}
	}
	accepted += spoofOK
	if limit := 6 + int(time.Since(spoofStart).Seconds()) + 1; spoofOK > limit {
		t.Errorf("spoofer rotating X-Forwarded-For: %d of 20 accepted, want at most %d (the source's burst of 6, then 1/s)", spoofOK, limit)
	}

	// Behind the trusted proxy, each forwarded client has its own bucket.
	proxy := hostileClient("127.0.0.2")
	proxied := func(client string) int {
		start := time.Now()
		n := 0
		defer func() {
			if limit := 6 + int(time.Since(start).Seconds()) + 1; n > limit || n < 6 {
				t.Errorf("through the proxy, client %s: %d of 10 accepted, want its own burst of 6 (at most %d)", client, n, limit)
			}
		}()
		for i := 0; i < 10; i++ {
			if send(proxy, "gridwise-energy", bridgetest.Header{Key: "X-Forwarded-For", Value: client}).Status == http.StatusAccepted {
				n++
			}
		}
		return n
	}
	accepted += proxied("198.51.100.7")
	accepted += proxied("198.51.100.8") // after .7 was held: its own bucket

	if got := h.StoreStats().Seen - seen; got != int64(accepted) {
		t.Errorf("replay records grew by %d, want %d (one per accepted request only)", got, accepted)
	}
	msgs := h.sub.WaitCount(published + accepted)
	h.expectNothingPublished(t, len(msgs))
	heapAfter := hostileHeap()
	t.Logf("memory: heap in use %.1f MiB before the floods, %.1f MiB after", mib(heapBefore), mib(heapAfter))
	if grow := int64(heapAfter) - int64(heapBefore); grow > 16<<20 {
		t.Errorf("heap grew by %d KiB over the floods", grow>>10)
	}
}

// TestHostileTrustedProxies checks that X-Forwarded-For decides the source for allowed_cidrs only
// when the peer is a trusted proxy, using locked-down (allowed_cidrs 10.0.0.0/8). The app trusts
// 127.0.0.2; requests from 127.0.0.1 are from an untrusted peer.
func TestHostileTrustedProxies(t *testing.T) {
	h := hostileStart(t, func(o *options.Options) { o.TrustedProxies = []string{"127.0.0.2"} })
	s := hostileSigner{cat: h.Catalog}
	seen := h.StoreStats().Seen
	published := len(h.sub.Messages())
	accepted := 0
	cases := []struct {
		name   string
		peer   string
		header []bridgetest.Header
		status int
	}{
		{"untrusted peer, X-Forwarded-For inside the CIDR", "127.0.0.1", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3"}}, 403},
		{"untrusted peer, X-Real-IP and Forwarded inside the CIDR", "127.0.0.1", []bridgetest.Header{{Key: "X-Real-IP", Value: "10.1.2.3"}, {Key: "Forwarded", Value: "for=10.1.2.3"}}, 403},
		{"untrusted peer, a chain ending inside the CIDR", "127.0.0.1", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3, 10.9.9.9"}}, 403},
		{"untrusted peer inside loopback, spoofing the trusted proxy", "127.0.0.1", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3, 127.0.0.2"}}, 403},
		{"trusted proxy, no X-Forwarded-For", "127.0.0.2", nil, 403},
		{"trusted proxy, client inside the CIDR", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3"}}, 202},
		{"trusted proxy, client-supplied hop before an outside client", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3, 203.0.113.9"}}, 403},
		{"trusted proxy, repeated headers ending outside", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3"}, {Key: "X-Forwarded-For", Value: "203.0.113.9"}}, 403},
		{"trusted proxy chain, client inside", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3, 127.0.0.2"}}, 202},
		{"trusted proxy, malformed hop", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3, not-an-address"}}, 403},
		{"trusted proxy, hop with a port", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "10.1.2.3:4711"}}, 403},
		{"trusted proxy, IPv4-mapped IPv6 client inside", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "::ffff:10.1.2.3"}}, 202},
		{"trusted proxy, IPv6 client with a zone", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: "fe80::1%eth0"}}, 403},
		{"trusted proxy, X-Forwarded-For of 20 KiB", "127.0.0.2", []bridgetest.Header{{Key: "X-Forwarded-For", Value: strings.Repeat("10.1.2.3, ", 2000) + "203.0.113.9"}}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := h.nextID()
			body := hostileAcme(id)
			hdr := append(s.signed("locked-down", id, body), c.header...)
			r := hostilePost(t, hostileClient(c.peer), h.URL+"/hooks/locked-down", hdr, body)
			if r.Status != c.status {
				t.Fatalf("status %d %s, want %d", r.Status, r.Text, c.status)
			}
			if e, _ := r.Body["error"].(string); c.status >= 400 && e == "" {
				t.Errorf("body %q has no JSON error", r.Text)
			}
			if strings.Contains(r.Text, "10.1.2.3") || strings.Contains(r.Text, "127.0.0") {
				t.Errorf("the answer names an address: %s", r.Text)
			}
			if c.status == http.StatusAccepted {
				accepted++
			}
		})
	}
	if got := h.StoreStats().Seen - seen; got != int64(accepted) {
		t.Errorf("replay records grew by %d, want %d", got, accepted)
	}
	msgs := h.sub.WaitCount(published + accepted)
	h.expectNothingPublished(t, len(msgs))
}
