package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// ingressProxy stands in for the Supervisor's ingress: it serves /api/hassio_ingress/<token>/...
// by proxying to the admin listener with the prefix stripped and X-Ingress-Path set, as the
// Supervisor does, and records every request the browser makes.
type ingressProxy struct {
	*httptest.Server
	prefix string
	mu     sync.Mutex
	seen   []string // "METHOD path?query"
}

func newIngressProxy(t *testing.T, adminURL string) *ingressProxy {
	t.Helper()
	target, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &ingressProxy{prefix: "/api/hassio_ingress/tEsT_t0ken-4c6a9f0e2b7d41e5a3c8"}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, p.prefix)
		pr.Out.URL.RawPath = ""
		pr.Out.Header.Set("X-Ingress-Path", p.prefix)
		pr.Out.Host = pr.In.Host // Home Assistant and the Supervisor pass the browser's Host on
	}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, p.prefix+"/") {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *ingressProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestStatusPageInChromium loads the status page through a stand-in for ingress in headless
// Chromium, reads each vendor's state and counts from the DOM, and toggles kill switches by
// clicking the page's buttons with the mouse: disable, enable, and lift a quarantine. A screenshot
// is kept under artifacts/.
func TestStatusPageInChromium(t *testing.T) {
	ta := bridgetest.Start(t, "", haOn)
	// Something to count: one accepted event and one bad signature.
	id := "evt_page_1"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-page", 90)); r.Status != http.StatusAccepted {
		t.Fatalf("event = %d %s", r.Status, r.Raw)
	}
	body := bridgetest.AcmeEvent("evt_page_2", "lock-page", 91)
	h := ta.SignWith("acme-locks", "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0w", "evt_page_2", body, time.Now())
	if r := ta.Post("/hooks/acme-locks", h, body); r.Status != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d", r.Status)
	}

	proxy := newIngressProxy(t, ta.AdminURL)
	b := startChromium(t)
	page := proxy.URL + proxy.prefix + "/"
	b.navigate(page)

	type vendorDOM struct {
		State, Button, Action, Text string
	}
	read := func(vendor string) vendorDOM {
		t.Helper()
		var v vendorDOM
		b.eval(fmt.Sprintf(`(() => { const s = document.querySelector('#vendor-%[1]s');
			const f = s.querySelector('form:not([data-form])');
			return {State: s.querySelector('.state').dataset.state, Button: f.querySelector('button').textContent.trim(),
				Action: f.getAttribute('action'), Text: s.innerText}; })()`, vendor), &v)
		return v
	}
	location := func() string {
		var s string
		b.eval(`location.pathname + location.search`, &s)
		return s
	}
	event := func() int {
		id := fmt.Sprintf("evt_page_%d", time.Now().UnixNano())
		return ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-page", 50)).Status
	}

	v := read("acme-locks")
	if v.State != "enabled" || v.Button != "Disable" || v.Action != proxy.prefix+"/status/acme-locks" {
		t.Fatalf("acme-locks before = %+v, want enabled, a Disable button, a form under the ingress path", v)
	}
	for _, want := range []string{"1 accepted", "1 rejected", "bad_signature", "Last event"} {
		if !strings.Contains(v.Text, want) {
			t.Errorf("acme-locks section lacks %q:\n%s", want, v.Text)
		}
	}
	if strings.Contains(v.Text, "Last event\tnever") || strings.Contains(v.Text, "Last event\nnever") {
		t.Errorf("last event shown as never:\n%s", v.Text)
	}

	// Disable by clicking.
	b.click(`#vendor-acme-locks form:not([data-form]) button`)
	if loc := location(); !strings.HasPrefix(loc, proxy.prefix+"/?done=disable&vendor=acme-locks") {
		t.Fatalf("after the click the page is %q, want the status page under the ingress path", loc)
	}
	v = read("acme-locks")
	if v.State != "disabled" || v.Button != "Enable" {
		t.Fatalf("acme-locks after Disable = %+v, want disabled with an Enable button", v)
	}
	var notice string
	b.eval(`document.querySelector('.notice').innerText`, &notice)
	if !strings.Contains(notice, "acme-locks is disabled") {
		t.Errorf("notice = %q", notice)
	}
	if st, _ := ta.Switches().Get("acme-locks"); st.Mode != killswitch.Disabled || st.By != killswitch.ByStatusPage {
		t.Fatalf("switch = %+v, want disabled by status_page", st)
	}
	if s := event(); s != http.StatusServiceUnavailable {
		t.Fatalf("event while disabled on the page = %d, want 503", s)
	}
	shot, _ := filepath.Abs(filepath.Join("artifacts", "status-page.png"))
	b.screenshot(shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot of the status page after disabling acme-locks: %s", shot)

	// Enable again.
	b.click(`#vendor-acme-locks form:not([data-form]) button`)
	if v = read("acme-locks"); v.State != "enabled" || v.Button != "Disable" {
		t.Fatalf("acme-locks after Enable = %+v", v)
	}
	if s := event(); s != http.StatusAccepted {
		t.Fatalf("event after enabling on the page = %d, want 202", s)
	}

	// A quarantine shows, and a person lifts it here.
	if err := ta.Switches().Quarantine("gridwise-energy", "20 signature failures in 5m0s (threshold 20)"); err != nil {
		t.Fatal(err)
	}
	b.navigate(page)
	v = read("gridwise-energy")
	if v.State != "quarantined" || v.Button != "Lift quarantine" || !strings.Contains(v.Text, "20 signature failures") {
		t.Fatalf("gridwise-energy quarantined = %+v", v)
	}
	quarantined, _ := filepath.Abs(filepath.Join("artifacts", "status-page-quarantined.png"))
	b.screenshot(quarantined)
	t.Logf("screenshot with a quarantined vendor: %s", quarantined)
	// A person acknowledges it first: the quarantine stays, the timeline says who and when.
	b.click(`#vendor-gridwise-energy form[data-form=acknowledge] button`)
	if v = read("gridwise-energy"); v.State != "quarantined" || !strings.Contains(v.Text, "acknowledged") || !strings.Contains(v.Text, "by status_page") {
		t.Fatalf("gridwise-energy after Acknowledge = %+v, want still quarantined, acknowledged by status_page", v)
	}
	b.click(`#vendor-gridwise-energy form:not([data-form]) button`)
	if v = read("gridwise-energy"); v.State != "enabled" {
		t.Fatalf("gridwise-energy after Lift = %+v", v)
	}
	if st, _ := ta.Switches().Get("gridwise-energy"); st.Mode != killswitch.Enabled {
		t.Fatalf("switch after lift = %+v", st)
	}

	// Every request the browser made stayed under the ingress path (a favicon aside, which Home
	// Assistant serves itself), and the forms were really posted.
	var posts int
	for _, r := range proxy.requests() {
		if strings.HasPrefix(r, "GET /favicon.ico") {
			continue
		}
		if !strings.HasPrefix(strings.SplitN(r, " ", 2)[1], proxy.prefix+"/") {
			t.Errorf("the browser requested %q, outside the ingress path", r)
		}
		if strings.HasPrefix(r, "POST "+proxy.prefix+"/status/") {
			posts++
		}
	}
	if posts != 4 {
		t.Errorf("%d form posts through ingress, want 4: %v", posts, proxy.requests())
	}
	for _, l := range b.logEntries() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused") || strings.Contains(l, "exception") {
			t.Errorf("browser log: %s", l)
		}
	}
}
