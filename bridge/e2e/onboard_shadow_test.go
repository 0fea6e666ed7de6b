package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
)

// TestShadowAnswersEqualLive runs the whole status table (statusRows) against two real binaries
// with the same options and pseudonym key, one with every vendor live and one with every vendor
// in shadow mode, with the same event ids: every row's status, body and Retry-After must be the
// same, including the duplicates (a resend in shadow mode is a duplicate as it is live) and the
// event token of an accepted event. The shadow bridge must publish nothing, while its counters
// and audit trail record the same outcomes as the live one's, each audit record marked shadow.
func TestShadowAnswersEqualLive(t *testing.T) {
	shadowOpts := bridgetest.DefaultOptions()
	for i := range shadowOpts.Vendors {
		shadowOpts.Vendors[i].Mode = options.ModeShadow
	}
	live := bridgetest.NewProcess(t, bridgetest.DefaultOptions())
	shadow := bridgetest.NewProcess(t, shadowOpts)
	live.Start()
	shadow.Start()
	liveSub := bridgetest.Subscribe(t, live.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "shadow-table-live", true, "hookbridge/#")
	shadowSub := bridgetest.Subscribe(t, shadow.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "shadow-table-shadow", true, "hookbridge/#")
	shadowHA := bridgetest.Subscribe(t, shadow.MQTTAddr, options.HomeAssistantUser, bridgetest.HAPassword, "shadow-table-discovery", true, "homeassistant/#")

	published := 0 // what the live rows published
	for i, rw := range statusRows() {
		t.Run(rw.name, func(t *testing.T) {
			id := fmt.Sprintf("evt_shadow_table_%02d", i)
			before := len(liveSub.Messages())
			lr := rw.do(t, processTarget(live, func(t *testing.T, n int) { t.Helper(); liveSub.WaitCount(before + n) }), id)
			sr := rw.do(t, processTarget(shadow, nil), id)
			if lr.Status != rw.status {
				t.Fatalf("live: status = %d, want %d; body %s", lr.Status, rw.status, lr.Raw)
			}
			sameAnswer(t, "", lr, sr)
			if rw.resend {
				lr := processTarget(live, nil).Send(t, "acme-locks", id, statusBody(id))
				sr := processTarget(shadow, nil).Send(t, "acme-locks", id, statusBody(id))
				if lr.Status != 202 {
					t.Fatalf("live: the refused id, resent properly: %d %s, want 202", lr.Status, lr.Raw)
				}
				sameAnswer(t, "resent properly: ", lr, sr)
				published++
			}
			published += rw.published
			liveSub.WaitCount(published)
		})
	}
	if published < 10 {
		t.Fatalf("the live rows published %d messages: the table hardly took any event", published)
	}

	// Nothing published: a marker on the live side shows that messages arrive within the wait.
	marker := "evt_shadow_marker"
	for _, p := range []*bridgetest.Process{live, shadow} {
		if r := processTarget(p, nil).Send(t, "acme-locks", marker, bridgetest.AcmeEvent(marker, "marker-device", 50)); r.Status != 202 {
			t.Fatalf("marker: %d %s", r.Status, r.Raw)
		}
	}
	liveSub.WaitCount(published + 1)
	if msgs := shadowSub.Messages(); len(msgs) > 0 {
		t.Errorf("shadow mode published %d messages, want none: %v", len(msgs), msgs)
	}

	// Nor any route entity announced to Home Assistant for topics that get no message, nor a
	// message counted as published.
	var routeDevices []string
	for _, m := range shadowHA.Messages() {
		if strings.HasSuffix(m.Topic, "/config") && strings.Contains(m.Payload, `"via_device"`) {
			routeDevices = append(routeDevices, m.Topic)
		}
	}
	if len(routeDevices) > 0 {
		t.Errorf("shadow mode announced route entities for topics it never publishes: %v", routeDevices)
	}
	if n, _ := metricValue(t, shadow, "hookbridge_messages_published_total"); n != 0 {
		t.Errorf("shadow hookbridge_messages_published_total = %v, want 0", n)
	}
	if n, _ := metricValue(t, live, "hookbridge_messages_published_total"); n == 0 {
		t.Errorf("live hookbridge_messages_published_total = 0, want the table's messages")
	}
	if n, ok := metricValue(t, shadow, `hookbridge_vendor_mode{mode="shadow",vendor="acme-locks"}`); !ok || n != 1 {
		t.Errorf("shadow hookbridge_vendor_mode of acme-locks in shadow = %v (found %v), want 1", n, ok)
	}

	// The same outcomes counted, by vendor and reason.
	liveInv, shadowInv := inventory(t, live), inventory(t, shadow)
	for name, lv := range liveInv {
		sv := shadowInv[name]
		if lv.Counters == nil || sv.Counters == nil {
			t.Fatalf("%s: no counters in the inventory", name)
		}
		if !maps.Equal(lv.Counters.ByReason, sv.Counters.ByReason) || lv.Counters.Accepted != sv.Counters.Accepted ||
			lv.Counters.Duplicate != sv.Counters.Duplicate || lv.Counters.Rejected != sv.Counters.Rejected {
			t.Errorf("%s: shadow counters %+v, want the live ones %+v", name, *sv.Counters, *lv.Counters)
		}
		if sv.Mode != "shadow" || lv.Mode != "live" {
			t.Errorf("%s: inventory modes %q (shadow bridge), %q (live bridge)", name, sv.Mode, lv.Mode)
		}
		if sv.Counters.Published != 0 {
			t.Errorf("%s: shadow counters say %d messages published, want 0", name, sv.Counters.Published)
		}
	}

	// The audit trail has every outcome, marked shadow; accepted events carry the topics live
	// mode would have published to.
	recs := auditRecords(t, shadow)
	var accepted, withTopics int
	for _, r := range recs {
		if r.Vendor == "" {
			continue
		}
		if r.Mode != "shadow" {
			t.Errorf("shadow audit record %+v, want mode shadow", r)
		}
		if r.Outcome == "accepted" {
			accepted++
			if len(r.Topics) > 0 {
				withTopics++
			}
		}
	}
	if accepted < 10 || withTopics == 0 {
		t.Errorf("shadow audit trail: %d accepted records, %d with topics; want the table's accepted events with the topics live would publish to", accepted, withTopics)
	}
	for _, r := range auditRecords(t, live) {
		if r.Mode != "" {
			t.Errorf("live audit record %+v, want no mode", r)
		}
	}
}

// sameAnswer fails when two answers differ in status, body or Retry-After's presence.
func sameAnswer(t *testing.T, what string, live, shadow bridgetest.Response) {
	t.Helper()
	if shadow.Status != live.Status || shadow.Raw != live.Raw {
		t.Errorf("%sshadow answered %d %s, live %d %s", what, shadow.Status, strings.TrimSpace(shadow.Raw), live.Status, strings.TrimSpace(live.Raw))
	}
	if (shadow.Header.Get("Retry-After") == "") != (live.Header.Get("Retry-After") == "") {
		t.Errorf("%sRetry-After: shadow %q, live %q", what, shadow.Header.Get("Retry-After"), live.Header.Get("Retry-After"))
	}
	if shadow.Header.Get("Content-Type") != live.Header.Get("Content-Type") {
		t.Errorf("%sContent-Type: shadow %q, live %q", what, shadow.Header.Get("Content-Type"), live.Header.Get("Content-Type"))
	}
}

// inventory returns a running binary's inventory by vendor name.
func inventory(t *testing.T, p *bridgetest.Process) map[string]admin.VendorInfo {
	t.Helper()
	r := bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/vendors", nil, nil)
	var inv []admin.VendorInfo
	if err := json.Unmarshal([]byte(r.Raw), &inv); err != nil {
		t.Fatalf("inventory: %v: %s", err, r.Raw)
	}
	out := map[string]admin.VendorInfo{}
	for _, v := range inv {
		out[v.Name] = v
	}
	return out
}

// auditRecord is the part of an exported audit record these tests read.
type auditRecord struct {
	Vendor  string   `json:"vendor"`
	Outcome string   `json:"outcome"`
	Reason  string   `json:"reason"`
	Mode    string   `json:"mode"`
	Topics  []string `json:"topics"`
}

// auditRecords exports a running binary's audit trail of the last hour. Records are written
// asynchronously: it waits until the count stops growing.
func auditRecords(t *testing.T, p *bridgetest.Process) []auditRecord {
	t.Helper()
	var out []auditRecord
	last := -1
	for range 50 {
		r := bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/api/audit?since=1h", nil, nil)
		out = out[:0]
		sc := bufio.NewScanner(strings.NewReader(r.Raw))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec auditRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("audit line %q: %v", sc.Text(), err)
			}
			out = append(out, rec)
		}
		if len(out) == last && last > 0 {
			break
		}
		last = len(out)
		time.Sleep(100 * time.Millisecond)
	}
	return out
}

// metricValue returns the sum of a running binary's samples of a metric: a name, or a name with
// its labels as the exposition writes them (sorted by name).
func metricValue(t *testing.T, p *bridgetest.Process, series string) (float64, bool) {
	t.Helper()
	r := bridgetest.Do(t, "GET", "http://"+p.AdminAddr+"/metrics", nil, nil)
	var sum float64
	found := false
	for _, line := range strings.Split(r.Raw, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if name != series && !(strings.HasPrefix(name, series+"{") && !strings.Contains(series, "{")) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}
