package app

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	ta := startTestApp(t, "", nil)
	sub, err := connectMQTT(t, ta.mqttAddr, "homeassistant", haPassword, "canary-ha", true)
	if err != nil {
		t.Fatal(err)
	}
	sub.internal = true // every topic, Hookbridge's own included
	if code := sub.subscribe("hookbridge/#"); code > 2 {
		t.Fatalf("subscribe hookbridge/#: 0x%02x", code)
	}
	if code := sub.subscribe("homeassistant/#"); code > 2 {
		t.Fatalf("subscribe homeassistant/#: 0x%02x", code)
	}
	// An offline persistent session, so queued messages are written to the store too.
	offline := newSubscriber(t, ta.mqttAddr, panelUser, panelPassword, "canary-offline-panel", false, "hookbridge/acme-locks/locks/+/state")
	offline.client.Disconnect(50)
	// A failure path too: the same payloads with a bad signature and a schema violation.
	for _, c := range []struct{ vendor, file string }{
		{"acme-locks", "payloads/acme-locks.json"},
		{"porchlight-cams", "payloads/porchlight-cams.json"},
		{"gridwise-energy", "payloads/gridwise-energy.json"},
	} {
		body := readTestdata(t, c.file)
		id := EventID(ta.vendors[c.vendor].Policy, body)
		if r := ta.sendEvent(c.vendor, id, body); r.status != http.StatusAccepted {
			t.Fatalf("%s: status %d %s", c.vendor, r.status, r.raw)
		}
		if r := ta.sendEvent(c.vendor, id, body); r.status != http.StatusOK {
			t.Fatalf("%s again: status %d %s", c.vendor, r.status, r.raw)
		}
		h := signed(t, ta, c.vendor, id, body, time.Now())
		bad := []byte(strings.Replace(string(body), "{", `{"unexpected":"Jane Doe",`, 1))
		if r := ta.post("/hooks/"+c.vendor, h, bad); r.status != http.StatusUnauthorized {
			t.Fatalf("%s tampered: status %d", c.vendor, r.status)
		}
		bad = []byte(strings.ReplaceAll(string(bad), id, id+"x")) // a new event, so the replay guard lets it through
		if r := ta.post("/hooks/"+c.vendor, signed(t, ta, c.vendor, id+"x", bad, time.Now()), bad); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("%s schema violation: status %d %s", c.vendor, r.status, r.raw)
		}
	}
	msgs := sub.waitCount(4)
	admin := doRequest(t, http.MethodGet, ta.adminURL+"/api/vendors", nil, nil)
	ta.shutdown() // flush the store to disk before reading it

	var files []string
	err = filepath.WalkDir(ta.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("data dir: %v %v", files, err)
	}
	logs := ta.logs.String()
	if !strings.Contains(logs, `"level":"debug"`) && !strings.Contains(logs, "webhook") {
		t.Fatalf("log looks empty: %q", logs)
	}
	for _, c := range canaries {
		if contains(msgs, c) {
			t.Errorf("canary %q found in MQTT traffic", c)
		}
		if strings.Contains(logs, c) {
			t.Errorf("canary %q found in the log", c)
		}
		if strings.Contains(admin.raw, c) {
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
