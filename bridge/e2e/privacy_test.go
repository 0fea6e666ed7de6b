package e2e_test

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// canaries are values in the sample payloads that must never leave the process in clear: the
// identifiers routes pseudonymize, the event ids, and the personal data no route lists.
var canaries = []string{
	"LCK-7734-XK19", "usr_5521", "cam_8842", "MTR-55-0192-8830", // pseudonymized fields
	"evt_2b7Qx9LkT4", "evt_1QmZp8Hc3Rt", "7f1c2e90-5b7a-4d1e-9a39-2c6f0a8d4e11", // event ids
	"Jane Doe", "jane.doe@example.com", "Keizersgracht", "SN-ACME-0093318841", "PL-CAM-00912-77",
	"+31 6 1234 5678", "acct_22981", "52.3731", // never routed
}

// TestCanaries feeds the sample payloads through a bridge logging at debug level, then looks for the
// canaries in every MQTT message, the whole log, the admin API and every file of the data dir.
func TestCanaries(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	sub, err := bridgetest.Connect(t, ta.MQTTAddr, "homeassistant", bridgetest.HAPassword, "canary-ha", true)
	if err != nil {
		t.Fatal(err)
	}
	sub.Internal = true // every topic, Hookbridge's own included
	if code := sub.Subscribe("hookbridge/#"); code > 2 {
		t.Fatalf("subscribe hookbridge/#: 0x%02x", code)
	}
	if code := sub.Subscribe("homeassistant/#"); code > 2 {
		t.Fatalf("subscribe homeassistant/#: 0x%02x", code)
	}
	// An offline persistent session, so queued messages are written to the store too.
	offline := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "canary-offline-panel", false, "hookbridge/acme-locks/locks/+/state")
	offline.Client.Disconnect(50)
	// A failure path too: the same payloads with a bad signature and a schema violation.
	for _, c := range []struct{ vendor, file string }{
		{"acme-locks", "payloads/acme-locks.json"},
		{"porchlight-cams", "payloads/porchlight-cams.json"},
		{"gridwise-energy", "payloads/gridwise-energy.json"},
	} {
		body := bridgetest.ReadTestdata(t, c.file)
		id := app.EventID(ta.Policy(c.vendor), body)
		if r := ta.Send(c.vendor, id, body); r.Status != http.StatusAccepted {
			t.Fatalf("%s: status %d %s", c.vendor, r.Status, r.Raw)
		}
		if r := ta.Send(c.vendor, id, body); r.Status != http.StatusOK {
			t.Fatalf("%s again: status %d %s", c.vendor, r.Status, r.Raw)
		}
		h := ta.Sign(c.vendor, id, body, time.Now())
		bad := []byte(strings.Replace(string(body), "{", `{"unexpected":"Jane Doe",`, 1))
		if r := ta.Post("/hooks/"+c.vendor, h, bad); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s tampered: status %d", c.vendor, r.Status)
		}
		bad = []byte(strings.ReplaceAll(string(bad), id, id+"x")) // a new event, so the replay guard lets it through
		if r := ta.Post("/hooks/"+c.vendor, ta.Sign(c.vendor, id+"x", bad, time.Now()), bad); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("%s schema violation: status %d %s", c.vendor, r.Status, r.Raw)
		}
	}
	msgs := sub.WaitCount(4)
	admin := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/api/vendors", nil, nil)
	ta.Stop() // flush the store to disk before reading it

	var files []string
	err = filepath.WalkDir(ta.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("data dir: %v %v", files, err)
	}
	logs := ta.Logs.String()
	if !strings.Contains(logs, `"level":"debug"`) && !strings.Contains(logs, "webhook") {
		t.Fatalf("log looks empty: %q", logs)
	}
	for _, c := range canaries {
		if bridgetest.Contains(msgs, c) {
			t.Errorf("canary %q found in MQTT traffic", c)
		}
		if strings.Contains(logs, c) {
			t.Errorf("canary %q found in the log", c)
		}
		if strings.Contains(admin.Raw, c) {
			t.Errorf("canary %q found in the admin API", c)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), c) {
				t.Errorf("canary %q found in stored state %s", c, f)
			}
		}
	}
}
