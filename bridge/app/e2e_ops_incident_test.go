package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// opsPorchlightEvent returns a Porchlight motion event with an id.
func opsPorchlightEvent(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":"motion.detected","created":1764058443,"data":{"object":{"camera_id":"cam-ops","zone":"front_door","confidence":0.5}}}`, id))
}

// opsVendorState reads a vendor's state through the admin API.
func opsVendorState(t *testing.T, ta *testApp, vendor string) killswitch.State {
	t.Helper()
	r := doRequest(t, http.MethodGet, ta.adminURL+"/api/vendors/"+vendor, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/vendors/%s = %d %s", vendor, r.status, r.raw)
	}
	var vi struct {
		State killswitch.State `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.raw), &vi); err != nil {
		t.Fatalf("vendor info: %v", err)
	}
	return vi.State
}

// opsAlerts decodes the messages on the alerts topic.
func opsAlerts(t *testing.T, msgs []received) []anomaly.Alert {
	t.Helper()
	var out []anomaly.Alert
	for _, m := range msgs {
		if m.Topic != testTopicPrefix+"/"+anomaly.AlertsTopic {
			continue
		}
		var a anomaly.Alert
		dec := json.NewDecoder(strings.NewReader(m.Payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("alert payload %s: %v", m.Payload, err)
		}
		out = append(out, a)
	}
	return out
}

// TestOpsIncident scripts an incident: acme-locks starts sending bad signatures; at the alert
// threshold an alert appears on MQTT; at the quarantine threshold the vendor is quarantined
// automatically (503 with Retry-After); another vendor keeps working throughout; the Home Assistant
// switch's and the API's enable cannot end the quarantine; an operator lifts it and events flow
// again.
func TestOpsIncident(t *testing.T) {
	// Signature failures quarantine only a vendor behind allowed_cidrs (else anyone could quarantine
	// it): acme-locks calls from loopback here.
	ta := startTestApp(t, "", func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].AllowedCIDRs = []string{"127.0.0.0/8"}
			}
		}
	})
	alerts, err := connectMQTT(t, ta.mqttAddr, "homeassistant", haPassword, "ops-incident-alerts", true)
	if err != nil {
		t.Fatal(err)
	}
	alerts.internal = true // _alerts is one of Hookbridge's own topics
	if code := alerts.subscribe("hookbridge/" + anomaly.AlertsTopic); code > 2 {
		t.Fatalf("subscribe alerts: 0x%02x", code)
	}
	others := newSubscriber(t, ta.mqttAddr, "homeassistant", haPassword, "ops-incident-others", true, "hookbridge/porchlight-cams/#")
	th := anomaly.Defaults.SignatureFailures

	var badIDs []string
	bad := func(t *testing.T, i int) response {
		t.Helper()
		id := fmt.Sprintf("evt_ops_forged_%d_%d", time.Now().UnixNano(), i)
		badIDs = append(badIDs, id)
		h := signed(t, ta, "acme-locks", id, acmeEvent(id, "LCK-OPS-1", 80), time.Now())
		return ta.post("/hooks/acme-locks", h, acmeEvent(id, "LCK-OPS-1", 81)) // tampered after signing
	}
	delivered := 0
	good := func(t *testing.T, i int) {
		t.Helper()
		id := fmt.Sprintf("evt_opsporch%dx%d", time.Now().UnixNano(), i)
		if r := ta.sendEvent("porchlight-cams", id, opsPorchlightEvent(id)); r.status != http.StatusAccepted {
			t.Fatalf("porchlight-cams during the incident (step %d): %d %s, want 202", i, r.status, r.raw)
		}
		delivered++
		others.waitCount(delivered)
	}

	// Below the alert level: refused one by one, nothing else happens.
	i := 1
	for ; i < int(th.Alert); i++ {
		if r := bad(t, i); r.status != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d, want 401", i, r.status)
		}
		good(t, i)
	}
	// The alert level: an alert on MQTT, the vendor still on.
	if r := bad(t, i); r.status != http.StatusUnauthorized {
		t.Fatalf("forged request %d = %d, want 401", i, r.status)
	}
	msgs := alerts.waitFor("the alert", waitForDeliveries, func(m []received) bool { return len(m) >= 1 })
	got := opsAlerts(t, msgs)
	want := anomaly.Alert{Vendor: "acme-locks", Kind: anomaly.SignatureFailures, Action: anomaly.ActionAlert,
		EventType: anomaly.ActionAlert, Count: int(th.Alert), Threshold: th.Alert, Window: "5m0s", WindowSeconds: 300}
	if got[0].Time.IsZero() {
		t.Errorf("alert time is zero")
	}
	got[0].Time = time.Time{}
	if got[0] != want {
		t.Errorf("alert = %+v, want %+v", got[0], want)
	}
	if msgs[0].Retained {
		t.Errorf("alert retained, want not retained")
	}
	if s := opsVendorState(t, ta, "acme-locks"); s.Mode != killswitch.Enabled {
		t.Fatalf("after the alert: acme-locks %s, want %s", s.Mode, killswitch.Enabled)
	}

	// Up to the quarantine level, the other vendor working all along.
	for i++; i <= int(th.Quarantine); i++ {
		if r := bad(t, i); r.status != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d, want 401", i, r.status)
		}
		good(t, i)
	}
	msgs = alerts.waitFor("the quarantine alert", waitForDeliveries, func(m []received) bool {
		return slices.ContainsFunc(opsAlerts(t, m), func(a anomaly.Alert) bool { return a.Action == anomaly.ActionQuarantine })
	})
	got = opsAlerts(t, msgs)
	if len(got) != 2 || got[0].Action != anomaly.ActionAlert || got[1].Action != anomaly.ActionQuarantine {
		t.Errorf("alerts = %+v, want one alert then one quarantine", got)
	}
	if q := got[len(got)-1]; q.Count != int(th.Quarantine) || q.Threshold != th.Quarantine || q.Kind != anomaly.SignatureFailures {
		t.Errorf("quarantine alert = %+v, want count and threshold %g", q, th.Quarantine)
	}
	for _, m := range msgs {
		for _, id := range badIDs {
			if strings.Contains(m.Payload, id) {
				t.Fatalf("alert %s holds the request's event id %s", m.Payload, id)
			}
		}
	}
	s := opsVendorState(t, ta, "acme-locks")
	if s.Mode != killswitch.Quarantined || s.By != killswitch.ByAnomaly || !strings.Contains(s.Reason, "signature failures") {
		t.Fatalf("acme-locks state = %+v, want quarantined by anomaly for signature failures", s)
	}

	// Quarantined: even a good event waits (503 + Retry-After, nothing lost); others still work.
	id := fmt.Sprintf("evt_ops_waiting_%d", time.Now().UnixNano())
	r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-OPS-1", 70))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("good acme-locks event while quarantined = %d (Retry-After %q), want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	good(t, 100)

	// Neither the API's enable nor the Home Assistant switch's command ends a quarantine.
	if r := doRequest(t, http.MethodPost, ta.adminURL+"/api/vendors/acme-locks/enable", nil, nil); r.status != http.StatusConflict {
		t.Errorf("enable while quarantined = %d %s, want 409", r.status, r.raw)
	}
	if err := ta.switches.Enable("acme-locks", killswitch.ByMQTT); err == nil {
		t.Errorf("MQTT enable while quarantined = nil, want an error")
	}
	if err := ta.switches.Lift("acme-locks", killswitch.ByMQTT); err == nil {
		t.Errorf("MQTT lift while quarantined = nil, want an error")
	}
	if s := opsVendorState(t, ta, "acme-locks"); s.Mode != killswitch.Quarantined {
		t.Fatalf("after enable attempts: acme-locks %s, want %s", s.Mode, killswitch.Quarantined)
	}

	// An operator lifts the quarantine; the vendor's redelivery goes through, and the failures
	// that caused the quarantine do not count again.
	if r := doRequest(t, http.MethodPost, ta.adminURL+"/api/vendors/acme-locks/lift", nil, nil); r.status != http.StatusOK {
		t.Fatalf("lift = %d %s, want 200", r.status, r.raw)
	}
	if s := opsVendorState(t, ta, "acme-locks"); s.Mode != killswitch.Enabled {
		t.Fatalf("after lift: acme-locks %s, want %s", s.Mode, killswitch.Enabled)
	}
	if r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-OPS-1", 70)); r.status != http.StatusAccepted {
		t.Fatalf("redelivered acme-locks event after lift = %d %s, want 202", r.status, r.raw)
	}
	if r := bad(t, 101); r.status != http.StatusUnauthorized {
		t.Fatalf("one forged request after lift = %d, want 401 (not quarantined again)", r.status)
	}
	if r := doRequest(t, http.MethodPost, ta.adminURL+"/api/vendors/acme-locks/lift", nil, nil); r.status != http.StatusConflict {
		t.Errorf("lift of an enabled vendor = %d %s, want 409", r.status, r.raw)
	}
	if !strings.Contains(ta.logs.String(), `"kind":"signature_failures"`) {
		t.Errorf("the log has no anomaly entry")
	}
}

// TestOpsStrangersCannotQuarantine: bad signatures from anyone, for a vendor without allowed_cidrs,
// raise alerts but never quarantine it: the real vendor's events keep flowing.
func TestOpsStrangersCannotQuarantine(t *testing.T) {
	ta := startTestApp(t, "", nil)
	body := acmeEvent("evt_stranger", "LCK-S", 1)
	for i := 0; i < 60; i++ {
		h := signWith(t, ta, "acme-locks", "whsec_"+"c3RyYW5nZXItc2VjcmV0LTAxMjM0NTY3", fmt.Sprintf("evt_bad_%d", i), body, time.Now())
		if r := ta.post("/hooks/acme-locks", h, body); r.status != http.StatusUnauthorized {
			t.Fatalf("bad signature %d: status %d, want 401", i, r.status)
		}
	}
	if st := opsVendorState(t, ta, "acme-locks"); st.Mode != killswitch.Enabled {
		t.Fatalf("state after 60 bad signatures from a stranger = %s, want enabled", st.Mode)
	}
	if r := ta.sendEvent("acme-locks", "evt_stranger", body); r.status != http.StatusAccepted {
		t.Fatalf("the real vendor: status %d %s, want 202", r.status, r.raw)
	}
}
