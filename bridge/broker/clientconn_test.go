package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
)

// seedRetained retains n messages of size bytes on p/v/<prefix><i>.
func seedRetained(t *testing.T, b *Broker, prefix string, n, size int) {
	t.Helper()
	payload := bytes.Repeat([]byte("r"), size)
	for i := range n {
		if err := b.PublishPlain(fmt.Sprintf("p/v/%s%d", prefix, i), payload, true, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// smallBuffer is the broker's SO_SNDBUF for client connections in these tests (Options.sendBuffer):
// on loopback the kernel's autotuned buffers would take some 4 MB for a client that does not read
// before anything is queued. (Shrinking the client's receive buffer instead, after it connected,
// stalls even a reader on TCP's zero-window probes, for up to two minutes.)
const smallBuffer = 16 << 10

// dialRaw opens a raw connection, its reads wrapped by wrap when set; it is closed when the test
// ends.
func dialRaw(t *testing.T, addr string, wrap func(net.Conn) net.Conn) *rawmqtt.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		nc = wrap(nc)
	}
	c := rawmqtt.New(nc)
	t.Cleanup(func() { c.Close() })
	return c
}

// within runs fn and fails the test if it has not returned after d: before clientConn, each of
// these waited for a client that does not read, for as long as its connection lasted.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, time.Since(start).Round(time.Millisecond))
	}
}

// subscribeAgain keeps sending SUBSCRIBEs of filter on c, reading nothing, until a write fails or
// stop closes; each one makes the broker send the filter's retained messages again.
func subscribeAgain(c *rawmqtt.Conn, filter string, qos byte, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if c.Write(rawmqtt.SubscribePacket(c.Version(), uint16(i%60000+1), qos, filter)) != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowReaderNeverBlocks: mochi writes to a client's socket holding the client's lock, and a
// SUBSCRIBE holds the retain guard until its SUBACK is written; a device that stopped reading its
// socket used to block, once the socket was full, every retained publish (the guard), every QoS 1
// message to it (the lock, for a packet id) and the drop of its session (the lock, for the
// DISCONNECT), for as long as its connection lasted. Each case failed ("still blocked") before
// clientConn. Now nothing waits for it, and it is cut once its queue passes Limits.SendQueue
// (counted, and logged with its account), or, with a bound too large to reach, dropped at once.
func TestSlowReaderNeverBlocks(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		qos  byte
		// load is what must not wait for the slow reader; it runs until the reader is cut, or
		// once when cut is false.
		load func(t *testing.T, b *Broker, i int) error
		cut  bool
		// version is the slow reader's MQTT version (3.1.1 when zero).
		version byte
	}{
		{
			name: "retained publishes while it subscribes again and again at QoS 0",
			load: func(_ *testing.T, b *Broker, i int) error {
				return b.PublishPlain(fmt.Sprintf("p/v/r%d", i%300), []byte(`{"state":"locked"}`), true, 0)
			},
			cut: true,
		},
		{
			name: "QoS 1 messages to it",
			qos:  1,
			load: func(_ *testing.T, b *Broker, i int) error {
				ev := &publish.Event{Vendor: "v", Token: fmt.Sprintf("%032x", i), At: time.Now(),
					Messages: []route.Message{{Topic: "p/v/q", Payload: bytes.Repeat([]byte("q"), 1024), QoS: 1}}}
				return b.Publish(context.Background(), ev)
			},
			cut: true,
		},
		{
			// An MQTT 5 client: the broker tells it why in a DISCONNECT, a write (to 3.1.1 it
			// just closes the connection).
			name:    "the operator drops its session",
			version: rawmqtt.V5,
			opts:    Options{DeviceLimits: Limits{SendQueue: 256 << 20}},
			load: func(t *testing.T, b *Broker, _ int) error {
				if n, err := b.DropSessions(devUser, "slow"); err != nil || n != 1 {
					return fmt.Errorf("DropSessions = %d, %v; want 1, nil", n, err)
				}
				if err := b.PublishPlain("p/v/r0", []byte(`{"state":"unlocked"}`), true, 0); err != nil {
					return err
				}
				if s, _ := b.Sessions(devUser); len(s) != 0 {
					return fmt.Errorf("Sessions(%s) = %d sessions after the drop, want 0", devUser, len(s))
				}
				return nil
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			tc.opts.Log, tc.opts.sendBuffer = zerolog.New(logs), smallBuffer
			b := newTestBroker(t, tc.opts)
			seedRetained(t, b, "r", 300, 200)
			c := dialRaw(t, b.Addr(), nil)
			if ack, err := c.Connect(rawmqtt.Options{Version: tc.version, ClientID: "slow", Username: devUser, Password: devPass, Clean: true}); err != nil || ack.ReasonCode != 0 {
				t.Fatalf("login: %v, CONNACK 0x%02x", err, ack.ReasonCode)
			}
			stop := make(chan struct{})
			defer close(stop)
			if tc.qos == 1 {
				if codes, _, err := c.Subscribe(1, "p/v/q"); err != nil || codes[0] != 1 {
					t.Fatalf("subscribe: %x, %v", codes, err)
				}
			} else {
				go subscribeAgain(c, "p/v/+", 0, stop)
			}
			if !tc.cut {
				// Once its socket is full, what the broker sends it is held, unread. (With writes
				// that block, nothing is ever queued: the resubscribing goes on for 2s, enough to
				// fill the socket many times over, and the load blocks.)
				end := time.Now().Add(2 * time.Second)
				queued := b.Stats().SendQueued
				for ; queued == 0 && time.Now().Before(end); queued = b.Stats().SendQueued {
					time.Sleep(10 * time.Millisecond)
				}
				within(t, 2*time.Second, "load", func() error { return tc.load(t, b, 0) })
				if queued == 0 {
					t.Error("nothing was queued for the slow reader: the test did not fill its socket")
				}
				if n := b.Stats().SlowClientsCut; n != 0 {
					t.Errorf("Stats().SlowClientsCut = %d, want 0 (the bound is out of reach)", n)
				}
				return
			}
			end := time.Now().Add(10 * time.Second)
			var worst time.Duration
			for i := 0; b.Stats().SlowClientsCut == 0; i++ {
				if time.Now().After(end) {
					t.Fatalf("the slow reader was not cut in 10s (%d bytes queued)", b.Stats().SendQueued)
				}
				start := time.Now()
				within(t, 2*time.Second, fmt.Sprintf("load %d", i), func() error { return tc.load(t, b, i) })
				worst = max(worst, time.Since(start))
			}
			t.Logf("cut; the slowest of the publishes meanwhile took %v", worst)
			if !c.Closed(5 * time.Second) {
				t.Error("the slow reader's connection is still open after its cut")
			}
			checkFor(t, 5*time.Second, func() error {
				if q := b.Stats().SendQueued; q != 0 {
					return fmt.Errorf("Stats().SendQueued = %d after the cut, want 0", q)
				}
				return nil
			})
			line := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "the client does not read what the broker sends it") {
					line = l
				}
			}
			if !strings.Contains(line, `"account":"dev"`) || !strings.Contains(line, `"bound":"send queue"`) || !strings.Contains(line, `"client_ref":"`) {
				t.Errorf("cut log line = %q, want one naming the account, the bound and the client ref", line)
			}
		})
	}
}

// throttled reads at most chunk bytes at a time, each after a pause, and pauses once for longer
// after pauseAfter bytes: a slow but steady reader, like a device on a weak link.
type throttled struct {
	net.Conn
	chunk      int
	every      time.Duration
	pauseAfter int
	pause      time.Duration
	read       int
}

func (c *throttled) Read(p []byte) (int, error) {
	time.Sleep(c.every)
	if c.pauseAfter > 0 && c.read >= c.pauseAfter {
		time.Sleep(c.pause)
		c.pauseAfter = 0
	}
	n, err := c.Conn.Read(p[:min(len(p), c.chunk)])
	c.read += n
	return n, err
}

// TestSlowSteadyReaderKept: a client that reads slowly but steadily keeps its connection and gets
// everything in order, even when it takes more than twice the send timeout to read a burst that
// its socket cannot hold and that it pauses in (for less than the timeout): it subscribes to
// 2,000 retained messages at once (some 450 KB, like the crash test's device after a restart),
// then gets 300 numbered QoS 1 messages, reading some 200 KB/s.
func TestSlowSteadyReaderKept(t *testing.T) {
	logs := &syncBuffer{}
	const timeout = time.Second
	b := newTestBroker(t, Options{Log: zerolog.New(logs), SendTimeout: timeout, sendBuffer: smallBuffer})
	const retained, numbered = 2000, 300
	seedRetained(t, b, "s", retained, 200)
	c := dialRaw(t, b.Addr(), func(nc net.Conn) net.Conn {
		return &throttled{Conn: nc, chunk: 2048, every: 10 * time.Millisecond, pauseAfter: 100 << 10, pause: 200 * time.Millisecond}
	})
	if ack, err := c.Connect(rawmqtt.Options{ClientID: "steady", Username: devUser, Password: devPass, Clean: true}); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("login: %v, CONNACK 0x%02x", err, ack.ReasonCode)
	}
	start := time.Now()
	if err := c.Write(rawmqtt.SubscribePacket(rawmqtt.V311, 1, 1, "p/v/+")); err != nil {
		t.Fatal(err)
	}
	// The numbered messages follow the SUBACK: before it, the subscription may not exist yet.
	if pk, err := c.Read(10 * time.Second); err != nil || pk.FixedHeader.Type != packets.Suback {
		t.Fatalf("after SUBSCRIBE: packet type %d, %v; want a SUBACK", pk.FixedHeader.Type, err)
	}
	var peak int64
	published := make(chan error, 1)
	go func() {
		for i := range numbered {
			ev := &publish.Event{Vendor: "v", Token: fmt.Sprintf("%032x", i), At: time.Now(),
				Messages: []route.Message{{Topic: "p/v/seq", Payload: []byte(fmt.Sprint(i)), QoS: 1}}}
			if err := b.Publish(context.Background(), ev); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()

	topics := map[string]bool{}
	next := 0
	for next < numbered || len(topics) < retained { // the two interleave: only the publisher takes the retain guard
		pk, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d retained and %d numbered messages in %v: %v (cut: %d)", len(topics), next, time.Since(start), err, b.Stats().SlowClientsCut)
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		c.Ack(pk)
		peak = max(peak, b.Stats().SendQueued)
		if pk.TopicName != "p/v/seq" {
			topics[pk.TopicName] = true
			continue
		}
		if got := string(pk.Payload); got != fmt.Sprint(next) {
			t.Fatalf("numbered message %d has payload %q: out of order", next, got)
		}
		next++
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("read %d retained and %d numbered messages in %v (send timeout %v); up to %d bytes queued", len(topics), next, took, timeout, peak)
	if len(topics) != retained {
		t.Errorf("got %d retained messages, want %d", len(topics), retained)
	}
	if n := b.Stats().SlowClientsCut; n != 0 {
		t.Errorf("Stats().SlowClientsCut = %d, want 0: a steady reader was cut\n%s", n, logs.String())
	}
	if took < 2*timeout {
		t.Errorf("the reader took %v, want one slower than the send timeout twice over", took)
	}
	if peak == 0 {
		t.Error("nothing was ever queued: the test did not outrun the socket's buffers")
	}
}

// TestStalledReaderCut: a client that takes nothing of what is queued for it for the send
// timeout is cut, however little is queued: its subscription's retained messages fill its socket
// and a queue far below the bound.
func TestStalledReaderCut(t *testing.T) {
	logs := &syncBuffer{}
	b := newTestBroker(t, Options{Log: zerolog.New(logs), SendTimeout: 500 * time.Millisecond, DeviceLimits: Limits{SendQueue: 256 << 20}, sendBuffer: smallBuffer})
	seedRetained(t, b, "s", 2000, 200)
	c := dialRaw(t, b.Addr(), nil)
	if ack, err := c.Connect(rawmqtt.Options{ClientID: "stalled", Username: devUser, Password: devPass, Clean: true}); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("login: %v, CONNACK 0x%02x", err, ack.ReasonCode)
	}
	if err := c.Write(rawmqtt.SubscribePacket(rawmqtt.V311, 1, 0, "p/v/+")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		if n := b.Stats().SlowClientsCut; n != 1 {
			return fmt.Errorf("Stats().SlowClientsCut = %d, want 1", n)
		}
		return nil
	})
	if !c.Closed(5 * time.Second) {
		t.Error("the stalled reader's connection is still open after its cut")
	}
	if !strings.Contains(logs.String(), `"bound":"stalled"`) || !strings.Contains(logs.String(), `"account":"dev"`) {
		t.Errorf("no log line of the cut naming the account and the bound:\n%s", logs.String())
	}
}

// TestClientConnKeepsOrder writes numbered records of many sizes through a clientConn to a reader
// that is slow at first and fast later, so that writes go straight to the socket, into the queue,
// and straight again: no write waits, and the reader gets exactly the bytes written, in order.
func TestClientConnKeepsOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	count := &counters{}
	cc := newClientConn(server, nil, &sendPolicy{limit: 256 << 20, stall: 10 * time.Second, buffer: smallBuffer, count: count, logs: newLogLimiter(time.Minute), log: zerolog.Nop()})
	defer cc.Close()

	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 4096)
		for i := 0; ; i++ {
			if i < 200 {
				time.Sleep(2 * time.Millisecond) // slow at first
			}
			n, err := peer.Read(chunk)
			buf.Write(chunk[:n])
			if err != nil {
				got <- buf.Bytes()
				return
			}
		}
	}()
	var worst time.Duration
	var peak int64
	for i := range 20000 {
		rec := fmt.Appendf(nil, "%06d:%s\n", i, strings.Repeat("x", i%700))
		want.Write(rec)
		start := time.Now()
		if n, err := cc.Write(rec); n != len(rec) || err != nil {
			t.Fatalf("Write(record %d) = %d, %v; want %d, nil", i, n, err, len(rec))
		}
		worst = max(worst, time.Since(start))
		peak = max(peak, count.sendQueued.Load())
	}
	checkFor(t, 10*time.Second, func() error {
		if q := count.sendQueued.Load(); q != 0 {
			return fmt.Errorf("%d bytes still queued", q)
		}
		return nil
	})
	cc.Close()
	out := <-got
	t.Logf("%d bytes; slowest write %v; up to %d bytes queued", want.Len(), worst, peak)
	if !bytes.Equal(out, want.Bytes()) {
		i := 0
		for i < min(len(out), want.Len()) && out[i] == want.Bytes()[i] {
			i++
		}
		t.Fatalf("the reader got %d bytes, want %d; they differ from byte %d", len(out), want.Len(), i)
	}
	if peak == 0 {
		t.Error("nothing was ever queued: the test did not outrun the socket's buffers")
	}
	if worst > 100*time.Millisecond {
		t.Errorf("the slowest write took %v: writes must never wait for the reader", worst)
	}
	if _, err := cc.Write([]byte("after")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestResumedBacklogNotCut: a device that was offline while more events came than its send queue
// holds gets them all when it reconnects, and is not cut. mochi resends a resumed session's
// unacknowledged messages at once, before it reads anything of the client's, so that backlog is
// queued faster than any client reads it; counting it against Limits.SendQueue cut the device
// on every reconnect, for ever. Only what is queued beyond the backlog is bounded, which the
// events published while it reads it test.
func TestResumedBacklogNotCut(t *testing.T) {
	logs := &syncBuffer{}
	const backlog, during, size = 2000, 200, 1024 // 2 MB > 1 MiB
	b := newTestBroker(t, Options{Log: zerolog.New(logs), sendBuffer: smallBuffer})
	c := dialRaw(t, b.Addr(), nil)
	o := rawmqtt.Options{ClientID: "resumed", Username: devUser, Password: devPass}
	if ack, err := c.Connect(o); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("login: %v, CONNACK 0x%02x", err, ack.ReasonCode)
	}
	if codes, _, err := c.Subscribe(1, "p/v/q"); err != nil || codes[0] != 1 {
		t.Fatalf("subscribe: %x, %v", codes, err)
	}
	c.Disconnect()
	checkFor(t, 5*time.Second, func() error {
		if n := b.Stats().Clients; n != 0 {
			return fmt.Errorf("Stats().Clients = %d, want 0 after the DISCONNECT", n)
		}
		return nil
	})
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			ev := &publish.Event{Vendor: "v", Token: fmt.Sprintf("%032x", i), At: time.Now(),
				Messages: []route.Message{{Topic: "p/v/q", Payload: fmt.Appendf(nil, "%06d%s", i, bytes.Repeat([]byte("q"), size-6)), QoS: 1}}}
			if err := b.Publish(context.Background(), ev); err != nil {
				t.Error(err)
				return
			}
		}
	}
	publish(0, backlog)

	c = dialRaw(t, b.Addr(), nil)
	if ack, err := c.Connect(o); err != nil || ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("login again: %v, CONNACK 0x%02x, session present %v", err, ack.ReasonCode, ack.SessionPresent)
	}
	// Not reading yet, it lets the whole backlog pile up past the bound.
	checkFor(t, 10*time.Second, func() error {
		if s := b.Stats(); s.SendQueued <= 1<<20 && s.SlowClientsCut == 0 {
			return fmt.Errorf("Stats().SendQueued = %d, want the backlog past 1 MiB", s.SendQueued)
		}
		return nil
	})
	done := make(chan struct{})
	go func() { defer close(done); publish(backlog, during) }()
	seen := map[string]bool{}
	for len(seen) < backlog+during {
		pk, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v (cut: %d)\n%s", len(seen), backlog+during, err, b.Stats().SlowClientsCut, logs.String())
		}
		if pk.FixedHeader.Type == packets.Publish {
			c.Ack(pk)
			seen[string(pk.Payload[:6])] = true
		}
	}
	<-done
	if n := b.Stats().SlowClientsCut; n != 0 {
		t.Errorf("Stats().SlowClientsCut = %d, want 0: the resumed backlog was counted against the bound", n)
	}
}
