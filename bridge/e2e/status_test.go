package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// TestStatusTable exercises every row of the partner HTTP contract (README, "Partner HTTP
// contract") against the real listener and broker. Each failure row also proves that nothing was
// published (a marker event sent afterwards must be the next message a subscriber sees) and
// nothing was recorded (the same event id, sent correctly afterwards, is accepted).
func TestStatusTable(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	sub := bridgetest.SubscribeLive(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "status-table-ha", "hookbridge/+/#")

	var seq atomic.Int64
	nextID := func() string { return fmt.Sprintf("evt_status_%d_%d", time.Now().UnixNano(), seq.Add(1)) }

	// expectNothingPublished sends a marker event and checks that it is the only new message.
	expectNothingPublished := func(t *testing.T, before int) {
		t.Helper()
		marker := nextID()
		if r := ta.Send("acme-locks", marker, bridgetest.AcmeEvent(marker, "marker-device", 50)); r.Status != http.StatusAccepted {
			t.Fatalf("marker event: status %d %s", r.Status, r.Raw)
		}
		msgs := sub.WaitCount(before + 1)
		if extra := msgs[before+1:]; len(extra) > 0 || !strings.Contains(msgs[before].Payload, `"battery":50`) {
			t.Fatalf("a refused request published something: new messages %v", msgs[before:])
		}
	}

	type row struct {
		name   string
		do     func(t *testing.T, id string) bridgetest.Response
		status int
		check  func(t *testing.T, r bridgetest.Response)
		// resend, when set, proves the refused id was not recorded: sending it properly is accepted.
		resend bool
	}
	body := func(id string) []byte { return bridgetest.AcmeEvent(id, "LCK-1", 80) }
	errorBody := func(t *testing.T, r bridgetest.Response) {
		t.Helper()
		if _, ok := r.Body["error"].(string); !ok {
			t.Errorf("body = %s, want a JSON {\"error\": ...}", r.Raw)
		}
	}
	retryAfter := func(t *testing.T, r bridgetest.Response) {
		t.Helper()
		errorBody(t, r)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After header")
		}
	}
	rows := []row{
		{name: "not POST", status: 405, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			return bridgetest.Do(t, http.MethodGet, ta.URL+"/hooks/acme-locks", nil, nil)
		}},
		{name: "not POST, PUT with valid signature", status: 405, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			return bridgetest.Do(t, http.MethodPut, ta.URL+"/hooks/acme-locks", ta.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "unknown vendor", status: 404, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/hooks/nobody", ta.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "vendor not a slug", status: 404, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/hooks/Acme_Locks", ta.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "path outside /hooks", status: 404, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/healthz", nil, nil)
		}},
		{name: "vendor disabled", status: 503, check: retryAfter, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/disable", nil, nil); r.Status != 200 {
				t.Fatalf("disable: %d %s", r.Status, r.Raw)
			}
			defer func() {
				if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/enable", nil, nil); r.Status != 200 {
					t.Fatalf("enable: %d %s", r.Status, r.Raw)
				}
			}()
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "source not in allowed_cidrs", status: 403, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			b := body(id)
			h := ta.Sign("locked-down", id, b, time.Now())
			return ta.Post("/hooks/locked-down", h, b)
		}},
		{name: "rate limited", status: 429, check: retryAfter, do: func(t *testing.T, id string) bridgetest.Response {
			// bearer-vendor allows 1 per minute: the first is accepted, the next refused.
			b := body(id)
			h := ta.Sign("bearer-vendor", id, b, time.Now())
			n := len(sub.Messages())
			if r := ta.Post("/hooks/bearer-vendor", h, b); r.Status != 202 {
				t.Fatalf("first bearer-vendor request: %d %s", r.Status, r.Raw)
			}
			sub.WaitCount(n + 1)
			id2 := id + "-2"
			b2 := body(id2)
			return ta.Post("/hooks/bearer-vendor", ta.Sign("bearer-vendor", id2, b2, time.Now()), b2)
		}},
		{name: "not application/json", status: 415, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			h := ta.Sign("acme-locks", id, body(id), time.Now())
			h["Content-Type"] = "text/plain"
			return ta.Post("/hooks/acme-locks", h, body(id))
		}},
		{name: "no content type", status: 415, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			h := ta.Sign("acme-locks", id, body(id), time.Now())
			delete(h, "Content-Type")
			return ta.Post("/hooks/acme-locks", h, body(id))
		}},
		{name: "body over max_body_kb", status: 413, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			big := []byte(fmt.Sprintf(`{"id":%q,"pad":"%s"}`, id, strings.Repeat("x", bridgetest.MaxBodyKB<<10)))
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, big, time.Now()), big)
		}},
		{name: "bad signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			h := ta.Sign("acme-locks", id, body(id), time.Now())
			return ta.Post("/hooks/acme-locks", h, bridgetest.AcmeEvent(id, "LCK-1", 81)) // body changed after signing
		}},
		{name: "missing signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			h := ta.Sign("acme-locks", id, body(id), time.Now())
			delete(h, "Webhook-Signature")
			return ta.Post("/hooks/acme-locks", h, body(id))
		}},
		{name: "signed with another vendor's secret", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/hooks/acme-locks", ta.SignWith("acme-locks", "whsec_"+"b3RoZXItdmVuZG9yLXNlY3JldC0wMTIz", id, body(id), time.Now()), body(id))
		}},
		{name: "timestamp too old", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, body(id), time.Now().Add(-6*time.Minute)), body(id))
		}},
		{name: "timestamp in the future", status: 401, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, body(id), time.Now().Add(6*time.Minute)), body(id))
		}},
		{name: "invalid JSON", status: 400, check: errorBody, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			b := []byte(`{"id": "` + id + `", "type": `)
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, b, time.Now()), b)
		}},
		{name: "schema violation", status: 422, resend: true, do: func(t *testing.T, id string) bridgetest.Response {
			b := bridgetest.AcmeEvent(id, "LCK-1", 420)
			return ta.Post("/hooks/acme-locks", ta.Sign("acme-locks", id, b, time.Now()), b)
		}, check: func(t *testing.T, r bridgetest.Response) {
			if r.Body["path"] != "/data/battery_pct" || r.Body["keyword"] != "maximum" {
				t.Errorf("422 body = %s, want path /data/battery_pct and keyword maximum", r.Raw)
			}
			if strings.Contains(r.Raw, "420") {
				t.Errorf("422 body echoes the value: %s", r.Raw)
			}
		}},
		{name: "no event id", status: 400, check: errorBody, do: func(t *testing.T, id string) bridgetest.Response {
			// gridwise-energy takes its id from X-GitHub-Delivery or /delivery_id: give neither.
			b := []byte(`{"event":"tariff.updated","account":{"id":"a","meter_serial":"m"},"tariff":{"price_eur_kwh":0.2,"valid_from":"2026-11-25T00:00:00Z","valid_to":"2026-11-26T00:00:00Z"}}`)
			return ta.Post("/hooks/gridwise-energy", ta.Sign("gridwise-energy", "", b, time.Now()), b)
		}},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			before := len(sub.Messages())
			id := nextID()
			r := rw.do(t, id)
			if r.Status != rw.status {
				t.Fatalf("status = %d, want %d; body %s", r.Status, rw.status, r.Raw)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
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
				if r := ta.Send("acme-locks", id, body(id)); r.Status != http.StatusAccepted {
					t.Fatalf("the refused id, resent properly: status %d %s, want 202 (was it recorded?)", r.Status, r.Raw)
				}
				sub.WaitCount(before + 2)
			}
		})
	}

	t.Run("accepted then duplicate", func(t *testing.T) {
		before := len(sub.Messages())
		id := nextID()
		r := ta.Send("acme-locks", id, body(id))
		if r.Status != http.StatusAccepted || r.Body["status"] != "accepted" || r.Body["event"] == "" {
			t.Fatalf("first: %d %s, want 202 accepted with an event", r.Status, r.Raw)
		}
		if ev, _ := r.Body["event"].(string); strings.Contains(ev, id) {
			t.Errorf("202 event = %q holds the clear id", ev)
		}
		sub.WaitCount(before + 1)
		r = ta.Send("acme-locks", id, body(id))
		if r.Status != http.StatusOK || r.Body["status"] != "duplicate" {
			t.Fatalf("again: %d %s, want 200 duplicate", r.Status, r.Raw)
		}
		// A replay with a changed (and correctly signed) body is still the same event.
		r = ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-1", 12))
		if r.Status != http.StatusOK || r.Body["status"] != "duplicate" {
			t.Fatalf("replay with changed body: %d %s, want 200 duplicate", r.Status, r.Raw)
		}
		expectNothingPublished(t, before+1)
	})

	t.Run("unrouted event type accepted and published nowhere", func(t *testing.T) {
		before := len(sub.Messages())
		id := nextID()
		b := []byte(fmt.Sprintf(`{"id":%q,"type":"lock.jammed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-9"}}`, id))
		if r := ta.Send("acme-locks", id, b); r.Status != http.StatusAccepted {
			t.Fatalf("status %d %s, want 202", r.Status, r.Raw)
		}
		expectNothingPublished(t, before)
	})
}
