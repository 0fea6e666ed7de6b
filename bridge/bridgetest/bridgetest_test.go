package bridgetest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

func TestRoot(t *testing.T) {
	root := bridgetest.Root(t)
	for _, name := range []string{"go.mod", "policies", "schemas", "testdata/catalog/policies"} {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Errorf("Root() = %s, which has no %s: %v", root, name, err)
		}
	}
}

func TestLogBufferMax(t *testing.T) {
	b := &bridgetest.LogBuffer{Max: 10}
	for i := 0; i < 10; i++ {
		b.Write([]byte("0123456789"))
	}
	b.Write([]byte("abc"))
	if got := b.String(); len(got) > 20 || !strings.HasSuffix(got, "789abc") {
		t.Errorf("LogBuffer{Max: 10} holds %q, want at most 20 bytes ending in the last write", got)
	}
	if got := b.Take(); got == "" || b.String() != "" {
		t.Errorf("Take() = %q, then String() = %q; want the contents, then nothing", got, b.String())
	}
}

func TestLogEntries(t *testing.T) {
	type entry struct {
		Message string `json:"message"`
		Status  int    `json:"status"`
	}
	log := `{"level":"info","message":"webhook","status":202}` + "\nnot json\n" + `{"message":"other"}` + "\n"
	got := bridgetest.LogEntries[entry](log)
	if len(got) != 2 || got[0] != (entry{"webhook", 202}) || got[1].Message != "other" {
		t.Errorf("LogEntries = %+v, want the two JSON lines", got)
	}
}

// TestInstance starts an instance, sends an event and receives it over MQTT.
func TestInstance(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	sub := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "harness-panel", true, "hookbridge/acme-locks/locks/+/state")
	if r := ta.Send("acme-locks", "evt_harness", bridgetest.AcmeEvent("evt_harness", "LCK-H", 42)); r.Status != http.StatusAccepted {
		t.Fatalf("Send = %d %s, want 202", r.Status, r.Raw)
	}
	if m := sub.WaitCount(1); !strings.Contains(m[0].Payload, `"battery":42`) {
		t.Errorf("message = %+v, want the event's battery", m[0])
	}
	if r := ta.Admin(http.MethodGet, "/healthz"); r.Status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.Status)
	}
	ta.Stop()
	if ta.App != nil {
		t.Error("App after Stop is not nil")
	}
}

func TestRunCLI(t *testing.T) {
	if code, out, _ := bridgetest.RunCLI(t, "version"); code != 0 || !strings.Contains(out, "test") {
		t.Errorf("RunCLI(version) = %d %q, want 0 and the version", code, out)
	}
}

// TestSenderPathToken checks that a path-token sender's request goes to its tokened URL.
func TestSenderPathToken(t *testing.T) {
	a, err := verify.CompileAuth("path-token", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	const tok = "station-token-0123456789abcdef"
	s := bridgetest.Sender{Vendor: "station", Auth: a, Secret: tok}
	if got := s.Sign(t, "", []byte("a=1"), time.Now(), "x=1").Path; got != "/hooks/station/"+tok+"?x=1" {
		t.Errorf("Sign(path-token).Path = %q, want /hooks/station/%s?x=1", got, tok)
	}
	b, _ := verify.CompileAuth("bearer", 0, nil)
	if got := (bridgetest.Sender{Vendor: "v", Auth: b, Secret: tok}).Sign(t, "", []byte("{}"), time.Now(), "").Path; got != "/hooks/v" {
		t.Errorf("Sign(bearer).Path = %q, want /hooks/v", got)
	}
}
