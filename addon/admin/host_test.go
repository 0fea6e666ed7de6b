package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSplitHost(t *testing.T) {
	cases := []struct {
		in         string
		host, port string
		ok         bool
	}{
		{"localhost", "localhost", "", true},
		{"LocalHost:8099", "localhost", "8099", true},
		{"localhost.:8099", "localhost", "8099", true},
		{"127.0.0.1:8099", "127.0.0.1", "8099", true},
		{"[::1]:8099", "::1", "8099", true},
		{"[::1]", "::1", "", true},
		{"[::FFFF:127.0.0.1]:1", "::ffff:127.0.0.1", "1", true},
		{"[fe80::1%25eth0]:1", "fe80::1%25eth0", "1", true},
		{"evil.example:8099", "evil.example", "8099", true},
		{"", "", "", false},
		{":8099", "", "", false},
		{".", "", "", false},
		{"::1", "", "", false},
		{"::1:8099", "", "", false},
		{"[::1", "", "", false},
		{"[::1]x", "", "", false},
		{"[evil.example]:80", "", "", false},
		{"localhost:http", "", "", false},
		{"localhost:123456", "", "", false},
	}
	for _, c := range cases {
		host, port, ok := splitHost(c.in)
		if ok != c.ok || (ok && (host != c.host || port != c.port)) {
			t.Errorf("splitHost(%q) = %q, %q, %v, want %q, %q, %v", c.in, host, port, ok, c.host, c.port, c.ok)
		}
	}
}

// TestHostRule checks which Host headers the listener answers to, for the listen addresses the
// caller passes: standalone on loopback, under the Supervisor on every interface, on a named
// host, on a specific IPv6 address.
func TestHostRule(t *testing.T) {
	container := netip.MustParseAddr("172.30.33.4") // an app's address on the Supervisor's network
	cases := []struct {
		name, addr, hostname, host string
		local                      netip.Addr
		want                       bool
	}{
		{"loopback IP", "127.0.0.1:8099", "", "127.0.0.1:8099", netip.Addr{}, true},
		{"other loopback IP", "127.0.0.1:8099", "", "127.0.0.2:8099", netip.Addr{}, true},
		{"localhost with port", "127.0.0.1:8099", "", "localhost:8099", netip.Addr{}, true},
		{"localhost, another port", "127.0.0.1:8099", "", "localhost:18099", netip.Addr{}, true},
		{"localhost without port", "127.0.0.1:8099", "", "localhost", netip.Addr{}, true},
		{"LOCALHOST.", "127.0.0.1:8099", "", "LOCALHOST.:8099", netip.Addr{}, true},
		{"IPv6 loopback", "127.0.0.1:8099", "", "[::1]:8099", netip.Addr{}, true},
		{"IPv6 loopback without port", "127.0.0.1:8099", "", "[::1]", netip.Addr{}, true},
		{"mapped loopback", "127.0.0.1:8099", "", "[::ffff:127.0.0.1]:8099", netip.Addr{}, true},
		{"rebinding name", "127.0.0.1:8099", "", "evil.example:8099", netip.Addr{}, false},
		{"rebinding name without port", "127.0.0.1:8099", "", "evil.example", netip.Addr{}, false},
		{"localhost as a subdomain", "127.0.0.1:8099", "", "localhost.evil.example:8099", netip.Addr{}, false},
		{"name ending in localhost", "127.0.0.1:8099", "", "evillocalhost:8099", netip.Addr{}, false},
		{"another IP", "127.0.0.1:8099", "", "192.0.2.7:8099", netip.Addr{}, false},
		{"unspecified IP", ":8099", "", "0.0.0.0:8099", netip.Addr{}, false},
		{"empty", "127.0.0.1:8099", "", "", netip.Addr{}, false},
		{"bare IPv6", "127.0.0.1:8099", "", "::1", netip.Addr{}, false},
		{"decimal IP", "127.0.0.1:8099", "", "2130706433:8099", netip.Addr{}, false},
		{"container IP, all interfaces", ":8099", "", "172.30.33.4:8099", container, true},
		{"container IP, no port", ":8099", "", "172.30.33.4", container, true},
		{"another container's IP", ":8099", "", "172.30.33.5:8099", container, false},
		{"container hostname", ":8099", "a0d7b954-hookbridge", "A0D7B954-hookbridge:8099", container, true},
		{"container hostname with dot", ":8099", "a0d7b954-hookbridge", "a0d7b954-hookbridge.:8099", container, true},
		{"name given as listen address", "bridge.lan:8099", "", "bridge.lan:8099", netip.Addr{}, true},
		{"IP given as listen address", "192.0.2.7:8099", "", "192.0.2.7", netip.Addr{}, true},
		{"IPv6 listen address", "[2001:db8::7]:8099", "", "[2001:DB8::7]:8099", netip.Addr{}, true},
		{"IPv6 local address", "[::]:8099", "", "[2001:db8::7]:8099", netip.MustParseAddr("2001:db8::7"), true},
		{"zone ignored", "[::]:8099", "", "[fe80::7%25eth0]:8099", netip.MustParseAddr("fe80::7"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := newHostRule(c.addr, c.hostname)
			host, _, ok := splitHost(c.host)
			if got := ok && rule.allows(host, c.local); got != c.want {
				t.Errorf("allows(%q) with Addr %q, hostname %q, local %v = %v, want %v", c.host, c.addr, c.hostname, c.local, got, c.want)
			}
		})
	}
}

// hostFixture is the status page fixture with a stand-in for each route the caller adds
// (metrics, audit), as serve.go wires them.
func hostFixture(t *testing.T, ingressOnly bool) *statusFixture {
	t.Helper()
	f := newStatusFixture(t, ingressOnly)
	f.adm.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hookbridge_up 1\n")) }))
	f.adm.Handle("GET /api/audit", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]\n")) }))
	return f
}

// TestHostRefused sends every read route a rebinding page would read, with Hosts the listener
// does not answer to: each gets 421 and a JSON error that does not echo the Host, and the status
// page's form token never leaves.
func TestHostRefused(t *testing.T) {
	paths := []string{"/", "/healthz", "/readyz", "/metrics", "/api/vendors", "/api/vendors/acme-locks", "/api/audit",
		"/api/devices/hallway-panel/sessions", "/nowhere"}
	hosts := []string{"evil.example", "evil.example:8099", "EVIL.example.:8099", "127.0.0.1.evil.example:8099",
		"localhost.evil.example", "192.0.2.7:8099", "0.0.0.0:8099", "homeassistant.local:8123", "[2001:db8::1]:8099"}
	for _, ingressOnly := range []bool{false, true} {
		f := hostFixture(t, ingressOnly)
		for _, host := range hosts {
			for _, path := range paths {
				w := f.do("127.0.0.1:40000", path, map[string]string{"Host": host}, nil)
				if w.Code != http.StatusMisdirectedRequest {
					t.Errorf("IngressOnly %v: GET %s with Host %q = %d, want 421", ingressOnly, path, host, w.Code)
					continue
				}
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" {
					t.Errorf("GET %s with Host %q: body %q is not a JSON error", path, host, w.Body)
				}
				if strings.Contains(strings.ToLower(w.Body.String()), "evil") || strings.Contains(w.Body.String(), "token") {
					t.Errorf("GET %s with Host %q: body echoes the Host or holds a token: %s", path, host, w.Body)
				}
			}
		}
	}
}

// TestHostAllowed sends the same routes with the Hosts a person or a tool uses: each is served.
func TestHostAllowed(t *testing.T) {
	f := hostFixture(t, false)
	for _, host := range []string{"127.0.0.1:8099", "localhost:8099", "localhost", "LOCALHOST.:8099", "[::1]:8099", "127.0.0.1"} {
		for _, path := range []string{"/", "/healthz", "/metrics", "/api/vendors", "/api/audit"} {
			if w := f.do("127.0.0.1:40000", path, map[string]string{"Host": host}, nil); w.Code != http.StatusOK {
				t.Errorf("GET %s with Host %q = %d, want 200", path, host, w.Code)
			}
		}
	}
}

// ingressHeaders are what the Supervisor's proxy passes on for a browser at
// http://homeassistant.local:8123 (see host.go): the browser's Host, Origin and Sec-Fetch-Site,
// and Home Assistant's X-Ingress-Path and X-Forwarded-*.
func ingressHeaders(extra map[string]string) map[string]string {
	h := map[string]string{
		"Host":              "homeassistant.local:8123",
		"X-Ingress-Path":    testIngress,
		"X-Hass-Source":     "core.ingress",
		"X-Forwarded-Host":  "homeassistant.local:8123",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-For":   "192.168.1.20, 172.30.32.1",
	}
	for k, v := range extra {
		if v == "" {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return h
}

// TestIngressRequests runs the status page as Home Assistant ingress reaches it: any Host from the
// ingress proxy with an X-Ingress-Path, and the form's Origin judged against that Host.
func TestIngressRequests(t *testing.T) {
	const proxy = "172.30.32.2:41234"
	sameOrigin := map[string]string{"Origin": "http://homeassistant.local:8123", "Sec-Fetch-Site": "same-origin"}
	merge := func(a, b map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name        string
		remote      string
		header      map[string]string
		get, post   int
		ingressOnly bool
	}{
		{"ingress, as the browser sends it", proxy, ingressHeaders(sameOrigin), 200, 303, true},
		{"ingress, Nabu Casa over https", proxy, ingressHeaders(map[string]string{"Host": "abc.ui.nabu.casa",
			"X-Forwarded-Host": "abc.ui.nabu.casa", "X-Forwarded-Proto": "https", "Origin": "https://abc.ui.nabu.casa",
			"Sec-Fetch-Site": "same-origin"}), 200, 303, true},
		{"ingress, Home Assistant behind a proxy that rewrites Host", proxy, ingressHeaders(map[string]string{
			"Host": "homeassistant:8123", "X-Forwarded-Host": "ha.example.net", "X-Forwarded-Proto": "https",
			"Origin": "https://ha.example.net"}), 200, 303, true},
		{"ingress, no browser headers", proxy, ingressHeaders(nil), 200, 303, true},
		{"ingress, form from another site", proxy, ingressHeaders(map[string]string{"Origin": "http://evil.example"}), 200, 403, true},
		{"ingress, form from another port of Home Assistant's host", proxy,
			ingressHeaders(map[string]string{"Origin": "http://homeassistant.local:9999"}), 200, 403, true},
		{"ingress, form over http to an https Home Assistant", proxy, ingressHeaders(map[string]string{
			"Host": "abc.ui.nabu.casa", "X-Forwarded-Host": "abc.ui.nabu.casa", "X-Forwarded-Proto": "https",
			"Origin": "http://abc.ui.nabu.casa"}), 200, 403, true},
		{"ingress, same-site fetch", proxy, ingressHeaders(merge(sameOrigin, map[string]string{"Sec-Fetch-Site": "same-site"})), 200, 403, true},
		{"ingress proxy without X-Ingress-Path", proxy, ingressHeaders(map[string]string{"X-Ingress-Path": ""}), 421, 421, true},
		{"loopback with ingress headers", "127.0.0.1:5555", ingressHeaders(sameOrigin), 421, 421, true},
		{"standalone: ingress headers do not stand for ingress", proxy, ingressHeaders(sameOrigin), 421, 421, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := hostFixture(t, c.ingressOnly)
			tok := f.token(t)
			for _, path := range []string{"/", "/api/vendors", "/metrics"} {
				if w := f.do(c.remote, path, c.header, nil); w.Code != c.get {
					t.Errorf("GET %s = %d, want %d", path, w.Code, c.get)
				}
			}
			w := f.do(c.remote, "/status/acme-locks", c.header, url.Values{"token": {tok}, "action": {"disable"}})
			if disabled := !f.sw.Open("acme-locks"); w.Code != c.post || disabled != (c.post == http.StatusSeeOther) {
				t.Errorf("POST /status/acme-locks = %d, disabled %v; want %d", w.Code, disabled, c.post)
			}
		})
	}
}

// TestCrossSiteStateChanging sends state-changing requests with each method the listener takes
// (and some it does not) from pages of other origins: the cross-site rule refuses them before any
// route is reached, judged against the listener's own hosts, not the request's Host.
func TestCrossSiteStateChanging(t *testing.T) {
	cases := []struct {
		name   string
		host   string
		header map[string]string
		want   bool // refused
	}{
		{"curl", "127.0.0.1:8099", nil, false},
		{"same origin", "127.0.0.1:8099", map[string]string{"Origin": "http://127.0.0.1:8099", "Sec-Fetch-Site": "same-origin"}, false},
		{"same origin, localhost", "localhost:8099", map[string]string{"Origin": "http://localhost:8099"}, false},
		{"same origin, IPv6", "[::1]:8099", map[string]string{"Origin": "http://[::1]:8099"}, false},
		{"same origin, default port", "localhost", map[string]string{"Origin": "http://localhost"}, false},
		{"same origin, explicit default port", "localhost:80", map[string]string{"Origin": "http://localhost"}, false},
		{"typed into the address bar", "127.0.0.1:8099", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"another site", "127.0.0.1:8099", map[string]string{"Origin": "https://evil.example"}, true},
		{"another site, Sec-Fetch-Site", "127.0.0.1:8099", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, true},
		{"another local port", "localhost:8099", map[string]string{"Origin": "http://localhost:3000"}, true},
		{"another loopback name", "localhost:8099", map[string]string{"Origin": "http://127.0.0.1:8099"}, true},
		{"https origin", "localhost:8099", map[string]string{"Origin": "https://localhost:8099"}, true},
		{"same site", "localhost:8099", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"opaque origin", "localhost:8099", map[string]string{"Origin": "null"}, true},
		{"withheld origin, same-origin fetch", "localhost:8099", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, false},
		{"opaque origin, cross-site fetch", "localhost:8099", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, true},
		{"two origins", "localhost:8099", map[string]string{"Origin": "http://localhost:8099, http://evil.example"}, true},
		{"garbage origin", "localhost:8099", map[string]string{"Origin": "http://"}, true},
		{"origin with a path", "localhost:8099", map[string]string{"Origin": "http://localhost:8099/x"}, true},
		{"origin with user info", "localhost:8099", map[string]string{"Origin": "http://a@localhost:8099"}, true},
		{"file origin", "localhost:8099", map[string]string{"Origin": "file://"}, true},
	}
	methods := []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "PROPFIND"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range methods {
				f := hostFixture(t, false)
				r := httptest.NewRequest(m, "http://"+c.host+"/api/vendors/acme-locks/disable", nil)
				r.RemoteAddr = "127.0.0.1:40000"
				for k, v := range c.header {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				f.adm.ServeHTTP(w, r)
				if refused := w.Code == http.StatusForbidden; refused != c.want {
					t.Errorf("%s with %v = %d, want refused %v", m, c.header, w.Code, c.want)
				}
				if m == http.MethodPost && f.sw.Open("acme-locks") != c.want {
					t.Errorf("POST with %v: open %v, want %v", c.header, f.sw.Open("acme-locks"), c.want)
				}
			}
		})
	}
	t.Run("reads are not judged", func(t *testing.T) {
		f := hostFixture(t, false)
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			r := httptest.NewRequest(m, "http://127.0.0.1:8099/api/vendors", nil)
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			w := httptest.NewRecorder()
			f.adm.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Errorf("%s /api/vendors from another site = %d, want 200 (CORS keeps the page from reading it)", m, w.Code)
			}
		}
	})
}

// TestRefusalLogSampled floods the listener with refused Hosts and cross-site requests: one log
// line a minute for each rule, carrying how many it held back.
func TestRefusalLogSampled(t *testing.T) {
	var buf bytes.Buffer
	f := hostFixture(t, false)
	f.adm.cfg.Log = zerolog.New(&buf)
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f.adm.now = func() time.Time { return now }
	flood := func(n int) {
		for range n {
			f.do("127.0.0.1:1", "/metrics", map[string]string{"Host": "evil.example"}, nil)
			f.do("127.0.0.1:1", "/api/vendors/acme-locks/disable", map[string]string{"Origin": "https://evil.example"}, url.Values{})
		}
	}
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			out = append(out, m)
		}
		return out
	}
	flood(50)
	if got := lines(); len(got) != 2 || got[0]["host"] != "evil.example" || got[1]["origin"] != "https://evil.example" {
		t.Fatalf("log after 50 refusals of each = %v, want one line per rule", got)
	}
	now = now.Add(59 * time.Second)
	flood(10)
	if got := len(lines()); got != 2 {
		t.Fatalf("log lines within the minute = %d, want 2", got)
	}
	now = now.Add(2 * time.Second)
	flood(1)
	got := lines()
	if len(got) != 4 || got[2]["held_back"] != float64(59) || got[3]["held_back"] != float64(59) {
		t.Fatalf("log after a minute = %v, want two more lines, each held_back 59", got)
	}
}

// attack plays a rebinding page's requests against a real admin listener at addr: the browser
// sends the attacker's name as Host (with the port, as a browser does) and as Origin.
type attack struct {
	t      *testing.T
	client *http.Client
	addr   string
}

func (a attack) do(method, path, host string, header map[string]string, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, "http://"+a.addr+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := *a.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// serveReal serves the fixture's handler on a real listener at addr and returns its address.
func serveReal(t *testing.T, f *statusFixture, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	srv := NewServer(f.adm)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestDNSRebindingRealListener plays the finding against a real listener: a page whose name
// evil.example was rebound to 127.0.0.1 reads the status page for its form token, /metrics,
// /api/vendors and /api/audit, disables a vendor and lifts a quarantine, through the API and the
// form. Every request is refused with 421 and nothing changes; the same requests addressed to
// the listener's own names are served.
func TestDNSRebindingRealListener(t *testing.T) {
	f := hostFixture(t, false)
	f.adm.hosts = newHostRule("127.0.0.1:0", "")
	addr := serveReal(t, f, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	a := attack{t: t, client: &http.Client{Timeout: 5 * time.Second}, addr: addr}
	if err := f.sw.Quarantine("gridwise-energy", "test: burst of bad signatures"); err != nil {
		t.Fatal(err)
	}
	token := func(host string) string {
		code, page := a.do(http.MethodGet, "/", host, nil, "")
		if m := tokenRE.FindStringSubmatch(page); code == http.StatusOK && m != nil {
			return m[1]
		}
		return ""
	}

	for name, evil := range map[string]string{"Host with port": "evil.example:" + port, "Host without port": "evil.example"} {
		t.Run(name, func(t *testing.T) {
			origin := map[string]string{"Origin": "http://" + evil}
			if tok := token(evil); tok != "" {
				t.Errorf("the rebinding page read the form token")
			}
			for _, path := range []string{"/", "/metrics", "/api/vendors", "/api/vendors/acme-locks", "/api/audit", "/healthz"} {
				if code, body := a.do(http.MethodGet, path, evil, origin, ""); code != http.StatusMisdirectedRequest || strings.Contains(body, "acme") {
					t.Errorf("GET %s = %d, want 421 and nothing about vendors:\n%s", path, code, body)
				}
			}
			tok := token("127.0.0.1:" + port) // suppose the page had a token after all
			steps := []struct{ method, path, body string }{
				{http.MethodPost, "/api/vendors/acme-locks/disable", ""},
				{http.MethodPost, "/api/vendors/gridwise-energy/lift", ""},
				{http.MethodPost, "/status/acme-locks", url.Values{"token": {tok}, "action": {"disable"}}.Encode()},
				{http.MethodPost, "/status/gridwise-energy", url.Values{"token": {tok}, "action": {"lift"}}.Encode()},
				{http.MethodDelete, "/api/devices/hallway-panel/sessions", ""},
			}
			for _, s := range steps {
				if code, _ := a.do(s.method, s.path, evil, origin, s.body); code != http.StatusMisdirectedRequest {
					t.Errorf("%s %s = %d, want 421", s.method, s.path, code)
				}
			}
			if !f.sw.Open("acme-locks") {
				t.Error("the rebinding page disabled acme-locks")
			}
			if st, _ := f.sw.Get("gridwise-energy"); st.Mode != "quarantined" {
				t.Errorf("the rebinding page lifted the quarantine: mode %s", st.Mode)
			}
		})
	}

	t.Run("own names", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LocalHost.:" + port} {
			for _, path := range []string{"/", "/metrics", "/api/vendors", "/api/audit"} {
				if code, _ := a.do(http.MethodGet, path, host, nil, ""); code != http.StatusOK {
					t.Errorf("GET %s with Host %s = %d, want 200", path, host, code)
				}
			}
			if tok := token(host); tok == "" {
				t.Errorf("GET / with Host %s: no form token", host)
			}
		}
		host := "localhost:" + port
		code, _ := a.do(http.MethodPost, "/api/vendors/acme-locks/disable", host,
			map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, "")
		if code != http.StatusOK || f.sw.Open("acme-locks") {
			t.Errorf("POST disable from the listener's own page = %d, open %v; want 200 and disabled", code, f.sw.Open("acme-locks"))
		}
		form := url.Values{"token": {token(host)}, "action": {"lift"}}.Encode()
		code, _ = a.do(http.MethodPost, "/status/gridwise-energy", host, map[string]string{"Origin": "http://" + host}, form)
		if st, _ := f.sw.Get("gridwise-energy"); code != http.StatusSeeOther || st.Mode != "enabled" {
			t.Errorf("POST lift from the status page = %d, mode %s; want 303 and enabled", code, st.Mode)
		}
	})
}

// TestIngressRealListener runs the listener in app mode with a stand-in ingress proxy address
// (127.0.0.2, since no test can connect from 172.30.32.2) and sends what the Supervisor forwards:
// served from the proxy's address, refused from any other with the same headers.
func TestIngressRealListener(t *testing.T) {
	f := hostFixture(t, true)
	f.adm.ingressAddr = netip.MustParseAddr("127.0.0.2")
	addr := serveReal(t, f, "127.0.0.1:0")
	from := func(ip string) attack {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return attack{t: t, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, addr: addr}
	}
	proxy, other := from("127.0.0.2"), from("127.0.0.1")
	h := ingressHeaders(map[string]string{"Origin": "http://homeassistant.local:8123", "Sec-Fetch-Site": "same-origin"})
	host := h["Host"]
	delete(h, "Host")

	code, page := proxy.do(http.MethodGet, "/", host, h, "")
	m := tokenRE.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil || !strings.Contains(page, `action="`+testIngress+`/status/acme-locks"`) {
		t.Fatalf("GET / through ingress = %d, want the page with its form under the ingress path:\n%s", code, page)
	}
	if code, _ := other.do(http.MethodGet, "/", host, h, ""); code != http.StatusMisdirectedRequest {
		t.Errorf("GET / with ingress headers from another address = %d, want 421", code)
	}
	form := url.Values{"token": {m[1]}, "action": {"disable"}}.Encode()
	if code, _ := other.do(http.MethodPost, "/status/acme-locks", host, h, form); code != http.StatusMisdirectedRequest || !f.sw.Open("acme-locks") {
		t.Errorf("POST with ingress headers from another address = %d, want 421 and nothing changed", code)
	}
	if code, _ := proxy.do(http.MethodPost, "/status/acme-locks", host, h, form); code != http.StatusSeeOther || f.sw.Open("acme-locks") {
		t.Errorf("POST through ingress = %d, open %v; want 303 and disabled", code, f.sw.Open("acme-locks"))
	}
}

// TestAllInterfacesRealListener binds every interface, as under the Supervisor, and addresses
// the listener by this machine's own non-loopback IP: served, while another IP or name is not.
func TestAllInterfacesRealListener(t *testing.T) {
	var own netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			own = p.Addr()
			break
		}
	}
	if !own.IsValid() {
		t.Skip("no non-loopback IPv4 address")
	}
	f := hostFixture(t, false)
	f.adm.hosts = newHostRule(":0", "")
	addr := serveReal(t, f, ":0")
	_, port, _ := net.SplitHostPort(addr)
	a := attack{t: t, client: &http.Client{Timeout: 5 * time.Second}, addr: net.JoinHostPort(own.String(), port)}
	for host, want := range map[string]int{
		net.JoinHostPort(own.String(), port): http.StatusOK,
		own.String():                         http.StatusOK,
		"localhost:" + port:                  http.StatusOK,
		"192.0.2.7:" + port:                  http.StatusMisdirectedRequest,
		"evil.example:" + port:               http.StatusMisdirectedRequest,
	} {
		if code, _ := a.do(http.MethodGet, "/api/vendors", host, nil, ""); code != want {
			t.Errorf("GET /api/vendors at %s with Host %s = %d, want %d", own, host, code, want)
		}
	}
}

// TestLocalAddr checks that the address a connection came in on is read from the request.
func TestLocalAddr(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if got := localAddr(r); got.IsValid() {
		t.Errorf("localAddr without a connection = %v, want none", got)
	}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("::ffff:172.30.33.4"), Port: 8099}))
	if got, want := localAddr(r), netip.MustParseAddr("172.30.33.4"); got != want {
		t.Errorf("localAddr = %v, want %v", got, want)
	}
}
