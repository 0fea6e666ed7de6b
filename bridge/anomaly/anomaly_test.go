package anomaly_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/anomaly"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a detector for vendor "v" that records alerts and quarantines.
type harness struct {
	d           *anomaly.Detector
	clk         *clock
	alerts      []anomaly.Alert
	quarantines []string
}

func newHarness(t *testing.T, p policy.Anomaly) *harness {
	t.Helper()
	th, err := anomaly.Compile(p)
	if err != nil {
		t.Fatalf("Compile(%+v) = %v", p, err)
	}
	h := &harness{clk: &clock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}}
	h.d = anomaly.New(anomaly.Config{
		Thresholds: map[string]anomaly.Thresholds{"v": th},
		Quarantine: func(vendor, reason string) error {
			h.quarantines = append(h.quarantines, vendor+": "+reason)
			return nil
		},
		Alert: func(a anomaly.Alert) { h.alerts = append(h.alerts, a) },
		Now:   h.clk.now,
	})
	return h
}

func (h *harness) send(n int, o outcome.Outcome) {
	for range n {
		h.d.Observe(&o)
	}
}

func (h *harness) actions() []string {
	var out []string
	for _, a := range h.alerts {
		out = append(out, string(a.Kind)+"/"+string(a.Action))
	}
	return out
}

var (
	badSig   = outcome.Outcome{Vendor: "v", Status: 401, Reason: outcome.BadSignature}
	badTime  = outcome.Outcome{Vendor: "v", Status: 401, Reason: outcome.BadTimestamp}
	badSch   = outcome.Outcome{Vendor: "v", Status: 422, Reason: outcome.Schema}
	dup      = outcome.Outcome{Vendor: "v", Status: 200, Reason: outcome.Duplicate}
	ok       = outcome.Outcome{Vendor: "v", Status: 202, Reason: outcome.Accepted}
	unknown  = outcome.Outcome{Vendor: "v", Status: 202, Reason: outcome.Accepted, UnknownFields: 2}
	limited  = outcome.Outcome{Vendor: "v", Status: 429, Reason: outcome.RateLimited}
	disabled = outcome.Outcome{Vendor: "v", Status: 503, Reason: outcome.Disabled}
	other    = outcome.Outcome{Vendor: "other", Status: 401, Reason: outcome.BadSignature}
)

func TestThresholds(t *testing.T) {
	type step struct {
		n     int
		o     outcome.Outcome
		after time.Duration // clock advance after the step
	}
	cases := []struct {
		name        string
		policy      policy.Anomaly
		steps       []step
		want        []string
		quarantined bool
	}{
		{name: "below alert", steps: []step{{n: 4, o: badSig}}},
		{name: "signature alert once per window", steps: []step{{n: 10, o: badSig}},
			want: []string{"signature_failures/alert"}},
		{name: "timestamps count as signature failures", steps: []step{{n: 5, o: badTime}},
			want: []string{"signature_failures/alert"}},
		{name: "signature quarantine", steps: []step{{n: 25, o: badSig}},
			want: []string{"signature_failures/alert", "signature_failures/quarantine"}, quarantined: true},
		{name: "failures spread beyond the window", steps: []step{{n: 4, o: badSig, after: 6 * time.Minute}, {n: 4, o: badSig}}},
		{name: "alert repeats after a window", steps: []step{{n: 5, o: badSig, after: 5 * time.Minute}, {n: 5, o: badSig}},
			want: []string{"signature_failures/alert", "signature_failures/alert"}},
		{name: "schema", steps: []step{{n: 50, o: badSch}},
			want: []string{"schema_failures/alert", "schema_failures/quarantine"}, quarantined: true},
		{name: "replays only alert", steps: []step{{n: 100, o: dup}}, want: []string{"replays/alert"}},
		{name: "unknown fields only alert", steps: []step{{n: 10, o: unknown}}, want: []string{"unknown_fields/alert"}},
		{name: "disabled is not counted", steps: []step{{n: 100, o: disabled}}},
		{name: "other vendors are not counted", steps: []step{{n: 100, o: other}}},
		{name: "policy levels", policy: policy.Anomaly{SignatureFailures: policy.Threshold{Alert: 2, Quarantine: 3}},
			steps: []step{{n: 3, o: badSig}},
			want:  []string{"signature_failures/alert", "signature_failures/quarantine"}, quarantined: true},
		{name: "policy turns quarantine off", policy: policy.Anomaly{SignatureFailures: policy.Threshold{Alert: 5}},
			steps: []step{{n: 100, o: badSig}}, want: []string{"signature_failures/alert"}},
		{name: "policy turns a kind off", policy: policy.Anomaly{SignatureFailures: policy.Threshold{Alert: -1, Quarantine: -1}},
			steps: []step{{n: 100, o: badSig}}},
		{name: "policy window", policy: policy.Anomaly{Window: policy.Duration(time.Minute)},
			steps: []step{{n: 4, o: badSig, after: 61 * time.Second}, {n: 4, o: badSig}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.policy)
			for _, s := range tc.steps {
				h.send(s.n, s.o)
				h.clk.add(s.after)
			}
			if got := strings.Join(h.actions(), ","); got != strings.Join(tc.want, ",") {
				t.Errorf("alerts = %q, want %q", got, strings.Join(tc.want, ","))
			}
			if got := len(h.quarantines) > 0; got != tc.quarantined {
				t.Errorf("quarantined = %v (%v), want %v", got, h.quarantines, tc.quarantined)
			}
		})
	}
}

func TestAlertFields(t *testing.T) {
	h := newHarness(t, policy.Anomaly{})
	h.send(20, badSig)
	if len(h.alerts) != 2 {
		t.Fatalf("alerts = %v, want 2", h.alerts)
	}
	q := h.alerts[1]
	want := anomaly.Alert{Vendor: "v", Kind: anomaly.SignatureFailures, Action: anomaly.ActionQuarantine,
		EventType: anomaly.ActionQuarantine, Count: 20, Threshold: 20, Window: "5m0s", WindowSeconds: 300, Time: h.clk.now()}
	if q != want {
		t.Errorf("quarantine alert = %+v, want %+v", q, want)
	}
	if got, want := h.quarantines[0], "v: anomaly: 20 signature failures in 5m0s (threshold 20)"; got != want {
		t.Errorf("quarantine reason = %q, want %q", got, want)
	}
}

// TestResetAfterLift checks that a lifted vendor starts afresh: the failures that quarantined it do
// not quarantine it again on the next one.
func TestResetAfterLift(t *testing.T) {
	h := newHarness(t, policy.Anomaly{})
	h.send(20, badSig)
	h.d.Reset("v")
	h.send(1, badSig)
	if got := len(h.quarantines); got != 1 {
		t.Fatalf("quarantines after reset and one failure = %d, want 1", got)
	}
	h.send(19, badSig)
	if got := len(h.quarantines); got != 2 {
		t.Errorf("quarantines after 20 more failures = %d, want 2", got)
	}
}

func TestRate(t *testing.T) {
	const window = 5 * time.Minute
	// steady sends per windows of n requests, spread over the window.
	steady := func(h *harness, windows, n int) {
		for range windows {
			for range n {
				h.send(1, ok)
				h.clk.add(window / time.Duration(n))
			}
		}
	}
	t.Run("no alert before a baseline exists", func(t *testing.T) {
		h := newHarness(t, policy.Anomaly{})
		h.send(1000, ok)
		if len(h.alerts) != 0 {
			t.Errorf("alerts = %v, want none on a cold start", h.actions())
		}
	})
	t.Run("burst over the baseline alerts", func(t *testing.T) {
		h := newHarness(t, policy.Anomaly{})
		steady(h, 4, 20)
		h.send(150, ok) // with the previous window's tail: under 200
		if len(h.alerts) != 0 {
			t.Fatalf("alerts at about 170 requests over a baseline of 20 = %v, want none", h.actions())
		}
		h.send(40, limited) // 429s are requests too
		if got := strings.Join(h.actions(), ","); got != "rate/alert" {
			t.Fatalf("alerts = %q, want rate/alert", got)
		}
		if a := h.alerts[0]; a.Baseline != 20 || a.Factor != 10 || a.Threshold != 200 {
			t.Errorf("rate alert = %+v, want baseline 20, factor 10, threshold 200", a)
		}
		if len(h.quarantines) != 0 {
			t.Errorf("quarantines = %v, want none by default", h.quarantines)
		}
	})
	t.Run("quiet vendor needs the floor", func(t *testing.T) {
		h := newHarness(t, policy.Anomaly{})
		steady(h, 4, 1)
		h.send(99, ok)
		if len(h.alerts) != 0 {
			t.Errorf("alerts = %v, want none below the floor of %d requests", h.actions(), 100)
		}
	})
	t.Run("no alert for the backlog after a re-enable", func(t *testing.T) {
		h := newHarness(t, policy.Anomaly{})
		steady(h, 4, 20)
		h.d.Reset("v")
		h.send(500, ok)
		if len(h.alerts) != 0 {
			t.Errorf("alerts = %v, want none in the grace window", h.actions())
		}
	})
	t.Run("rate quarantine from policy", func(t *testing.T) {
		h := newHarness(t, policy.Anomaly{RateFactor: policy.Threshold{Alert: 3, Quarantine: 5}})
		steady(h, 4, 20)
		h.send(100, ok)
		if got := strings.Join(h.actions(), ","); got != "rate/alert,rate/quarantine" {
			t.Errorf("alerts = %q, want rate/alert,rate/quarantine", got)
		}
	})
}

func TestCompile(t *testing.T) {
	cases := []struct {
		name   string
		policy policy.Anomaly
		err    string
	}{
		{name: "defaults"},
		{name: "window too short", policy: policy.Anomaly{Window: policy.Duration(time.Second)}, err: "anomaly.window"},
		{name: "quarantine below alert", policy: policy.Anomaly{Replays: policy.Threshold{Alert: 5, Quarantine: 2}}, err: "anomaly.replays: quarantine (2) is below alert (5)"},
		{name: "rate factor of one", policy: policy.Anomaly{RateFactor: policy.Threshold{Alert: 1}}, err: "anomaly.rate_factor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := anomaly.Compile(tc.policy)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.err == "" && err != nil || !strings.Contains(got, tc.err) {
				t.Errorf("Compile(%+v) = %q, want %q", tc.policy, got, tc.err)
			}
		})
	}
}

// TestConcurrent runs under -race: many goroutines observing one vendor while it is reset.
func TestConcurrent(t *testing.T) {
	th, _ := anomaly.Compile(policy.Anomaly{})
	var mu sync.Mutex
	n := 0
	d := anomaly.New(anomaly.Config{
		Thresholds: map[string]anomaly.Thresholds{"v": th},
		Quarantine: func(string, string) error { return nil },
		Alert:      func(anomaly.Alert) { mu.Lock(); n++; mu.Unlock() },
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				d.Observe(&badSig)
			}
		})
	}
	wg.Go(func() { d.Reset("v") })
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n == 0 {
		t.Errorf("alerts = 0, want some")
	}
}
