package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Login is an MQTT account on the broker under test.
type Login struct {
	Addr     string // host:port
	Username string
	Password string
	// Clean selects clean sessions; otherwise sessions are persistent, the way a device that wants
	// every event (QoS 1, even across its own reconnects) connects.
	Clean bool
}

// Subscriber is a device client (paho, MQTT 3.1.1) subscribed at QoS 1 to every topic of the
// run's vendors. It records when each event's marked message arrives.
type Subscriber struct {
	index   int
	prefix  string
	fields  map[string]string // vendor -> marker field
	events  *Events
	client  paho.Client
	dups    atomic.Int64
	unknown atomic.Int64
}

// Subscribe connects subscriber number index (0 <= index < the Events' subscribers) and subscribes
// it to prefix/{vendor}/# for each sample.
func Subscribe(l Login, clientID string, index int, prefix string, samples []*Sample, events *Events) (*Subscriber, error) {
	s := &Subscriber{index: index, prefix: prefix + "/", fields: map[string]string{}, events: events}
	opts := paho.NewClientOptions().AddBroker("tcp://" + l.Addr).SetClientID(clientID).
		SetUsername(l.Username).SetPassword(l.Password).SetCleanSession(l.Clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetKeepAlive(60 * time.Second).SetOrderMatters(true)
	opts.SetDefaultPublishHandler(s.handle)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("subscriber %s: connect: %v", clientID, tokenError(tok))
	}
	s.client = c
	filters := map[string]byte{}
	for _, sm := range samples {
		s.fields[sm.Vendor] = sm.Field
		filters[prefix+"/"+sm.Vendor+"/#"] = 1
	}
	tok := c.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("subscriber %s: subscribe: %v", clientID, tokenError(tok))
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code > 2 {
			c.Disconnect(0)
			return nil, fmt.Errorf("subscriber %s: subscription to %s refused (0x%02x): does the account allow it?", clientID, f, code)
		}
	}
	return s, nil
}

func tokenError(t paho.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// handle records a message's arrival; paho acknowledges it after handle returns.
func (s *Subscriber) handle(_ paho.Client, m paho.Message) {
	at := s.events.Now()
	rest, ok := strings.CutPrefix(m.Topic(), s.prefix)
	if !ok {
		s.unknown.Add(1)
		return
	}
	vendor, _, _ := strings.Cut(rest, "/")
	marker, ok := Field(m.Payload(), s.fields[vendor])
	if !ok {
		return // a message without the marker: another route of the same event
	}
	seq, ok := s.events.lookup(marker)
	if !ok {
		s.unknown.Add(1)
		return
	}
	if !s.events.received(s.index, seq, at) {
		s.dups.Add(1)
	}
}

// Duplicates returns how many marked messages arrived for an event already received.
func (s *Subscriber) Duplicates() int64 { return s.dups.Load() }

// Unknown returns how many messages matched no event of the run.
func (s *Subscriber) Unknown() int64 { return s.unknown.Load() }

// Close disconnects. A persistent session stays on the broker.
func (s *Subscriber) Close() { s.client.Disconnect(100) }

// Field returns the text of a top-level string or number field of a flat JSON object as the bridge
// publishes it (compact, no escapes in the values the samples use), without decoding the rest.
func Field(payload []byte, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	key := make([]byte, 0, len(name)+3)
	key = append(append(append(key, '"'), name...), '"', ':')
	i := bytes.Index(payload, key)
	if i < 0 {
		return "", false
	}
	v := payload[i+len(key):]
	if len(v) > 0 && v[0] == '"' {
		end := bytes.IndexByte(v[1:], '"')
		if end < 0 {
			return "", false
		}
		return string(v[1 : 1+end]), true
	}
	end := bytes.IndexAny(v, ",}")
	if end <= 0 {
		return "", false
	}
	return string(v[:end]), true
}

// Idle holds device connections that subscribe and then only wait, as most of a home's devices do
// most of the time. They speak MQTT 3.1.1 over plain TCP, encoded with the broker library's packet
// codec, with no client library and no goroutine each, so that a thousand of them cost the
// generator almost nothing and the broker all it really costs.
type Idle struct {
	mu    sync.Mutex // guards conns
	conns []net.Conn
}

// ConnectIdle connects n clients, client i logging in as login(i) and subscribing at QoS 1 to
// filters(i), and waits for every CONNACK and SUBACK. Keep-alive is 0, so the broker never times
// them out and they never ping.
func ConnectIdle(ctx context.Context, login func(i int) Login, idPrefix string, n int, filters func(i int) []string) (*Idle, error) {
	idle := &Idle{}
	const parallel = 16
	sem := make(chan struct{}, parallel)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			idle.Close()
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := connectIdle(login(i), fmt.Sprintf("%s-%d", idPrefix, i), filters(i))
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("idle client %d: %w", i, err)
				}
				errMu.Unlock()
				return
			}
			idle.mu.Lock()
			idle.conns = append(idle.conns, nc)
			idle.mu.Unlock()
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		idle.Close()
		return nil, firstErr
	}
	return idle, nil
}

func connectIdle(l Login, clientID string, filters []string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", l.Addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	fail := func(err error) (net.Conn, error) {
		nc.Close()
		return nil, err
	}
	var buf bytes.Buffer
	connect := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: clientID, Clean: l.Clean,
			UsernameFlag: true, Username: []byte(l.Username), PasswordFlag: true, Password: []byte(l.Password),
		},
	}
	if err := connect.ConnectEncode(&buf); err != nil {
		return fail(err)
	}
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4}
	for _, f := range filters {
		sub.Filters = append(sub.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	if err := sub.SubscribeEncode(&buf); err != nil {
		return fail(err)
	}
	if _, err := nc.Write(buf.Bytes()); err != nil {
		return fail(err)
	}
	r := bufio.NewReaderSize(nc, 64)
	typ, body, err := readPacket(r)
	if err != nil {
		return fail(fmt.Errorf("read CONNACK: %w", err))
	}
	if typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		return fail(fmt.Errorf("connection refused (packet type %d, %x): check the login", typ, body))
	}
	typ, body, err = readPacket(r)
	if err != nil {
		return fail(fmt.Errorf("read SUBACK: %w", err))
	}
	if typ != packets.Suback || len(body) != 2+len(filters) {
		return fail(fmt.Errorf("unexpected packet type %d instead of SUBACK", typ))
	}
	for _, code := range body[2:] {
		if code >= 0x80 {
			return fail(fmt.Errorf("subscription refused (0x%02x): does the account allow %v?", code, filters))
		}
	}
	if r.Buffered() > 0 {
		return fail(errors.New("unexpected data after SUBACK"))
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// readPacket reads one MQTT packet: its type and the bytes after the fixed header.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&127) * mult
		if b&128 == 0 {
			break
		}
		if mult *= 128; i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return h >> 4, body, nil
}

// Close drops every connection.
func (d *Idle) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}
