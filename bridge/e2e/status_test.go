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
// statusTarget is what the status table's rows need of a running bridge: its listeners, how its
// vendors sign, and a wait for what an accepted event publishes. The in-process instance and the
// real binary both make one, so the same rows run against either, in any mode.
type statusTarget struct {
	URL, AdminURL string
	// SignWith returns the headers that authenticate body as vendor's event id at a time under
	// a secret; Sign does so under the vendor's test secret.
	SignWith func(vendor, secret, id string, body []byte, at time.Time) map[string]string
	// Published waits until n more messages were published than when the row began; nil when
	// nothing is published (shadow mode).
	Published func(t *testing.T, n int)
}

func (tg *statusTarget) Sign(vendor, id string, body []byte, at time.Time) map[string]string {
	return tg.SignWith(vendor, bridgetest.Secrets()[vendor], id, body, at)
}

func (tg *statusTarget) Post(t *testing.T, path string, header map[string]string, body []byte) bridgetest.Response {
	t.Helper()
	return bridgetest.Do(t, http.MethodPost, tg.URL+path, header, body)
}

// Send posts body as vendor's event id, signed now.
func (tg *statusTarget) Send(t *testing.T, vendor, id string, body []byte) bridgetest.Response {
	t.Helper()
	return tg.Post(t, "/hooks/"+vendor, tg.Sign(vendor, id, body, time.Now()), body)
}

// instanceTarget is the status target of an in-process instance; published as in processTarget.
func instanceTarget(ta *bridgetest.Instance, published func(t *testing.T, n int)) *statusTarget {
	return &statusTarget{URL: ta.URL, AdminURL: ta.AdminURL, SignWith: ta.SignWith, Published: published}
}

// processTarget is the status target of the real binary; published counts the messages a row
// waits for (nil: it does not wait).
func processTarget(p *bridgetest.Process, published func(t *testing.T, n int)) *statusTarget {
	return &statusTarget{URL: "http://" + p.HTTPAddr, AdminURL: "http://" + p.AdminAddr, Published: published,
		SignWith: func(vendor, secret, id string, body []byte, at time.Time) map[string]string {
			v, ok := p.Catalog.Vendor(vendor)
			if !ok {
				p.TB.Fatalf("vendor %s is not in the catalog", vendor)
			}
			s := bridgetest.Sender{Vendor: vendor, Auth: v.Policy.Auth, Secret: secret, PublicURL: p.Options.PublicURL}
			return s.Sign(p.TB, id, body, at, "").Header
		}}
}

// statusRow is one row of the partner HTTP contract.
type statusRow struct {
	name   string
	do     func(t *testing.T, tg *statusTarget, id string) bridgetest.Response
	status int
	check  func(t *testing.T, r bridgetest.Response)
	// resend, when set, proves the refused id was not recorded: sending it properly is accepted.
	resend bool
	// published is how many messages the row itself publishes in live mode.
	published int
}

func statusBody(id string) []byte { return bridgetest.AcmeEvent(id, "LCK-1", 80) }

func errorBody(t *testing.T, r bridgetest.Response) {
	t.Helper()
	if _, ok := r.Body["error"].(string); !ok {
		t.Errorf("body = %s, want a JSON {\"error\": ...}", r.Raw)
	}
}

func retryAfter(t *testing.T, r bridgetest.Response) {
	t.Helper()
	errorBody(t, r)
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After header")
	}
}

// statusRows are the rows of the partner HTTP contract (README, "Partner HTTP contract"), each
// a request and the answer it must get, with the test options (bridgetest.DefaultOptions) and the
// test catalog. The last rows are taken requests: accepted, duplicates, an unrouted type.
func statusRows() []statusRow {
	body := statusBody
	return []statusRow{
		{name: "not POST", status: 405, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return bridgetest.Do(t, http.MethodGet, tg.URL+"/hooks/acme-locks", nil, nil)
		}},
		{name: "not POST, PUT with valid signature", status: 405, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return bridgetest.Do(t, http.MethodPut, tg.URL+"/hooks/acme-locks", tg.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "unknown vendor", status: 404, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/hooks/nobody", tg.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "vendor not a slug", status: 404, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/hooks/Acme_Locks", tg.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "path outside /hooks", status: 404, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/healthz", nil, nil)
		}},
		{name: "vendor disabled", status: 503, check: retryAfter, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			if r := bridgetest.Do(t, http.MethodPost, tg.AdminURL+"/api/vendors/acme-locks/disable", nil, nil); r.Status != 200 {
				t.Fatalf("disable: %d %s", r.Status, r.Raw)
			}
			defer func() {
				if r := bridgetest.Do(t, http.MethodPost, tg.AdminURL+"/api/vendors/acme-locks/enable", nil, nil); r.Status != 200 {
					t.Fatalf("enable: %d %s", r.Status, r.Raw)
				}
			}()
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, body(id), time.Now()), body(id))
		}},
		{name: "source not in allowed_cidrs", status: 403, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			b := body(id)
			return tg.Post(t, "/hooks/locked-down", tg.Sign("locked-down", id, b, time.Now()), b)
		}},
		{name: "rate limited", status: 429, check: retryAfter, published: 1, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			// bearer-vendor allows 1 per minute: the first is accepted, the next refused.
			b := body(id)
			if r := tg.Post(t, "/hooks/bearer-vendor", tg.Sign("bearer-vendor", id, b, time.Now()), b); r.Status != 202 {
				t.Fatalf("first bearer-vendor request: %d %s", r.Status, r.Raw)
			}
			if tg.Published != nil {
				tg.Published(t, 1)
			}
			id2 := id + "-2"
			b2 := body(id2)
			return tg.Post(t, "/hooks/bearer-vendor", tg.Sign("bearer-vendor", id2, b2, time.Now()), b2)
		}},
		{name: "not application/json", status: 415, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			h := tg.Sign("acme-locks", id, body(id), time.Now())
			h["Content-Type"] = "text/plain"
			return tg.Post(t, "/hooks/acme-locks", h, body(id))
		}},
		{name: "no content type", status: 415, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			h := tg.Sign("acme-locks", id, body(id), time.Now())
			delete(h, "Content-Type")
			return tg.Post(t, "/hooks/acme-locks", h, body(id))
		}},
		{name: "body over max_body_kb", status: 413, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			big := []byte(fmt.Sprintf(`{"id":%q,"pad":"%s"}`, id, strings.Repeat("x", bridgetest.MaxBodyKB<<10)))
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, big, time.Now()), big)
		}},
		{name: "bad signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			h := tg.Sign("acme-locks", id, body(id), time.Now())
			return tg.Post(t, "/hooks/acme-locks", h, bridgetest.AcmeEvent(id, "LCK-1", 81)) // body changed after signing
		}},
		{name: "missing signature", status: 401, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			h := tg.Sign("acme-locks", id, body(id), time.Now())
			delete(h, "Webhook-Signature")
			return tg.Post(t, "/hooks/acme-locks", h, body(id))
		}},
		{name: "signed with another vendor's secret", status: 401, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/hooks/acme-locks", tg.SignWith("acme-locks", "whsec_"+"b3RoZXItdmVuZG9yLXNlY3JldC0wMTIz", id, body(id), time.Now()), body(id))
		}},
		{name: "timestamp too old", status: 401, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, body(id), time.Now().Add(-6*time.Minute)), body(id))
		}},
		{name: "timestamp in the future", status: 401, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, body(id), time.Now().Add(6*time.Minute)), body(id))
		}},
		{name: "invalid JSON", status: 400, check: errorBody, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			b := []byte(`{"id": "` + id + `", "type": `)
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, b, time.Now()), b)
		}},
		{name: "schema violation", status: 422, resend: true, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			b := bridgetest.AcmeEvent(id, "LCK-1", 420)
			return tg.Post(t, "/hooks/acme-locks", tg.Sign("acme-locks", id, b, time.Now()), b)
		}, check: func(t *testing.T, r bridgetest.Response) {
			if r.Body["path"] != "/data/battery_pct" || r.Body["keyword"] != "maximum" {
				t.Errorf("422 body = %s, want path /data/battery_pct and keyword maximum", r.Raw)
			}
			if strings.Contains(r.Raw, "420") {
				t.Errorf("422 body echoes the value: %s", r.Raw)
			}
		}},
		{name: "no event id", status: 400, check: errorBody, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			// gridwise-energy takes its id from X-GitHub-Delivery or /delivery_id: give neither.
			b := []byte(`{"event":"tariff.updated","account":{"id":"a","meter_serial":"m"},"tariff":{"price_eur_kwh":0.2,"valid_from":"2026-11-25T00:00:00Z","valid_to":"2026-11-26T00:00:00Z"}}`)
			return tg.Post(t, "/hooks/gridwise-energy", tg.Sign("gridwise-energy", "", b, time.Now()), b)
		}},
		{name: "accepted", status: 202, published: 1, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			return tg.Send(t, "acme-locks", id, body(id))
		}, check: func(t *testing.T, r bridgetest.Response) {
			if r.Body["status"] != "accepted" || r.Body["event"] == "" {
				t.Errorf("body = %s, want accepted with an event", r.Raw)
			}
		}},
		{name: "duplicate", status: 200, published: 1, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			if r := tg.Send(t, "acme-locks", id, body(id)); r.Status != 202 {
				t.Fatalf("first: %d %s", r.Status, r.Raw)
			}
			return tg.Send(t, "acme-locks", id, body(id))
		}, check: func(t *testing.T, r bridgetest.Response) {
			if r.Body["status"] != "duplicate" {
				t.Errorf("body = %s, want duplicate", r.Raw)
			}
		}},
		{name: "duplicate with a changed body", status: 200, published: 1, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			if r := tg.Send(t, "acme-locks", id, body(id)); r.Status != 202 {
				t.Fatalf("first: %d %s", r.Status, r.Raw)
			}
			return tg.Send(t, "acme-locks", id, bridgetest.AcmeEvent(id, "LCK-1", 12))
		}},
		{name: "unrouted event type", status: 202, do: func(t *testing.T, tg *statusTarget, id string) bridgetest.Response {
			b := []byte(fmt.Sprintf(`{"id":%q,"type":"lock.jammed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":"LCK-9"}}`, id))
			return tg.Send(t, "acme-locks", id, b)
		}},
	}
}

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

	for _, rw := range statusRows() {
		t.Run(rw.name, func(t *testing.T) {
			before := len(sub.Messages())
			tg := instanceTarget(ta, func(t *testing.T, n int) { t.Helper(); sub.WaitCount(before + n) })
			id := nextID()
			r := rw.do(t, tg, id)
			if r.Status != rw.status {
				t.Fatalf("status = %d, want %d; body %s", r.Status, rw.status, r.Raw)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if rw.check != nil {
				rw.check(t, r)
			}
			before += rw.published // what the row published itself
			if rw.published > 0 {
				sub.WaitCount(before)
			}
			expectNothingPublished(t, before)
			if rw.resend {
				if r := ta.Send("acme-locks", id, statusBody(id)); r.Status != http.StatusAccepted {
					t.Fatalf("the refused id, resent properly: status %d %s, want 202 (was it recorded?)", r.Status, r.Raw)
				}
				sub.WaitCount(before + 2)
			}
		})
	}

	body := statusBody
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
