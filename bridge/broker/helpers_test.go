package broker

import (
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hookbridge/hookbridge/bridge/bridgetest/rawmqtt"
)

// Accounts of the hostile tests: two devices that read p/v/+, and a homeassistant-like account
// that reads p/# and ha/#, and writes ha/#.
const (
	devUser  = "dev"
	devPass  = "pw-12345678"
	dev2User = "dev2"
	dev2Pass = "pw2-12345678"
	haUser   = "ha"
	haPass   = "ha-12345678"
)

func testAccounts() []Account {
	return []Account{
		{Username: devUser, Password: devPass, Read: []string{"p/v/+"}},
		{Username: dev2User, Password: dev2Pass, Read: []string{"p/v/+"}},
		{Username: haUser, Password: haPass, Read: []string{"p/#", "ha/#"}, Write: []string{"ha/#"}},
	}
}

// newTestBroker starts a broker with testAccounts, a store unless opts says otherwise (set
// opts.Store to use one), and opts' other fields; it is closed when the test ends.
func newTestBroker(t testing.TB, opts Options) *Broker {
	t.Helper()
	if opts.Accounts == nil {
		opts.Accounts = testAccounts()
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dial opens a raw connection, closed when the test ends.
func dial(t testing.TB, addr string) *rawmqtt.Conn {
	t.Helper()
	c, err := rawmqtt.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials and logs in, failing the test unless the broker accepts.
func login(t testing.TB, addr string, o rawmqtt.Options) *rawmqtt.Conn {
	t.Helper()
	c := dial(t, addr)
	ack, err := c.Connect(o)
	if err != nil {
		t.Fatalf("connect %.40s as %s: %v", o.ClientID, o.Username, err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("connect %.40s as %s: CONNACK 0x%02x, want 0", o.ClientID, o.Username, ack.ReasonCode)
	}
	return c
}

// connack dials, sends a CONNECT and returns the CONNACK's code.
func connack(t testing.TB, addr string, o rawmqtt.Options) (byte, *rawmqtt.Conn) {
	t.Helper()
	c := dial(t, addr)
	ack, err := c.Connect(o)
	if err != nil {
		t.Fatalf("connect %.40s as %s: %v", o.ClientID, o.Username, err)
	}
	return ack.ReasonCode, c
}

// tap records what the broker delivers on a filter, through an inline subscription (which no ACL
// limits and which, unlike a wildcard, also sees '$' topics it names exactly).
type tap struct {
	mu   sync.Mutex
	msgs []packets.Packet
}

var tapID = struct {
	sync.Mutex
	n int
}{}

func newTap(t testing.TB, b *Broker, filter string) *tap {
	t.Helper()
	tp := &tap{}
	tapID.Lock()
	tapID.n++
	id := tapID.n
	tapID.Unlock()
	if err := b.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		tp.mu.Lock()
		tp.msgs = append(tp.msgs, pk)
		tp.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

func (tp *tap) topics() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []string
	for _, pk := range tp.msgs {
		out = append(out, pk.TopicName)
	}
	return out
}

func (tp *tap) len() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.msgs)
}

// checkFor polls fn until it returns nil or d passes, then fails with its last error.
func checkFor(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func versionName(v byte) string {
	if v == rawmqtt.V5 {
		return "v5"
	}
	return "v3.1.1"
}
