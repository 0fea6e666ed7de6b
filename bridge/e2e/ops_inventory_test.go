package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// opsInventory decodes an inventory, refusing fields VendorInfo does not have.
func opsInventory(t *testing.T, raw string) []admin.VendorInfo {
	t.Helper()
	var inv []admin.VendorInfo
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatalf("inventory %s: %v", raw, err)
	}
	return inv
}

// TestOpsInventory checks the inventory from the admin API, from the command through the running
// server and from the command on the files: metadata, data flows, auth, state, counters, and no
// secret anywhere.
func TestOpsInventory(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	if err := app.WriteOptions(ta.Dir+"/options.json", ta.Options); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("evt_ops_inv_%d", time.Now().UnixNano())
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-INV-1", 77)); r.Status != http.StatusAccepted {
		t.Fatalf("acme-locks: %d %s", r.Status, r.Raw)
	}
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/gridwise-energy/disable", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Raw)
	}

	api := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/vendors", nil, nil)
	if api.Status != http.StatusOK {
		t.Fatalf("GET /api/vendors = %d", api.Status)
	}
	inv := opsInventory(t, api.Raw)
	var names []string
	for _, v := range inv {
		names = append(names, v.Name)
	}
	if want := []string{"acme-locks", "bearer-vendor", "gridwise-energy", "locked-down", "porchlight-cams"}; !slices.Equal(names, want) {
		t.Fatalf("inventory vendors = %v, want %v", names, want)
	}
	acme := inv[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"title", acme.Title, "Acme Locks cloud"},
		{"owner", acme.Owner, "Home security"},
		{"contact", acme.Contact, "support@acme.example"},
		{"risk", acme.Risk, "high"},
		{"retention_days", acme.RetentionDays, 7},
		{"auth_scheme", acme.Scheme, "standard-webhooks"},
		{"auth_tolerance", acme.Tolerance, "5m0s"},
		{"secret_configured", acme.SecretConfigured, true},
		{"endpoint", acme.Endpoint, "/hooks/acme-locks"},
		{"state", acme.State.Mode, killswitch.Enabled},
		{"flows", len(acme.Flows), 2},
		{"flow topic", acme.Flows[0].Topic, "hookbridge/acme-locks/locks/{device}/state"},
		{"flow qos", acme.Flows[0].QoS, 1},
		{"flow retain", acme.Flows[0].Retain, true},
		{"first field", acme.Flows[0].Fields[0], admin.FlowField{Name: "device", From: "/data/device_id", Pseudonymized: true}},
		{"second field", acme.Flows[0].Fields[1], admin.FlowField{Name: "state", From: "/data/state"}},
		{"dropped", strings.Join(acme.Flows[0].Dropped, " "), "/created_at /data/device_serial /data/location/label /data/location/lat /data/location/lon /data/user/email /data/user/name /id /type"},
		{"accepted", acme.Counters != nil && acme.Counters.Accepted == 1, true},
		{"last event", acme.LastEvent.IsZero(), false},
		{"anomaly window", acme.Anomaly != nil && acme.Anomaly.WindowText == "5m0s", true},
		{"gridwise state", inv[2].State.Mode, killswitch.Disabled},
		{"gridwise retention", inv[2].RetentionDays, 30},
		{"locked-down sources", strings.Join(inv[3].AllowedCIDRs, " "), "10.0.0.0/8"},
		{"locked-down retention (options)", inv[3].RetentionDays, 7},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("acme-locks inventory %s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if one := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/vendors/acme-locks", nil, nil); one.Status != http.StatusOK || !strings.Contains(one.Raw, `"flows"`) {
		t.Errorf("GET /api/vendors/acme-locks = %d %s", one.Status, one.Raw)
	}
	if r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/vendors/nobody", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /api/vendors/nobody = %d, want 404", r.Status)
	}

	code, live, stderr := opsRun(t, "inventory", "--json", "--admin-addr", ta.Addrs().Admin)
	if code != 0 {
		t.Fatalf("inventory through the server = %d, stderr %s", code, stderr)
	}
	if got := opsInventory(t, live); len(got) != 5 || got[0].Counters == nil || got[0].Counters.Accepted != 1 {
		t.Errorf("inventory through the server = %+v, want live counters", got)
	}
	code, table, stderr := opsRun(t, "inventory", "--admin-addr", ta.Addrs().Admin)
	for _, want := range []string{"VENDOR", "STATE", "acme-locks", "enabled", "gridwise-energy", "disabled",
		"lock.state_changed -> hookbridge/acme-locks/locks/{device}/state (qos 1, retained)",
		"device=/data/device_id (pseudonymized)", "dropped: /created_at"} {
		if code != 0 || !strings.Contains(table, want) {
			t.Errorf("inventory table = %d %q (stderr %s), want it to contain %q", code, table, stderr, want)
		}
	}
	ta.Stop()

	// Without a server: the same inventory from the files, states from the state file.
	code, offline, stderr := opsRun(t, "inventory", "--json", "--admin-addr", "127.0.0.1:1", "--data", ta.Dir,
		"--options", filepath.Join(ta.Dir, "options.json"), "--policies", bridgetest.TestPolicies(t))
	if code != 0 {
		t.Fatalf("inventory on the files = %d, stderr %s", code, stderr)
	}
	off := opsInventory(t, offline)
	if len(off) != 5 || off[0].Counters != nil || off[2].State.Mode != killswitch.Disabled {
		t.Errorf("offline inventory = %+v, want no counters and gridwise-energy disabled", off)
	}
	if fmt.Sprint(off[0].Flows) != fmt.Sprint(acme.Flows) {
		t.Errorf("offline flows = %v, want %v", off[0].Flows, acme.Flows)
	}

	for name, out := range map[string]string{"admin API": api.Raw, "command via server": live, "table": table, "command on files": offline} {
		for v, s := range bridgetest.Secrets() {
			if strings.Contains(out, s) {
				t.Errorf("%s: inventory holds the secret of %s", name, v)
			}
		}
		for _, s := range []string{bridgetest.PseudonymKey, bridgetest.HAPassword, bridgetest.PanelPassword, "LCK-INV-1", id} {
			if strings.Contains(out, s) {
				t.Errorf("%s: inventory holds %q", name, s)
			}
		}
	}
}

// TestOpsKillSwitchPersists checks that a disabled vendor gets 503 with Retry-After, stays
// disabled across a restart, and that a quarantine survives a restart even when the Supervisor
// option was toggled meanwhile; lifting it then leaves the vendor as the option says.
func TestOpsKillSwitchPersists(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	dir := ta.Dir
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/disable", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Raw)
	}
	if err := ta.Switches().Quarantine("porchlight-cams", "anomaly: test"); err != nil {
		t.Fatal(err)
	}
	ta.Stop()

	ta = bridgetest.Start(t, dir, func(o *options.Options) {
		for i := range o.Vendors {
			if o.Vendors[i].Name == "porchlight-cams" {
				o.Vendors[i].Enabled = false // toggled in the Supervisor UI while stopped
			}
		}
	})
	id := fmt.Sprintf("evt_ops_ks_%d", time.Now().UnixNano())
	r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-KS-1", 60))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("disabled acme-locks after restart = %d (Retry-After %q), want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	if s := opsVendorState(t, ta, "porchlight-cams"); s.Mode != killswitch.Quarantined {
		t.Errorf("porchlight-cams after restart with the option toggled = %s, want %s", s.Mode, killswitch.Quarantined)
	}
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/porchlight-cams/lift", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("lift: %d %s", r.Status, r.Raw)
	}
	if s := opsVendorState(t, ta, "porchlight-cams"); s.Mode != killswitch.Disabled || s.By != killswitch.ByOption {
		t.Errorf("porchlight-cams after lift = %+v, want disabled by the option", s)
	}
	if r := bridgetest.Do(t, http.MethodPost, ta.AdminURL+"/api/vendors/acme-locks/enable", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.Status, r.Raw)
	}
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-KS-1", 60)); r.Status != http.StatusAccepted {
		t.Errorf("acme-locks after enable = %d %s, want 202", r.Status, r.Raw)
	}
}
