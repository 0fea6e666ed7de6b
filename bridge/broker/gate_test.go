package broker

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// timedLogin dials and logs a device in, and returns how long it took to get the CONNACK.
func timedLogin(addr, id string) (time.Duration, error) {
	start := time.Now()
	c, err := rawmqtt.DialTimeout(addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ack, err := c.Connect(rawmqtt.Options{ClientID: id, Username: devUser, Password: devPass, Clean: true})
	if err != nil {
		return time.Since(start), err
	}
	if ack.ReasonCode != 0 {
		return time.Since(start), fmt.Errorf("CONNACK 0x%02x", ack.ReasonCode)
	}
	return time.Since(start), nil
}

// holdIdle opens n TCP connections to addr that never log in: a third send nothing, a third the
// first byte of a CONNECT, a third a CONNECT cut short.
func holdIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	partial := rawmqtt.ConnectPacket(rawmqtt.Options{ClientID: "never", Username: devUser, Password: devPass})
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		switch i % 3 {
		case 1:
			c.Write([]byte{0x10})
		case 2:
			c.Write(partial[:len(partial)-4])
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestLoginWhileIdleHeld: a device logs in within 1 s, every time, while 1,500 idle connections
// are held open to the broker port (the old gate closed new connections once 256 were pending).
func TestLoginWhileIdleHeld(t *testing.T) {
	logs := &syncBuffer{}
	b := newTestBroker(t, Options{Log: zerolog.New(logs)})
	holdIdle(t, b.Addr(), 1500)
	for i := 0; i < 20; i++ {
		d, err := timedLogin(b.Addr(), fmt.Sprintf("held-%d", i))
		if err != nil || d > time.Second {
			t.Errorf("login %d with 1,500 idle connections held: %v after %v, want a CONNACK within 1s", i, err, d)
		}
	}
	st := b.Stats()
	if st.PendingLogins > int64(b.opts.MaxPendingPerSource) || st.LoginsShed == 0 {
		t.Errorf("Stats: %d pending, %d shed; want at most %d pending (one source) and some shed", st.PendingLogins, st.LoginsShed, b.opts.MaxPendingPerSource)
	}
	lines := strings.Count(logs.String(), "to make room")
	if lines != 1 || !strings.Contains(logs.String(), `"remote":"127.0.0.1:`) {
		t.Errorf("%d log lines about shed connections, want 1 with the remote address:\n%s", lines, logs.String())
	}
}

// TestLoginWhileChurning: a device logs in within 1 s, every time, while another client keeps
// opening connections (holding up to 1,500 and reopening those the broker or it closes).
func TestLoginWhileChurning(t *testing.T) {
	b := newTestBroker(t, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
				if err != nil {
					continue
				}
				opened.Add(1)
				c.Write([]byte{0x10, 0x7f}) // a CONNECT header announcing 127 bytes, and no more
				held = append(held, c)
				if len(held) > 750 {
					held[0].Close()
					held = held[1:]
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	var worst time.Duration
	for i := 0; i < 30; i++ {
		d, err := timedLogin(b.Addr(), fmt.Sprintf("churn-%d", i))
		worst = max(worst, d)
		if err != nil || d > time.Second {
			t.Errorf("login %d while another client churns: %v after %v, want a CONNACK within 1s", i, err, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d connections opened by the churner; slowest login %v; %d shed", opened.Load(), worst, b.Stats().LoginsShed)
}

// TestLoginGateSourcesApart: a flood of idle connections from one address never sheds a slow
// device's pending connection from another: the device sends its CONNECT in two halves, the
// second after the flood, and logs in.
func TestLoginGateSourcesApart(t *testing.T) {
	b := newTestBroker(t, Options{MaxPending: 256, MaxPendingPerSource: 64})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
	nc, err := d.Dial("tcp", b.Addr())
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	c := rawmqtt.New(nc)
	t.Cleanup(func() { c.Close() })
	pk := rawmqtt.ConnectPacket(rawmqtt.Options{ClientID: "slow", Username: devUser, Password: devPass, Clean: true})
	c.Write(pk[:5])
	holdIdle(t, b.Addr(), 1000)
	c.Write(pk[5:])
	pkt, err := c.Read(2 * time.Second)
	if err != nil || pkt.ReasonCode != 0 {
		t.Fatalf("the slow device from another address: %v, code 0x%02x; want logged in", err, pkt.ReasonCode)
	}
}

// TestLoginGateJunk: what is no CONNECT is closed at once, a CONNECT larger than the gate reads
// too, a CONNECT sent in pieces within the timeout logs in, and one never finished is closed at
// ConnectTimeout; each is counted.
func TestLoginGateJunk(t *testing.T) {
	b := newTestBroker(t, Options{ConnectTimeout: 500 * time.Millisecond})
	for _, c := range []struct {
		name  string
		bytes []byte
	}{
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"SUBSCRIBE first", rawmqtt.SubscribePacket(rawmqtt.V311, 1, 1, "#")},
		{"CONNECT with flags", []byte{0x1f, 0x00}},
		{"remaining length of five bytes", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"CONNECT of 1 MB", []byte{0x10, 0x80, 0x80, 0x40}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, b.Addr())
			conn.Write(c.bytes)
			start := time.Now()
			if !conn.Closed(2 * time.Second) {
				t.Fatal("kept open")
			}
			if d := time.Since(start); d > 300*time.Millisecond {
				t.Errorf("closed after %v, want at once", d)
			}
		})
	}
	if got := b.Stats().LoginsMalformed; got != 5 {
		t.Errorf("Stats().LoginsMalformed = %d, want 5", got)
	}
	t.Run("in pieces", func(t *testing.T) {
		conn := dial(t, b.Addr())
		pk := rawmqtt.ConnectPacket(rawmqtt.Options{ClientID: "pieces", Username: devUser, Password: devPass, Clean: true})
		for _, p := range [][]byte{pk[:1], pk[1:2], pk[2:10], pk[10:]} {
			conn.Write(p)
			time.Sleep(50 * time.Millisecond)
		}
		if pkt, err := conn.Read(time.Second); err != nil || pkt.ReasonCode != 0 {
			t.Fatalf("%v 0x%02x", err, pkt.ReasonCode)
		}
	})
	t.Run("never finished", func(t *testing.T) {
		conn := dial(t, b.Addr())
		pk := rawmqtt.ConnectPacket(rawmqtt.Options{ClientID: "cut", Username: devUser, Password: devPass, Clean: true})
		conn.Write(pk[:len(pk)-3])
		start := time.Now()
		if !conn.Closed(3 * time.Second) {
			t.Fatal("kept open")
		}
		if d := time.Since(start); d < 400*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("closed after %v, want at ConnectTimeout (500ms)", d)
		}
		if got := b.Stats().LoginTimeouts; got != 1 {
			t.Errorf("Stats().LoginTimeouts = %d, want 1", got)
		}
	})
}

// TestLoginGateMemory: 1,500 connections that never log in, from many sources, cost the process
// a few KiB each (mochi allocated some 75 KiB per connection before its CONNECT).
func TestLoginGateMemory(t *testing.T) {
	b := newTestBroker(t, Options{MaxPending: 4096, MaxPendingPerSource: 4096})
	heap0 := heapInUse()
	conns := holdIdle(t, b.Addr(), 1500)
	checkFor(t, 5*time.Second, func() error {
		if n := b.Stats().PendingLogins; n != int64(len(conns)) {
			return fmt.Errorf("%d pending, want %d", n, len(conns))
		}
		return nil
	})
	grow := int64(heapInUse()) - int64(heap0)
	t.Logf("1,500 pending connections: heap %+.1f KiB each (client side included)", float64(grow)/1024/1500)
	if grow > 1500*16<<10 {
		t.Errorf("heap grew by %d KiB for 1,500 pending connections, want under 16 KiB each", grow>>10)
	}
}

// TestSourceOf groups pending connections by IPv4 address and by IPv6 /64: a host holding a /64
// must not get 512 pending connections from each of its addresses.
func TestSourceOf(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7:1883", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1883", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:40000", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:40001", "2001:db8:1:2::"},
		{"[2001:db8:1:3::1]:40000", "2001:db8:1:3::"},
		{"[::1]:5", "::"},
	}
	for _, tt := range tests {
		ap, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceOf(ap); got != tt.want {
			t.Errorf("sourceOf(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
