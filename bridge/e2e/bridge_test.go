package e2e_test

// End-to-end tests of the MQTT bridge (ha_mqtt and bridge_topics) against a real Mosquitto started
// by the test, standing for the Mosquitto app, with a stand-in Supervisor API that offers it. They
// need Debian's mosquitto and mosquitto-clients packages (scripts/test installs them).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/hamqtt"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
)

// bridgeMosquitto starts a Mosquitto, a stand-in Supervisor that offers it as its MQTT service,
// and makes the process look started by that Supervisor.
func bridgeMosquitto(t *testing.T) *mosquittotest.Broker {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	srv, _ := uplinkStandIn(t, b)
	uplinkUnderSupervisor(t, srv.URL)
	return b
}

// bridgeTopics returns a mutate function for bridgetest.Start that sets bridge_topics (ha_mqtt stays
// auto, broker embedded).
func bridgeTopics(filters ...string) func(*options.Options) {
	return func(o *options.Options) { o.BridgeTopics = filters }
}

// bridgeHealth returns the /healthz status and body.
func bridgeHealth(t *testing.T, ta *bridgetest.Instance) (int, map[string]any) {
	t.Helper()
	r := bridgetest.Do(t, http.MethodGet, ta.AdminURL+"/healthz", nil, nil)
	return r.Status, r.Body
}

// bridgeField returns a nested field of a JSON object, such as "supervisor_mqtt.connected".
func bridgeField(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// bridgePub publishes on Mosquitto with the mosquitto_pub client, as any user of the Mosquitto app
// could.
func bridgePub(t *testing.T, b *mosquittotest.Broker, topic, payload string) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Fatalf("mosquitto_pub not found: %s", mosquittotest.InstallHint)
	}
	host, port, _ := net.SplitHostPort(b.Addr)
	out, err := exec.Command(bin, "-h", host, "-p", port, "-u", b.Username, "-P", b.Password,
		"-q", "1", "-t", topic, "-m", payload).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %s: %v: %s", topic, err, out)
	}
}

// bridgeVendorMessages returns the messages on vendor topics (not Hookbridge's own, not discovery).
func bridgeVendorMessages(msgs []mosquittotest.Message) []mosquittotest.Message {
	var out []mosquittotest.Message
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, bridgetest.TopicPrefix+"/") && !strings.HasPrefix(m.Topic, bridgetest.TopicPrefix+"/_") {
			out = append(out, m)
		}
	}
	return out
}

// bridgeBatteryLow returns an Acme Locks battery-low event, which the policy routes to
// locks/{device}/battery: a sibling of the state topic, not retained.
func bridgeBatteryLow(id, device string, battery int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"lock.battery_low","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"battery_pct":%d}}`, id, device, battery)
}

// TestBridgeDiscoveryOnMosquitto: with ha_mqtt auto and a Supervisor that offers its MQTT service,
// the discovery configs and availability are on Mosquitto, retained, and not on the embedded
// broker; health shows the connection; a clean stop leaves availability offline there.
func TestBridgeDiscoveryOnMosquitto(t *testing.T) {
	b := bridgeMosquitto(t)
	ha := b.Subscribe(t, "bridge-ha", "#", false)
	ta := bridgetest.Start(t, "", nil)
	if got := ta.MQTTBridge().Target(); got != hamqtt.Supervisor {
		t.Fatalf("ha_mqtt auto with the service offered: Home Assistant's topics go to %s, want the Supervisor's broker", got)
	}
	topics := configTopics(testVendorNames()...)
	last := func(m []mosquittotest.Message, topic string) (mosquittotest.Message, bool) {
		for i := len(m) - 1; i >= 0; i-- {
			if m[i].Topic == topic {
				return m[i], true
			}
		}
		return mosquittotest.Message{}, false
	}
	ha.WaitFor(t, bridgetest.WaitForDeliveries, "every discovery config and online", func(m []mosquittotest.Message) bool {
		for _, topic := range topics {
			if r, ok := last(m, topic); !ok || r.Payload == "" {
				return false
			}
		}
		r, ok := last(m, "hookbridge/_ha/availability")
		return ok && r.Payload == "online"
	})
	// Retained: Home Assistant connecting later finds them.
	late := b.Subscribe(t, "bridge-ha-late", "homeassistant/#", false)
	late.WaitFor(t, bridgetest.WaitForDeliveries, "retained configs", func(m []mosquittotest.Message) bool {
		n := 0
		for _, x := range m {
			if x.Retained {
				n++
			}
		}
		return n >= len(topics)
	})

	// Nothing of it on the embedded broker.
	emb := haClient(t, ta, "bridge-embedded-ha")
	id := "evt_bridge_disc"
	if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-disc", 70)); r.Status != http.StatusAccepted {
		t.Fatalf("event = %d %s", r.Status, r.Raw)
	}
	if code := emb.Subscribe("hookbridge/acme-locks/#"); code > 2 {
		t.Fatalf("subscribe: 0x%02x", code)
	}
	emb.WaitCount(1) // the retained state: everything published before it has arrived
	for _, m := range emb.Messages() {
		if strings.HasPrefix(m.Topic, "homeassistant/") || strings.HasPrefix(m.Topic, "hookbridge/_") {
			t.Errorf("Home Assistant's topics go to Mosquitto, yet %s is on the embedded broker", m.Topic)
		}
	}

	status, body := bridgeHealth(t, ta)
	if status != http.StatusOK || bridgeField(body, "ha_mqtt.broker") != string(hamqtt.Supervisor) ||
		bridgeField(body, "ha_mqtt.connected") != true || bridgeField(body, "supervisor_mqtt.connected") != true ||
		!strings.Contains(fmt.Sprint(bridgeField(body, "supervisor_mqtt.broker")), b.Addr) {
		t.Errorf("/healthz = %d %v, want 200 with Home Assistant's broker connected", status, body)
	}
	if strings.Contains(fmt.Sprint(body), b.Password) {
		t.Error("/healthz shows the broker's password")
	}

	ta.Stop()
	ha.WaitFor(t, bridgetest.WaitForDeliveries, "offline after a clean stop", func(m []mosquittotest.Message) bool {
		r, ok := last(m, "hookbridge/_ha/availability")
		return ok && r.Payload == "offline"
	})
}

// TestBridgeTopicsForward: a bridge_topics filter forwards exactly its topics from the embedded
// broker to Mosquitto (same topic, payload and retain flag, QoS 1), once even when two filters
// match; a sibling topic is not forwarded; nothing comes back from Mosquitto.
func TestBridgeTopicsForward(t *testing.T) {
	b := bridgeMosquitto(t)
	live := b.Subscribe(t, "bridge-live", "hookbridge/#", false)
	ta := bridgetest.Start(t, "", bridgeTopics("acme-locks/locks/+/state", "+/locks/+/state"))
	panel := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "bridge-panel", true, "hookbridge/acme-locks/locks/+/state")
	emb := haClient(t, ta, "bridge-embedded-ha")
	if code := emb.Subscribe("hookbridge/acme-locks/#"); code > 2 {
		t.Fatalf("subscribe: 0x%02x", code)
	}

	for i, body := range [][]byte{
		bridgetest.AcmeEvent("evt_fwd_1", "lock-fwd", 81),
		bridgeBatteryLow("evt_fwd_2", "lock-fwd", 9),
		bridgetest.AcmeEvent("evt_fwd_3", "lock-fwd", 80),
	} {
		id := fmt.Sprint("evt_fwd_", i+1)
		if r := ta.Send("acme-locks", id, body); r.Status != http.StatusAccepted {
			t.Fatalf("POST %s = %d %s", id, r.Status, r.Raw)
		}
	}
	want := panel.WaitCount(2)
	all := emb.WaitCount(3)
	var battery string
	for _, m := range all {
		if strings.HasSuffix(m.Topic, "/battery") {
			battery = m.Topic
		}
	}
	if battery == "" {
		t.Fatalf("the embedded broker has no battery message: %v", all)
	}
	got := live.WaitFor(t, bridgetest.WaitForDeliveries, "2 forwarded states", func(m []mosquittotest.Message) bool {
		return len(bridgeVendorMessages(m)) >= 2
	})
	time.Sleep(300 * time.Millisecond) // a sibling, a second copy or an echo would arrive by now
	got = bridgeVendorMessages(live.Messages())
	if len(got) != 2 {
		t.Fatalf("Mosquitto got %d vendor messages, want the 2 states once each: %v", len(got), got)
	}
	for i, m := range got {
		if m.Topic != want[i].Topic || m.Payload != want[i].Payload || m.QoS != 1 {
			t.Errorf("forwarded %d = %s %q QoS %d, want %s %q QoS 1", i, m.Topic, m.Payload, m.QoS, want[i].Topic, want[i].Payload)
		}
		if m.Topic == battery {
			t.Errorf("the sibling topic %s was forwarded", battery)
		}
	}
	// The retain flag: a subscriber connecting now gets the last state, retained, and no battery.
	late := b.Subscribe(t, "bridge-late", "hookbridge/acme-locks/#", false)
	late.WaitFor(t, bridgetest.WaitForDeliveries, "the retained state", func(m []mosquittotest.Message) bool { return len(m) >= 1 })
	time.Sleep(200 * time.Millisecond)
	if m := late.Messages(); len(m) != 1 || !m[0].Retained || m[0].Payload != want[1].Payload {
		t.Errorf("late subscriber got %v, want only the last state, retained", m)
	}

	// Nothing flows back: a message someone publishes on Mosquitto under the prefix never reaches
	// the embedded broker.
	before := len(emb.Messages())
	bridgePub(t, b, want[0].Topic, `{"state":"unlocked"}`)
	bridgePub(t, b, "hookbridge/acme-locks/locks/injected/state", `{"state":"unlocked"}`)
	time.Sleep(300 * time.Millisecond)
	if n := len(emb.Messages()); n != before {
		t.Errorf("the embedded broker got %d messages published on Mosquitto: %v", n-before, emb.Messages()[before:])
	}
	if n := len(panel.Messages()); n != 2 {
		t.Errorf("the panel got %d messages, want 2", n)
	}
}

// TestBridgeNoEcho forwards everything (bridge_topics "#"): vendor topics go, but Hookbridge's own
// never do; in particular a kill switch command published on the embedded broker is not forwarded
// to Mosquitto, where Hookbridge subscribes to the commands and would act on it.
func TestBridgeNoEcho(t *testing.T) {
	b := bridgeMosquitto(t)
	live := b.Subscribe(t, "bridge-live", "hookbridge/#", false)
	ta := bridgetest.Start(t, "", bridgeTopics("#"))
	emb := haClient(t, ta, "bridge-embedded-ha")
	if err := emb.Publish("hookbridge/_switch/acme-locks/set", "OFF", false); err != nil {
		t.Fatal(err)
	}
	id := "evt_echo_1"
	if r := ta.Send("acme-locks", id, bridgeBatteryLow(id, "lock-echo", 5)); r.Status != http.StatusAccepted {
		t.Fatalf("POST = %d %s (the command on the embedded broker must not switch the vendor off)", r.Status, r.Raw)
	}
	live.WaitFor(t, bridgetest.WaitForDeliveries, "the battery message", func(m []mosquittotest.Message) bool {
		return len(bridgeVendorMessages(m)) >= 1
	})
	time.Sleep(300 * time.Millisecond)
	for _, m := range live.Messages() {
		if m.Topic == "hookbridge/_switch/acme-locks/set" && m.Payload != "" {
			t.Errorf("the kill switch command on the embedded broker was forwarded: %v", m)
		}
	}
	if n := len(bridgeVendorMessages(live.Messages())); n != 1 {
		t.Errorf("Mosquitto got %d vendor messages, want 1: %v", n, live.Messages())
	}
	if st, _ := ta.Switches().Get("acme-locks"); st.Mode != killswitch.Enabled {
		t.Errorf("acme-locks is %s, want enabled", st.Mode)
	}
}

// TestBridgeOutage stops Mosquitto while events flow and starts it again: every webhook is accepted
// throughout, the embedded broker's devices see every event in order with no gap, and every
// forwarded message reaches a subscriber on Mosquitto, in the same order, once the queue drains.
func TestBridgeOutage(t *testing.T) {
	b := bridgeMosquitto(t)
	sub := b.Subscribe(t, "bridge-automation", "hookbridge/acme-locks/#", true)
	ta := bridgetest.Start(t, "", func(o *options.Options) {
		o.LogLevel = "info"
		o.BridgeTopics = []string{"acme-locks/locks/+/state"}
	})
	panel := bridgetest.Subscribe(t, ta.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, "bridge-outage-panel", true, "hookbridge/acme-locks/locks/+/state")

	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// One sender, so that the events have an order to keep.
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			id := fmt.Sprintf("evt_out_%05d", i)
			body := bridgetest.AcmeEvent(id, fmt.Sprintf("lock-%05d", i), i%101)
			hdr := ta.Sign("acme-locks", id, body, time.Now())
			r, err := bridgeRawPost(ta.URL+"/hooks/acme-locks", hdr, body)
			if err != nil || r != http.StatusAccepted {
				done <- fmt.Errorf("POST %s = %d, %v; want 202 (the embedded broker keeps serving)", id, r, err)
				return
			}
			sent.Add(1)
		}
	}()
	waitSent := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for sent.Load() < n {
			select {
			case err := <-done:
				t.Fatal(err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d events sent, want %d", sent.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	waitSent(300)
	b.Stop()
	outage := time.Now()
	s0 := sent.Load()
	waitSent(s0 + 800)
	time.Sleep(time.Until(outage.Add(3 * time.Second))) // several reconnect attempts
	if ta.MQTTBridge().LinkConnected() {
		t.Error("the link to Mosquitto still looks connected during the outage")
	}
	status, body := bridgeHealth(t, ta)
	queued, _ := bridgeField(body, "bridge_topics.queued").(float64)
	if status != http.StatusOK || bridgeField(body, "supervisor_mqtt.connected") != false || bridgeField(body, "broker_connected") != true || queued < 500 {
		t.Errorf("/healthz during the outage = %d %v; want 200, the embedded broker connected, Home Assistant's not, messages queued", status, body)
	}
	b.StartAgain()
	back := time.Now()
	s1 := sent.Load()
	waitSent(s1 + 300)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := int(sent.Load())

	// The embedded broker's device: every event, in order.
	want := panel.WaitFor(fmt.Sprint(n, " states on the embedded broker"), 30*time.Second, func(m []bridgetest.Message) bool { return len(m) >= n })
	if len(want) != n {
		t.Fatalf("the panel got %d messages for %d events", len(want), n)
	}
	for i, m := range want {
		if !strings.Contains(m.Payload, fmt.Sprintf(`"battery":%d,`, i%101)) {
			t.Fatalf("panel message %d = %s, out of order or missing", i, m.Payload)
		}
	}

	// Mosquitto: the same messages in the same order; a copy of a message whose acknowledgement was
	// lost with the connection is allowed (QoS 1), and counted.
	var drained time.Duration
	redelivered := 0 // second copies with DUP set: Mosquitto's redeliveries to the subscriber
	firsts := func(msgs []mosquittotest.Message) ([]mosquittotest.Message, int) {
		seen := map[string]bool{}
		var out []mosquittotest.Message
		dups := 0
		redelivered = 0
		for _, m := range msgs {
			k := m.Topic + "\x00" + m.Payload
			if seen[k] {
				dups++
				if m.Dup {
					redelivered++
				}
				continue
			}
			seen[k] = true
			out = append(out, m)
		}
		return out, dups
	}
	sub.WaitFor(t, 60*time.Second, fmt.Sprint(n, " forwarded states"), func(m []mosquittotest.Message) bool {
		f, _ := firsts(m)
		if len(f) >= n && drained == 0 {
			drained = time.Since(back)
		}
		return len(f) >= n
	})
	got, dups := firsts(sub.Messages())
	for i := range want {
		if got[i].Topic != want[i].Topic || got[i].Payload != want[i].Payload {
			t.Fatalf("forwarded message %d = %s %s, want %s %s (order or content differs)", i, got[i].Topic, got[i].Payload, want[i].Topic, want[i].Payload)
		}
	}
	if dups > 256 {
		t.Errorf("%d messages forwarded twice, want at most one batch (256)", dups)
	}
	t.Logf("%d events; outage %v with %d events, %d messages queued at its height; all %d forwarded %v after Mosquitto was back; %d second copies (%d of them Mosquitto's redeliveries to the subscriber)",
		n, back.Sub(outage).Round(time.Millisecond), s1-s0, int(queued), n, drained.Round(time.Millisecond), dups, redelivered)
	// The last batch is deleted from the queue once its acknowledgements are in, a moment after
	// the subscriber has it.
	bridgetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, body := bridgeHealth(t, ta); bridgeField(body, "bridge_topics.queued") != float64(0) {
			return fmt.Errorf("/healthz after every message arrived: %v, want nothing queued", body["bridge_topics"])
		}
		return nil
	})
}

// bridgeRawPost posts without failing the test from the sender goroutine.
func bridgeRawPost(url string, header map[string]string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestBridgeRestart: messages queued while Mosquitto was away are forwarded by the next run, and
// what was forwarded before the restart is not forwarded again (the relay subscribes before the
// embedded broker loads its retained messages).
func TestBridgeRestart(t *testing.T) {
	b := bridgeMosquitto(t)
	sub := b.Subscribe(t, "bridge-restart", "hookbridge/acme-locks/#", true)
	dir := t.TempDir()
	mutate := bridgeTopics("acme-locks/locks/+/state")
	ta := bridgetest.Start(t, dir, mutate)
	send := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			id := fmt.Sprintf("evt_rs_%03d", i)
			if r := ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, fmt.Sprintf("lock-rs-%03d", i), i)); r.Status != http.StatusAccepted {
				t.Fatalf("POST %s = %d %s", id, r.Status, r.Raw)
			}
		}
	}
	send(0, 5)
	sub.WaitFor(t, bridgetest.WaitForDeliveries, "5 states", func(m []mosquittotest.Message) bool { return len(m) >= 5 })
	// Mosquitto hands a message to its subscribers before the relay reads the PUBACK: stopping it
	// now could lose an acknowledgement, and QoS 1 would then rightly send the message again. Wait
	// until the relay has seen every acknowledgement (its queue is empty), so that a second copy
	// can only be a real double send.
	bridgetest.CheckFor(t, bridgetest.WaitForDeliveries, 10*time.Millisecond, func() error {
		_, body := bridgeHealth(t, ta)
		if q, _ := bridgeField(body, "bridge_topics.queued").(float64); q != 0 {
			return fmt.Errorf("the relay still holds %v messages", q)
		}
		return nil
	})
	b.Stop()
	send(5, 12)
	// Stop with Mosquitto away: discovery cannot say offline there, and stop reports it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ta.Shutdown(ctx)
	b.StartAgain()
	ta = bridgetest.Start(t, dir, mutate)
	sub.WaitFor(t, bridgetest.WaitForDeliveries, "12 states", func(m []mosquittotest.Message) bool { return len(m) >= 12 })
	time.Sleep(500 * time.Millisecond) // a second copy would arrive by now
	msgs := sub.Messages()
	if len(msgs) != 12 {
		t.Errorf("Mosquitto got %d messages, want 12 (each state once): %v", len(msgs), msgs)
	}
	for i, m := range msgs {
		if i < 12 && !strings.Contains(m.Payload, fmt.Sprintf(`"battery":%d,`, i)) {
			t.Errorf("message %d = %s, want battery %d (in order)", i, m.Payload, i)
		}
	}
}

// TestBridgeKillSwitch: the kill switch works from Mosquitto, where Home Assistant lives: a command
// published there with a real client disables the vendor and enables it again, and the same command
// cannot lift an automatic quarantine.
func TestBridgeKillSwitch(t *testing.T) {
	b := bridgeMosquitto(t)
	state := b.Subscribe(t, "bridge-switch-state", "hookbridge/_switch/acme-locks/state", false)
	ta := bridgetest.Start(t, "", nil)
	lastState := func() string {
		m := state.Messages()
		if len(m) == 0 {
			return ""
		}
		return m[len(m)-1].Payload
	}
	waitState := func(want string) {
		t.Helper()
		state.WaitFor(t, bridgetest.WaitForDeliveries, "switch state "+want, func([]mosquittotest.Message) bool { return lastState() == want })
	}
	waitMode := func(want killswitch.Mode) {
		t.Helper()
		bridgetest.CheckFor(t, bridgetest.WaitForDeliveries, 10*time.Millisecond, func() error {
			if st, _ := ta.Switches().Get("acme-locks"); st.Mode != want {
				return fmt.Errorf("acme-locks is %s, want %s", st.Mode, want)
			}
			return nil
		})
	}
	event := func() bridgetest.Response {
		id := fmt.Sprintf("evt_ks_%d", time.Now().UnixNano())
		return ta.Send("acme-locks", id, bridgetest.AcmeEvent(id, "lock-ks", 60))
	}
	waitState("ON")

	bridgePub(t, b, "hookbridge/_switch/acme-locks/set", "OFF")
	waitMode(killswitch.Disabled)
	waitState("OFF")
	if st, _ := ta.Switches().Get("acme-locks"); st.By != killswitch.ByMQTT {
		t.Errorf("disabled by %q, want %q", st.By, killswitch.ByMQTT)
	}
	if r := event(); r.Status != http.StatusServiceUnavailable {
		t.Errorf("event while switched off = %d, want 503", r.Status)
	}
	bridgePub(t, b, "hookbridge/_switch/acme-locks/set", "ON")
	waitMode(killswitch.Enabled)
	waitState("ON")
	if r := event(); r.Status != http.StatusAccepted {
		t.Errorf("event after switching on again = %d %s, want 202", r.Status, r.Raw)
	}

	if err := ta.Switches().Quarantine("acme-locks", "test: bad signatures"); err != nil {
		t.Fatal(err)
	}
	waitState("OFF")
	bridgePub(t, b, "hookbridge/_switch/acme-locks/set", "ON")
	bridgetest.CheckFor(t, bridgetest.WaitForDeliveries, 10*time.Millisecond, func() error {
		if !strings.Contains(ta.Logs.String(), "enable a quarantined vendor: refused") {
			return errors.New("the refused command is not logged")
		}
		return nil
	})
	if st, _ := ta.Switches().Get("acme-locks"); st.Mode != killswitch.Quarantined {
		t.Errorf("after ON from Mosquitto acme-locks is %s, want still quarantined", st.Mode)
	}
	if r := event(); r.Status != http.StatusServiceUnavailable {
		t.Errorf("event while quarantined = %d, want 503", r.Status)
	}
	waitState("OFF")
}
