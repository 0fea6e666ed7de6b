package e2e_test

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
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// opsPorchlightEvent returns a Porchlight motion event with an id.
func opsPorchlightEvent(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":"motion.detected","created":1764058443,"data":{"object":{"camera_id":"cam-ops","zone":"front_door","confidence":0.5}}}`, id))
}

// opsVendorState reads a vendor's state through the admin API.
func opsVendorState(t *testing.T, ta *bridgetest.Instance, vendor string) killswitch.State {
	t.Helper()
	r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/vendors/"+vendor, nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/vendors/%s = %d %s", vendor, r.Status, r.Raw)
	}
	var vi struct {
		State killswitch.State `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &vi); err != nil {
		t.Fatalf("vendor info: %v", err)
	}
	return vi.State
}

// opsAlerts decodes the messages on the alerts topic.
func opsAlerts(t *testing.T, msgs []bridgetest.Message) []anomaly.Alert {
	t.Helper()
	var out []anomaly.Alert
	for _, m := range msgs {
		if m.Topic != bridgetest.TopicPrefix+"/"+anomaly.AlertsTopic {
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
	ta := bridgetest.Start(t, "", func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].AllowedCIDRs = []string{"127.0.0.0/8"}
			}
		}
	})
	alerts, err := bridgetest.Connect(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "ops-incident-alerts", true)
	if err != nil {
		t.Fatal(err)
	}
	alerts.Internal = true // _alerts is one of Hookbridge's own topics
	if code := alerts.Subscribe("hookbridge/" + anomaly.AlertsTopic); code > 2 {
		t.Fatalf("subscribe alerts: 0x%02x", code)
	}
	others := bridgetest.Subscribe(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "ops-incident-others", true, "hookbridge/porchlight-cams/#")
	th := anomaly.Defaults.SignatureFailures

	var badIDs []string
	bad := func(t *testing.T, i int) bridgetest.Response {
		t.Helper()
		id := fmt.Sprintf("evt_ops_forged_%d_%d", time.Now().UnixNano(), i)
		badIDs = append(badIDs, id)
		h := ta.Sign("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-OPS-1", 80), time.Now())
		return ta.Post("/hooks/acme-locks", h, bridgetest.AcmeEvent(id, "LCK-OPS-1", 81)) // tampered after signing
	}
	delivered := 0
	good := func(t *testing.T, i int) {
		t.Helper()
		id := fmt.Sprintf("evt_opsporch%dx%d", time.Now().UnixNano(), i)
		if r := ta.Send("porchlight-cams", id, opsPorchlightEvent(id)); r.Status != http.StatusAccepted {
			t.Fatalf("porchlight-cams during the incident (step %d): %d %s, want 202", i, r.Status, r.Raw)
		}
		delivered++
		others.WaitCount(delivered)
	}

	// Below the alert level: refused one by one, nothing else happens.
	i := 1
	for ; i < int(th.Alert); i++ {
		if r := bad(t, i); r.Status != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d, want 401", i, r.Status)
		}
		good(t, i)
	}
	// The alert level: an alert on MQTT, the vendor still on.
	if r := bad(t, i); r.Status != http.StatusUnauthorized {
		t.Fatalf("forged request %d = %d, want 401", i, r.Status)
	}
	msgs := alerts.WaitFor("the alert", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool { return len(m) >= 1 })
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
		if r := bad(t, i); r.Status != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d, want 401", i, r.Status)
		}
		good(t, i)
	}
	msgs = alerts.WaitFor("the quarantine alert", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
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
	r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-OPS-1", 70))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("good acme-locks event while quarantined = %d (Retry-After %q), want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	good(t, 100)

	// Neither the API's enable nor the Home Assistant switch's command ends a quarantine.
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/enable", nil, nil); r.Status != http.StatusConflict {
		t.Errorf("enable while quarantined = %d %s, want 409", r.Status, r.Raw)
	}
	if err := ta.Switches().Enable("acme-locks", killswitch.ByMQTT); err == nil {
		t.Errorf("MQTT enable while quarantined = nil, want an error")
	}
	if err := ta.Switches().Lift("acme-locks", killswitch.ByMQTT); err == nil {
		t.Errorf("MQTT lift while quarantined = nil, want an error")
	}
	if s := opsVendorState(t, ta, "acme-locks"); s.Mode != killswitch.Quarantined {
		t.Fatalf("after enable attempts: acme-locks %s, want %s", s.Mode, killswitch.Quarantined)
	}

	// An operator lifts the quarantine; the vendor's redelivery goes through, and the failures
	// that caused the quarantine do not count again.
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/lift", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("lift = %d %s, want 200", r.Status, r.Raw)
	}
	if s := opsVendorState(t, ta, "acme-locks"); s.Mode != killswitch.Enabled {
		t.Fatalf("after lift: acme-locks %s, want %s", s.Mode, killswitch.Enabled)
	}
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-OPS-1", 70)); r.Status != http.StatusAccepted {
		t.Fatalf("redelivered acme-locks event after lift = %d %s, want 202", r.Status, r.Raw)
	}
	if r := bad(t, 101); r.Status != http.StatusUnauthorized {
		t.Fatalf("one forged request after lift = %d, want 401 (not quarantined again)", r.Status)
	}
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/lift", nil, nil); r.Status != http.StatusConflict {
		t.Errorf("lift of an enabled vendor = %d %s, want 409", r.Status, r.Raw)
	}
	if !strings.Contains(ta.Logs.String(), `"kind":"signature_failures"`) {
		t.Errorf("the log has no anomaly entry")
	}
}

// TestOpsStrangersCannotQuarantine: bad signatures from anyone, for a vendor without allowed_cidrs,
// raise alerts but never quarantine it: the real vendor's events keep flowing.
func TestOpsStrangersCannotQuarantine(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	body := bridgetest.AcmeEvent("evt_stranger", "LCK-S", 1)
	for i := 0; i < 60; i++ {
		h := ta.SignWith("acme-locks", "whsec_"+"c3RyYW5nZXItc2VjcmV0LTAxMjM0NTY3", fmt.Sprintf("evt_bad_%d", i), body, time.Now())
		if r := ta.Post("/hooks/acme-locks", h, body); r.Status != http.StatusUnauthorized {
			t.Fatalf("bad signature %d: status %d, want 401", i, r.Status)
		}
	}
	if st := opsVendorState(t, ta, "acme-locks"); st.Mode != killswitch.Enabled {
		t.Fatalf("state after 60 bad signatures from a stranger = %s, want enabled", st.Mode)
	}
	if r := ta.Send("acme-locks", "evt_stranger", body); r.Status != http.StatusAccepted {
		t.Fatalf("the real vendor: status %d %s, want 202", r.Status, r.Raw)
	}
}
