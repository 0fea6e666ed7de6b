package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/metrics"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/receiver"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestReasonsCoverStatus checks that every reason word receiver.Status can give is a known label
// value, so that a new refusal in the receiver does not silently become "other".
func TestReasonsCoverStatus(t *testing.T) {
	errs := []error{
		nil, pipeline.ErrDuplicate, receiver.ErrNotFound, receiver.ErrMethod, receiver.ErrShuttingDown,
		receiver.ErrUnknownVendor, receiver.ErrDisabled, receiver.ErrSourceDenied, receiver.ErrRateLimited,
		receiver.ErrContentType, receiver.ErrTooLarge, receiver.ErrBadBody, pipeline.ErrNoVerifier,
		verify.ErrTimestamp, verify.ErrBadSignature, payload.ErrLimit, payload.ErrSyntax,
		pipeline.ErrNoEventID, pipeline.ErrBadEventID, &schema.Error{Pointer: "/a", Keyword: "type"},
		&publish.UnavailableError{}, errors.New("anything else"),
	}
	for _, err := range errs {
		_, _, reason := receiver.Status(err)
		if !slices.Contains(metrics.Reasons, reason) {
			t.Errorf("receiver.Status(%v) reason = %q, not in metrics.Reasons", err, reason)
		}
	}
}

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
	outcomes := []receiver.Outcome{
		{Vendor: "acme-locks", Status: 202, Reason: "accepted", Token: "tok", Topics: []string{"a", "b"},
			Latency: time.Millisecond, PublishLatency: time.Millisecond / 2},
		{Vendor: "evil\"} 1\nhookbridge_pwned{x=\"", Status: 404, Reason: "unknown_vendor"},
		{Vendor: "not-configured", Status: 404, Reason: "unknown_vendor"},
		{Vendor: "acme-locks", Status: 500, Reason: "a reason nobody wrote"},
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
		`hookbridge_webhook_requests_total{outcome="other",vendor="acme-locks"} 1`,
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
		t.Errorf("request series = %d, want 3 (acme-locks/accepted, unknown/unknown_vendor, acme-locks/other)", got)
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
