package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRestartKeepsReplayRecords: an event accepted before a restart is a duplicate after it.
func TestRestartKeepsReplayRecords(t *testing.T) {
	ta := startTestApp(t, "", nil)
	id := "evt_restart_1"
	if r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-R", 10)); r.status != http.StatusAccepted {
		t.Fatalf("before restart: %d %s", r.status, r.raw)
	}
	dir := ta.dir
	ta.shutdown()
	tb := startTestApp(t, dir, nil)
	if r := tb.sendEvent("acme-locks", id, acmeEvent(id, "LCK-R", 10)); r.status != http.StatusOK || r.body["status"] != "duplicate" {
		t.Fatalf("after restart: %d %s, want 200 duplicate", r.status, r.raw)
	}
}

// TestOfflineDeviceGetsMessagesAcrossRestart: a device with a persistent session that is offline
// while events are published receives them all when it reconnects, also when the bridge restarted
// in between, and the retained state survives too.
func TestOfflineDeviceGetsMessagesAcrossRestart(t *testing.T) {
	ta := startTestApp(t, "", nil)
	const clientID = "offline-panel"
	dev := newSubscriber(t, ta.mqttAddr, panelUser, panelPassword, clientID, false, "hookbridge/acme-locks/locks/+/state")
	dev.client.Disconnect(100)

	const n = 50
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("evt_offline_%d", i)
		if r := ta.sendEvent("acme-locks", id, acmeEvent(id, fmt.Sprintf("LCK-OFF-%d", i), i)); r.status != http.StatusAccepted {
			t.Fatalf("send %d: %d %s", i, r.status, r.raw)
		}
	}
	dir := ta.dir
	ta.shutdown()
	tb := startTestApp(t, dir, nil)
	back := newSubscriber(t, tb.mqttAddr, panelUser, panelPassword, clientID, false, "hookbridge/acme-locks/locks/+/state")
	msgs := back.waitFor(fmt.Sprintf("%d queued messages", n), waitForDeliveries, func(m []received) bool {
		return len(distinctBatteries(m)) >= n
	})
	if got := distinctBatteries(msgs); len(got) != n {
		t.Fatalf("received %d distinct events, want %d", len(got), n)
	}

	// Retained state survived: a new subscriber gets the last state of a lock.
	late := newSubscriber(t, tb.mqttAddr, "homeassistant", haPassword, "late-ha", true, "hookbridge/acme-locks/locks/+/state")
	late.waitFor("retained states", waitForDeliveries, func(m []received) bool { return len(m) >= n && m[0].Retained })
}

func distinctBatteries(msgs []received) map[string]bool {
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
	ta := startTestApp(t, "", nil)
	id := "evt_purge_1"
	if r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-P", 1)); r.status != http.StatusAccepted {
		t.Fatalf("send: %d %s", r.status, r.raw)
	}
	// acme-locks keeps replay records 7 days (its policy): 6 days later it is still a duplicate.
	ta.Purge(time.Now().Add(6 * 24 * time.Hour))
	if r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-P", 1)); r.status != http.StatusOK {
		t.Fatalf("after 6 days: %d %s, want 200 duplicate", r.status, r.raw)
	}
	if got := ta.store.Stats().Seen; got != 1 {
		t.Fatalf("replay records = %d, want 1", got)
	}
	ta.Purge(time.Now().Add(8 * 24 * time.Hour))
	if got := ta.store.Stats().Seen; got != 0 {
		t.Fatalf("replay records after 8 days = %d, want 0", got)
	}
	if r := ta.sendEvent("acme-locks", id, acmeEvent(id, "LCK-P", 1)); r.status != http.StatusAccepted {
		t.Fatalf("after purge: %d %s, want 202", r.status, r.raw)
	}
}
