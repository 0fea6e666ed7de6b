package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/outcome"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLabelsFromConfigurationOnly(t *testing.T) {
	m := metrics.New([]string{"acme-locks"})
	outcomes := []outcome.Outcome{
		{Vendor: "acme-locks", Status: 202, Reason: outcome.Accepted, Token: "tok", Topics: []string{"a", "b"},
			Latency: time.Millisecond, PublishLatency: time.Millisecond / 2},
		{Vendor: "evil\"} 1\nhookbridge_pwned{x=\"", Status: 404, Reason: outcome.UnknownVendor},
		{Vendor: "not-configured", Status: 404, Reason: outcome.UnknownVendor},
		{Vendor: "acme-locks", Status: 500, Reason: outcome.Internal},
	}
	for i := range outcomes {
		m.Observe(&outcomes[i])
	}
	m.Alert("elsewhere", "rate", "alert")
	m.SetState("acme-locks", "quarantined")
	m.SetState("stranger", "enabled")

	body := scrape(t, m)
	// Exposition lines sort labels by name.
	for _, want := range []string{
		`hookbridge_webhook_requests_total{outcome="accepted",vendor="acme-locks"} 1`,
		`hookbridge_webhook_requests_total{outcome="unknown_vendor",vendor="unknown"} 2`,
		`hookbridge_webhook_requests_total{outcome="internal",vendor="acme-locks"} 1`,
		`hookbridge_messages_published_total{vendor="acme-locks"} 2`,
		`hookbridge_publish_duration_seconds_count{vendor="acme-locks"} 1`,
		`hookbridge_webhook_request_duration_seconds_count{vendor="unknown"} 2`,
		`hookbridge_anomaly_alerts_total{action="alert",kind="rate",vendor="unknown"} 1`,
		`hookbridge_vendor_state{state="quarantined",vendor="acme-locks"} 1`,
		`hookbridge_vendor_state{state="enabled",vendor="acme-locks"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, bad := range []string{"evil", "pwned", "not-configured", "nobody", "stranger", "elsewhere", "tok"} {
		if strings.Contains(body, bad) {
			t.Errorf("scrape contains %q, a value from outside configuration", bad)
		}
	}
	if got := series(t, m, "hookbridge_webhook_requests_total"); got != 3 {
		t.Errorf("request series = %d, want 3 (acme-locks/accepted, unknown/unknown_vendor, acme-locks/internal)", got)
	}
	if got := series(t, m, "hookbridge_vendor_state"); got != 3 {
		t.Errorf("state series = %d, want 3 (one vendor, three states)", got)
	}
}

// series returns how many series a metric has.
func series(t *testing.T, m *metrics.Metrics, name string) int {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// TestIncidentHistograms: time to acknowledge and time to contain are histograms per configured
// vendor, in seconds; a negative duration (a clock set back) counts as 0.
func TestIncidentHistograms(t *testing.T) {
	m := metrics.New([]string{"acme-locks"})
	m.TimeToAcknowledge("acme-locks", 90*time.Second)
	m.TimeToAcknowledge("acme-locks", 2*time.Hour)
	m.TimeToContain("acme-locks", 0)
	m.TimeToContain("acme-locks", -time.Second)
	m.TimeToContain("stranger", time.Minute)
	body := scrape(t, m)
	for _, want := range []string{
		`hookbridge_incident_time_to_acknowledge_seconds_bucket{vendor="acme-locks",le="60"} 0`,
		`hookbridge_incident_time_to_acknowledge_seconds_bucket{vendor="acme-locks",le="120"} 1`,
		`hookbridge_incident_time_to_acknowledge_seconds_bucket{vendor="acme-locks",le="7200"} 2`,
		`hookbridge_incident_time_to_acknowledge_seconds_sum{vendor="acme-locks"} 7290`,
		`hookbridge_incident_time_to_contain_seconds_bucket{vendor="acme-locks",le="1"} 2`,
		`hookbridge_incident_time_to_contain_seconds_sum{vendor="acme-locks"} 0`,
		`hookbridge_incident_time_to_contain_seconds_count{vendor="unknown"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
