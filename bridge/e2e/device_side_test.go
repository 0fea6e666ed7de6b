package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/bridgetest"
	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/broker"
)

// The device side of issue 12, against the real binary: a hostile device account must not get
// past its ACL (a Will), starve logins, degrade other accounts, lock another device out of its
// client id, or take messages from another account's shared subscription group.

// haObserver is the homeassistant account on everything it may read, Hookbridge's own topics
// included, on a clean session.
func haObserver(t *testing.T, addr, clientID string) *bridgetest.Subscriber {
	t.Helper()
	s, err := bridgetest.Connect(t, addr, options.HomeAssistantUser, bridgetest.HAPassword, clientID, true)
	if err != nil {
		t.Fatalf("homeassistant: %v", err)
	}
	s.Internal = true
	for _, f := range []string{bridgetest.TopicPrefix + "/#", "homeassistant/#"} {
		if code := s.Subscribe(f); code > 2 {
			t.Fatalf("homeassistant subscribe %s: 0x%02x", f, code)
		}
	}
	return s
}

// forgedWill is a Will a device tries to have published for it.
type forgedWill struct {
	name, topic, payload string
}

// forgedWills are the Wills of finding 1: a lock's state that other devices read, a discovery
// config Home Assistant would load, a fake alert, and the kill switch command that turns a vendor
// back on.
var forgedWills = []forgedWill{
	{"lock state", bridgetest.TopicPrefix + "/acme-locks/locks/forged-lock/state", `{"state":"unlocked","forged":"by-will"}`},
	{"discovery config", "homeassistant/lock/forged-lock/config", `{"name":"Front door","command_topic":"x","forged":"by-will"}`},
	{"alerts", bridgetest.TopicPrefix + "/_alerts", `{"vendor":"acme-locks","kind":"forged","forged":"by-will"}`},
	{"kill switch command", bridgetest.TopicPrefix + "/_switch/acme-locks/set", "ON"},
}

// forgedSeen returns the messages among msgs that a forged Will published.
func forgedSeen(msgs []bridgetest.Message) []bridgetest.Message {
	var out []bridgetest.Message
	for _, m := range msgs {
		if strings.Contains(m.Payload, "by-will") || strings.Contains(m.Topic, "forged") ||
			m.Topic == bridgetest.TopicPrefix+"/_switch/acme-locks/set" && m.Payload != "" {
			out = append(out, m)
		}
	}
	return out
}

// TestDeviceWillRefused (finding 1): a device's CONNECT with a Will, retained or not, over MQTT
// 3.1.1 and 5, on a lock's state topic, a discovery topic, _alerts or the kill switch command, is
// refused (0x87 / return code 5), and when the device drops its socket nothing is published or
// retained: no client reads a forged state, and a vendor the operator turned off stays off, also
// after a restart. The homeassistant account's Will on a topic it may publish still works.
func TestDeviceWillRefused(t *testing.T) {
	p := startBinary(t, nil)
	// The operator turned acme-locks off after a leak.
	if r := p.admin(t, http.MethodPost, "/api/vendors/acme-locks/disable", "", nil); r.Status != http.StatusOK {
		t.Fatalf("disable acme-locks: %d %s", r.Status, r.Raw)
	}
	obs := haObserver(t, p.MQTTAddr, uniqueID("will-observer"))

	n := 0
	for _, w := range forgedWills {
		for _, v := range versions {
			for _, retain := range []bool{false, true} {
				name := fmt.Sprintf("%s %s retain=%v", w.name, versionName(v), retain)
				t.Run(name, func(t *testing.T) {
					n++
					conn, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: fmt.Sprintf("will-%d", n),
						Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true,
						Will: &rawmqtt.Will{Topic: w.topic, Payload: []byte(w.payload), QoS: 1, Retain: retain}})
					if want := refusal(v, packets.ErrNotAuthorized.Code, packets.Err3NotAuthorized.Code); code != want {
						t.Errorf("CONNACK = 0x%02x, want 0x%02x (not authorized)", code, want)
					}
					conn.Close() // a lost connection: a Will kept for it would be due now
				})
			}
		}
	}
	t.Run("delayed v5 Will with a session expiry", func(t *testing.T) {
		conn, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: "will-delayed",
			Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, SessionExpiry: 3600,
			Will: &rawmqtt.Will{Topic: forgedWills[0].topic, Payload: []byte(forgedWills[0].payload), Retain: true, Delay: 1}})
		if code != packets.ErrNotAuthorized.Code {
			t.Errorf("CONNACK = 0x%02x, want 0x87 (not authorized)", code)
		}
		conn.Close()
	})

	// homeassistant may set a Will on a topic it may publish: it is published when its connection
	// is lost. Its arrival also tells that the broker has handled the lost connections above.
	t.Run("homeassistant's own Will", func(t *testing.T) {
		for _, v := range versions {
			topic := "homeassistant/e2e-will/" + versionName(v)
			conn, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: "ha-will-" + versionName(v),
				Username: options.HomeAssistantUser, Password: bridgetest.HAPassword, Clean: true,
				Will: &rawmqtt.Will{Topic: topic, Payload: []byte("offline"), QoS: 1, Retain: true}})
			if code != 0 {
				t.Fatalf("%s: homeassistant with a Will on %s: CONNACK 0x%02x, want 0", versionName(v), topic, code)
			}
			conn.Close()
			obs.WaitFor("homeassistant's Will on "+topic, bridgetest.WaitForDeliveries, func(msgs []bridgetest.Message) bool {
				_, ok := bridgetest.LastOn(msgs, topic)
				return ok
			})
		}
	})
	time.Sleep(300 * time.Millisecond) // a Will published after homeassistant's would still show
	if got := forgedSeen(obs.Messages()); len(got) > 0 {
		t.Errorf("forged Wills were published: %v", got)
	}
	if mode := p.vendorMode(t, "acme-locks"); mode != "disabled" {
		t.Errorf("acme-locks is %s after the forged kill switch commands, want disabled", mode)
	}

	// After a restart: nothing forged was retained, and the vendor is still off.
	if _, err := p.Terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p.Start()
	late := haObserver(t, p.MQTTAddr, uniqueID("will-late"))
	late.WaitFor("homeassistant's retained Will after the restart", bridgetest.WaitForDeliveries, func(msgs []bridgetest.Message) bool {
		_, ok := bridgetest.LastOn(msgs, "homeassistant/e2e-will/v5")
		return ok
	})
	time.Sleep(300 * time.Millisecond)
	if got := forgedSeen(late.Messages()); len(got) > 0 {
		t.Errorf("after a restart, forged Wills are retained: %v", got)
	}
	if mode := p.vendorMode(t, "acme-locks"); mode != "disabled" {
		t.Errorf("after a restart acme-locks is %s, want disabled", mode)
	}
	id := uniqueID("evt-will")
	if r := p.send(t, "acme-locks", id, acmeEvent(id, "door-1", "50")); r.Status != http.StatusServiceUnavailable {
		t.Errorf("webhook to the disabled vendor: %d, want 503", r.Status)
	}
}

// holdIdle opens n TCP connections to addr from the loopback address from, sending nothing, and
// closes them when the test ends. Connections the server closes meanwhile stay closed.
func holdIdle(t *testing.T, addr, from string, n int) {
	t.Helper()
	d := localDialer(from)
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			closeNow(c)
		}
	})
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d from %s: %v", len(conns), from, err)
		}
		conns = append(conns, c)
	}
}

// closeNow closes c with a reset, leaving no TIME_WAIT behind: a test that opens tens of thousands
// of connections from one address would otherwise run out of ports.
func closeNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// churn keeps n connections to addr open from the loopback address from, closing the oldest and
// opening a new one as fast as it can, until the test ends. It returns how many it opened so far.
func churn(t *testing.T, addr, from string, n int) func() int64 {
	t.Helper()
	var opened atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := localDialer(from)
		ring := make([]net.Conn, n)
		defer func() {
			for _, c := range ring {
				if c != nil {
					closeNow(c)
				}
			}
		}()
		for i := 0; ; i = (i + 1) % n {
			select {
			case <-stop:
				return
			default:
			}
			if ring[i] != nil {
				closeNow(ring[i])
			}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				ring[i] = nil
				time.Sleep(time.Millisecond)
				continue
			}
			ring[i] = c
			opened.Add(1)
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return opened.Load
}

// deviceLogsIn has a real device (paho, MQTT 3.1.1) log in and subscribe tries times, and fails
// the test for each try that does not get both its CONNACK and its SUBACK within 1 s. It gives up
// after three failures.
func deviceLogsIn(t *testing.T, addr string, tries int) {
	t.Helper()
	var slowest time.Duration
	failed := 0
	for i := range tries {
		start := time.Now()
		c, err := pahoDevice(t, addr, bridgetest.PanelUser, bridgetest.PanelPassword, uniqueID("starved"), true, 2*time.Second)
		if err == nil {
			var code byte
			code, err = pahoSubscribe(c, lockStateFilter, 2*time.Second, nil)
			if err == nil && code > 2 {
				err = fmt.Errorf("SUBACK 0x%02x", code)
			}
			c.Disconnect(0)
		}
		took := time.Since(start)
		slowest = max(slowest, took)
		if err == nil && took > time.Second {
			err = fmt.Errorf("took %v", took.Round(time.Millisecond))
		}
		if err != nil {
			t.Errorf("login and subscribe %d: %v, want both within 1s", i, err)
			if failed++; failed == 3 {
				t.Fatalf("giving up after %d failures in %d tries", failed, i+1)
			}
		}
	}
	t.Logf("%d logins with subscribe, slowest %v", tries, slowest.Round(time.Millisecond))
}

// TestDeviceLoginWhileIdleHeld (finding 2, and "with 1,500 idle connections a device cannot
// subscribe"): while 1,500 idle TCP connections are held open to the broker port, from other
// addresses or from the device's own, and while a client keeps reopening 1,500, a real device logs
// in and subscribes within 1 s, every time; and a device logged in before the flood still
// subscribes within 1 s.
func TestDeviceLoginWhileIdleHeld(t *testing.T) {
	p := startBinary(t, nil)
	const idle = 1500
	// A connection held pending is closed after 10 s (ConnectTimeout): each case stays within that.
	t.Run("1,500 idle from three other addresses", func(t *testing.T) {
		for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			holdIdle(t, p.MQTTAddr, from, idle/3)
		}
		if v, ok := p.metric(t, "hookbridge_mqtt_pending_logins"); ok {
			t.Logf("pending logins: %v", v)
		}
		deviceLogsIn(t, p.MQTTAddr, 10)
	})
	t.Run("1,500 idle from the device's own address", func(t *testing.T) {
		holdIdle(t, p.MQTTAddr, "127.0.0.1", idle)
		deviceLogsIn(t, p.MQTTAddr, 10)
	})
	t.Run("a client reopening 1,500", func(t *testing.T) {
		opened := churn(t, p.MQTTAddr, "127.0.0.5", idle)
		bridgetest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := opened(); n < idle {
				return fmt.Errorf("the churner opened %d connections, want %d before the logins", n, idle)
			}
			return nil
		})
		before := opened()
		deviceLogsIn(t, p.MQTTAddr, 10)
		t.Logf("the churner opened %d connections during the logins", opened()-before)
	})
	t.Run("a device logged in before subscribes", func(t *testing.T) {
		c, err := pahoDevice(t, p.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, uniqueID("before"), true, 2*time.Second)
		if err != nil {
			t.Fatalf("login before the flood: %v", err)
		}
		holdIdle(t, p.MQTTAddr, "127.0.0.6", idle/3)
		holdIdle(t, p.MQTTAddr, "127.0.0.7", idle/3)
		holdIdle(t, p.MQTTAddr, "127.0.0.8", idle/3)
		for i := range 5 {
			start := time.Now()
			code, err := pahoSubscribe(c, fmt.Sprintf("%s/acme-locks/locks/door-%d/state", bridgetest.TopicPrefix, i), 2*time.Second, nil)
			if took := time.Since(start); err != nil || code > 2 || took > time.Second {
				t.Errorf("subscribe %d: code 0x%02x, err %v, took %v; want granted within 1s", i, code, err, took)
			}
		}
	})
}

// sessionAttack is what one account got when it opened many persistent sessions.
type sessionAttack struct {
	accepted, refused int
	other             map[string]int // other outcomes, counted
	expiries          []uint32       // session expiry in the CONNACKs of accepted v5 sessions
}

// openSessions has the panel account open n persistent sessions with distinct client ids, half
// over MQTT 5 with the longest expiry and half over 3.1.1 without clean session, each subscribed
// to the lock states when let in and then left offline; workers at a time.
func openSessions(t *testing.T, addr string, n, workers int) sessionAttack {
	t.Helper()
	var mu sync.Mutex
	res := sessionAttack{other: map[string]int{}}
	ids := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				v := versions[i%2]
				outcome, expiry := func() (string, uint32) {
					c, err := rawmqtt.Dial(addr)
					if err != nil {
						return "dial: " + err.Error(), 0
					}
					defer c.Close()
					ack, err := c.Connect(rawmqtt.Options{Version: v, ClientID: fmt.Sprintf("attack-%d", i),
						Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, SessionExpiry: 0xFFFFFFFF})
					switch {
					case err != nil:
						return "no CONNACK", 0
					case ack.ReasonCode == refusal(v, packets.ErrQuotaExceeded.Code, packets.Err3ServerUnavailable.Code):
						return "refused", 0
					case ack.ReasonCode != 0:
						return fmt.Sprintf("%s CONNACK 0x%02x", versionName(v), ack.ReasonCode), 0
					}
					codes, _, err := c.Subscribe(1, lockStateFilter)
					if err != nil || len(codes) != 1 || codes[0] > 2 {
						return fmt.Sprintf("subscribe: %x %v", codes, err), 0
					}
					_ = c.Disconnect()
					return "accepted", ack.Properties.SessionExpiryInterval
				}()
				mu.Lock()
				switch outcome {
				case "accepted":
					res.accepted++
					if v == rawmqtt.V5 {
						res.expiries = append(res.expiries, expiry)
					}
				case "refused":
					res.refused++
				default:
					res.other[outcome]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	return res
}

// webhookLatency sends n acme-locks events one after the other and returns the median time to
// their answers; each must be accepted.
func webhookLatency(t *testing.T, p *binProc, n int) time.Duration {
	t.Helper()
	ds := make([]time.Duration, 0, n)
	for i := range n {
		id := uniqueID("evt-latency")
		r, d := p.timedSend(t, "acme-locks", id, acmeEvent(id, fmt.Sprintf("door-%d", i%20), "50"))
		if r.Status != http.StatusAccepted {
			t.Fatalf("webhook %d: %d %s", i, r.Status, r.Raw)
		}
		ds = append(ds, d)
	}
	return median(ds)
}

// TestDeviceAccountBounds (finding 3): one device account opens 2,000 persistent sessions (v5
// with the longest expiry and 3.1.1), each subscribed, sends a SUBSCRIBE of 5,000 filters and
// more subscriptions than a session may hold, and opens idle clean sessions (keep-alive 0) until
// refused. Past each bound it gets the documented code (0x97,
// 3.1.1 return code 3 or SUBACK 0x80), its v5 sessions expire in a day, and the refusals are
// logged with the account and counted in /metrics; another account still logs in, webhook
// latency stays within 3x and the bridge's RSS grows by less than 60 MB.
func TestDeviceAccountBounds(t *testing.T) {
	p := startBinary(t, nil)
	// A device of another account with a persistent session: events go to a session, as in a home.
	bridgetest.Subscribe(t, p.MQTTAddr, porchUser, porchPassword, "porch-steady", false, lockStateFilter)
	webhookLatency(t, p, 10) // warm up
	before := webhookLatency(t, p, 40)
	rssBefore := p.rss(t)

	start := time.Now()
	res := openSessions(t, p.MQTTAddr, 2000, 8)
	t.Logf("2,000 persistent sessions tried in %v: %d accepted, %d refused, other %v", time.Since(start).Round(time.Millisecond), res.accepted, res.refused, res.other)
	if want := broker.DefaultDeviceLimits.PersistentSessions; res.accepted != want || res.refused != 2000-want || len(res.other) > 0 {
		t.Errorf("persistent sessions: %d accepted, %d refused (0x97 / 3), other %v; want %d accepted, the rest refused",
			res.accepted, res.refused, res.other, want)
	}
	for _, e := range res.expiries {
		if e != 86400 {
			t.Errorf("an accepted v5 session asked for the longest expiry got %d s in its CONNACK, want 86400 (a day)", e)
			break
		}
	}

	t.Run("SUBSCRIBE of 5,000 filters", func(t *testing.T) {
		for _, v := range versions {
			c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: "filters-" + versionName(v),
				Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true})
			if code != 0 {
				t.Fatalf("%s login: 0x%02x", versionName(v), code)
			}
			filters := make([]string, 5000)
			for i := range filters {
				filters[i] = fmt.Sprintf("%s/acme-locks/locks/door-%d/state", bridgetest.TopicPrefix, i)
			}
			codes, _, err := c.Subscribe(1, filters...)
			if err != nil {
				t.Fatalf("%s: %v", versionName(v), err)
			}
			want := refusal(v, packets.ErrQuotaExceeded.Code, packets.ErrUnspecifiedError.Code)
			granted := 0
			for _, code := range codes {
				if code != want {
					granted++
				}
			}
			if len(codes) != len(filters) || granted > 0 {
				t.Errorf("%s: SUBACK of %d codes, %d not 0x%02x; want %d codes, all 0x%02x", versionName(v), len(codes), granted, want, len(filters), want)
			}
			c.Disconnect()
		}
	})
	t.Run("subscriptions past 256 in one session", func(t *testing.T) {
		for _, v := range versions {
			c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: "subs-" + versionName(v),
				Username: bridgetest.PanelUser, Password: bridgetest.PanelPassword, Clean: true})
			if code != 0 {
				t.Fatalf("%s login: 0x%02x", versionName(v), code)
			}
			granted, refused := 0, 0
			want := refusal(v, packets.ErrQuotaExceeded.Code, packets.ErrUnspecifiedError.Code)
			for batch := range 10 {
				filters := make([]string, 30)
				for i := range filters {
					filters[i] = fmt.Sprintf("%s/acme-locks/locks/sub-%d/state", bridgetest.TopicPrefix, batch*30+i)
				}
				codes, _, err := c.Subscribe(1, filters...)
				if err != nil {
					t.Fatalf("%s batch %d: %v", versionName(v), batch, err)
				}
				for _, code := range codes {
					switch {
					case code <= 2:
						granted++
					case code == want:
						refused++
					default:
						t.Errorf("%s: SUBACK code 0x%02x", versionName(v), code)
					}
				}
			}
			if limit := broker.DefaultDeviceLimits.Subscriptions; granted != limit || refused != 300-limit {
				t.Errorf("%s: 300 subscriptions, %d granted and %d refused; want %d and %d", versionName(v), granted, refused, limit, 300-limit)
			}
			c.Disconnect()
		}
	})

	t.Run("idle sessions with keep-alive 0", func(t *testing.T) {
		// The account holds its 8 offline persistent sessions; clean ones that never ping fill
		// the rest of its 32, and no more.
		accepted := 0
		for i := range 40 {
			c, err := rawmqtt.Dial(p.MQTTAddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			pk := rawmqtt.ConnectPacket(rawmqtt.Options{ClientID: fmt.Sprintf("idle-%d", i), Username: bridgetest.PanelUser,
				Password: bridgetest.PanelPassword, Clean: true})
			pk[10], pk[11] = 0, 0 // keep-alive 0: the broker never times the connection out
			if err := c.Write(pk); err != nil {
				t.Fatal(err)
			}
			ack, err := c.Read(rawmqtt.DefaultTimeout)
			if err != nil || ack.FixedHeader.Type != packets.Connack {
				t.Fatalf("login %d: type %d, %v", i, ack.FixedHeader.Type, err)
			}
			switch ack.ReasonCode {
			case 0:
				accepted++
			case packets.Err3ServerUnavailable.Code:
			default:
				t.Errorf("login %d: CONNACK 0x%02x, want 0 or 0x03", i, ack.ReasonCode)
			}
		}
		limits := broker.DefaultDeviceLimits
		if want := limits.Sessions - limits.PersistentSessions; accepted != want {
			t.Errorf("%d idle clean sessions accepted beside %d persistent ones, want %d (%d sessions in all)",
				accepted, limits.PersistentSessions, want, limits.Sessions)
		}
	})

	// Another account is not affected.
	if _, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: "porch-after",
		Username: porchUser, Password: porchPassword, SessionExpiry: 3600}); code != 0 {
		t.Errorf("another account's persistent login after the attack: CONNACK 0x%02x, want 0", code)
	}
	after := webhookLatency(t, p, 40)
	rssAfter := p.rss(t)
	// A floor of 10 ms: medians of a few milliseconds vary by more than 3x on a loaded machine.
	t.Logf("webhook median %v before, %v after; RSS %.1f MiB before, %.1f MiB after", before, after, float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20))
	if limit := 3 * max(before, 10*time.Millisecond); after > limit {
		t.Errorf("webhook median %v after the attack, want at most %v (3x %v)", after, limit, before)
	}
	if grow := rssAfter - rssBefore; grow > 60<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 60", float64(grow)/(1<<20))
	}
	for _, l := range []struct{ msg, what string }{
		{"login refused: the account holds as many sessions as it may", "sessions"},
		{"subscribe refused: more filters in one SUBSCRIBE than allowed", "filters"},
		{"subscriptions refused: the session holds as many as it may", "subscriptions"},
	} {
		if !p.logHas(l.msg, "account", bridgetest.PanelUser) {
			t.Errorf("no log line %q naming the account (%s bound)", l.msg, l.what)
		}
	}
	for _, m := range []string{"hookbridge_mqtt_sessions_refused_total", "hookbridge_mqtt_subscribes_refused_total", "hookbridge_mqtt_subscriptions_refused_total"} {
		if v, ok := p.metric(t, m); !ok || v == 0 {
			t.Errorf("metric %s = %v (present %v), want > 0", m, v, ok)
		}
	}
}

// TestDeviceClientIDSquatting (finding 4): device B connects with device A's client id, without
// clean session and with the longest expiry, over MQTT 3.1.1 and 5, and leaves. A still logs in
// with its own id, keeps its session when B comes back with the id, and the operator lists B's
// sessions (the squatted id among them) and drops them through the admin API.
func TestDeviceClientIDSquatting(t *testing.T) {
	p := startBinary(t, nil)
	for _, v := range versions {
		t.Run(versionName(v), func(t *testing.T) {
			id := "hallway-panel-" + versionName(v)
			squat := func() *rawmqtt.Conn {
				c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: v, ClientID: id, Username: porchUser, Password: porchPassword,
					SessionExpiry: 0xFFFFFFFF})
				if code != 0 {
					t.Fatalf("the squatter's login with its own account: 0x%02x", code)
				}
				return c
			}
			c := squat()
			if codes, _, err := c.Subscribe(1, lockStateFilter); err != nil || len(codes) != 1 || codes[0] > 2 {
				t.Fatalf("the squatter's subscribe: %x %v", codes, err)
			}
			c.Disconnect()

			// The owner logs in with its own id, as a real device would.
			got := make(chan string, 16)
			owner, err := pahoDevice(t, p.MQTTAddr, bridgetest.PanelUser, bridgetest.PanelPassword, id, false, 5*time.Second)
			if err != nil {
				t.Fatalf("the owner's login with its own client id: %v", err)
			}
			if code, err := pahoSubscribe(owner, lockStateFilter, 5*time.Second, func(_ paho.Client, m paho.Message) {
				got <- string(m.Payload())
			}); err != nil || code > 2 {
				t.Fatalf("the owner's subscribe: 0x%02x %v", code, err)
			}
			// The squatter comes back with the same id while the owner is online: a session of its
			// own, and the owner stays connected and keeps getting events.
			c = squat()
			evt := uniqueID("evt-squat")
			if r := p.send(t, "acme-locks", evt, acmeEvent(evt, "door-squat-"+versionName(v), "42")); r.Status != http.StatusAccepted {
				t.Fatalf("webhook: %d %s", r.Status, r.Raw)
			}
			select {
			case m := <-got:
				if !strings.Contains(m, `"battery":42`) {
					t.Errorf("the owner got %s", m)
				}
			case <-time.After(bridgetest.WaitForDeliveries):
				t.Errorf("the owner got no event after the squatter came back (connected: %v)", owner.IsConnectionOpen())
			}

			// The operator lists the squatter's sessions and drops the squatted one.
			if s, ok := p.sessions(t, porchUser)[id]; !ok || !s.Connected || !s.Persistent {
				t.Fatalf("sessions of %s: %v, want %s listed, connected and persistent", porchUser, p.sessions(t, porchUser), id)
			}
			r := p.admin(t, http.MethodDelete, "/api/devices/"+porchUser+"/sessions/"+id, "", nil)
			if r.Status != http.StatusOK || r.Body["dropped"] != float64(1) {
				t.Fatalf("DELETE the squatted session: %d %s, want dropped 1", r.Status, r.Raw)
			}
			if !c.Closed(5 * time.Second) {
				t.Errorf("the dropped session's connection stayed open")
			}
			if s, ok := p.sessions(t, porchUser)[id]; ok {
				t.Errorf("after the drop, the squatter still has %s: %+v", id, s)
			}
			if s, ok := p.sessions(t, bridgetest.PanelUser)[id]; !ok || !s.Connected {
				t.Errorf("the owner's session after the drop: %+v (listed %v), want connected", s, ok)
			}
			if !owner.IsConnectionOpen() {
				t.Errorf("the owner was disconnected")
			}
		})
	}
	t.Run("drop all and unknown accounts", func(t *testing.T) {
		had := len(p.sessions(t, porchUser))
		for i := range 3 {
			c, code := rawLogin(t, p.MQTTAddr, rawmqtt.Options{Version: rawmqtt.V5, ClientID: fmt.Sprintf("porch-%d", i),
				Username: porchUser, Password: porchPassword, SessionExpiry: 3600})
			if code != 0 {
				t.Fatalf("login: 0x%02x", code)
			}
			c.Disconnect()
		}
		r := p.admin(t, http.MethodDelete, "/api/devices/"+porchUser+"/sessions", "", nil)
		if r.Status != http.StatusOK || r.Body["dropped"] != float64(had+3) {
			t.Errorf("DELETE all sessions: %d %s, want dropped %d", r.Status, r.Raw, had+3)
		}
		if got := p.sessions(t, porchUser); len(got) > 0 {
			t.Errorf("after dropping all: %v", got)
		}
		if r := p.admin(t, http.MethodGet, "/api/devices/nobody/sessions", "", nil); r.Status != http.StatusNotFound {
			t.Errorf("GET sessions of an unknown account: %d, want 404", r.Status)
		}
	})
}

// TestDeviceSharedGroupsPrivate (finding 8): two accounts each run two members of the same
// $share group name; each account's group gets every message once, none is taken by the other.
func TestDeviceSharedGroupsPrivate(t *testing.T) {
	p := startBinary(t, nil)
	filter := "$share/panels/" + lockStateFilter
	members := map[string][]*bridgetest.Subscriber{}
	for _, acc := range []struct{ user, password string }{{bridgetest.PanelUser, bridgetest.PanelPassword}, {porchUser, porchPassword}} {
		for i := range 2 {
			members[acc.user] = append(members[acc.user], bridgetest.SubscribeLive(t, p.MQTTAddr, acc.user, acc.password, fmt.Sprintf("%s-member-%d", acc.user, i), filter))
		}
	}
	const events = 20
	for i := range events {
		id := uniqueID("evt-share")
		if r := p.send(t, "acme-locks", id, acmeEvent(id, fmt.Sprintf("door-share-%d", i), "50")); r.Status != http.StatusAccepted {
			t.Fatalf("webhook %d: %d %s", i, r.Status, r.Raw)
		}
	}
	count := func() (map[string]int, int) {
		out, total := map[string]int{}, 0
		for user, subs := range members {
			for _, s := range subs {
				out[user] += len(s.Messages())
			}
			total += out[user]
		}
		return out, total
	}
	// Every message reaches one member of a group at least; wait for all, then for the second
	// group's copies a while more (when the groups are one, they never come).
	deadline := time.Now().Add(bridgetest.WaitForDeliveries)
	for {
		_, total := count()
		if total >= 2*events || time.Now().After(deadline) {
			break
		}
		if total >= events && deadline.Sub(time.Now()) > 2*time.Second {
			deadline = time.Now().Add(2 * time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would show now
	got, _ := count()
	for user := range members {
		if got[user] != events {
			t.Errorf("%s's group got %d messages, want %d: %v", user, got[user], events, got)
		}
	}
}
