package e2e_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// The tests of issue 18's second part, on the real binary: silence, the secrets' age and last use,
// rotation, acknowledging on the status page, offboarding, and that no secret (nor a plain hash of
// one) shows anywhere.

// govContacts are the contacts the governance tests' acme-locks policy lists. The names are
// canaries of their own: alerts carry roles and channels, never names.
const govContacts = `contacts:
  - role: owner
    name: Jane Canary-Owner
    channel: mailto:owner@example.net
    backup: Sam Canary-Backup
  - role: on_call
    name: Sam Canary-Backup
    channel: notify.mobile_app_sam
`

// govPolicies returns a directory with the test catalog's policies and the built-in acme-locks
// policy with extra keys appended.
func govPolicies(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(bridgetest.TestPolicies(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data := must(os.ReadFile(filepath.Join(bridgetest.TestPolicies(t), e.Name())))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	acme := must(os.ReadFile(bridgetest.Path(t, "policies", "acme-locks.yaml")))
	if err := os.WriteFile(filepath.Join(dir, "acme-locks.yaml"), append(append(acme, '\n'), extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startGov starts the real binary with the acme-locks policy extended by extra, acme-locks on a
// fresh secret (or the secrets mutate gives it), logging at info.
func startGov(t *testing.T, extra string, mutate func(*options.Options)) *lifeProc {
	t.Helper()
	lp := newLifeProc(t, govPolicies(t, extra), mutate)
	lp.Start()
	return lp
}

// haWatch logs in as Home Assistant on the embedded broker and records its topics (alerts,
// status, discovery).
func haWatch(t *testing.T, lp *lifeProc, id string, filters ...string) *bridgetest.Subscriber {
	t.Helper()
	sub, err := bridgetest.Connect(t, lp.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, id, true)
	if err != nil {
		t.Fatalf("connect homeassistant: %v", err)
	}
	sub.Internal = true
	for _, f := range filters {
		if code := sub.Subscribe(f); code > 2 {
			t.Fatalf("homeassistant subscribe %s: 0x%02x", f, code)
		}
	}
	return sub
}

// govAlert is an alert as published on {prefix}/_alerts.
type govAlert struct {
	Vendor        string           `json:"vendor"`
	Kind          string           `json:"kind"`
	Action        string           `json:"action"`
	EventType     string           `json:"event_type"`
	ExpectEvery   string           `json:"expect_every"`
	SilentSeconds float64          `json:"silent_seconds"`
	Secret        string           `json:"secret"`
	SecretAgeDays *int             `json:"secret_age_days"`
	RotateAfter   string           `json:"rotate_after"`
	Contacts      []map[string]any `json:"contacts"`
}

// alertsOf returns the alerts of a kind received so far, with their raw payloads.
func alertsOf(msgs []bridgetest.Message, kind string) ([]govAlert, []string) {
	var out []govAlert
	var raw []string
	for _, m := range msgs {
		if m.Topic != bridgetest.TopicPrefix+"/_alerts" {
			continue
		}
		var a govAlert
		if json.Unmarshal([]byte(m.Payload), &a) == nil && a.Kind == kind {
			out = append(out, a)
			raw = append(raw, m.Payload)
		}
	}
	return out, raw
}

// vendorInfo reads acme-locks' inventory entry.
func vendorInfo(t *testing.T, lp *lifeProc) admin.VendorInfo {
	t.Helper()
	r := lp.admin(t, http.MethodGet, "/api/vendors/acme-locks")
	var vi admin.VendorInfo
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Raw), &vi) != nil {
		t.Fatalf("GET /api/vendors/acme-locks = %d %s", r.Status, r.Raw)
	}
	return vi
}

// checkContacts: an alert carries each contact's role and channel, never its name.
func checkContacts(t *testing.T, raw string, a govAlert) {
	t.Helper()
	want := []map[string]any{{"role": "owner", "channel": "mailto:owner@example.net"}, {"role": "on_call", "channel": "notify.mobile_app_sam"}}
	if fmt.Sprint(a.Contacts) != fmt.Sprint(want) {
		t.Errorf("alert contacts = %v, want %v", a.Contacts, want)
	}
	if strings.Contains(raw, "Canary") {
		t.Errorf("the alert holds a contact's name: %s", raw)
	}
}

// TestGovernanceSilence runs the real binary with expect_every: 2s on acme-locks: without events
// one silence alert is raised (not one per check), shown in the inventory, the status page,
// /metrics and a Home Assistant problem sensor; an accepted event raises the recovery at once and
// sets the last event's time in /metrics.
func TestGovernanceSilence(t *testing.T) {
	start := time.Now()
	lp := startGov(t, "expect_every: 2s\n"+govContacts, nil)
	ha := haWatch(t, lp, "gov-silence-ha", "hookbridge/_alerts", "hookbridge/_status/acme-locks", "homeassistant/binary_sensor/hookbridge/+/config")
	var alerts []govAlert
	var raw []string
	ha.WaitFor("a silence alert", 15*time.Second, func(m []bridgetest.Message) bool {
		alerts, raw = alertsOf(m, "silence")
		return len(alerts) > 0
	})
	silentAfter := time.Since(start)
	t.Logf("silence alert %.2fs after the start (expect_every 2s, checked every second)", silentAfter.Seconds())
	a := alerts[0]
	if a.Vendor != "acme-locks" || a.Action != "alert" || a.EventType != "alert" || a.ExpectEvery != "2s" {
		t.Errorf("silence alert = %+v", a)
	}
	checkContacts(t, raw[0], a)

	cfg, ok := bridgetest.LastOn(ha.Messages(), "homeassistant/binary_sensor/hookbridge/acme-locks_silence/config")
	if !ok || !strings.Contains(cfg.Payload, `"device_class":"problem"`) || !strings.Contains(cfg.Payload, `"state_topic":"hookbridge/_status/acme-locks"`) {
		t.Errorf("silence problem sensor config = %v, %q", ok, cfg.Payload)
	}
	ha.WaitFor("the status saying silent", 5*time.Second, func(m []bridgetest.Message) bool {
		st, ok := bridgetest.LastOn(m, "hookbridge/_status/acme-locks")
		return ok && strings.Contains(st.Payload, `"silent":true`)
	})
	vi := vendorInfo(t, lp)
	if vi.Activity == nil || !vi.Activity.Silent || vi.Activity.ExpectEvery != "2s" || vi.Activity.SilentSince == nil || len(vi.Contacts) != 2 {
		t.Errorf("inventory = %+v, contacts %+v; want silent, expect_every 2s, two contacts", vi.Activity, vi.Contacts)
	}
	if v, _ := metricValue(t, lp.Process, `hookbridge_vendor_silent{vendor="acme-locks"}`); v != 1 {
		t.Errorf("hookbridge_vendor_silent = %g, want 1", v)
	}
	if page := lp.admin(t, http.MethodGet, "/").Raw; !strings.Contains(page, `data-field="silent"`) || !strings.Contains(page, "Jane Canary-Owner") {
		t.Errorf("the status page shows no silence or no contact")
	}
	// One alert per silence, not one per check.
	time.Sleep(3 * time.Second)
	if n, _ := alertsOf(ha.Messages(), "silence"); len(n) != 1 {
		t.Errorf("%d silence alerts after 3 more seconds, want 1", len(n))
	}

	sent := time.Now()
	if got := lp.send(t, fmt.Sprintf("evt_gov_silence_%d", sent.UnixNano()), false); got != http.StatusAccepted {
		t.Fatalf("webhook = %d, want 202", got)
	}
	ha.WaitFor("a recovery", 5*time.Second, func(m []bridgetest.Message) bool {
		alerts, raw = alertsOf(m, "silence")
		return len(alerts) == 2
	})
	t.Logf("recovery alert %dms after the webhook", time.Since(sent).Milliseconds())
	if r := alerts[1]; r.Action != "recovered" || r.EventType != "recovered" || r.SilentSeconds < 2 {
		t.Errorf("recovery = %+v, want recovered after more than 2s of silence", r)
	}
	checkContacts(t, raw[1], alerts[1])
	if vi := vendorInfo(t, lp); vi.Activity.Silent || vi.Activity.LastAccepted == nil {
		t.Errorf("inventory after the event = %+v, want not silent, with the last accepted event", vi.Activity)
	}
	if v, ok := metricValue(t, lp.Process, `hookbridge_vendor_last_event_timestamp_seconds{vendor="acme-locks"}`); !ok || v < float64(sent.Unix())-1 || v > float64(time.Now().Unix())+1 {
		t.Errorf("hookbridge_vendor_last_event_timestamp_seconds = %g (%v), want about %d", v, ok, sent.Unix())
	}
	if v, _ := metricValue(t, lp.Process, `hookbridge_lifecycle_alerts_total{action="recovered",kind="silence",vendor="acme-locks"}`); v != 1 {
		t.Errorf("recoveries counted = %g, want 1", v)
	}
	if logs := lp.Logs(); !strings.Contains(logs, "silence: no event accepted for 2s") || strings.Contains(logs, "Canary") {
		t.Errorf("the log lacks the silence, or holds a contact's name")
	}
}

// TestGovernanceSecrets rotates acme-locks' secret on the real binary: with secret (new) and
// previous_secret (old), webhooks signed with the old one, then only with the new one; the
// inventory (API and CLI), the status page and /metrics show each secret's age and last use by its
// digest, and the old one ready to remove; rotate_after: 3s raises a rotation alert and a Home
// Assistant problem sensor; a restart keeps the last use; and no secret, nor a plain hash of one,
// shows in any API answer, metric, log, CLI output or audit record.
func TestGovernanceSecrets(t *testing.T) {
	oldSecret, newSecret := bridgetest.NewSecret(t), bridgetest.NewSecret(t)
	lp := startGov(t, "rotate_after: 3s\n"+govContacts, func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].Secrets = []string{newSecret, oldSecret} // secret, previous_secret
			}
		}
	})
	opts := string(must(os.ReadFile(filepath.Join(lp.Dir, "options.json"))))
	if !strings.Contains(opts, `"previous_secret"`) || strings.Contains(opts, `"secrets"`) {
		t.Fatalf("the options file does not use secret and previous_secret:\n%s", opts)
	}
	ha := haWatch(t, lp, "gov-secrets-ha", "hookbridge/_alerts", "hookbridge/_status/acme-locks", "homeassistant/binary_sensor/hookbridge/+/config")
	send := func(secret string, n int) {
		t.Helper()
		lp.signer.Secret = secret
		for i := range n {
			if got := lp.send(t, fmt.Sprintf("evt_gov_secret_%d_%d", time.Now().UnixNano(), i), false); got != http.StatusAccepted {
				t.Fatalf("webhook = %d, want 202", got)
			}
		}
	}
	send(oldSecret, 2)
	vi := vendorInfo(t, lp)
	if len(vi.Secrets) != 2 || vi.Secrets[0].Key != "secret" || vi.Secrets[1].Key != "previous_secret" ||
		vi.Secrets[0].LastVerified != nil || vi.Secrets[1].LastVerified == nil || vi.Secrets[1].ReadyToRemove || !vi.Secrets[0].Newest {
		t.Fatalf("secrets after webhooks signed with the old secret = %+v", vi.Secrets)
	}
	oldLast := *vi.Secrets[1].LastVerified
	time.Sleep(10 * time.Millisecond)
	switched := time.Now()
	send(newSecret, 3)
	vi = vendorInfo(t, lp)
	nw, old := vi.Secrets[0], vi.Secrets[1]
	if nw.LastVerified == nil || nw.LastVerified.Before(switched) || nw.FirstVerified == nil || nw.FirstVerified.Before(switched) {
		t.Errorf("new secret = %+v, want first and last verified after %v", nw, switched)
	}
	if !old.LastVerified.Equal(oldLast) || !old.ReadyToRemove || old.ReadySince == nil || !old.ReadySince.Equal(*nw.FirstVerified) {
		t.Errorf("old secret = %+v, want its last use unchanged (%v) and ready to remove since the new one's first use", old, oldLast)
	}
	if len(nw.Digest) != admin.DigestPrefix || nw.Digest == old.Digest {
		t.Errorf("digests %q and %q, want two of %d hex digits", nw.Digest, old.Digest, admin.DigestPrefix)
	}
	if v, ok := metricValue(t, lp.Process, `hookbridge_secret_last_verified_timestamp_seconds{secret="`+nw.Digest+`",vendor="acme-locks"}`); !ok || v < float64(switched.Unix()) {
		t.Errorf("the new secret's last use in /metrics = %g (%v)", v, ok)
	}
	code, out, errOut := opsRun(t, "inventory", "--admin-addr", lp.AdminAddr, "--data", lp.Dir, "--options", filepath.Join(lp.Dir, "options.json"), "--policies", lp.Policies)
	if code != 0 || !strings.Contains(out, "secret "+old.Digest+" (previous_secret)") || !strings.Contains(out, "READY TO REMOVE") {
		t.Errorf("hookbridge inventory = %d\n%s%s\nwant the old secret by digest, ready to remove", code, out, errOut)
	}
	if page := lp.admin(t, http.MethodGet, "/").Raw; !strings.Contains(page, `data-secret="`+old.Digest+`"`) || !strings.Contains(page, "ready to remove") {
		t.Errorf("the status page shows no secret, or not the old one ready to remove")
	}

	// rotate_after: 3s passes for the newest secret: one alert, a problem sensor on.
	var alerts []govAlert
	var raw []string
	ha.WaitFor("a rotation alert", 10*time.Second, func(m []bridgetest.Message) bool {
		alerts, raw = alertsOf(m, "rotation_due")
		return len(alerts) > 0
	})
	if a := alerts[0]; a.Secret != nw.Digest || a.RotateAfter != "3s" || a.SecretAgeDays == nil || *a.SecretAgeDays != 0 {
		t.Errorf("rotation alert = %+v, want the newest secret %s, rotate_after 3s", a, nw.Digest)
	}
	checkContacts(t, raw[0], alerts[0])
	if cfg, ok := bridgetest.LastOn(ha.Messages(), "homeassistant/binary_sensor/hookbridge/acme-locks_rotation/config"); !ok || !strings.Contains(cfg.Payload, `"device_class":"problem"`) {
		t.Errorf("rotation problem sensor config = %v %q", ok, cfg.Payload)
	}
	ha.WaitFor("the status saying rotation due", 5*time.Second, func(m []bridgetest.Message) bool {
		st, ok := bridgetest.LastOn(m, "hookbridge/_status/acme-locks")
		return ok && strings.Contains(st.Payload, `"rotation_due":true`)
	})
	if v, _ := metricValue(t, lp.Process, `hookbridge_vendor_secret_rotation_due{vendor="acme-locks"}`); v != 1 {
		t.Errorf("hookbridge_vendor_secret_rotation_due = %g, want 1", v)
	}

	// A restart keeps first seen and last use (saved at the stop).
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lp.Start()
	after := vendorInfo(t, lp)
	for i, s := range after.Secrets {
		if !s.FirstSeen.Equal(vi.Secrets[i].FirstSeen) || s.LastVerified == nil || !s.LastVerified.Equal(*vi.Secrets[i].LastVerified) {
			t.Errorf("secret %d after a restart = %+v, want first seen and last use of %+v", i, s, vi.Secrets[i])
		}
	}
	if !after.Secrets[1].ReadyToRemove {
		t.Errorf("the old secret is no longer ready to remove after a restart")
	}

	// The canaries: both secrets, their keys, and plain hashes of both, nowhere.
	var canaries []string
	for _, s := range []string{oldSecret, newSecret} {
		lp.secret = s
		canaries = append(canaries, lp.canaries()...)
	}
	for _, path := range []string{"/api/vendors", "/api/vendors/acme-locks", "/api/vendors/acme-locks/timeline", "/metrics", "/", "/healthz",
		"/api/audit?since=1h&actions=true", "/api/audit/verify"} {
		noCanary(t, path, lp.admin(t, http.MethodGet, path).Raw, canaries)
	}
	noCanary(t, "hookbridge inventory", out, canaries)
	noCanary(t, "MQTT", fmt.Sprint(ha.Messages()), canaries)
	// The audit trail names the secrets by the same digest.
	if export := lp.admin(t, http.MethodGet, "/api/audit?since=1h&actions=true&vendor=acme-locks").Raw; !strings.Contains(export, `"digest":"`+old.Digest) {
		t.Errorf("the audit trail's secret records do not start with the inventory's digest %s", old.Digest)
	}
	// Stopped: the inventory read from the files shows the same, and holds no secret either.
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	noCanary(t, "the log", lp.Logs(), canaries)
	_, jsonOut, jsonErr := opsRun(t, "inventory", "--json", "--offline", "--data", lp.Dir, "--options", filepath.Join(lp.Dir, "options.json"), "--policies", lp.Policies)
	noCanary(t, "hookbridge inventory --json --offline", jsonOut, canaries)
	var inv []admin.VendorInfo
	if err := json.Unmarshal([]byte(jsonOut), &inv); err != nil {
		t.Fatalf("offline inventory: %v\n%s%s", err, jsonOut, jsonErr)
	}
	for _, v := range inv {
		if v.Name == "acme-locks" && (len(v.Secrets) != 2 || !v.Secrets[1].ReadyToRemove || v.Secrets[1].Digest != old.Digest) {
			t.Errorf("offline inventory secrets = %+v, want the old one ready to remove", v.Secrets)
		}
	}
}

// statusTokenRE finds the status page's form token.
var statusTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// statusForm posts one of the status page's forms, with the token of a fresh page, as a browser
// on the page does (same origin), and returns the status and the redirect.
func statusForm(t *testing.T, lp *lifeProc, vendor, action string) (int, string) {
	t.Helper()
	page := lp.admin(t, http.MethodGet, "/").Raw
	m := statusTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the status page has no form token")
	}
	origin := "http://" + lp.AdminAddr
	body := "token=" + url.QueryEscape(html.UnescapeString(m[1])) + "&action=" + action
	req, err := http.NewRequest(http.MethodPost, origin+"/status/"+vendor, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /status/%s: %v", vendor, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestGovernanceStatusPage scripts an incident whose person uses the status page: a quarantine
// (forged webhooks from the vendor's network), the page's Acknowledge button, then its lift
// button; the timeline and the audit trail say status_page for both, /metrics has the time to
// acknowledge, and a disable on the page is the status page's too.
func TestGovernanceStatusPage(t *testing.T) {
	lp := startLifeProc(t, func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].AllowedCIDRs = []string{"127.0.0.0/8"}
			}
		}
	}, nil)
	if page := lp.admin(t, http.MethodGet, "/").Raw; strings.Contains(page, `data-form="acknowledge"`) {
		t.Fatalf("the page offers to acknowledge with no incident")
	}
	start := time.Now()
	for i := range 20 {
		if got := lp.send(t, fmt.Sprintf("evt_gov_forged_%d_%d", start.UnixNano(), i), true); got != http.StatusUnauthorized {
			t.Fatalf("forged webhook %d = %d", i, got)
		}
	}
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if tl := timelineOf(t, lp); len(tl) != 1 || tl[0].Alerted == nil {
			return fmt.Errorf("timeline = %+v, want one incident, alerted", tl)
		}
		return nil
	})
	page := lp.admin(t, http.MethodGet, "/").Raw
	if !strings.Contains(page, `data-form="acknowledge"`) || !strings.Contains(page, "Open incident") {
		t.Fatalf("the status page neither shows the incident nor offers to acknowledge it")
	}
	status, loc := statusForm(t, lp, "acme-locks", "acknowledge")
	if status != http.StatusSeeOther || !strings.Contains(loc, "done=acknowledge") {
		t.Fatalf("acknowledge on the page = %d %s, want 303 to done=acknowledge", status, loc)
	}
	tl := timelineOf(t, lp)
	if tl[0].Acknowledged == nil || tl[0].Acknowledged.By != "status_page" || tl[0].TimeToAcknowledgeSeconds == nil {
		t.Fatalf("timeline = %+v, want acknowledged by status_page", tl[0])
	}
	t.Logf("time to acknowledge %.3fs, time to contain %.3fs", *tl[0].TimeToAcknowledgeSeconds, tl[0].TimeToContainSeconds)
	if n, _ := metricValue(t, lp.Process, `hookbridge_incident_time_to_acknowledge_seconds_count{vendor="acme-locks"}`); n != 1 {
		t.Errorf("time to acknowledge count = %g, want 1", n)
	}
	if status, loc := statusForm(t, lp, "acme-locks", "acknowledge"); status != http.StatusSeeOther || !strings.Contains(loc, "done=no_incident") {
		t.Errorf("acknowledge again = %d %s, want the no_incident notice", status, loc)
	}
	if status, _ := statusForm(t, lp, "acme-locks", "lift"); status != http.StatusSeeOther {
		t.Fatalf("lift on the page = %d", status)
	}
	if tl = timelineOf(t, lp); tl[0].Lifted == nil || tl[0].Lifted.By != "status_page" || tl[0].Open {
		t.Fatalf("timeline = %+v, want lifted by status_page", tl[0])
	}
	if status, _ := statusForm(t, lp, "acme-locks", "disable"); status != http.StatusSeeOther {
		t.Fatalf("disable on the page = %d", status)
	}
	if vi := vendorInfo(t, lp); vi.State.By != "status_page" || len(vi.Incidents) != 2 {
		t.Errorf("state = %+v with %d incidents, want disabled by status_page, a second incident", vi.State, len(vi.Incidents))
	}
	code, export, _ := opsRun(t, "audit", "export", "--actions", "--since", "1h", "--vendor", "acme-locks", "--admin-addr", lp.AdminAddr)
	if code != 0 {
		t.Fatalf("audit export = %d", code)
	}
	for _, want := range []string{`"kind":"incident","vendor":"acme-locks","by":"status_page","what":"acknowledged"`,
		`"kind":"incident","vendor":"acme-locks","by":"status_page","what":"lifted"`,
		`"kind":"killswitch","vendor":"acme-locks","by":"status_page","what":"enabled"`,
		`"kind":"killswitch","vendor":"acme-locks","by":"status_page","what":"disabled"`} {
		if !strings.Contains(export, want) {
			t.Errorf("the audit trail lacks %s", want)
		}
	}
	noCanary(t, "the status page", lp.admin(t, http.MethodGet, "/").Raw, lp.canaries())
}

// sendAs posts a vendor's body signed with secret, and returns the status.
func (lp *lifeProc) sendAs(t *testing.T, vendor, secret, id string, body []byte) int {
	t.Helper()
	v, _ := lp.Catalog.Vendor(vendor)
	hdr, err := verify.Signer{Auth: v.Policy.Auth, Secret: secret}.Sign(body, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hdr["Content-Type"] = "application/json"
	return lp.Post("/hooks/"+vendor, hdr, body).Status
}

// freshTopics subscribes a fresh, clean session as Home Assistant to filter and returns the
// topics of the non-empty messages it gets within a second, Hookbridge's own (under
// {prefix}/_) left out: what is retained there.
func freshTopics(t *testing.T, lp *lifeProc, id, filter string) []string {
	t.Helper()
	sub := haWatch(t, lp, id, filter)
	time.Sleep(time.Second)
	var out []string
	for _, m := range sub.Messages() {
		if m.Payload != "" && !strings.HasPrefix(m.Topic, bridgetest.TopicPrefix+"/_") && !slices.Contains(out, m.Topic) {
			out = append(out, m.Topic)
		}
	}
	sub.Client.Disconnect(50)
	return out
}

// TestGovernanceOffboard offboards acme-locks through the API on the real binary: a fresh
// subscriber gets no retained message of it, the panel's offline persistent session resumes
// without its queued messages, its Home Assistant entities are removed (empty retained configs),
// its webhooks get 503, one audit record says what was removed, and a restart brings nothing back.
// Then `hookbridge offboard` on the stopped bridge does the same for gridwise-energy.
// sendOffboardEvents sends two acme-locks events and one gridwise-energy tariff, each with its
// own id (tag keeps the tests' ids apart), and wants each accepted.
func sendOffboardEvents(t *testing.T, lp *lifeProc, tag string) {
	t.Helper()
	for i := range 2 {
		if got := lp.send(t, fmt.Sprintf("evt_gov_%s_%d_%d", tag, time.Now().UnixNano(), i), false); got != http.StatusAccepted {
			t.Fatalf("acme webhook = %d", got)
		}
	}
	tariff := bridgetest.ReadTestdata(t, "payloads/gridwise-energy-tariff.json")
	if got := lp.sendAs(t, "gridwise-energy", bridgetest.GridwiseSecret, "evt_gov_"+tag+"_tariff", tariff); got != http.StatusAccepted {
		t.Fatalf("gridwise webhook = %d", got)
	}
}

func TestGovernanceOffboard(t *testing.T) {
	lp := startLifeProc(t, nil, nil)
	ha := haWatch(t, lp, "gov-offboard-ha", "homeassistant/+/hookbridge/+/config")
	panel, err := bridgetest.Connect(t, lp.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "gov-panel", false)
	if err != nil {
		t.Fatal(err)
	}
	if code := panel.Subscribe("hookbridge/acme-locks/locks/+/state"); code != 1 {
		t.Fatalf("panel subscribe = 0x%02x", code)
	}
	panel.Client.Disconnect(100)
	sendOffboardEvents(t, lp, "off")
	ha.WaitFor("acme-locks' route entities", 10*time.Second, func(m []bridgetest.Message) bool {
		return bridgetest.Contains(m, "acme-locks_health") && bridgetest.Contains(m, "hookbridge/acme-locks/locks/")
	})
	if got := freshTopics(t, lp, "gov-fresh-0", "hookbridge/+/#"); len(got) != 2 {
		t.Fatalf("retained before offboarding = %v, want acme-locks' state and gridwise's tariff", got)
	}

	if r := lp.admin(t, http.MethodPost, "/api/vendors/nobody/offboard"); r.Status != http.StatusNotFound {
		t.Errorf("offboard an unknown vendor = %d %s, want 404", r.Status, r.Raw)
	}
	r := lp.admin(t, http.MethodPost, "/api/vendors/acme-locks/offboard")
	var rep admin.Offboarding
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Raw), &rep) != nil {
		t.Fatalf("offboard = %d %s", r.Status, r.Raw)
	}
	t.Logf("offboarding removed %v", rep.Removed)
	for k, want := range map[string]int{"retained_messages": 1, "queued_messages": 2, "route_devices": 1, "hookbridge_entities": 6, "replay_records": 2, "secret_records": 1} {
		if rep.Removed[k] != want {
			t.Errorf("removed %s = %d, want %d (%v)", k, rep.Removed[k], want, rep.Removed)
		}
	}
	if got := freshTopics(t, lp, "gov-fresh-1", "hookbridge/+/#"); len(got) != 1 || !strings.HasPrefix(got[0], "hookbridge/gridwise-energy/") {
		t.Errorf("retained after offboarding = %v, want only gridwise's tariff", got)
	}
	ha.WaitFor("acme-locks' configs cleared", 10*time.Second, func(m []bridgetest.Message) bool {
		msg, ok := bridgetest.LastOn(m, "homeassistant/binary_sensor/hookbridge/acme-locks_health/config")
		return ok && msg.Payload == ""
	})
	for _, m := range ha.Messages() {
		if strings.Contains(m.Topic, "acme-locks") {
			if last, _ := bridgetest.LastOn(ha.Messages(), m.Topic); last.Payload != "" {
				t.Errorf("%s is still announced", m.Topic)
			}
		}
	}
	resumed, err := bridgetest.Connect(t, lp.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "gov-panel", false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got := resumed.Messages(); len(got) != 0 {
		t.Errorf("the panel's session resumed with %v, want nothing", got)
	}
	resumed.Client.Disconnect(50)
	if got := lp.send(t, "evt_gov_after_offboard", false); got != http.StatusServiceUnavailable {
		t.Errorf("acme webhook after offboarding = %d, want 503", got)
	}
	vi := vendorInfo(t, lp)
	if vi.Offboarded == nil || vi.State.Reason != "offboarded" || len(vi.Incidents) != 0 || len(vi.Secrets) != 0 {
		t.Errorf("inventory = offboarded %+v, state %+v, %d incidents, secrets %+v; want offboarded, no incident, no secret", vi.Offboarded, vi.State, len(vi.Incidents), vi.Secrets)
	}

	// A restart brings nothing back.
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lp.Start()
	if got := freshTopics(t, lp, "gov-fresh-2", "hookbridge/+/#"); len(got) != 1 {
		t.Errorf("retained after a restart = %v, want only gridwise's tariff", got)
	}
	if got := freshTopics(t, lp, "gov-fresh-3", "homeassistant/+/hookbridge/#"); strings.Contains(fmt.Sprint(got), "acme-locks") {
		t.Errorf("discovery configs after a restart = %v, want none of acme-locks", got)
	}
	if vi := vendorInfo(t, lp); vi.Offboarded == nil || vi.State.Mode != "disabled" || len(vi.Secrets) != 0 {
		t.Errorf("inventory after a restart: offboarded %+v, state %+v, secrets %+v", vi.Offboarded, vi.State, vi.Secrets)
	}
	if !strings.Contains(lp.Logs(), "offboarded and is still in the options") {
		t.Errorf("the start does not say that acme-locks is offboarded but still configured")
	}
	code, export, _ := opsRun(t, "audit", "export", "--actions", "--since", "1h", "--vendor", "acme-locks", "--admin-addr", lp.AdminAddr)
	if n := strings.Count(export, `"what":"offboarded"`); code != 0 || n != 1 || !strings.Contains(export, "2 queued_messages") {
		t.Errorf("audit export = %d with %d offboarding records, want 1 with the counts:\n%s", code, n, export)
	}

	// The command line, with the bridge stopped.
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	args := []string{"offboard", "gridwise-energy", "--offline", "--data", lp.Dir, "--options", filepath.Join(lp.Dir, "options.json")}
	code, out, errOut := opsRun(t, args...)
	if code != 0 || !strings.Contains(out, "retained_messages    1 removed") || !strings.Contains(out, "replay_records       1 removed") {
		t.Fatalf("hookbridge offboard = %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := opsRun(t, "offboard", "nobody", "--offline", "--data", lp.Dir, "--options", filepath.Join(lp.Dir, "options.json")); code != 1 || !strings.Contains(errOut, "unknown vendor") {
		t.Errorf("hookbridge offboard nobody = %d %s, want 1 and unknown vendor", code, errOut)
	}
	lp.Start()
	if got := freshTopics(t, lp, "gov-fresh-4", "hookbridge/+/#"); len(got) != 0 {
		t.Errorf("retained after the command line's offboarding = %v, want nothing", got)
	}
	if got := lp.sendAs(t, "gridwise-energy", bridgetest.GridwiseSecret, "evt_gov_tariff_2",
		bridgetest.ReadTestdata(t, "payloads/gridwise-energy-tariff.json")); got != http.StatusServiceUnavailable {
		t.Errorf("gridwise webhook after offboarding = %d, want 503", got)
	}
	code, out, errOut = opsRun(t, "audit", "verify", "--admin-addr", lp.AdminAddr, "--data", lp.Dir)
	if code != 0 {
		t.Errorf("audit verify = %d\n%s%s", code, out, errOut)
	}
	noCanary(t, "the log", lp.Logs(), lp.canaries())
}

// TestGovernanceOffboardRelay offboards acme-locks while Home Assistant's broker (a real
// Mosquitto behind a stand-in Supervisor, bridge_topics forwarding both vendors) is down: the
// relay's queue then holds nothing of acme-locks, and once Mosquitto is back it gets the other
// vendor's message only, and acme-locks' discovery configs are cleared there.
func TestGovernanceOffboardRelay(t *testing.T) {
	b := bridgeMosquitto(t)
	lp := startLifeProc(t, func(o *options.Options) { o.BridgeTopics = []string{"acme-locks/#", "gridwise-energy/#"} }, nil)
	queued := func() float64 {
		var h map[string]any
		json.Unmarshal([]byte(lp.admin(t, http.MethodGet, "/healthz").Raw), &h)
		n, _ := bridgeField(h, "bridge_topics.queued").(float64)
		return n
	}
	configs := b.Subscribe(t, "gov-configs", "homeassistant/+/hookbridge/+/config", false)
	configs.WaitFor(t, bridgetest.WaitForDeliveries, "acme-locks' configs on Mosquitto", func(m []mosquittotest.Message) bool {
		return slices.ContainsFunc(m, func(x mosquittotest.Message) bool { return strings.Contains(x.Topic, "acme-locks_health") })
	})
	b.Stop()
	sendOffboardEvents(t, lp, "relay")
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := queued(); n != 3 {
			return fmt.Errorf("relay queue holds %g, want 3", n)
		}
		return nil
	})
	r := lp.admin(t, http.MethodPost, "/api/vendors/acme-locks/offboard")
	var rep admin.Offboarding
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Raw), &rep) != nil || rep.Removed["relay_messages"] != 2 {
		t.Fatalf("offboard = %d %s, want 2 relay messages removed", r.Status, r.Raw)
	}
	if n := queued(); n != 1 {
		t.Errorf("relay queue holds %g after offboarding, want 1 (gridwise's)", n)
	}

	b.StartAgain()
	vendorMsgs := b.Subscribe(t, "gov-vendors", "hookbridge/#", false)
	vendorMsgs.WaitFor(t, bridgetest.WaitForDeliveries, "gridwise's tariff", func(m []mosquittotest.Message) bool {
		return slices.ContainsFunc(m, func(x mosquittotest.Message) bool { return strings.HasPrefix(x.Topic, "hookbridge/gridwise-energy/") })
	})
	cleared := b.Subscribe(t, "gov-configs-2", "homeassistant/+/hookbridge/+/config", false)
	time.Sleep(2 * time.Second)
	for _, m := range vendorMsgs.Messages() {
		if strings.HasPrefix(m.Topic, "hookbridge/acme-locks/") {
			t.Errorf("Mosquitto got %s after the offboarding", m.Topic)
		}
	}
	last := map[string]string{}
	for _, m := range cleared.Messages() {
		last[m.Topic] = m.Payload
	}
	for topic, payload := range last {
		if strings.Contains(topic, "acme-locks") && payload != "" {
			t.Errorf("Mosquitto still holds %s", topic)
		}
	}
	if n := queued(); n != 0 {
		t.Errorf("relay queue holds %g once Mosquitto is back, want 0", n)
	}
}

// TestGovernanceDataFlow reads who sees which field of acme-locks' events from the real binary:
// per field, dropped, in clear or pseudonymized, on which topics, which device accounts may read
// them by their allow lists, and whether Home Assistant gets them; the same in the command line's
// inventory and on the status page; and nothing in it comes from a payload.
func TestGovernanceDataFlow(t *testing.T) {
	lp := startLifeProc(t, func(o *options.Options) {
		o.Devices = append(o.Devices,
			options.Device{Username: "battery-panel", Password: "battery-password-1", Allow: []string{"acme-locks/locks/+/battery"}},
			options.Device{Username: "front-panel", Password: "front-password-12", Allow: []string{"acme-locks/locks/front/#"}},
			options.Device{Username: "energy-panel", Password: "energy-password-1", Allow: []string{"gridwise-energy/#"}})
	}, nil)
	const canary = "LCK-FLOW-CANARY-4711"
	body := bridgetest.AcmeEvent("evt_gov_flow", canary, 42)
	if got := lp.sendAs(t, "acme-locks", lp.secret, "evt_gov_flow", body); got != http.StatusAccepted {
		t.Fatalf("webhook = %d", got)
	}
	vi := vendorInfo(t, lp)
	if vi.DataFlow == nil {
		t.Fatal("the inventory has no data flow")
	}
	fields := map[string]admin.FieldFlow{}
	for _, f := range vi.DataFlow.Fields {
		fields[f.Field] = f
	}
	tests := []struct {
		field, treatment, readers string
		ha                        bool
	}{
		// The state route (hallway-panel reads all of it, front-panel one lock's) and the battery
		// route (battery-panel, front-panel) carry the device and the battery.
		{"/data/device_id", "pseudonymized", "battery-panel front-panel hallway-panel homeassistant", true},
		{"/data/battery_pct", "clear", "battery-panel front-panel hallway-panel homeassistant", true},
		{"/data/state", "clear", "front-panel hallway-panel homeassistant", true},
		{"/data/user/id", "pseudonymized", "front-panel hallway-panel homeassistant", true},
		{"/data/user/email", "dropped", "", false},
		{"/data/user/name", "dropped", "", false},
		{"/data/location/lat", "dropped", "", false},
	}
	for _, tc := range tests {
		f, ok := fields[tc.field]
		if !ok || f.Treatment != tc.treatment || strings.Join(f.Readers, " ") != tc.readers || f.HomeAssistant != tc.ha {
			t.Errorf("field %s = %+v, want %s, readers %q, home assistant %v", tc.field, f, tc.treatment, tc.readers, tc.ha)
		}
	}
	for _, ta := range vi.DataFlow.Topics {
		for _, r := range ta.Readers {
			if r.Account == "front-panel" && r.All || r.Account == "energy-panel" {
				t.Errorf("topic %s readers %+v: front-panel reads only some of it, energy-panel none", ta.Topic, ta.Readers)
			}
		}
	}
	raw := lp.admin(t, http.MethodGet, "/api/vendors/acme-locks").Raw
	if strings.Contains(raw, canary) {
		t.Errorf("the inventory holds a payload value")
	}
	code, out, errOut := opsRun(t, "inventory", "--admin-addr", lp.AdminAddr, "--data", lp.Dir, "--options", filepath.Join(lp.Dir, "options.json"))
	if code != 0 || !strings.Contains(out, "field /data/state: clear, read by front-panel hallway-panel homeassistant, Home Assistant too") {
		t.Errorf("hookbridge inventory = %d\n%s%s\nwant the state field's readers", code, out, errOut)
	}
	if page := lp.admin(t, http.MethodGet, "/").Raw; !strings.Contains(page, "Who sees which field") || strings.Contains(page, canary) {
		t.Errorf("the status page lacks the data flow, or holds a payload value")
	}
}

// TestGovernanceOptionsShapes runs `hookbridge check` on options files in both shapes of a
// vendor's secrets: 0.1's list is still read, the single fields are, and both at once are refused
// with the key named and no secret shown.
func TestGovernanceOptionsShapes(t *testing.T) {
	dir := t.TempDir()
	secret, old := bridgetest.NewSecret(t), bridgetest.NewSecret(t)
	tests := []struct {
		name, vendor string
		ok           bool
		want         string
	}{
		{"0.1's list", `"secrets": ["` + old + `", "` + secret + `"]`, true, ""},
		{"secret and previous_secret", `"secret": "` + secret + `", "previous_secret": "` + old + `"`, true, ""},
		{"both", `"secret": "` + secret + `", "secrets": ["` + old + `"]`, false, "vendors[0].secrets: give the secrets either as secret and previous_secret or as the older list secrets, not both"},
		{"a bad previous secret", `"secret": "` + secret + `", "previous_secret": "whsec_short"`, false, "vendors[0].previous_secret:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			doc := `{"vendors": [{"name": "acme-locks", ` + tc.vendor + `}]}`
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := opsRun(t, "check", "--options", path)
			if (code == 0) != tc.ok || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("check = %d\n%s%s\nwant ok %v and %q", code, out, errOut, tc.ok, tc.want)
			}
			noCanary(t, "check", out+errOut, []string{secret, old})
		})
	}
}
