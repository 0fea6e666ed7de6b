package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/stats"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

const testIngress = "/api/hassio_ingress/Xy_z-0123456789abcdefABCDEF"

// statusFixture is an admin handler with the status page over three vendors: acme-locks and
// gridwise-energy with secrets, no-secret without.
type statusFixture struct {
	adm *Admin
	sw  *killswitch.Switches
	st  *stats.Stats
}

func newStatusFixture(t *testing.T, ingressOnly bool) *statusFixture {
	t.Helper()
	vendors := vendor.Vendors{
		"acme-locks": {Name: "acme-locks", Policy: &policy.Policy{Vendor: "acme-locks", Title: "Acme <Locks> cloud",
			Owner: "Home security", Contact: "support@acme.example", Risk: "high"}},
		"gridwise-energy": {Name: "gridwise-energy", Policy: &policy.Policy{Vendor: "gridwise-energy", Title: "GridWise energy"}},
		"no-secret":       {Name: "no-secret", Policy: &policy.Policy{Vendor: "no-secret"}},
	}
	on := map[string]bool{"acme-locks": true, "gridwise-energy": true, "no-secret": false}
	can := map[string]bool{"acme-locks": true, "gridwise-energy": true}
	sw := killswitch.New(on, can, nil, nil)
	st := stats.New([]string{"acme-locks", "gridwise-energy", "no-secret"})
	adm := New(Config{Vendors: vendors, Switches: sw, Stats: st, IngressOnly: ingressOnly, Log: zerolog.Nop(), Version: "1.2.3"})
	adm.AddStatusPage()
	return &statusFixture{adm: adm, sw: sw, st: st}
}

// do serves one request from remote with headers and a form body (POST when form is not nil).
func (f *statusFixture) do(remote, path string, header map[string]string, form url.Values) *httptest.ResponseRecorder {
	method, body := http.MethodGet, ""
	if form != nil {
		method, body = http.MethodPost, form.Encode()
	}
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	r.Host = "127.0.0.1:8099"
	if h, ok := header["Host"]; ok {
		r.Host = h
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.adm.ServeHTTP(w, r)
	return w
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// token loads the page and returns its form token.
func (f *statusFixture) token(t *testing.T) string {
	t.Helper()
	w := f.do("127.0.0.1:1", "/", nil, nil)
	m := tokenRE.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("GET / = %d, no token:\n%s", w.Code, w.Body)
	}
	return html.UnescapeString(m[1])
}

// TestIngressOnly runs the admin handler in app mode: only the ingress proxy and loopback get in,
// to every route, the status page's form included.
func TestIngressOnly(t *testing.T) {
	cases := []struct {
		remote string
		ok     bool
	}{
		{"172.30.32.2:41234", true},
		{"127.0.0.1:5555", true},
		{"127.0.0.2:5555", true},
		{"[::1]:5555", true},
		{"[::ffff:172.30.32.2]:80", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"172.30.32.3:41234", false},
		{"172.30.32.1:41234", false},
		{"172.30.33.5:8099", false},
		{"192.168.1.10:5555", false},
		{"10.0.0.1:5555", false},
		{"[2001:db8::1]:5555", false},
		{"[fe80::1%eth0]:5555", false},
		{"0.0.0.0:1", false},
		{"", false},
		{"garbage", false},
	}
	for _, c := range cases {
		t.Run(c.remote, func(t *testing.T) {
			f := newStatusFixture(t, true)
			tok := f.token(t)
			for _, path := range []string{"/", "/healthz", "/api/vendors/acme-locks"} {
				w := f.do(c.remote, path, nil, nil)
				if got := w.Code != http.StatusForbidden; got != c.ok {
					t.Errorf("GET %s from %q = %d, want allowed %v", path, c.remote, w.Code, c.ok)
				}
			}
			w := f.do(c.remote, "/status/acme-locks", nil, url.Values{"token": {tok}, "action": {"disable"}})
			disabled := !f.sw.Open("acme-locks")
			if c.ok && (w.Code != http.StatusSeeOther || !disabled) {
				t.Errorf("POST from %q = %d, disabled %v; want 303 and disabled", c.remote, w.Code, disabled)
			}
			if !c.ok && (w.Code != http.StatusForbidden || disabled) {
				t.Errorf("POST from %q = %d, disabled %v; want 403 and nothing changed", c.remote, w.Code, disabled)
			}
		})
	}
	t.Run("desktop mode takes any source", func(t *testing.T) {
		f := newStatusFixture(t, false)
		if w := f.do("192.168.1.10:5555", "/", nil, nil); w.Code != http.StatusOK {
			t.Errorf("GET / without IngressOnly = %d, want 200", w.Code)
		}
	})
}

var linkRE = regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)

// TestIngressPathPrefixesEveryLink checks every link and form action of the page, and the
// redirect after a form, against X-Ingress-Path.
func TestIngressPathPrefixesEveryLink(t *testing.T) {
	for _, base := range []string{"", testIngress} {
		t.Run("base="+base, func(t *testing.T) {
			f := newStatusFixture(t, true)
			hdr := map[string]string{}
			if base != "" {
				hdr["X-Ingress-Path"] = base
			}
			w := f.do("172.30.32.2:1", "/", hdr, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET / = %d", w.Code)
			}
			links := linkRE.FindAllStringSubmatch(w.Body.String(), -1)
			if len(links) < 5 {
				t.Fatalf("found %d links, want the nav links and a form per vendor", len(links))
			}
			for _, l := range links {
				if u := html.UnescapeString(l[1]); !strings.HasPrefix(u, base+"/") || strings.HasPrefix(u, "//") {
					t.Errorf("link %q does not start with %q", u, base+"/")
				}
			}
			tok := html.UnescapeString(tokenRE.FindStringSubmatch(w.Body.String())[1])
			w = f.do("172.30.32.2:1", "/status/gridwise-energy", hdr, url.Values{"token": {tok}, "action": {"disable"}})
			if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, base+"/?") {
				t.Errorf("POST = %d Location %q, want 303 to %s/?...", w.Code, loc, base)
			}
		})
	}
}

// TestIngressPathRefused sends forged X-Ingress-Path values: each is refused, never echoed, never
// used in a link or redirect.
func TestIngressPathRefused(t *testing.T) {
	bad := []string{
		"https://evil.example",
		"//evil.example",
		"/api/hassio_ingress/",
		"/api/hassio_ingress/abc/",
		"/api/hassio_ingress/abc/../../../x",
		"/api/hassio_ingress/abc?x=1",
		"/api/hassio_ingress/a b",
		`/api/hassio_ingress/"><script>alert(1)</script>`,
		"/api/hassio_ingress/abc\r\nSet-Cookie: x=1",
		"/other/abc",
		"api/hassio_ingress/abc",
		"/api/hassio_ingress/" + strings.Repeat("a", 129),
		"javascript:alert(1)",
	}
	f := newStatusFixture(t, true)
	tok := f.token(t)
	for _, v := range bad {
		t.Run(v, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8099/", nil)
			r.RemoteAddr = "172.30.32.2:1"
			r.Header["X-Ingress-Path"] = []string{v}
			w := httptest.NewRecorder()
			f.adm.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest {
				t.Errorf("GET with X-Ingress-Path %q = %d, want 400", v, w.Code)
			}
			if strings.Contains(w.Body.String(), "evil") || strings.Contains(w.Body.String(), "<script>") {
				t.Errorf("the refusal echoes the header:\n%s", w.Body)
			}
			r = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8099/status/acme-locks", strings.NewReader(url.Values{"token": {tok}, "action": {"disable"}}.Encode()))
			r.RemoteAddr = "172.30.32.2:1"
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header["X-Ingress-Path"] = []string{v}
			w = httptest.NewRecorder()
			f.adm.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" || !f.sw.Open("acme-locks") {
				t.Errorf("POST with X-Ingress-Path %q = %d Location %q, open %v; want 400, no redirect, nothing changed",
					v, w.Code, w.Header().Get("Location"), f.sw.Open("acme-locks"))
			}
		})
	}
	t.Run("two values", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8099/", nil)
		r.RemoteAddr = "172.30.32.2:1"
		r.Header["X-Ingress-Path"] = []string{testIngress, "/api/hassio_ingress/other"}
		w := httptest.NewRecorder()
		f.adm.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("two X-Ingress-Path values = %d, want 400", w.Code)
		}
	})
}

// TestStatusForm drives the kill switch forms: the CSRF checks first, then each action.
func TestStatusForm(t *testing.T) {
	f := newStatusFixture(t, true)
	tok := f.token(t)
	hdr := map[string]string{"X-Ingress-Path": testIngress}
	post := func(vendor, action, token string, extra map[string]string) *httptest.ResponseRecorder {
		h := map[string]string{}
		for k, v := range hdr {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		form := url.Values{"action": {action}}
		if token != "" {
			form.Set("token", token)
		}
		return f.do("172.30.32.2:1", "/status/"+vendor, h, form)
	}

	refusals := []struct {
		name          string
		vendor, token string
		action        string
		extra         map[string]string
		status        int
	}{
		{"no token", "acme-locks", "", "disable", nil, http.StatusForbidden},
		{"bad token", "acme-locks", "123.abc", "disable", nil, http.StatusForbidden},
		{"token of another key", "acme-locks", newStatusPage(f.adm).token(), "disable", nil, http.StatusForbidden},
		{"truncated token", "acme-locks", tok[:len(tok)-2], "disable", nil, http.StatusForbidden},
		{"cross-site", "acme-locks", tok, "disable", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site", "acme-locks", tok, "disable", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"unknown action", "acme-locks", tok, "explode", nil, http.StatusBadRequest},
		{"unknown vendor", "nobody", tok, "disable", nil, http.StatusNotFound},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			w := post(c.vendor, c.action, c.token, c.extra)
			if w.Code != c.status || !f.sw.Open("acme-locks") {
				t.Errorf("POST = %d, open %v; want %d and nothing changed", w.Code, f.sw.Open("acme-locks"), c.status)
			}
			if strings.Contains(w.Body.String(), "explode") || strings.Contains(w.Body.String(), "nobody") {
				t.Errorf("refusal echoes the request:\n%s", w.Body)
			}
		})
	}

	steps := []struct {
		name, vendor, action string
		extra                map[string]string
		done                 string
		mode                 killswitch.Mode
	}{
		{"disable", "acme-locks", "disable", map[string]string{"Sec-Fetch-Site": "same-origin"}, "disable", killswitch.Disabled},
		{"enable", "acme-locks", "enable", nil, "enable", killswitch.Enabled},
		{"enable without secret", "no-secret", "enable", nil, "no_secret", killswitch.Disabled},
		{"quarantine", "gridwise-energy", "", nil, "", killswitch.Quarantined},
		{"enable quarantined", "gridwise-energy", "enable", nil, "quarantined", killswitch.Quarantined},
		{"disable quarantined", "gridwise-energy", "disable", nil, "disable", killswitch.Quarantined},
		{"lift", "gridwise-energy", "lift", nil, "lift", killswitch.Enabled},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.action == "" {
				if err := f.sw.Quarantine(s.vendor, "test: burst of bad signatures"); err != nil {
					t.Fatal(err)
				}
				return
			}
			w := post(s.vendor, s.action, tok, s.extra)
			want := testIngress + "/?done=" + s.done + "&vendor=" + s.vendor + "#vendor-" + s.vendor
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
				t.Fatalf("POST %s = %d Location %q, want 303 %q", s.action, w.Code, w.Header().Get("Location"), want)
			}
			st, _ := f.sw.Get(s.vendor)
			if st.Mode != s.mode {
				t.Fatalf("mode = %s, want %s", st.Mode, s.mode)
			}
			// The page the redirect leads to says what happened.
			loc, _ := url.Parse(strings.TrimPrefix(w.Header().Get("Location"), testIngress))
			page := f.do("172.30.32.2:1", loc.RequestURI(), hdr, nil).Body.String()
			if !strings.Contains(page, `class="notice`) || !strings.Contains(page, s.vendor) {
				t.Errorf("page after %s shows no notice:\n%s", s.action, page)
			}
		})
	}
	// The page's switches act on behalf of the status page, not the API.
	if st, _ := f.sw.Get("acme-locks"); st.By != killswitch.ByStatusPage {
		t.Errorf("By = %q, want %q", st.By, killswitch.ByStatusPage)
	}
	if tl, _ := f.sw.Timeline("gridwise-energy", time.Now()); len(tl) != 1 || tl[0].Lifted == nil || tl[0].Lifted.By != killswitch.ByStatusPage {
		t.Errorf("timeline = %+v, want the quarantine lifted by status_page", tl)
	}
}

func TestStatusTokenExpiry(t *testing.T) {
	f := newStatusFixture(t, false)
	p := newStatusPage(f.adm)
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return t0 }
	tok := p.token()
	cases := []struct {
		at time.Duration
		ok bool
	}{
		{0, true},
		{statusTokenTTL - time.Second, true},
		{statusTokenTTL + time.Second, false},
		{-2 * time.Minute, false},
	}
	for _, c := range cases {
		p.now = func() time.Time { return t0.Add(c.at) }
		if got := p.validToken(tok); got != c.ok {
			t.Errorf("validToken after %s = %v, want %v", c.at, got, c.ok)
		}
	}
}

func FuzzValidToken(f *testing.F) {
	p := newStatusPage(&Admin{})
	f.Add(p.token())
	f.Add("")
	f.Add(".")
	f.Add("99999999999999999999999.x")
	f.Fuzz(func(t *testing.T, tok string) {
		if p.validToken(tok) && tok != p.token() {
			// A valid token must be one this process issued: same second, same MAC.
			ts, _, _ := strings.Cut(tok, ".")
			if tok != ts+"."+p.mac(ts) {
				t.Fatalf("validToken(%q) = true for a token not issued", tok)
			}
		}
	})
}

// TestStatusPageContent checks what the page shows: state and reason, last event, counts by
// reason, the action fitting the state, escaping, and the security headers.
func TestStatusPageContent(t *testing.T) {
	f := newStatusFixture(t, false)
	now := time.Now()
	for i, reason := range []string{"accepted", "accepted", "duplicate", "bad_signature", "bad_signature", "schema"} {
		status := map[string]int{"accepted": 202, "duplicate": 200, "bad_signature": 401, "schema": 422}[reason]
		r := map[string]*outcome.Reason{"accepted": outcome.Accepted, "duplicate": outcome.Duplicate, "bad_signature": outcome.BadSignature, "schema": outcome.Schema}[reason]
		f.st.Observe(&outcome.Outcome{Vendor: "acme-locks", Status: status, Reason: r, Received: now.Add(time.Duration(i) * time.Second)})
	}
	if err := f.sw.Quarantine("gridwise-energy", "20 signature failures in 5m0s"); err != nil {
		t.Fatal(err)
	}
	w := f.do("127.0.0.1:1", "/", nil, nil)
	page := w.Body.String()
	for _, want := range []string{
		"Acme &lt;Locks&gt; cloud", // the title escaped
		"2 accepted", "1 duplicates", "3 rejected",
		"<td>bad_signature</td><td>2</td>", "<td>schema</td><td>1</td>", "<td>accepted</td><td>2</td>",
		now.Add(2 * time.Second).UTC().Format("2006-01-02 15:04:05"), // last event (the duplicate)
		"Home security", "support@acme.example",
		`data-state="quarantined"`, "20 signature failures in 5m0s", "Lift quarantine",
		`value="disable"`, `value="enable"`, `value="lift"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<Locks>") || strings.Contains(page, "<script") {
		t.Error("page holds unescaped markup or a script")
	}
	h := w.Header()
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if rp := h.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("Referrer-Policy = %q, want same-origin (no-referrer makes browsers send Origin: null with the form)", rp)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	// The inline style sheet is exactly the one the CSP's hash allows, so a browser applies it.
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no inline style sheet")
	}
	sum := sha256.Sum256([]byte(m[1]))
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q does not allow the page's style sheet (%s)", csp, want)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("page refers to an external address; it must work offline")
	}
}

func TestFormatWhen(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-30 * time.Second), "2026-11-25 07:59:30 UTC (30s ago)"},
		{now.Add(-5 * time.Minute), "2026-11-25 07:55:00 UTC (5m ago)"},
		{now.Add(-3 * time.Hour), "2026-11-25 05:00:00 UTC (3h ago)"},
		{now.Add(-72 * time.Hour), "2026-11-22 08:00:00 UTC (3d ago)"},
		{now.Add(time.Second), "2026-11-25 08:00:01 UTC (just now)"},
	}
	for _, c := range cases {
		if got := formatWhen(c.t, now); got != c.want {
			t.Errorf("formatWhen(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
