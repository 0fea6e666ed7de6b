package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeSessions is a Sessions over a map: device account → its sessions.
type fakeSessions struct {
	mu       sync.Mutex
	accounts map[string][]Session
	fail     error    // returned by every call when set
	drops    []string // "username\x00clientID" of each DropDeviceSessions call
}

var _ Sessions = (*fakeSessions)(nil)

func (f *fakeSessions) DeviceSessions(user string) ([]Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	s, ok := f.accounts[user]
	if !ok {
		return nil, fmt.Errorf("broker: %q: %w", user, ErrUnknownDevice)
	}
	return append([]Session(nil), s...), nil
}

func (f *fakeSessions) DropDeviceSessions(user, clientID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drops = append(f.drops, user+"\x00"+clientID)
	if f.fail != nil {
		return 0, f.fail
	}
	s, ok := f.accounts[user]
	if !ok {
		return 0, ErrUnknownDevice
	}
	var kept []Session
	for _, x := range s {
		if clientID != "" && x.ClientID != clientID {
			kept = append(kept, x)
		}
	}
	f.accounts[user] = kept
	return len(s) - len(kept), nil
}

// phoneID is a client id a device chose: personal, with a slash, a space, a percent sign and
// non-ASCII letters, all of which must survive the path.
const phoneID = "Zoë's phone/50% ü"

func newSessionsFixture(t *testing.T, s Sessions) (*Admin, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	a, _ := testAdmin(true)
	a.cfg.Log = zerolog.New(&logs)
	a.cfg.Sessions = s
	return a, &logs
}

func fakeWithSessions() *fakeSessions {
	exp := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	return &fakeSessions{accounts: map[string][]Session{
		"hallway-panel": {
			{ClientID: "panel-1", Connected: true, Persistent: true, Subscriptions: 2},
			{ClientID: phoneID, Persistent: true, Subscriptions: 1, ExpiresAt: &exp},
			{ClientID: "..", Persistent: true},
		},
		"garage": {},
	}}
}

func serveSessions(a *Admin, method, path string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://127.0.0.1:8099"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func TestListDeviceSessions(t *testing.T) {
	a, _ := newSessionsFixture(t, fakeWithSessions())
	w := serveSessions(a, http.MethodGet, "/api/devices/hallway-panel/sessions", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET sessions = %d %s, want 200", w.Code, w.Body)
	}
	var body struct {
		Device   string            `json:"device"`
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Device != "hallway-panel" || len(body.Sessions) != 3 {
		t.Fatalf("GET sessions = %s, want hallway-panel's 3 sessions", w.Body)
	}
	wants := []string{
		`{"client_id":"panel-1","connected":true,"persistent":true,"subscriptions":2}`,
		`{"client_id":"Zoë's phone/50% ü","connected":false,"persistent":true,"subscriptions":1,"expires_at":"2026-12-01T08:00:00Z"}`,
	}
	for i, want := range wants {
		var got bytes.Buffer
		json.Compact(&got, body.Sessions[i])
		if got.String() != want {
			t.Errorf("session %d = %s, want %s", i, got.String(), want)
		}
	}

	w = serveSessions(a, http.MethodGet, "/api/devices/garage/sessions", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"sessions": []`) {
		t.Errorf("GET sessions of an account without any = %d %s, want 200 and an empty list", w.Code, w.Body)
	}
}

// TestDeviceSessionErrors checks the error answers: unknown account, no embedded broker, a
// failing broker, and a path with no client id.
func TestDeviceSessionErrors(t *testing.T) {
	cases := []struct {
		name         string
		sessions     Sessions
		method, path string
		status       int
		err          string
	}{
		{"list, unknown account", fakeWithSessions(), http.MethodGet, "/api/devices/nobody/sessions", 404, "unknown device account"},
		{"drop all, unknown account", fakeWithSessions(), http.MethodDelete, "/api/devices/nobody/sessions", 404, "unknown device account"},
		{"drop one, unknown account", fakeWithSessions(), http.MethodDelete, "/api/devices/nobody/sessions/x", 404, "unknown device account"},
		{"list, no broker", nil, http.MethodGet, "/api/devices/hallway-panel/sessions", 503, "embedded broker not running"},
		{"drop all, no broker", nil, http.MethodDelete, "/api/devices/hallway-panel/sessions", 503, "embedded broker not running"},
		{"drop one, no broker", nil, http.MethodDelete, "/api/devices/hallway-panel/sessions/panel-1", 503, "embedded broker not running"},
		{"list, broker fails", &fakeSessions{fail: errors.New("boom")}, http.MethodGet, "/api/devices/hallway-panel/sessions", 500, "could not"},
		{"drop, broker fails", &fakeSessions{fail: errors.New("boom")}, http.MethodDelete, "/api/devices/hallway-panel/sessions", 500, "could not"},
		{"trailing slash drops nothing", fakeWithSessions(), http.MethodDelete, "/api/devices/hallway-panel/sessions/", 404, ""},
		{"POST is not a drop", fakeWithSessions(), http.MethodPost, "/api/devices/hallway-panel/sessions", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newSessionsFixture(t, c.sessions)
			w := serveSessions(a, c.method, c.path, nil)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.err) {
				t.Errorf("%s %s = %d %s, want %d %q", c.method, c.path, w.Code, w.Body, c.status, c.err)
			}
			if f, ok := c.sessions.(*fakeSessions); ok && f.fail == nil && c.status != http.StatusNotFound {
				if n := len(f.accounts["hallway-panel"]); n != 3 {
					t.Errorf("%s %s left %d sessions, want 3", c.method, c.path, n)
				}
			}
		})
	}
}

// TestDropDeviceSessions drops one session by its path-escaped client id, then all of them; the
// log names the account and the count, never a client id.
func TestDropDeviceSessions(t *testing.T) {
	f := fakeWithSessions()
	a, logs := newSessionsFixture(t, f)
	steps := []struct {
		name, path string
		dropped    int
		left       int
		call       string
	}{
		{"one, escaped id", "/api/devices/hallway-panel/sessions/" + url.PathEscape(phoneID), 1, 2, "hallway-panel\x00" + phoneID},
		{"one, dot-dot id", "/api/devices/hallway-panel/sessions/%2E%2E", 1, 1, "hallway-panel\x00.."},
		{"an id it does not have", "/api/devices/hallway-panel/sessions/panel-9", 0, 1, "hallway-panel\x00panel-9"},
		{"all", "/api/devices/hallway-panel/sessions", 1, 0, "hallway-panel\x00"},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			w := serveSessions(a, http.MethodDelete, s.path, nil)
			if want := fmt.Sprintf("{\n  \"dropped\": %d\n}\n", s.dropped); w.Code != http.StatusOK || w.Body.String() != want {
				t.Fatalf("DELETE %s = %d %q, want 200 %q", s.path, w.Code, w.Body, want)
			}
			if got := f.drops[i]; got != s.call {
				t.Errorf("DropDeviceSessions(%q), want (%q)", got, s.call)
			}
			if n := len(f.accounts["hallway-panel"]); n != s.left {
				t.Errorf("sessions left = %d, want %d", n, s.left)
			}
		})
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["device"] != "hallway-panel" || m["dropped"] == nil {
			t.Errorf("log line %s lacks the device or the count", l)
		}
		lines++
	}
	if lines != len(steps) {
		t.Errorf("log lines = %d, want one per drop (%d)", lines, len(steps))
	}
	for _, id := range []string{"Zoë", "phone", "panel-9", `".."`} {
		if strings.Contains(logs.String(), id) {
			t.Errorf("the log holds the client id part %q:\n%s", id, logs)
		}
	}
}

// TestDropSessionsListenerRules sends the drop as a rebinding page and as another site's page
// would: refused before the broker is asked. Through loopback with the listener's own origin, or
// from curl, it goes through.
func TestDropSessionsListenerRules(t *testing.T) {
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"rebinding Host", map[string]string{"Host": "evil.example:8099", "Origin": "http://evil.example:8099"}, http.StatusMisdirectedRequest},
		{"another site", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"another site, fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"own page", map[string]string{"Origin": "http://127.0.0.1:8099", "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"curl", nil, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fakeWithSessions()
			a, _ := newSessionsFixture(t, f)
			for _, path := range []string{"/api/devices/hallway-panel/sessions/panel-1", "/api/devices/hallway-panel/sessions"} {
				if w := serveSessions(a, http.MethodDelete, path, c.header); w.Code != c.status {
					t.Errorf("DELETE %s = %d, want %d", path, w.Code, c.status)
				}
			}
			if asked := len(f.drops) > 0; asked != (c.status == http.StatusOK) {
				t.Errorf("broker asked to drop: %v after status %d", asked, c.status)
			}
		})
	}
	t.Run("app mode, another source", func(t *testing.T) {
		f := fakeWithSessions()
		a, _ := newSessionsFixture(t, f)
		a.cfg.IngressOnly = true
		r := httptest.NewRequest(http.MethodDelete, "http://127.0.0.1:8099/api/devices/hallway-panel/sessions", nil)
		r.RemoteAddr = "172.30.32.1:5000"
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || len(f.drops) != 0 {
			t.Errorf("DELETE from Home Assistant's own address = %d, drops %d; want 403 and none", w.Code, len(f.drops))
		}
	})
}
