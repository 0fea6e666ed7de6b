package uplink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/uplink"
	"github.com/hookbridge/hookbridge/bridge/uplink/mosquittotest"
)

// newUplink starts an uplink and closes it at the end of the test.
// newUplink makes and starts an uplink; onConnect functions are added before it starts, so they run
// after its first connection too.
func newUplink(t testing.TB, opts uplink.Options, onConnect ...func()) *uplink.Uplink {
	t.Helper()
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	}
	opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	u, err := uplink.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range onConnect {
		u.OnConnect(fn)
	}
	u.Start()
	t.Cleanup(func() { u.Close() })
	return u
}

func waitConnected(t testing.TB, u *uplink.Uplink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.WaitConnected(ctx); err != nil {
		t.Fatalf("uplink did not connect: %v (status %+v)", err, u.Status())
	}
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func endpoint(b *mosquittotest.Broker) uplink.Endpoint {
	return uplink.Endpoint{URL: b.URL(), Username: b.Username, Password: b.Password}
}

func seen(t testing.TB, st *store.Store, token string) bool {
	t.Helper()
	ok, err := st.Seen(token)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestPublishToMosquitto publishes events to a real Mosquitto and checks what a subscriber gets:
// topics, payloads, QoS and retain flags, and the replay record written after the PUBACKs.
func TestPublishToMosquitto(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	live := b.Subscribe(t, "live", "hb/#", false)
	st := openStore(t)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b)), Ledger: st})
	waitConnected(t, u)

	msgs := []route.Message{
		{Topic: "hb/acme/locks/tok1/state", Payload: []byte(`{"state":"locked"}`), Retain: true, QoS: 1},
		{Topic: "hb/acme/locks/tok1/battery", Payload: []byte(`{"battery":12}`), QoS: 1},
		{Topic: "hb/acme/activity", Payload: []byte(`{"type":"lock"}`), QoS: 0},
		{Topic: "hb/acme/alarm", Payload: []byte(`{"level":2}`), QoS: 2},
	}
	ev := &publish.Event{Vendor: "acme", Token: "ev1", Messages: msgs, At: time.Now()}
	if err := u.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish() = %v, want nil", err)
	}
	if !seen(t, st, "ev1") {
		t.Error("replay record not written after a successful Publish")
	}
	got := live.WaitFor(t, 5*time.Second, "4 messages", func(m []mosquittotest.Message) bool { return len(m) >= 4 })
	sort.Slice(got, func(i, j int) bool { return got[i].Topic < got[j].Topic })
	want := []mosquittotest.Message{
		{Topic: "hb/acme/activity", Payload: `{"type":"lock"}`, QoS: 1}, // QoS 0 routes go out at QoS 1, so the broker acknowledges them
		{Topic: "hb/acme/alarm", Payload: `{"level":2}`, QoS: 1},        // the subscription's QoS 1 caps delivery
		{Topic: "hb/acme/locks/tok1/battery", Payload: `{"battery":12}`, QoS: 1},
		{Topic: "hb/acme/locks/tok1/state", Payload: `{"state":"locked"}`, QoS: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("live subscriber got\n%v\nwant\n%v", got, want)
	}

	// A subscriber arriving later gets the retained message, flagged retained, and only that.
	late := b.Subscribe(t, "late", "hb/#", false)
	got = late.WaitFor(t, 5*time.Second, "the retained message", func(m []mosquittotest.Message) bool { return len(m) >= 1 })
	time.Sleep(100 * time.Millisecond)
	got = late.Messages()
	want = []mosquittotest.Message{{Topic: "hb/acme/locks/tok1/state", Payload: `{"state":"locked"}`, QoS: 1, Retained: true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("late subscriber got %v, want %v", got, want)
	}

	// PublishPlain: discovery config, retained.
	if err := u.PublishPlain("homeassistant/sensor/hb/x/config", []byte(`{"name":"x"}`), true, 1); err != nil {
		t.Fatalf("PublishPlain() = %v", err)
	}
	disc := b.Subscribe(t, "disc", "homeassistant/#", false)
	disc.WaitFor(t, 5*time.Second, "retained discovery", func(m []mosquittotest.Message) bool {
		return len(m) == 1 && m[0].Retained && m[0].Payload == `{"name":"x"}`
	})
}

// TestEndpoints connects over each transport the options accept.
func TestEndpoints(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{WebSocket: true, TLS: true})
	tlsCfg, err := uplink.TLSFiles{CA: b.CAFile, Cert: b.CertFile, Key: b.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ep   uplink.Endpoint
	}{
		{"tcp", uplink.Endpoint{URL: "tcp://" + b.Addr, Username: b.Username, Password: b.Password}},
		{"mqtt", uplink.Endpoint{URL: "mqtt://" + b.Addr, Username: b.Username, Password: b.Password}},
		{"credentials in URL", uplink.Endpoint{URL: "tcp://" + b.Username + ":" + b.Password + "@" + b.Addr}},
		{"MQTT 3.1", uplink.Endpoint{URL: "tcp://" + b.Addr, Username: b.Username, Password: b.Password, Protocol: 3}},
		{"ws", uplink.Endpoint{URL: "ws://" + b.WSAddr + "/mqtt", Username: b.Username, Password: b.Password}},
		{"ssl with CA and client certificate", uplink.Endpoint{URL: "ssl://" + b.TLSAddr, Username: b.Username, Password: b.Password, TLS: tlsCfg}},
		{"mqtts by host name", uplink.Endpoint{URL: "mqtts://localhost:" + port(b.TLSAddr), Username: b.Username, Password: b.Password, TLS: tlsCfg}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("ep/%d", i)
			sub := b.Subscribe(t, "sub-"+topic, topic, false)
			u := newUplink(t, uplink.Options{Resolve: uplink.Static(tt.ep)})
			waitConnected(t, u)
			if st := u.Status(); strings.Contains(st.Broker, b.Password) {
				t.Errorf("Status().Broker = %q holds the password", st.Broker)
			}
			if err := u.PublishPlain(topic, []byte("hello"), false, 1); err != nil {
				t.Fatalf("PublishPlain() = %v", err)
			}
			sub.WaitFor(t, 5*time.Second, "the message", func(m []mosquittotest.Message) bool { return len(m) == 1 })
		})
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestRefusedCredentials checks that a wrong password leaves the uplink disconnected, saying why.
func TestRefusedCredentials(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: b.URL(), Username: b.Username, Password: "wrong"})})
	deadline := time.Now().Add(5 * time.Second)
	for u.Status().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := u.Status()
	if st.Connected || !strings.Contains(strings.ToLower(st.LastError), "not authorized") {
		t.Errorf("Status() = %+v, want disconnected with a not-authorized error", st)
	}
	err := u.PublishPlain("x", nil, false, 1)
	if !errors.Is(err, publish.ErrUnavailable) {
		t.Errorf("PublishPlain() = %v, want ErrUnavailable", err)
	}
}

// TestUnavailable checks the answer while no broker is reachable: at once, a Retry-After, and no
// replay record.
func TestUnavailable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	st := openStore(t)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: "tcp://" + addr}), Ledger: st,
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	ev := &publish.Event{Vendor: "v", Token: "t1", At: time.Now(),
		Messages: []route.Message{{Topic: "a", Payload: []byte("{}"), QoS: 1}}}
	start := time.Now()
	err := u.Publish(context.Background(), ev)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Publish() took %v while disconnected, want an immediate answer", d)
	}
	var ue *publish.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, uplink.ErrNotConnected) {
		t.Fatalf("Publish() = %v, want *publish.UnavailableError wrapping ErrNotConnected", err)
	}
	if ue.RetryAfter < time.Second || ue.RetryAfter > 4*time.Second {
		t.Errorf("RetryAfter = %v, want between 1s and MaxBackoff 4s", ue.RetryAfter)
	}
	if seen(t, st, "t1") {
		t.Error("replay record written for an event the broker never took")
	}
	// An event with no messages (no route took it) needs no broker.
	if err := u.Publish(context.Background(), &publish.Event{Vendor: "v", Token: "t2", At: time.Now()}); err != nil {
		t.Errorf("Publish(no messages) = %v, want nil", err)
	}
	if !seen(t, st, "t2") {
		t.Error("replay record of an unrouted event not written")
	}
}

// serveTCP listens on loopback and runs serve for each connection, closing it when serve returns.
func serveTCP(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// fakeBroker accepts MQTT connections, answers CONNECT with CONNACK, and then does what onPublish
// says with each PUBLISH's connection: nothing (never acknowledge) or close it.
func fakeBroker(t *testing.T, closeOnPublish bool) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		for {
			typ, err := readPacket(c)
			if err != nil {
				return
			}
			switch typ >> 4 {
			case 1: // CONNECT
				c.Write([]byte{0x20, 0x02, 0x00, 0x00})
			case 3: // PUBLISH
				if closeOnPublish {
					return
				}
			case 12: // PINGREQ
				c.Write([]byte{0xd0, 0x00})
			}
		}
	})
}

func readPacket(r io.Reader) (byte, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n, mult := 0, 1
	for {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		n += int(b[0]&0x7f) * mult
		if b[0]&0x80 == 0 {
			break
		}
		mult *= 128
	}
	_, err := io.CopyN(io.Discard, r, int64(n))
	return hdr[0], err
}

// TestNoAcknowledgement checks the bounded wait: a broker that takes the message but never sends
// PUBACK costs AckTimeout, then 503, and the event is not marked seen.
func TestNoAcknowledgement(t *testing.T) {
	addr := fakeBroker(t, false)
	st := openStore(t)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: "tcp://" + addr}), Ledger: st,
		AckTimeout: 300 * time.Millisecond})
	waitConnected(t, u)
	ev := &publish.Event{Vendor: "v", Token: "t1", At: time.Now(),
		Messages: []route.Message{{Topic: "a", Payload: []byte("{}"), QoS: 1}, {Topic: "b", Payload: []byte("{}"), QoS: 1}}}
	start := time.Now()
	err := u.Publish(context.Background(), ev)
	d := time.Since(start)
	if !errors.Is(err, uplink.ErrAckTimeout) || !errors.Is(err, publish.ErrUnavailable) {
		t.Errorf("Publish() = %v, want ErrAckTimeout as ErrUnavailable", err)
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("Publish() took %v, want about AckTimeout (300ms)", d)
	}
	if seen(t, st, "t1") {
		t.Error("replay record written without the broker's acknowledgement")
	}
}

// TestConnectionLostWhilePublishing checks that a connection lost before the PUBACK fails the
// publish: paho must not make a lost message look delivered.
func TestConnectionLostWhilePublishing(t *testing.T) {
	addr := fakeBroker(t, true)
	st := openStore(t)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(uplink.Endpoint{URL: "tcp://" + addr}), Ledger: st,
		AckTimeout: 3 * time.Second})
	for i := range 20 {
		waitConnected(t, u)
		tok := fmt.Sprint("t", i)
		ev := &publish.Event{Vendor: "v", Token: tok, At: time.Now(),
			Messages: []route.Message{{Topic: "a", Payload: []byte("{}"), QoS: 1}}}
		err := u.Publish(context.Background(), ev)
		if !errors.Is(err, publish.ErrUnavailable) {
			t.Fatalf("Publish() = %v, want ErrUnavailable", err)
		}
		if seen(t, st, tok) {
			t.Fatal("replay record written for a message whose connection was lost")
		}
	}
}

// TestOutage stops Mosquitto under a stream of publishes: while it is down every publish is refused
// at once, goroutines and heap stay flat, and after it is back the uplink reconnects by itself,
// subscriptions and OnConnect included.
func TestOutage(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	st := openStore(t)
	var connects atomic.Int32
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b)), Ledger: st},
		func() { connects.Add(1) })
	waitConnected(t, u)
	var later atomic.Int32
	u.OnConnect(func() { later.Add(1) })
	var status atomic.Int32
	if err := u.Subscribe("homeassistant/status", 1, func(_ string, p []byte) {
		if string(p) == "online" {
			status.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}

	n := 0
	pub := func() error {
		n++
		tok := fmt.Sprint("ev", n)
		return u.Publish(context.Background(), &publish.Event{Vendor: "v", Token: tok,
			At:       time.Now(),
			Messages: []route.Message{{Topic: "hb/v/x", Payload: []byte(fmt.Sprintf(`{"n":%d}`, n)), QoS: 1, Retain: true}}})
	}
	if err := pub(); err != nil {
		t.Fatalf("Publish() before the outage = %v", err)
	}
	b.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for u.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if u.Connected() {
		t.Fatal("uplink still connected after the broker stopped")
	}
	measure := func() (int, uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	for range 1000 {
		pub()
	}
	g0, h0 := measure()
	const during = 50_000
	start := time.Now()
	for range during {
		err := pub()
		if !errors.Is(err, uplink.ErrNotConnected) {
			t.Fatalf("Publish() during the outage = %v, want ErrNotConnected", err)
		}
	}
	elapsed := time.Since(start)
	g1, h1 := measure()
	t.Logf("during the outage: %d publishes refused in %v (%v each); goroutines %d -> %d; heap %d KiB -> %d KiB",
		during, elapsed, elapsed/during, g0, g1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d during the outage", g0, g1)
	}
	if h1 > h0+1<<20 {
		t.Errorf("heap grew from %d to %d bytes during the outage", h0, h1)
	}
	if seen(t, st, fmt.Sprint("ev", n)) {
		t.Error("replay record written during the outage")
	}

	b.StartAgain()
	waitConnected(t, u)
	if err := pub(); err != nil {
		t.Fatalf("Publish() after the broker came back = %v", err)
	}
	if !seen(t, st, fmt.Sprint("ev", n)) {
		t.Error("replay record not written after the broker came back")
	}
	deadline = time.Now().Add(5 * time.Second)
	for (connects.Load() != 2 || later.Load() != 1) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c, l := connects.Load(), later.Load(); c != 2 || l != 1 {
		t.Errorf("OnConnect added before Start ran %d times, want 2; OnConnect added after the first connection ran %d times, want 1", c, l)
	}
	// The subscription came back with the connection.
	other := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b))})
	waitConnected(t, other)
	if err := other.PublishPlain("homeassistant/status", []byte("online"), false, 1); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for status.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if status.Load() == 0 {
		t.Error("subscription not restored after the reconnect")
	}
}

// TestCollector checks the connection state in the metrics.
func TestCollector(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b))})
	waitConnected(t, u)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(u.Collector()); err != nil {
		t.Fatal(err)
	}
	if err := u.PublishPlain("m", []byte("1"), false, 1); err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
		t.Fatalf("metric %s not gathered", name)
		return 0
	}
	if v := value("hookbridge_uplink_connected"); v != 1 {
		t.Errorf("hookbridge_uplink_connected = %v while connected, want 1", v)
	}
	if v := value("hookbridge_uplink_messages_acknowledged_total"); v != 1 {
		t.Errorf("hookbridge_uplink_messages_acknowledged_total = %v, want 1", v)
	}
	b.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for u.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := value("hookbridge_uplink_connected"); v != 0 {
		t.Errorf("hookbridge_uplink_connected = %v after the broker stopped, want 0", v)
	}
	// The client reports the connection closed a moment before the uplink's loop counts the loss.
	for value("hookbridge_uplink_connection_losses_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := value("hookbridge_uplink_connection_losses_total"); v != 1 {
		t.Errorf("hookbridge_uplink_connection_losses_total = %v, want 1", v)
	}
}

// TestWill checks that the broker publishes the will when the uplink's connection ends without a
// DISCONNECT (here: another client takes its client id over).
func TestWill(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	sub := b.Subscribe(t, "will-watcher", "hb/_ha/availability", false)
	u := newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b)), ClientID: "hookbridge-will",
		Will: &uplink.Will{Topic: "hb/_ha/availability", Payload: []byte("offline"), QoS: 1, Retain: true}})
	waitConnected(t, u)
	if err := u.PublishPlain("hb/_ha/availability", []byte("online"), true, 1); err != nil {
		t.Fatal(err)
	}
	u.Close()
	time.Sleep(100 * time.Millisecond)
	if got := sub.Messages(); len(got) != 1 || got[0].Payload != "online" {
		t.Fatalf("after a clean Close, watcher got %v, want only online (no will)", got)
	}
	u = newUplink(t, uplink.Options{Resolve: uplink.Static(endpoint(b)), ClientID: "hookbridge-will",
		Will: &uplink.Will{Topic: "hb/_ha/availability", Payload: []byte("offline"), QoS: 1, Retain: true}})
	waitConnected(t, u)
	intruder := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("hookbridge-will").
		SetUsername(b.Username).SetPassword(b.Password).SetAutoReconnect(false))
	if tok := intruder.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("intruder connect: %v", tok.Error())
	}
	intruder.Disconnect(0)
	sub.WaitFor(t, 5*time.Second, "the will", func(m []mosquittotest.Message) bool {
		return len(m) == 2 && m[1].Payload == "offline"
	})
	waitConnected(t, u) // and the uplink came back by itself
}
