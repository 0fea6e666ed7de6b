package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/broker"
)

// Beyond issue 12's list: other ways a client could make the broker publish for it, hold
// resources, stall publishing or log what it must not. Each test failed before the fix it guards
// (see its comment).

// v5Publish encodes an MQTT 5 PUBLISH with a topic alias (none when alias is 0).
func v5Publish(t *testing.T, id uint16, topic string, alias uint16, qos byte, payload string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: 5,
		TopicName: topic, PacketID: id, Payload: []byte(payload)}
	if alias > 0 {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
	}
	var b bytes.Buffer
	if err := pk.PublishEncode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDevicePublishPathsClosed tries the publish paths the hostile suite does not: MQTT 5 topic
// aliases (mochi checks the ACL on the topic as sent, before it resolves an alias, so an alias
// set on an allowed topic and used with an empty one must not carry a message elsewhere), QoS 2
// publishes and their PUBREL, from a device and from homeassistant. Nothing reaches a vendor
// topic, a device publishes nowhere, and no refused QoS 2 publish is held.
func TestDevicePublishPathsClosed(t *testing.T) {
	p := startBinary(t, nil)
	obs := haObserver(t, p.MQTTAddr, uniqueID("paths-observer"))
	forged := bridgetest.TopicPrefix + "/acme-locks/locks/alias-forged/state"
	for _, acc := range []struct{ user, password string }{
		{options.HomeAssistantUser, bridgetest.HAPassword}, {bridgetest.PanelUser, bridgetest.PanelPassword},
	} {
		t.Run(acc.user, func(t *testing.T) {
			c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: "paths-" + acc.user,
				Username: acc.user, Password: acc.password, Clean: true})
			if code != 0 {
				t.Fatalf("login: 0x%02x", code)
			}
			steps := []struct {
				topic      string
				alias      uint16
				qos        byte
				mayPublish bool // homeassistant on homeassistant/#
			}{
				{"homeassistant/e2e-alias/" + acc.user, 1, 1, acc.user == options.HomeAssistantUser},
				{"", 1, 1, false}, // the alias alone: refused even where the topic was allowed
				{forged, 1, 1, false},
				{"", 1, 2, false},
				{forged, 0, 2, false},
			}
			for i, s := range steps {
				if err := c.Write(v5Publish(t, uint16(i+1), s.topic, s.alias, s.qos, "alias-forged-"+acc.user)); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				ack, err := c.Read(5 * time.Second)
				if err != nil {
					t.Fatalf("step %d (%q alias %d QoS %d): no acknowledgement: %v", i, s.topic, s.alias, s.qos, err)
				}
				want := packets.ErrNotAuthorized.Code
				if s.mayPublish {
					want = 0
				}
				if ack.ReasonCode != want {
					t.Errorf("step %d (%q alias %d QoS %d): type %d code 0x%02x, want 0x%02x", i, s.topic, s.alias, s.qos, ack.FixedHeader.Type, ack.ReasonCode, want)
				}
				if s.qos == 2 {
					// A PUBREL for the refused QoS 2 publish: nothing is held for it.
					c.Write([]byte{0x62, 0x02, 0x00, byte(i + 1)})
					if pk, err := c.Read(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Pubcomp {
						t.Errorf("step %d: PUBREL answered with type %d, err %v; want PUBCOMP", i, pk.FixedHeader.Type, err)
					}
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	allowed := "homeassistant/e2e-alias/" + options.HomeAssistantUser
	for _, m := range obs.Messages() {
		if m.Topic == forged || strings.HasPrefix(m.Payload, "alias-forged-") && m.Topic != allowed {
			t.Errorf("published: %s %s", m.Topic, m.Payload)
		}
	}
	bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if v, ok := p.metric(t, "hookbridge_mqtt_inflight"); ok && v > 0 {
			return fmt.Errorf("hookbridge_mqtt_inflight = %v after refused QoS 2 publishes, want 0", v)
		}
		return nil
	})
}

// TestDeviceWriterRetainedBounded: the homeassistant account (and whoever holds its password)
// could retain any number of messages of up to 256 KiB under homeassistant/#, each kept in memory
// and in the store: 500 retained messages of 200 KiB raised RSS by some 235 MiB and the state file
// by 124 MiB. Its retained messages are now bounded (broker.DefaultWriterLimits: count, bytes, and
// size of one): past a bound an MQTT 5 retained PUBLISH gets PUBACK 0x97 and a 3.1.1 QoS 1 one
// closes the connection, while replacing and clearing its own messages keep working. The same
// attack, and filling the byte bound with the largest messages allowed, cost less than the 60 MB
// issue 12 allowed one account's attack.
func TestDeviceWriterRetainedBounded(t *testing.T) {
	p := startBinary(t, nil)
	limits := broker.DefaultWriterLimits
	before, fileBefore := p.rss(t), stateFileSize(t, p)
	c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: "ha-retain", Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Clean: true})
	if code != 0 {
		t.Fatalf("login: 0x%02x", code)
	}
	id := uint16(0)
	publish := func(topic string, payload []byte) byte {
		t.Helper()
		id++
		if err := c.Write(rawmqtt.PublishPacket(rawmqtt.V5, id, topic, payload, 1, true)); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		for {
			pk, err := c.Read(5 * time.Second)
			if err != nil {
				t.Fatalf("publish %s: no PUBACK: %v", topic, err)
			}
			if pk.FixedHeader.Type == packets.Puback && pk.PacketID == id {
				return pk.ReasonCode
			}
		}
	}
	quota := packets.ErrQuotaExceeded.Code

	big := bytes.Repeat([]byte("x"), 200<<10)
	refused := 0
	for i := range 500 {
		if publish(fmt.Sprintf("homeassistant/sensor/e2e-%d/config", i), big) == quota {
			refused++
		}
	}
	if refused != 500 {
		t.Errorf("%d of 500 retained messages of 200 KiB refused, want all (larger than %d bytes)", refused, limits.RetainedMessageSize)
	}

	// The largest messages allowed, until the byte bound refuses one (each also counts what the
	// broker spends on it besides its bytes, a few KiB).
	var kept []string
	for i := range 1000 {
		topic := fmt.Sprintf("homeassistant/sensor/e2e-fill-%04d/config", i)
		payload := bytes.Repeat([]byte("y"), limits.RetainedMessageSize-len(topic))
		if code := publish(topic, payload); code != 0 {
			if code != quota {
				t.Fatalf("message %d: PUBACK 0x%02x, want 0x97", i, code)
			}
			break
		}
		kept = append(kept, topic)
	}
	if most := int(limits.RetainedBytes) / limits.RetainedMessageSize; len(kept) > most || len(kept) < most*9/10 {
		t.Errorf("%d messages of %d bytes kept before the first refusal, want nearly as many as %d bytes hold (%d)", len(kept), limits.RetainedMessageSize, limits.RetainedBytes, most)
	}
	if len(kept) < 2 {
		t.Fatalf("%d messages kept", len(kept))
	}
	if code := publish(kept[0], []byte("replaced")); code != 0 {
		t.Errorf("replacing one of its own: PUBACK 0x%02x, want 0", code)
	}
	if code := publish(kept[1], nil); code != 0 {
		t.Errorf("clearing one of its own: PUBACK 0x%02x, want 0", code)
	}
	if code := publish("homeassistant/sensor/e2e-after/config", bytes.Repeat([]byte("z"), limits.RetainedMessageSize-64)); code != 0 {
		t.Errorf("a message in the room clearing freed: PUBACK 0x%02x, want 0", code)
	}
	time.Sleep(500 * time.Millisecond)
	grow, fileGrow := p.rss(t)-before, stateFileSize(t, p)-fileBefore
	t.Logf("500 retained messages of 200 KiB refused, %d of %d KiB kept: RSS +%.1f MiB, state file +%.1f MiB",
		len(kept), limits.RetainedMessageSize>>10, float64(grow)/(1<<20), float64(fileGrow)/(1<<20))
	if grow > 60<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 60", float64(grow)/(1<<20))
	}
	if fileGrow > 60<<20 {
		t.Errorf("the state file grew by %.1f MiB, want less than 60", float64(fileGrow)/(1<<20))
	}

	// MQTT 3.1.1 cannot refuse a PUBLISH in its PUBACK: the connection is closed.
	v3, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: "ha-retain-v3", Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Clean: true})
	if code != 0 {
		t.Fatalf("login: 0x%02x", code)
	}
	v3.Write(rawmqtt.PublishPacket(rawmqtt.V311, 1, "homeassistant/sensor/e2e-v3/config", big, 1, true))
	if !v3.Closed(5 * time.Second) {
		t.Error("a refused 3.1.1 retained publish left the connection open")
	}
	bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(p.Logs(), "retained message refused") || !strings.Contains(p.Logs(), `"account":"homeassistant"`) {
			return fmt.Errorf("no log line on the refused retained messages naming the account")
		}
		return nil
	})
}

// stateFileSize returns the size of the binary's state file.
func stateFileSize(t *testing.T, p *binProc) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(p.Dir, "hookbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestDeviceLogsNoClientID: the admin API promises that dropping a device's session logs the
// account and the count, never the client id (devices choose them, and a phone's is its owner's
// name), and the broker logged it ("sessions dropped by the operator"), as did its refusals and
// its MQTT library's own lines. A canary client id goes through what logs a client, with the
// binary at debug level: a refused SUBSCRIBE and UNSUBSCRIBE, a refused retained message, a
// wrong password, another account squatting the id, a takeover, and the operator dropping the
// sessions. No log line holds it; the lines name the session by a keyed digest (client_ref).
func TestDeviceLogsNoClientID(t *testing.T) {
	p := startBinary(t, func(o *options.Options) { o.LogLevel = "debug" })
	const canary = "Janes-iPhone-kitchen"
	panel := rawmqtt.Options{Version: rawmqtt.V5, ClientID: canary, Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, SessionExpiry: 3600}
	c, code := rawLogin(t, p.MQTTAddr, panel)
	if code != 0 {
		t.Fatalf("login: 0x%02x", code)
	}
	many := make([]string, broker.DefaultDeviceLimits.Filters+1)
	for i := range many {
		many[i] = fmt.Sprintf("%s/acme-locks/locks/l%d/state", bridgetest.TopicPrefix, i)
	}
	if codes, _, err := c.Subscribe(1, many...); err != nil || codes[0] != packets.ErrQuotaExceeded.Code {
		t.Errorf("SUBSCRIBE past the bound: %x, %v", codes, err)
	}
	if codes, err := c.Unsubscribe(many...); err != nil || codes[0] != packets.ErrImplementationSpecificError.Code {
		t.Errorf("UNSUBSCRIBE past the bound: %x, %v", codes, err)
	}
	if codes, _, err := c.Subscribe(1, lockStateFilter); err != nil || codes[0] != 1 {
		t.Errorf("SUBSCRIBE: %x, %v", codes, err)
	}
	c.Disconnect()
	if _, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: canary, Username: bridgetest.PanelUser, Password: "wrong-password", Clean: true}); code == 0 {
		t.Error("a wrong password logged in")
	}
	squat, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: canary, Username: porchUser, Password: porchPassword, SessionExpiry: 3600})
	if code != 0 {
		t.Fatalf("porch login with the panel's client id: 0x%02x", code)
	}
	squat.Close()
	rawLogin(t, p.MQTTAddr, panel)        // resumes its session
	c, _ = rawLogin(t, p.MQTTAddr, panel) // takes it over
	v3, _ := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: canary, Username: porchUser, Password: porchPassword, Clean: true})
	v3.Write(rawmqtt.UnsubscribePacket(rawmqtt.V311, 1, many...)) // past the bound: closed
	v3.Closed(2 * time.Second)
	ha, _ := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: canary, Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Clean: true})
	ha.Write(rawmqtt.PublishPacket(rawmqtt.V5, 1, "homeassistant/sensor/canary/config", bytes.Repeat([]byte("x"), 100<<10), 1, true))
	if pk, err := ha.Read(5 * time.Second); err != nil || pk.ReasonCode != packets.ErrQuotaExceeded.Code {
		t.Errorf("retained message larger than allowed: type %d code 0x%02x, %v; want PUBACK 0x97", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	for _, user := range []string{bridgetest.PanelUser, porchUser} {
		if r := p.admin(t, http.MethodDelete, "/api/devices/"+user+"/sessions/"+canary, "", nil); r.Status != http.StatusOK {
			t.Fatalf("drop %s's session: %d %s", user, r.Status, r.Raw)
		}
	}
	c.Closed(2 * time.Second)

	bridgetest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		for _, want := range []string{"subscribe refused", "unsubscribe refused", "retained message refused", "session taken over", "sessions dropped by the operator"} {
			if !strings.Contains(p.Logs(), want) {
				return fmt.Errorf("no line %q logged yet", want)
			}
		}
		return nil
	})
	refs := 0
	for _, line := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(line, "Janes") {
			t.Errorf("the log holds the client id: %s", line)
		}
		if strings.Contains(line, `"client_ref":"`) {
			refs++
		}
	}
	if refs == 0 {
		t.Error("no log line names a session by its client_ref")
	}
}

// TestDeviceUnsubscribeStorm: the filters-per-SUBSCRIBE bound did not apply to UNSUBSCRIBE, and
// every filter of an UNSUBSCRIBE became a delete in the store's write queue, for clean sessions
// and filters never subscribed too: eight connections of one device account sending UNSUBSCRIBEs
// of 5,800 filters (as many as 256 KiB holds) raised RSS by 33-100 MiB in 3 s. Now one past the
// bound is refused whole (MQTT 5: 0x83 for each filter; 3.1.1: the connection is closed), and
// one within it writes only the deletes of subscriptions the session had stored: none here.
// Four MQTT 5 connections keep sending 5,800 filters, four 3.1.1 ones 32 (the bound), for 3 s:
// RSS grows by less than 30 MB, and the store writes nothing (it wrote some 150 transactions of
// deletes before).
func TestDeviceUnsubscribeStorm(t *testing.T) {
	p := startBinary(t, nil)
	filters := make([]string, 5800)
	for i := range filters {
		filters[i] = fmt.Sprintf("%s/acme-locks/locks/u%05d/state", bridgetest.TopicPrefix, i)
	}
	bound := broker.DefaultDeviceLimits.Filters

	closed, _ := rawLogin(t, p.MQTTAddr, rawmqtt.Options{ClientID: "unsub-v3-big", Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true})
	closed.Write(rawmqtt.UnsubscribePacket(rawmqtt.V311, 1, filters...))
	if !closed.Closed(5 * time.Second) {
		t.Errorf("a 3.1.1 UNSUBSCRIBE of %d filters left the connection open", len(filters))
	}

	type worker struct {
		c  *rawmqtt.Conn
		v  byte
		pk []byte
	}
	var workers []worker
	for w := range 8 {
		v, pk := rawmqtt.V5, rawmqtt.UnsubscribePacket(rawmqtt.V5, 1, filters...)
		if w%2 == 1 {
			v, pk = rawmqtt.V311, rawmqtt.UnsubscribePacket(rawmqtt.V311, 1, filters[:bound]...)
		}
		c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: fmt.Sprintf("unsub-%d", w), Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true})
		if code != 0 {
			t.Fatalf("login %d: 0x%02x", w, code)
		}
		workers = append(workers, worker{c, v, pk})
	}
	time.Sleep(100 * time.Millisecond) // the logins' own writes
	before := p.rss(t)
	commits, _ := p.metric(t, "hookbridge_store_commits_total")
	var sent, acked, wrong atomic.Int64
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(2)
		go func() { // the UNSUBACKs
			defer wg.Done()
			for {
				ack, err := w.c.Read(10 * time.Second)
				if err != nil {
					return
				}
				acked.Add(1)
				if w.v == rawmqtt.V5 && (len(ack.ReasonCodes) != len(filters) || ack.ReasonCodes[0] != packets.ErrImplementationSpecificError.Code) {
					wrong.Add(1)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w.c.Write(w.pk) != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		peak.Store(max(peak.Load(), p.rss(t)))
	}
	close(stop)
	after, _ := p.metric(t, "hookbridge_store_commits_total")
	for _, w := range workers {
		w.c.Close()
	}
	wg.Wait()
	grow := peak.Load() - before
	t.Logf("%d UNSUBSCRIBEs (of %d or %d filters) in 3 s, %d answered: peak RSS +%.1f MiB, %v store transactions", sent.Load(), len(filters), bound, acked.Load(), float64(grow)/(1<<20), after-commits)
	if grow > 30<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 30", float64(grow)/(1<<20))
	}
	if after-commits > 2 {
		t.Errorf("the store wrote %v transactions during the storm, want none: no session had a subscription to delete", after-commits)
	}
	if acked.Load() == 0 || wrong.Load() > 0 {
		t.Errorf("%d UNSUBACKs, %d of them to MQTT 5 not refusing each filter with 0x83", acked.Load(), wrong.Load())
	}
}

// TestSlowReaderCannotStallPublishing: mochi writes each packet to a client's socket holding
// that client's lock, and whoever queues a QoS 1 or 2 message for the client takes the same lock
// (for a packet id); a SUBSCRIBE also holds the retain guard (shared) until its SUBACK is written,
// and a retained publish waits for it (exclusive). So a device that subscribed and then stopped
// reading its socket, once the socket was full, blocked every retained publish of the bridge and
// every QoS 1 message to it, for as long as its connection lasted: with a keep-alive of 18 hours
// (or none), webhooks on a retained route hung. This test failed so with 0.1.0 and with the
// broker before clientConn: the first webhook after the device's socket filled got no answer.
//
// Now the broker never waits for a client: the device SUBSCRIBEs again and again to 300 retained
// lock states (some 60 KB each time) and reads nothing, webhooks on the retained route keep
// answering fast meanwhile and go on reaching a device of another account that reads, and the
// non-reading device is cut once what is queued for it passes its account's bound, counted in
// /metrics and logged with the account.
func TestSlowReaderCannotStallPublishing(t *testing.T) {
	p := startBinary(t, nil)
	const locks = 300 // retained lock states, sent to the device on every SUBSCRIBE
	seed := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range seed {
				if r := p.send(t, "acme-locks", uniqueID("slow"), acmeEvent(uniqueID("evt"), fmt.Sprintf("slow-lock-%d", i), "80")); r.Status != http.StatusAccepted {
					t.Errorf("event %d: %d %s", i, r.Status, r.Raw)
				}
			}
		}()
	}
	for i := range locks {
		seed <- i
	}
	close(seed)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	live := bridgetest.SubscribeLive(t, p.MQTTAddr, porchUser, porchPassword, "porch-reads", lockStateFilter)

	nc, err := net.Dial("tcp", p.MQTTAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := rawmqtt.New(nc)
	t.Cleanup(func() { c.Close() })
	if ack, err := c.Connect(rawmqtt.Options{ClientID: "slow-reader", Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true, Keepalive: 0xFFFF}); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("login: %v, CONNACK 0x%02x", err, ack.ReasonCode)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() { // SUBSCRIBE again and again, and never read
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if c.Write(rawmqtt.SubscribePacket(rawmqtt.V311, uint16(i%60000+1), 0, lockStateFilter)) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// Webhooks on the retained route, one after the other, until two seconds after the cut.
	client := &http.Client{Timeout: 5 * time.Second}
	var ds []time.Duration
	var cutAt time.Time
	start := time.Now()
	for i := 0; cutAt.IsZero() || time.Since(cutAt) < 2*time.Second; i++ {
		if cutAt.IsZero() {
			if v, _ := p.metric(t, "hookbridge_mqtt_slow_clients_cut_total"); v >= 1 {
				cutAt = time.Now()
				t.Logf("the device was cut after %v, %d webhooks in", cutAt.Sub(start).Round(time.Millisecond), i)
			} else if time.Since(start) > 10*time.Second {
				t.Fatalf("hookbridge_mqtt_slow_clients_cut_total = %v after 10s, want 1: the device that reads nothing still holds its connection", v)
			}
		}
		body := acmeEvent(uniqueID("evt"), fmt.Sprintf("slow-lock-%d", i%locks), "81")
		req, _ := http.NewRequest(http.MethodPost, p.url("/hooks/acme-locks"), bytes.NewReader(body))
		for k, v := range p.sign(t, "acme-locks", uniqueID("slow"), body) {
			req.Header.Set(k, v)
		}
		sent := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("webhook %d, %v after the device stopped reading: %v", i, sent.Sub(start).Round(time.Millisecond), err)
		}
		resp.Body.Close()
		ds = append(ds, time.Since(sent))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook %d: status %d, want 202", i, resp.StatusCode)
		}
	}
	n := len(ds)
	slices.Sort(ds)
	p50, p99 := ds[n/2], ds[n*99/100]
	t.Logf("%d webhooks: p50 %v, p99 %v, slowest %v", n, p50, p99, ds[n-1])
	if p50 > 250*time.Millisecond || p99 > 2*time.Second {
		t.Errorf("webhook latency p50 %v, p99 %v while a device reads nothing; want under 250ms and 2s", p50, p99)
	}
	live.WaitFor("every webhook's message at the device that reads", 10*time.Second, func(m []bridgetest.Message) bool { return len(m) >= n })
	if !c.Closed(5 * time.Second) {
		t.Error("the device that reads nothing still has its connection")
	}
	if !p.logHas("the client does not read what the broker sends it", "account", bridgetest.PanelUser) {
		t.Errorf("no log line of the cut naming the account %s", bridgetest.PanelUser)
	}
}
