package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStatusTable exercises every row of DESIGN.md's partner HTTP contract against the real
// listener and broker. Each failure row also proves that nothing was published (a marker event
// sent afterwards must be the next message a subscriber sees) and nothing was recorded (the same
// event id, sent correctly afterwards, is accepted).
func TestStatusTable(t *testing.T) {
	ta := startTestApp(t, "", nil)
	sub := newLiveSubscriber(t, ta.mqttAddr, "homeassistant", haPassword, "status-table-ha", "hookbridge/+/#")

	var seq atomic.Int64
	nextID := func() string { return fmt.Sprintf("evt_status_%d_%d", time.Now().UnixNano(), seq.Add(1)) }

	// expectNothingPublished sends a marker event and checks that it is the only new message.
	expectNothingPublished := func(t *testing.T, before int) {
		t.Helper()
		marker := nextID()
		if r := ta.sendEvent("acme-locks", marker, acmeEvent(marker, "marker-device", 50)); r.status != http.StatusAccepted {
			t.Fatalf("marker event: status %d %s", r.status, r.raw)
		}
		msgs := sub.waitCount(before + 1)
		if extra := msgs[before+1:]; len(extra) > 0 || !strings.Contains(msgs[before].Payload, `"battery":50`) {
			t.Fatalf("a refused request published something: new messages %v", msgs[before:])
		}
	}

	type row struct {
		name   string
		do     func(t *testing.T, id string) response
		status int
		check  func(t *testing.T, r response)
		// resend, when set, proves the refused id was not recorded: sending it properly is accepted.
		resend bool
	}
	body := func(id string) []byte { return acmeEvent(id, "LCK-1", 80) }
	errorBody := func(t *testing.T, r response) {
		t.Helper()
		if _, ok := r.body["error"].(string); !ok {
			t.Errorf("body = %s, want a JSON {\"error\": ...}", r.raw)
		}
	}
	retryAfter := func(t *testing.T, r response) {
		t.Helper()
		errorBody(t, r)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After header")
		}
	}
	rows := []row{
		{name: "not POST", status: 405, check: errorBody, do: func(t *testing.T, id string) response {
			return doRequest(t, http.MethodGet, ta.url+"/hooks/acme-locks", nil, nil)
		}},
		{name: "not POST, PUT with valid signature", status: 405, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			return doRequest(t, http.MethodPut, ta.url+"/hooks/acme-locks", signed(t, ta, "acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "unknown vendor", status: 404, check: errorBody, do: func(t *testing.T, id string) response {
			return ta.post("/hooks/nobody", signed(t, ta, "acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "vendor not a slug", status: 404, check: errorBody, do: func(t *testing.T, id string) response {
			return ta.post("/hooks/Acme_Locks", signed(t, ta, "acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "path outside /hooks", status: 404, check: errorBody, do: func(t *testing.T, id string) response {
			return ta.post("/healthz", nil, nil)
		}},
		{name: "vendor disabled", status: 503, check: retryAfter, resend: true, do: func(t *testing.T, id string) response {
			if r := doRequest(t, http.MethodPost, ta.adminURL+"/api/vendors/acme-locks/disable", nil, nil); r.status != 200 {
				t.Fatalf("disable: %d %s", r.status, r.raw)
			}
			defer func() {
				if r := doRequest(t, http.MethodPost, ta.adminURL+"/api/vendors/acme-locks/enable", nil, nil); r.status != 200 {
					t.Fatalf("enable: %d %s", r.status, r.raw)
				}
			}()
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "source not in allowed_cidrs", status: 403, check: errorBody, do: func(t *testing.T, id string) response {
			b := body(id)
			h := signed(t, ta, "locked-down", id, b, time.Now())
			return ta.post("/hooks/locked-down", h, b)
		}},
		{name: "rate limited", status: 429, check: retryAfter, do: func(t *testing.T, id string) response {
			// bearer-vendor allows 1 per minute: the first is accepted, the next refused.
			b := body(id)
			h := signed(t, ta, "bearer-vendor", id, b, time.Now())
			n := len(sub.messages())
			if r := ta.post("/hooks/bearer-vendor", h, b); r.status != 202 {
				t.Fatalf("first bearer-vendor request: %d %s", r.status, r.raw)
			}
			sub.waitCount(n + 1)
			id2 := id + "-2"
			b2 := body(id2)
			return ta.post("/hooks/bearer-vendor", signed(t, ta, "bearer-vendor", id2, b2, time.Now()), b2)
		}},
		{name: "not application/json", status: 415, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			h := signed(t, ta, "acme-locks", id, body(id), time.Now())
			h["Content-Type"] = "text/plain"
			return ta.post("/hooks/acme-locks", h, body(id))
		}},
		{name: "no content type", status: 415, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			h := signed(t, ta, "acme-locks", id, body(id), time.Now())
			delete(h, "Content-Type")
			return ta.post("/hooks/acme-locks", h, body(id))
		}},
		{name: "body over max_body_kb", status: 413, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			big := []byte(fmt.Sprintf(`{"id":%q,"pad":"%s"}`, id, strings.Repeat("x", testMaxBodyKB<<10)))
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, big, time.Now()), big)
		}},
		{name: "bad signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			h := signed(t, ta, "acme-locks", id, body(id), time.Now())
			return ta.post("/hooks/acme-locks", h, acmeEvent(id, "LCK-1", 81)) // body changed after signing
		}},
		{name: "missing signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			h := signed(t, ta, "acme-locks", id, body(id), time.Now())
			delete(h, "Webhook-Signature")
			return ta.post("/hooks/acme-locks", h, body(id))
		}},
		{name: "signed with another vendor's secret", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			return ta.post("/hooks/acme-locks", signWith(t, ta, "acme-locks", "whsec_"+"b3RoZXItdmVuZG9yLXNlY3JldC0wMTIz", id, body(id), time.Now()), body(id))
		}},
		{name: "timestamp too old", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, body(id), time.Now().Add(-6*time.Minute)), body(id))
		}},
		{name: "timestamp in the future", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, body(id), time.Now().Add(6*time.Minute)), body(id))
		}},
		{name: "invalid JSON", status: 400, check: errorBody, resend: true, do: func(t *testing.T, id string) response {
			b := []byte(`{"id": "` + id + `", "type": `)
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, b, time.Now()), b)
		}},
		{name: "schema violation", status: 422, resend: true, do: func(t *testing.T, id string) response {
			b := acmeEvent(id, "LCK-1", 420)
			return ta.post("/hooks/acme-locks", signed(t, ta, "acme-locks", id, b, time.Now()), b)
		}, check: func(t *testing.T, r response) {
			if r.body["path"] != "/data/battery_pct" || r.body["keyword"] != "maximum" {
				t.Errorf("422 body = %s, want path /data/battery_pct and keyword maximum", r.raw)
			}
			if strings.Contains(r.raw, "420") {
				t.Errorf("422 body echoes the value: %s", r.raw)
			}
		}},
		{name: "no event id", status: 400, check: errorBody, do: func(t *testing.T, id string) response {
			// gridwise-energy takes its id from X-GitHub-Delivery or /delivery_id: give neither.
			b := []byte(`{"event":"tariff.updated","account":{"id":"a","meter_serial":"m"},"tariff":{"price_eur_kwh":0.2,"valid_from":"2026-11-25T00:00:00Z","valid_to":"2026-11-26T00:00:00Z"}}`)
			return ta.post("/hooks/gridwise-energy", signed(t, ta, "gridwise-energy", "", b, time.Now()), b)
		}},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			before := len(sub.messages())
			id := nextID()
			r := rw.do(t, id)
			if r.status != rw.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, rw.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if rw.check != nil {
				rw.check(t, r)
			}
			if rw.name == "rate limited" {
				before++ // the first, accepted request published one message
			}
			expectNothingPublished(t, before)
			if rw.resend {
				if r := ta.sendEvent("acme-locks", id, body(id)); r.status != http.StatusAccepted {
					t.Fatalf("the refused id, resent properly: status %d %s, want 202 (was it recorded?)", r.status, r.raw)
				}
				sub.waitCount(before + 2)
			}
		})
	}

	t.Run("accepted then duplicate", func(t *testing.T) {
		before := len(sub.messages())
		id := nextID()
		r := ta.sendEvent("acme-locks", id, body(id))
		if r.status != http.StatusAccepted || r.body["status"] != "accepted" || r.body["event"] == "" {
			t.Fatalf("first: %d %s, want 202 accepted with an event", r.status, r.raw)
		}
		if ev, _ := r.body["event"].(string); strings.Contains(ev, id) {
			t.Errorf("202 event = %q holds the clear id", ev)
		}
		sub.waitCount(before + 1)
		r = ta.sendEvent("acme-locks", id, body(id))
		if r.status != http.StatusOK || r.body["status"] != "duplicate" {
			t.Fatalf("again: %d %s, want 200 duplicate", r.status, r.raw)
		}
		// A replay with a changed (and correctly signed) body is still the same event.
		r = ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-1", 12))
		if r.status != http.StatusOK || r.body["status"] != "duplicate" {
			t.Fatalf("replay with changed body: %d %s, want 200 duplicate", r.status, r.raw)
		}
		expectNothingPublished(t, before+1)
	})

	t.Run("unrouted event type accepted and published nowhere", func(t *testing.T) {
		before := len(sub.messages())
		id := nextID()
		b := []byte(fmt.Sprintf(`{"id":%q,"type":"lock.jammed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-9"}}`, id))
		if r := ta.sendEvent("acme-locks", id, b); r.status != http.StatusAccepted {
			t.Fatalf("status %d %s, want 202", r.status, r.raw)
		}
		expectNothingPublished(t, before)
	})
}
