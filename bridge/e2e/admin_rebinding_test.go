package e2e_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAdminDNSRebinding (finding 5): on the real admin listener, a request for a name rebound to
// 127.0.0.1 (Host: evil.example) is refused with 421, for reads (inventory, metrics, audit, the
// status page and its form token) and for state changes (the kill switch, the status page's form,
// session drops), with or without an Origin equal to that Host; a state-changing request for our
// own Host from another origin is refused with 403. The listener's own names keep working.
func TestAdminDNSRebinding(t *testing.T) {
	p := startBinary(t, nil)
	_, port, err := net.SplitHostPort(p.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	evil := "evil.example:" + port
	evilOrigin := map[string]string{"Origin": "http://" + evil}

	for _, c := range []struct {
		name, method, path, host string
		header                   map[string]string
		want                     int
	}{
		{"inventory", http.MethodGet, "/api/vendors", evil, nil, http.StatusMisdirectedRequest},
		{"one vendor", http.MethodGet, "/api/vendors/acme-locks", evil, nil, http.StatusMisdirectedRequest},
		{"metrics", http.MethodGet, "/metrics", evil, nil, http.StatusMisdirectedRequest},
		{"audit", http.MethodGet, "/api/audit", evil, nil, http.StatusMisdirectedRequest},
		{"status page and its form token", http.MethodGet, "/", evil, nil, http.StatusMisdirectedRequest},
		{"a name without a port", http.MethodGet, "/api/vendors", "evil.example", nil, http.StatusMisdirectedRequest},
		{"a trailing dot and upper case", http.MethodGet, "/api/vendors", "EVIL.example.:" + port, nil, http.StatusMisdirectedRequest},
		{"kill switch off, Origin equal to the Host", http.MethodPost, "/api/vendors/acme-locks/disable", evil, evilOrigin, http.StatusMisdirectedRequest},
		{"kill switch off, no Origin", http.MethodPost, "/api/vendors/acme-locks/disable", evil, nil, http.StatusMisdirectedRequest},
		{"status page form", http.MethodPost, "/status/acme-locks", evil, evilOrigin, http.StatusMisdirectedRequest},
		{"drop a device's sessions", http.MethodDelete, "/api/devices/" + porchUser + "/sessions", evil, evilOrigin, http.StatusMisdirectedRequest},
		{"our Host, another origin", http.MethodPost, "/api/vendors/acme-locks/disable", "", evilOrigin, http.StatusForbidden},
		{"our Host, another site by Sec-Fetch-Site", http.MethodPost, "/api/vendors/acme-locks/disable", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := p.admin(t, c.method, c.path, c.host, c.header)
			if r.Status != c.want {
				t.Errorf("%s %s with Host %q: %d, want %d", c.method, c.path, c.host, r.Status, c.want)
			}
			if strings.Contains(r.Raw, "acme-locks") || strings.Contains(r.Raw, "hookbridge_") {
				t.Errorf("the refusal leaks content: %.200s", r.Raw)
			}
		})
	}
	if mode := p.vendorMode(t, "acme-locks"); mode != "enabled" {
		t.Errorf("acme-locks is %s after the rebinding page's requests, want enabled", mode)
	}
	if !p.logHas("refused a request for a host name this listener does not answer to") {
		t.Errorf("no log line about the refused Host")
	}

	// The listener's own names still work, for reads and, from its own origin, for changes.
	for _, host := range []string{"", "localhost:" + port, "127.0.0.1:" + port} {
		if r := p.admin(t, http.MethodGet, "/api/vendors", host, nil); r.Status != http.StatusOK {
			t.Errorf("GET /api/vendors with Host %q: %d, want 200", host, r.Status)
		}
	}
	local := "localhost:" + port
	if r := p.admin(t, http.MethodPost, "/api/vendors/acme-locks/disable", local, map[string]string{"Origin": "http://" + local}); r.Status != http.StatusOK {
		t.Errorf("disable from the listener's own origin: %d %s, want 200", r.Status, r.Raw)
	}
	if r := p.admin(t, http.MethodPost, "/api/vendors/acme-locks/enable", "", nil); r.Status != http.StatusOK {
		t.Errorf("enable without an Origin (curl): %d %s, want 200", r.Status, r.Raw)
	}
}
