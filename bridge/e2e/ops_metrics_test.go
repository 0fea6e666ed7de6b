package e2e_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/outcome"
)

// opsSeriesRE matches one sample line of the Prometheus text format: name, labels, value.
var opsSeriesRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? `)

// opsLabelRE matches one label pair inside braces.
var opsLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// opsScrape reads /metrics and returns the body and the set of hookbridge series (name and labels).
func opsScrape(t *testing.T, ta *bridgetest.Instance) (string, []string) {
	t.Helper()
	r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/metrics", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", r.Status)
	}
	var series []string
	for _, line := range strings.Split(r.Raw, "\n") {
		if m := opsSeriesRE.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], "hookbridge_") {
			series = append(series, m[1]+m[2])
		}
	}
	sort.Strings(series)
	return r.Raw, series
}

// TestOpsMetrics checks the metrics the runbook relies on, and that requests with hostile vendor
// names and event ids add no label value: every vendor label is a configured vendor or "unknown",
// every outcome a fixed word, and a second round of different hostile values leaves the set of
// series as the first round left it.
func TestOpsMetrics(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	sub := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "ops-metrics-panel", true, "hookbridge/acme-locks/locks/+/state")
	id := fmt.Sprintf("evt_ops_metrics_%d", time.Now().UnixNano())
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-M-1", 90)); r.Status != http.StatusAccepted {
		t.Fatalf("acme-locks: %d %s", r.Status, r.Raw)
	}
	sub.WaitCount(1)

	hostile := func(round int) []string {
		names := []string{
			fmt.Sprintf("evil-vendor-%d", round),
			fmt.Sprintf(`x"}%%0a1%%0ahookbridge_pwned%d{a="`, round),
			strings.Repeat("a", 70) + fmt.Sprint(round),
			fmt.Sprintf("%%2e%%2e%%2fadmin%d", round),
		}
		for _, n := range names {
			ta.Post("/hooks/"+n, map[string]string{"Content-Type": "application/json"}, []byte(`{}`))
		}
		ids := []string{
			fmt.Sprintf(`evt"} 1 hookbridge_pwned%d{vendor="acme-locks`, round),
			fmt.Sprintf("evt-hostile-label-%d", round),
		}
		for _, hid := range ids {
			body := bridgetest.AcmeEvent(hid, "LCK-M-2", 50)
			ta.Send("acme-locks", hid, body)
			h := ta.Sign("acme-locks", hid, body, time.Now())
			ta.Post("/hooks/acme-locks", h, bridgetest.AcmeEvent(hid, "LCK-M-2", 51)) // bad signature
		}
		return append(names, ids...)
	}
	first := hostile(1)
	body1, series1 := opsScrape(t, ta)
	second := hostile(2)
	body2, series2 := opsScrape(t, ta)

	if !slices.Equal(series1, series2) {
		t.Errorf("series changed with new hostile values:\nround 1: %v\nround 2: %v", series1, series2)
	}
	for _, body := range []string{body1, body2} {
		for _, h := range append(first, second...) {
			for _, part := range []string{h, "pwned", "evil-vendor", "hostile-label"} {
				if strings.Contains(body, part) {
					t.Errorf("metrics contain %q from a request", part)
				}
			}
		}
	}

	vendors := []string{metrics.UnknownVendor}
	for _, v := range ta.Options.Vendors {
		vendors = append(vendors, v.Name)
	}
	allowed := map[string][]string{
		"vendor":  vendors,
		"outcome": reasonWords(),
		"state":   metrics.States,
		"kind":    {"signature_failures", "schema_failures", "unknown_fields", "replays", "rate"},
		"action":  {"alert", "quarantine"},
	}
	for _, s := range series2 {
		for _, m := range opsLabelRE.FindAllStringSubmatch(s, -1) {
			if vals, ok := allowed[m[1]]; ok && !slices.Contains(vals, m[2]) {
				t.Errorf("series %s: label %s=%q is not from configuration", s, m[1], m[2])
			}
		}
	}

	for _, want := range []string{
		`hookbridge_webhook_requests_total{outcome="accepted",vendor="acme-locks"}`,
		`hookbridge_webhook_requests_total{outcome="unknown_vendor",vendor="unknown"}`,
		`hookbridge_webhook_requests_total{outcome="bad_signature",vendor="acme-locks"}`,
		`hookbridge_webhook_request_duration_seconds_bucket{vendor="acme-locks",le="+Inf"}`,
		`hookbridge_publish_duration_seconds_bucket{vendor="acme-locks",le="+Inf"}`,
		`hookbridge_messages_published_total{vendor="acme-locks"}`,
		`hookbridge_vendor_state{state="enabled",vendor="acme-locks"}`,
		"hookbridge_replay_records", "hookbridge_mqtt_clients", "hookbridge_mqtt_subscriptions",
		"hookbridge_mqtt_send_queued_bytes", "hookbridge_mqtt_slow_clients_cut_total",
	} {
		if !slices.Contains(series2, want) {
			t.Errorf("metrics lack series %s", want)
		}
	}
	// One subscriber is connected; every accepted event has a replay record.
	accepted := 0.0
	for _, line := range strings.Split(body2, "\n") {
		if strings.HasPrefix(line, "hookbridge_webhook_requests_total{") && strings.Contains(line, `outcome="accepted"`) {
			accepted += opsValue(t, line)
		}
	}
	for _, c := range []struct {
		name string
		min  float64
		max  float64
	}{
		{"hookbridge_replay_records", accepted, accepted},
		{"hookbridge_mqtt_clients", 1, 100},
		{"hookbridge_mqtt_subscriptions", 1, 100},
		{"hookbridge_mqtt_slow_clients_cut_total", 0, 0}, // its subscriber reads
	} {
		got := -1.0
		for _, line := range strings.Split(body2, "\n") {
			if strings.HasPrefix(line, c.name+" ") {
				got = opsValue(t, line)
			}
		}
		if got < c.min || got > c.max {
			t.Errorf("%s = %g, want between %g and %g", c.name, got, c.min, c.max)
		}
	}

	// Metrics are on the admin listener only.
	if r := bridgetest.Do(t, http.MethodGet, ta.URL+"/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the partner listener = %d, want 404", r.Status)
	}
}

// opsValue returns the value of a sample line.
func opsValue(t *testing.T, line string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
	if err != nil {
		t.Fatalf("sample %q: %v", line, err)
	}
	return f
}

// reasonWords are the outcome label's values: every reason's word.
func reasonWords() []string {
	var out []string
	for _, r := range outcome.All() {
		out = append(out, r.Word())
	}
	return out
}
