package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// TestRestartKeepsReplayRecords: an event accepted before a restart is a duplicate after it.
func TestRestartKeepsReplayRecords(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	id := "evt_restart_1"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-R", 10)); r.Status != http.StatusAccepted {
		t.Fatalf("before restart: %d %s", r.Status, r.Raw)
	}
	dir := ta.Dir
	ta.Stop()
	tb := bridgetest.Start(t, dir, nil)
	if r := tb.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-R", 10)); r.Status != http.StatusOK || r.Body["status"] != "duplicate" {
		t.Fatalf("after restart: %d %s, want 200 duplicate", r.Status, r.Raw)
	}
}

// TestOfflineDeviceGetsMessagesAcrossRestart: a device with a persistent session that is offline
// while events are published receives them all when it reconnects, also when the bridge restarted
// in between, and the retained state survives too.
func TestOfflineDeviceGetsMessagesAcrossRestart(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	const clientID = "offline-panel"
	dev := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, clientID, false, "hookbridge/acme-locks/locks/+/state")
	dev.Client.Disconnect(100)

	const n = 50
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("evt_offline_%d", i)
		if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, fmt.Sprintf("LCK-OFF-%d", i), i)); r.Status != http.StatusAccepted {
			t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
		}
	}
	dir := ta.Dir
	ta.Stop()
	tb := bridgetest.Start(t, dir, nil)
	back := bridgetest.Subscribe(t, tb.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, clientID, false, "hookbridge/acme-locks/locks/+/state")
	msgs := back.WaitFor(fmt.Sprintf("%d queued messages", n), bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool {
		return len(distinctBatteries(m)) >= n
	})
	if got := distinctBatteries(msgs); len(got) != n {
		t.Fatalf("received %d distinct events, want %d", len(got), n)
	}

	// Retained state survived: a new subscriber gets the last state of a lock.
	late := bridgetest.Subscribe(t, tb.MQTTAddr, "homeassistant", bridgetest.HAPassword, "late-ha", true, "hookbridge/acme-locks/locks/+/state")
	late.WaitFor("retained states", bridgetest.WaitForDeliveries, func(m []bridgetest.Message) bool { return len(m) >= n && m[0].Retained })
}

func distinctBatteries(msgs []bridgetest.Message) map[string]bool {
	out := map[string]bool{}
	for _, m := range msgs {
		if i := strings.Index(m.Payload, `"battery":`); i >= 0 {
			rest := m.Payload[i:]
			out[rest[:strings.IndexAny(rest, ",}")]] = true
		}
	}
	return out
}

// TestRetentionPurge moves the clock past the retention window: the replay record is purged, and
// the same event id is accepted again.
func TestRetentionPurge(t *testing.T) {
	ta := bridgetest.Start(t, "", nil)
	id := "evt_purge_1"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-P", 1)); r.Status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	// acme-locks keeps replay records 7 days (its policy): 6 days later it is still a duplicate.
	ta.Purge(time.Now().Add(6 * 24 * time.Hour))
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-P", 1)); r.Status != http.StatusOK {
		t.Fatalf("after 6 days: %d %s, want 200 duplicate", r.Status, r.Raw)
	}
	if got := ta.StoreStats().Seen; got != 1 {
		t.Fatalf("replay records = %d, want 1", got)
	}
	ta.Purge(time.Now().Add(8 * 24 * time.Hour))
	if got := ta.StoreStats().Seen; got != 0 {
		t.Fatalf("replay records after 8 days = %d, want 0", got)
	}
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "LCK-P", 1)); r.Status != http.StatusAccepted {
		t.Fatalf("after purge: %d %s, want 202", r.Status, r.Raw)
	}
}
