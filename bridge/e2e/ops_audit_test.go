package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// opsRun runs a command with the real binary and returns its exit code, stdout and stderr.
func opsRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := bridgetest.RunBinary(t, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// opsRecords decodes JSON lines of audit records, refusing any field a Record does not have.
func opsRecords(t *testing.T, jsonl string) []audit.Record {
	t.Helper()
	var out []audit.Record
	sc := bufio.NewScanner(strings.NewReader(jsonl))
	for sc.Scan() {
		var r audit.Record
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestOpsAuditExport runs the sample payloads, carrying canary identifiers, through accepted,
// duplicate, tampered and schema-violating requests, then exports the audit trail three ways (admin
// API, the command through a running server, the command on the state file after a stop) and
// looks for the canaries, the secrets and the payloads in each export.
func TestOpsAuditExport(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	var tokens []string
	for _, c := range []struct{ vendor, file string }{
		{"acme-locks", "payloads/acme-locks.json"},
		{"porchlight-cams", "payloads/porchlight-cams.json"},
		{"gridwise-energy", "payloads/gridwise-energy.json"},
	} {
		body := bridgetest.ReadTestdata(t, c.file)
		id := app.EventID(ta.Policy(c.vendor), body)
		r := ta.Send(c.vendor, id, body)
		if r.Status != http.StatusAccepted {
			t.Fatalf("%s: status %d %s", c.vendor, r.Status, r.Raw)
		}
		tokens = append(tokens, r.Body["event"].(string))
		if r := ta.Send(c.vendor, id, body); r.Status != http.StatusOK {
			t.Fatalf("%s again: status %d", c.vendor, r.Status)
		}
		bad := []byte(strings.Replace(string(body), "{", `{"unexpected":"Jane Doe",`, 1))
		if r := ta.Post("/hooks/"+c.vendor, ta.Sign(c.vendor, id, body, time.Now()), bad); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s tampered: status %d", c.vendor, r.Status)
		}
		bad = []byte(strings.ReplaceAll(string(bad), id, id+"x"))
		if r := ta.Post("/hooks/"+c.vendor, ta.Sign(c.vendor, id+"x", bad, time.Now()), bad); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("%s schema violation: status %d", c.vendor, r.Status)
		}
	}
	// A request naming a vendor that does not exist, with a canary in the path.
	if r := ta.Post("/hooks/jane-doe-usr-5521", nil, []byte(`{}`)); r.Status != http.StatusNotFound {
		t.Fatalf("unknown vendor: status %d", r.Status)
	}
	const wantRecords = 13

	// The audit writes are asynchronous: poll the admin API until every record is there.
	var api string
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/audit?since=1h", nil, nil)
		api = r.Raw
		if r.Status != http.StatusOK || strings.Count(api, "\n") < wantRecords {
			return fmt.Errorf("admin API export = %d, %d lines, want %d records: %s", r.Status, strings.Count(api, "\n"), wantRecords, r.Raw)
		}
		return nil
	})
	code, live, stderr := opsRun(t, "audit", "export", "--since", "1h", "--admin-addr", ta.Addrs().Admin, "--data", ta.Dir)
	if code != 0 {
		t.Fatalf("audit export through the server = %d, stderr %s", code, stderr)
	}
	code, vendorOnly, _ := opsRun(t, "audit", "export", "--since", "1h", "--vendor", "gridwise-energy", "--admin-addr", ta.Addrs().Admin)
	if code != 0 || len(opsRecords(t, vendorOnly)) != 4 {
		t.Errorf("audit export --vendor gridwise-energy = %d, %d records, want 4", code, len(opsRecords(t, vendorOnly)))
	}
	// Without the admin API, the command reads the trail's files, even while the server runs.
	code, running, stderr := opsRun(t, "audit", "export", "--offline", "--since", "1h", "--data", ta.Dir)
	if code != 0 || len(opsRecords(t, running)) < wantRecords-1 {
		t.Errorf("audit export --offline while the server runs = %d, %d records %q", code, len(opsRecords(t, running)), stderr)
	}
	ta.Stop()
	code, offline, stderr := opsRun(t, "audit", "export", "--since", "1h", "--data", ta.Dir, "--admin-addr", "127.0.0.1:1")
	if code != 0 {
		t.Fatalf("audit export on the state file = %d, stderr %s", code, stderr)
	}

	forbidden := append([]string{}, canaries...)
	forbidden = append(forbidden, "jane-doe-usr-5521", bridgetest.PseudonymKey, bridgetest.HAPassword, bridgetest.PanelPassword, `"unexpected"`, "lock.state_changed")
	for _, s := range bridgetest.Secrets() {
		forbidden = append(forbidden, s)
	}
	for name, export := range map[string]string{"admin API": api, "command via server": live, "command on file": offline} {
		recs := opsRecords(t, export)
		if len(recs) != wantRecords {
			t.Errorf("%s: %d records, want %d", name, len(recs), wantRecords)
		}
		for _, f := range forbidden {
			if strings.Contains(export, f) {
				t.Errorf("%s: export contains %q", name, f)
			}
		}
		var reasons []string
		for _, r := range recs {
			reasons = append(reasons, r.Reason)
			if r.Outcome == audit.OutcomeAccepted && (!slices.Contains(tokens, r.Event) || len(r.Topics) == 0 || r.LatencyMS <= 0) {
				t.Errorf("%s: accepted record %+v, want a known event token, topics and latency", name, r)
			}
		}
		for _, want := range []string{"accepted", "duplicate", "bad_signature", "schema", "unknown_vendor"} {
			if !slices.Contains(reasons, want) {
				t.Errorf("%s: no %s record among %v", name, want, reasons)
			}
		}
	}
}

// TestOpsAuditPurge checks that each vendor's records are purged after its own retention:
// acme-locks keeps 7 days, gridwise-energy 30, requests naming no vendor the options' 7; and that
// the purged trail still verifies, through the checkpoints the purge left.
func TestOpsAuditPurge(t *testing.T) {
	// The trail as earlier runs left it: records ten days and an hour old. A chain only grows
	// forward (a record older than a chain's newest hour goes into that hour), so they are written
	// before the instance starts and records its configuration.
	dir := t.TempDir()
	keys, _, err := audit.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.OpenLog(filepath.Join(dir, "audit"), keys)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour)
	for _, at := range []time.Time{old, now.Add(-time.Hour)} {
		for _, v := range []string{"acme-locks", "gridwise-energy", ""} {
			rec, _ := json.Marshal(audit.Record{Time: at, Vendor: v, Status: 401, Outcome: "rejected", Reason: "bad_signature"})
			if err := trail.Append(at, v, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}
	ta := bridgetest.Start(t, dir, nil)
	ta.Purge(now)
	var buf bytes.Buffer
	if _, err := audit.Export(&buf, ta.AuditTrail(), audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	left := map[string]int{}
	for _, r := range opsRecords(t, buf.String()) {
		left[r.Vendor]++
	}
	for v, want := range map[string]int{"acme-locks": 1, "gridwise-energy": 2, "": 1} {
		if left[v] != want {
			t.Errorf("records of %q left = %d, want %d", v, left[v], want)
		}
	}
	rep, err := ta.AuditTrail().Verify()
	if err != nil || !rep.OK || rep.Checkpoints != 2 {
		t.Errorf("Verify after the purge = %+v, %v, want OK with 2 checkpoints (acme-locks and no vendor)", rep, err)
	}
}
