package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// TestStatusAcknowledge: the status page offers to acknowledge an open incident nobody has
// acknowledged, its button records the acknowledgement on behalf of the status page (with the
// CSRF checks of the other forms), and the page shows the timeline after.
func TestStatusAcknowledge(t *testing.T) {
	f := newStatusFixture(t, true)
	hdr := map[string]string{"X-Ingress-Path": testIngress}
	page := func() string { return f.do("172.30.32.2:1", "/", hdr, nil).Body.String() }
	if strings.Contains(page(), `value="acknowledge"`) {
		t.Fatalf("the page offers to acknowledge with no incident open")
	}
	if err := f.sw.Quarantine("gridwise-energy", "test: burst of bad signatures"); err != nil {
		t.Fatal(err)
	}
	p := page()
	if !strings.Contains(p, `data-form="acknowledge"`) || !strings.Contains(p, "Open incident") {
		t.Fatalf("the page neither shows the open incident nor offers to acknowledge it:\n%s", p)
	}
	tok := f.token(t)
	post := func(token string, extra map[string]string) string {
		h := map[string]string{"X-Ingress-Path": testIngress}
		for k, v := range extra {
			h[k] = v
		}
		w := f.do("172.30.32.2:1", "/status/gridwise-energy", h, url.Values{"action": {"acknowledge"}, "token": {token}})
		if w.Code == http.StatusSeeOther {
			return w.Header().Get("Location")
		}
		return http.StatusText(w.Code)
	}
	if got := post("", nil); got != http.StatusText(http.StatusForbidden) {
		t.Errorf("acknowledge without a token = %s, want Forbidden", got)
	}
	if got := post(tok, map[string]string{"Sec-Fetch-Site": "cross-site"}); got != http.StatusText(http.StatusForbidden) {
		t.Errorf("acknowledge from another site = %s, want Forbidden", got)
	}
	if inc, _ := f.sw.Incident("gridwise-energy"); inc.Acknowledged != nil {
		t.Fatalf("a refused form acknowledged the incident: %+v", inc)
	}
	if got, want := post(tok, nil), testIngress+"/?done=acknowledge&vendor=gridwise-energy#vendor-gridwise-energy"; got != want {
		t.Errorf("acknowledge = %s, want a redirect to %s", got, want)
	}
	inc, _ := f.sw.Incident("gridwise-energy")
	if inc.Acknowledged == nil || inc.Acknowledged.By != killswitch.ByStatusPage {
		t.Fatalf("incident = %+v, want acknowledged by status_page", inc)
	}
	if got := post(tok, nil); !strings.Contains(got, "done=no_incident") {
		t.Errorf("acknowledge again = %s, want the no_incident notice", got)
	}
	p = page()
	if strings.Contains(p, `data-form="acknowledge"`) || !strings.Contains(p, `data-field="acknowledged"`) {
		t.Errorf("after the acknowledgement the page still offers it, or does not show it:\n%s", p)
	}
}

// fakeLifecycle gives fixed secrets and activity.
type fakeLifecycle struct{}

func (fakeLifecycle) Secrets(vendor string) []SecretInfo {
	if vendor != "acme-locks" {
		return nil
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []SecretInfo{
		{Digest: "0123456789ab", Key: "secret", FirstSeen: at, AgeDays: 3, LastVerified: &at, Newest: true},
		{Digest: "ba9876543210", Key: "previous_secret", FirstSeen: at, AgeDays: 400, ReadyToRemove: true, ReadySince: &at, ReadyForSeconds: 7200},
	}
}

func (fakeLifecycle) Activity(vendor string) *Activity {
	return &Activity{RotateAfter: "365d", ExpectEvery: "6h", Silent: vendor == "acme-locks"}
}

func (fakeLifecycle) Offboarded(vendor string) *Offboarding {
	if vendor != "gridwise-energy" {
		return nil
	}
	return &Offboarding{Vendor: vendor, At: time.Now(), By: "api", Removed: map[string]int{"retained": 2}}
}

// TestInventoryLifecycle: the inventory and the status page show contacts, secrets by digest,
// silence, offboarding and incidents.
func TestInventoryLifecycle(t *testing.T) {
	f := newStatusFixture(t, false)
	f.adm.cfg.Lifecycle = fakeLifecycle{}
	f.adm.cfg.Vendors["acme-locks"].Policy.Contacts = []policy.Contact{{Role: "owner", Name: "Jane Doe", Channel: "mailto:jane@example.net"}}
	w := f.do("127.0.0.1:1", "/api/vendors/acme-locks", nil, nil)
	var vi VendorInfo
	if err := json.Unmarshal(w.Body.Bytes(), &vi); err != nil {
		t.Fatal(err)
	}
	if len(vi.Contacts) != 1 || len(vi.Secrets) != 2 || !vi.Secrets[1].ReadyToRemove || vi.Activity == nil || !vi.Activity.Silent || vi.Incidents == nil {
		t.Errorf("inventory entry = %+v, want the contact, two secrets, silence and an incident list", vi)
	}
	page := f.do("127.0.0.1:1", "/", nil, nil).Body.String()
	for _, want := range []string{"Jane Doe", "mailto:jane@example.net", `data-secret="0123456789ab"`, "ready to remove (for 2h 0m)",
		`data-field="silent"`, `data-field="offboarded"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}

type notes struct {
	mu  sync.Mutex
	got []audit.Action
}

func (n *notes) Note(a audit.Action) error {
	n.mu.Lock()
	n.got = append(n.got, a)
	n.mu.Unlock()
	return nil
}

// TestSessionDropsNoted: dropping a device's sessions is an audit record naming the account and
// the count, never a client id.
func TestSessionDropsNoted(t *testing.T) {
	n := &notes{}
	a, _ := newSessionsFixture(t, fakeWithSessions())
	a.cfg.Notes = n
	for _, path := range []string{"/api/devices/hallway-panel/sessions/" + url.PathEscape(phoneID), "/api/devices/hallway-panel/sessions"} {
		if w := serveSessions(a, http.MethodDelete, path, nil); w.Code != http.StatusOK {
			t.Fatalf("DELETE %s = %d %s", path, w.Code, w.Body)
		}
	}
	if len(n.got) != 2 {
		t.Fatalf("notes = %+v, want 2", n.got)
	}
	for _, a := range n.got {
		if a.Kind != audit.KindAdmin || a.What != WhatSessionsDropped || !strings.Contains(a.Detail, "hallway-panel") || strings.Contains(a.Detail, "phone") {
			t.Errorf("note = %+v, want an admin record naming the account and no client id", a)
		}
	}
	if !strings.Contains(n.got[0].Detail, "1 dropped") || !strings.Contains(n.got[1].Detail, "all sessions") {
		t.Errorf("notes = %+v, want one dropped, then all", n.got)
	}
}
