package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// lifeProc is the real binary with acme-locks on a secret of its own (a bridge left over from
// another run on the same ports would not pass for this one), logging at info.
type lifeProc struct {
	*bridgetest.Process
	secret string
	signer verify.Signer
}

func startLifeProc(t *testing.T, mutate func(*options.Options), before func(dataDir string)) *lifeProc {
	t.Helper()
	lp := newLifeProc(t, bridgetest.TestPolicies(t), mutate)
	if before != nil {
		before(lp.Dir)
	}
	lp.Start()
	return lp
}

// newLifeProc makes the real binary, not started, with the policies in policies over the built-in
// ones, acme-locks on a fresh secret (or the secrets mutate gives it), logging at info.
func newLifeProc(t *testing.T, policies string, mutate func(*options.Options)) *lifeProc {
	t.Helper()
	o := bridgetest.DefaultOptions()
	o.LogLevel = "info"
	lp := &lifeProc{secret: bridgetest.NewSecret(t)}
	for i := range o.Vendors {
		if o.Vendors[i].Name == "acme-locks" {
			o.Vendors[i].Secrets = []string{lp.secret}
		}
	}
	if mutate != nil {
		mutate(o)
	}
	lp.Process = bridgetest.NewProcessPolicies(t, o, policies)
	v, _ := lp.Catalog.Vendor("acme-locks")
	lp.signer = verify.Signer{Auth: v.Policy.Auth, Secret: lp.secret}
	return lp
}

// send posts an acme-locks event, signed, tampered with after signing when forged.
func (lp *lifeProc) send(t *testing.T, id string, forged bool) int {
	t.Helper()
	body := bridgetest.AcmeEvent(id, "LCK-LIFE-1", 50)
	hdr, err := lp.signer.Sign(body, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hdr["Content-Type"] = "application/json"
	if forged {
		body = bridgetest.AcmeEvent(id, "LCK-LIFE-1", 51)
	}
	return lp.Post("/hooks/acme-locks", hdr, body).Status
}

func (lp *lifeProc) admin(t *testing.T, method, path string) bridgetest.Response {
	t.Helper()
	return bridgetest.Do(t, method, "http://"+lp.AdminAddr+path, nil, nil)
}

// canaries are what must never appear in any output: the secret, its key, and plain hashes of
// both.
func (lp *lifeProc) canaries() []string {
	out := []string{lp.secret, strings.TrimPrefix(lp.secret, "whsec_")}
	for _, b := range [][]byte{[]byte(lp.secret), must(base64.StdEncoding.DecodeString(strings.TrimPrefix(lp.secret, "whsec_")))} {
		sum := sha256.Sum256(b)
		out = append(out, hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:16]), hex.EncodeToString(b))
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// noCanary fails the test when what holds one of the canaries.
func noCanary(t *testing.T, where, what string, canaries []string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(what, c) {
			t.Errorf("%s holds %q", where, c)
		}
	}
}

// copyTrail copies a data dir's trail and key to a new directory, for tampering with.
func copyTrail(t *testing.T, dataDir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		if rel != "." && rel != audit.KeyFile && rel != "audit" && !strings.HasPrefix(rel, "audit"+string(filepath.Separator)) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// chainFiles returns a chain's segment files, oldest first.
func chainFiles(t *testing.T, dataDir, chain string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "audit", chain, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no segment of chain %s in %s: %v", chain, dataDir, err)
	}
	slices.Sort(files)
	return files
}

// editLines rewrites a file's lines.
func editLines(t *testing.T, path string, fn func([][]byte) [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := fn(bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'}))
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte{'\n'}), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycleAuditVerify runs the real binary over a trail with records past retention, so that
// it purges them at start; sends webhooks; verifies the trail through the running server, from the
// files next to it, and after a stop; then tampers with copies of the stopped trail (an edited
// byte, a removed line, two swapped lines, a cut file, a deleted file) and checks that `audit
// verify` exits 1 naming the first record concerned.
func TestLifecycleAuditVerify(t *testing.T) {
	old := time.Now().Add(-10 * 24 * time.Hour)
	lp := startLifeProc(t, nil, func(dataDir string) {
		// What an earlier run left: five acme-locks records ten days old (retention is 7 days).
		keys, _, err := audit.LoadOrCreateKeys(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		trail, err := audit.OpenLog(filepath.Join(dataDir, "audit"), keys)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			at := old.Add(time.Duration(i) * time.Second)
			rec := audit.Record{Time: at, Vendor: "acme-locks", Status: 202, Outcome: "accepted", Reason: "accepted"}
			if err := trail.Append(at, "acme-locks", rec.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
		}
		if err := trail.Close(); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 8 {
		id := fmt.Sprintf("evt_life_verify_%d_%d", time.Now().UnixNano(), i)
		want := http.StatusAccepted
		if i >= 6 {
			want = http.StatusUnauthorized
		}
		if got := lp.send(t, id, i >= 6); got != want {
			t.Fatalf("webhook %d = %d, want %d", i, got, want)
		}
	}

	canaries := lp.canaries()
	verified := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		code, out, errOut := opsRun(t, append([]string{"audit", "verify", "--data", lp.Dir}, args...)...)
		if code != 0 || !strings.HasPrefix(out, "audit trail verified: ") {
			t.Fatalf("%s: audit verify = %d\n%s%s, want 0 and verified", name, code, out, errOut)
		}
		noCanary(t, name, out+errOut, canaries)
		return out
	}
	out := verified(t, "through the server", "--admin-addr", lp.AdminAddr)
	if !strings.Contains(out, " 1 purge checkpoints") {
		t.Errorf("verify through the server = %q, want the purge at start's checkpoint", out)
	}
	verified(t, "files next to the server", "--offline")
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out = verified(t, "files after a stop", "--admin-addr", "127.0.0.1:1")

	// The purge's checkpoint is an action record: count and time range, no MAC.
	code, export, _ := opsRun(t, "audit", "export", "--offline", "--actions", "--since", "30d", "--data", lp.Dir)
	if code != 0 {
		t.Fatalf("audit export --actions = %d", code)
	}
	noCanary(t, "audit export --actions", export, canaries)
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(export), "\n") {
		var a audit.Action
		if json.Unmarshal([]byte(line), &a) == nil && a.Kind != "" {
			kinds = append(kinds, a.Kind+"/"+a.What)
			if a.Kind == audit.KindPurge && (a.Purged != 5 || !a.From.Equal(old.UTC().Truncate(time.Nanosecond)) || a.LastMAC != "") {
				t.Errorf("purge record = %+v, want 5 records from %v, no MAC", a, old)
			}
		}
	}
	for _, want := range []string{"policy/first_seen", "schema/first_seen", "secret/first_seen", "purge/purged"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("exported actions %v lack %s", kinds, want)
		}
	}

	files := chainFiles(t, lp.Dir, "acme-locks")
	newest := files[len(files)-1]
	rel := "acme-locks/" + filepath.Base(newest)
	if n := len(bytes.Split(bytes.TrimSpace(must(os.ReadFile(newest))), []byte{'\n'})); n < 8 {
		t.Skipf("the hour turned during the test: %s holds %d lines", rel, n)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, path string)
		want   []string // in verify's output
	}{
		{"an edited byte", func(t *testing.T, path string) {
			editLines(t, path, func(l [][]byte) [][]byte {
				l[5] = bytes.Replace(l[5], []byte(`"time":"20`), []byte(`"time":"21`), 1)
				return l
			})
		}, []string{rel + ":6 (", "changed"}},
		{"a removed line", func(t *testing.T, path string) {
			editLines(t, path, func(l [][]byte) [][]byte { return slices.Delete(l, 5, 6) })
		}, []string{rel + ":6 (", "removed"}},
		{"two swapped lines", func(t *testing.T, path string) {
			editLines(t, path, func(l [][]byte) [][]byte {
				l[5], l[6] = l[6], l[5]
				return l
			})
		}, []string{rel + ":7 (", "reordered"}},
		{"a cut file", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-30)
		}, []string{rel, "truncated"}},
		{"a deleted file", func(t *testing.T, path string) { os.Remove(path) }, []string{"acme-locks", "truncated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTrail(t, lp.Dir)
			tc.tamper(t, filepath.Join(dir, "audit", "acme-locks", filepath.Base(newest)))
			code, out, errOut := opsRun(t, "audit", "verify", "--offline", "--data", dir)
			if code != 1 || !strings.Contains(errOut, "failed verification") {
				t.Fatalf("audit verify = %d\n%s%s, want 1 and failed verification", code, out, errOut)
			}
			first := strings.SplitN(strings.SplitN(out, "\n  ", 2)[1], "\n", 2)[0]
			for _, w := range tc.want {
				if !strings.Contains(first, w) {
					t.Errorf("first problem %q lacks %q\n%s", first, w, out)
				}
			}
			noCanary(t, "audit verify", out+errOut, canaries)
		})
	}
}

// timelineOf reads a vendor's incidents through the admin API.
func timelineOf(t *testing.T, lp *lifeProc) []killswitch.IncidentView {
	t.Helper()
	r := lp.admin(t, http.MethodGet, "/api/vendors/acme-locks/timeline")
	if r.Status != http.StatusOK {
		t.Fatalf("GET timeline = %d %s", r.Status, r.Raw)
	}
	var tl struct {
		Vendor    string                    `json:"vendor"`
		Incidents []killswitch.IncidentView `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &tl); err != nil {
		t.Fatalf("timeline %s: %v", r.Raw, err)
	}
	return tl.Incidents
}

// TestLifecycleIncidentTimeline scripts an incident on the real binary: forged webhooks from the
// vendor's own network raise an alert, then a quarantine; the timeline shows detected (the alert),
// alerted, contained, and time to contain is in /metrics; across a restart the timeline stays, a
// person acknowledges (a second time is refused), and time to acknowledge is in /metrics; after a
// lift and another restart the closed incident keeps its durations, the audit trail holds each
// step and verifies, and nothing shows the secret.
func TestLifecycleIncidentTimeline(t *testing.T) {
	lp := startLifeProc(t, func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "acme-locks" {
				o.Vendors[i].AllowedCIDRs = []string{"127.0.0.0/8"} // so that signature failures quarantine
			}
		}
	}, nil)
	start := time.Now()
	for i := range 20 {
		if got := lp.send(t, fmt.Sprintf("evt_life_forged_%d_%d", start.UnixNano(), i), true); got != http.StatusUnauthorized {
			t.Fatalf("forged webhook %d = %d, want 401", i, got)
		}
	}
	if got := lp.send(t, fmt.Sprintf("evt_life_good_%d", start.UnixNano()), false); got != http.StatusServiceUnavailable {
		t.Fatalf("a good webhook after 20 forged ones = %d, want 503 (quarantined)", got)
	}
	// The alerts are published for Home Assistant from a queue of their own: poll.
	var tl []killswitch.IncidentView
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		tl = timelineOf(t, lp)
		if len(tl) != 1 || tl[0].Alerted == nil {
			return fmt.Errorf("timeline = %+v, want one incident, alerted", tl)
		}
		return nil
	})
	inc := tl[0]
	if !inc.Open || inc.Cause != killswitch.CauseQuarantine || inc.Detected.By != killswitch.ByAnomaly || inc.Contained.By != killswitch.ByAnomaly ||
		inc.Acknowledged != nil || inc.Lifted != nil || !strings.Contains(inc.Reason, "signature failures") {
		t.Fatalf("incident = %+v, want an open quarantine for signature failures, detected and contained by anomaly", inc)
	}
	// Detected at the alert level (the 5th failure), contained at the quarantine level (the 20th).
	if !inc.Detected.At.Before(inc.Contained.At) || inc.Detected.At.Before(start) || inc.TimeToContainSeconds < 0 {
		t.Errorf("incident = %+v, want detected (first alert) before contained, after the test began", inc)
	}
	bridgetest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n, _ := metricValue(t, lp.Process, `hookbridge_incident_time_to_contain_seconds_count{vendor="acme-locks"}`); n != 1 {
			return fmt.Errorf("time to contain count = %g, want 1", n)
		}
		return nil
	})
	if r := lp.admin(t, http.MethodPost, "/api/vendors/porchlight-cams/acknowledge"); r.Status != http.StatusConflict {
		t.Errorf("acknowledge a vendor without an incident = %d %s, want 409", r.Status, r.Raw)
	}
	if r := lp.admin(t, http.MethodPost, "/api/vendors/nobody/acknowledge"); r.Status != http.StatusNotFound {
		t.Errorf("acknowledge an unknown vendor = %d %s, want 404", r.Status, r.Raw)
	}

	// A restart keeps the timeline; a person acknowledges after it.
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lp.Start()
	after := timelineOf(t, lp)
	if len(after) != 1 || !after[0].Detected.At.Equal(inc.Detected.At) || !after[0].Alerted.At.Equal(inc.Alerted.At) ||
		!after[0].Contained.At.Equal(inc.Contained.At) || !after[0].Open {
		t.Fatalf("timeline after a restart = %+v, want %+v", after, inc)
	}
	if r := lp.admin(t, http.MethodPost, "/api/vendors/acme-locks/acknowledge"); r.Status != http.StatusOK {
		t.Fatalf("acknowledge = %d %s, want 200", r.Status, r.Raw)
	}
	if r := lp.admin(t, http.MethodPost, "/api/vendors/acme-locks/acknowledge"); r.Status != http.StatusConflict {
		t.Errorf("acknowledge again = %d %s, want 409", r.Status, r.Raw)
	}
	tta, ok := metricValue(t, lp.Process, `hookbridge_incident_time_to_acknowledge_seconds_sum{vendor="acme-locks"}`)
	if want := time.Since(inc.Alerted.At).Seconds(); !ok || tta <= 0 || tta > want {
		t.Errorf("time to acknowledge sum = %g (%v), want between 0 and %g (the alert to now, a restart between)", tta, ok, want)
	}
	if r := lp.admin(t, http.MethodPost, "/api/vendors/acme-locks/lift"); r.Status != http.StatusOK {
		t.Fatalf("lift = %d %s", r.Status, r.Raw)
	}

	// Another restart: the closed incident with its durations.
	if _, err := lp.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lp.Start()
	tl = timelineOf(t, lp)
	if len(tl) != 1 || tl[0].Open || tl[0].Acknowledged == nil || tl[0].Acknowledged.By != killswitch.ByAPI ||
		tl[0].Lifted == nil || tl[0].Lifted.By != killswitch.ByAPI || tl[0].TimeToAcknowledgeSeconds == nil {
		t.Fatalf("timeline after the lift and a restart = %+v, want the incident acknowledged and lifted by api", tl)
	}
	closed := tl[0]
	if d := closed.Lifted.At.Sub(closed.Detected.At).Seconds(); closed.DurationSeconds != float64(int64(d*1000))/1000 ||
		*closed.TimeToAcknowledgeSeconds != float64(closed.Acknowledged.At.Sub(closed.Alerted.At).Milliseconds())/1000 {
		t.Errorf("durations = %+v, want duration detected→lifted and time to acknowledge alerted→acknowledged", closed)
	}
	if got := lp.send(t, fmt.Sprintf("evt_life_after_%d", start.UnixNano()), false); got != http.StatusAccepted {
		t.Errorf("a good webhook after the lift = %d, want 202", got)
	}

	// The audit trail holds each step, and verifies.
	code, export, _ := opsRun(t, "audit", "export", "--actions", "--since", "1h", "--vendor", "acme-locks", "--admin-addr", lp.AdminAddr)
	if code != 0 {
		t.Fatalf("audit export --actions = %d", code)
	}
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(export), "\n") {
		var a audit.Action
		if json.Unmarshal([]byte(line), &a) == nil && (a.Kind == audit.KindIncident || a.Kind == audit.KindKillSwitch) {
			steps = append(steps, a.Kind+"/"+a.What+"/"+a.By)
		}
	}
	// The first alert reaches Home Assistant from a queue of its own, before or after the
	// quarantine: its record comes before or after the quarantine's.
	want := []string{"incident/acknowledged/api", "incident/alerted/anomaly", "incident/lifted/api", "incident/opened/anomaly",
		"killswitch/enabled/api", "killswitch/quarantined/anomaly"}
	slices.Sort(steps)
	if !slices.Equal(steps, want) {
		t.Errorf("audit records of the incident = %v, want %v", steps, want)
	}
	code, out, errOut := opsRun(t, "audit", "verify", "--admin-addr", lp.AdminAddr, "--data", lp.Dir)
	if code != 0 {
		t.Errorf("audit verify = %d\n%s%s", code, out, errOut)
	}

	// No secret, nor its plain hash, anywhere the incident shows.
	canaries := lp.canaries()
	for _, path := range []string{"/api/vendors", "/api/vendors/acme-locks/timeline", "/metrics", "/api/audit?since=1h&actions=true", "/api/audit/verify"} {
		noCanary(t, path, lp.admin(t, http.MethodGet, path).Raw, canaries)
	}
	noCanary(t, "audit export", export, canaries)
	noCanary(t, "the log", lp.Logs(), canaries)
	filepath.WalkDir(filepath.Join(lp.Dir, "audit"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			noCanary(t, path, string(must(os.ReadFile(path))), canaries)
		}
		return nil
	})
}
