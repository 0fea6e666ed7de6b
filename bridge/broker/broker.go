// Package broker runs the embedded MQTT broker (mochi) with Hookbridge's own authentication and
// ACL, its durable storage hook, and a publisher that stamps every message with its event.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// Options configure the broker.
type Options struct {
	// Addr is the TCP listen address, such as ":1883" or "127.0.0.1:0".
	Addr     string
	Accounts []Account
	// Store, when set, makes sessions, subscriptions, retained and queued messages durable, and
	// ties each event's broker records to its replay record.
	Store *store.Store
	Log   zerolog.Logger
	// MaxClients bounds connected clients; MaxPacketSize bounds an inbound packet in bytes.
	MaxClients    int64
	MaxPacketSize uint32
	// MaxInflight bounds QoS 1/2 messages queued for one session (online or offline); past it
	// messages to that session are dropped and counted.
	MaxInflight uint16
	// SessionExpiry bounds how long an offline persistent session is kept, for every account.
	SessionExpiry time.Duration
	// DeviceLimits bound each account without write rules, WriterLimits each account with them
	// (homeassistant); zero fields take DefaultDeviceLimits and DefaultWriterLimits, an expiry
	// never past SessionExpiry. Account.Limits override both for one account.
	DeviceLimits Limits
	WriterLimits Limits
	// MaxPending bounds connections that have not sent their CONNECT yet, MaxPendingPerSource
	// those of one source address, and ConnectTimeout is how long one may take to. Past either
	// bound a new connection sheds the oldest pending one (see gate): idle sockets can never keep a
	// device that sends its CONNECT at once from logging in. Defaults: 2,048, 512 and 10s.
	MaxPending          int
	MaxPendingPerSource int
	ConnectTimeout      time.Duration
	// SendTimeout is how long a client may take nothing of what the broker has queued for it
	// before its connection is closed (see clientConn; Limits.SendQueue bounds how much may be
	// queued). A reader that takes some of it in each period keeps its connection. Default 30s.
	SendTimeout time.Duration

	// sendBuffer, when set, is each client connection's SO_SNDBUF; tests only (see sendPolicy).
	sendBuffer int
}

// Broker is the embedded broker.
type Broker struct {
	srv       *mqtt.Server
	pub       *mqtt.Client
	hook      *store.Hook
	store     *store.Store
	guard     *retainGuard
	auth      *authHook
	quota     *retainQuota
	listener  net.Listener
	log       zerolog.Logger
	refs      *clientRefs // client ids in logs (see clientRefs)
	count     *counters
	closeOnce sync.Once
	limit     *logLimiter
	done      chan struct{}  // closed by Close: stops the session sweeper
	loops     sync.WaitGroup // the session sweeper

	opts Options // with defaults filled
	gate *gate   // the listener, once started
}

// New builds a broker; Start opens its listener.
func New(opts Options) (*Broker, error) {
	if opts.MaxClients == 0 {
		opts.MaxClients = 4096
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = 256 << 10
	}
	if opts.MaxInflight == 0 {
		opts.MaxInflight = 4096
	}
	if opts.SessionExpiry == 0 {
		opts.SessionExpiry = 7 * 24 * time.Hour
	}
	orDefault(&opts.MaxPending, 2048)
	orDefault(&opts.MaxPendingPerSource, 512)
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	orDefault(&opts.SendTimeout, 30*time.Second)
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = opts.MaxClients
	caps.MaximumPacketSize = opts.MaxPacketSize
	caps.MaximumInflight = opts.MaxInflight
	// mochi drops a message for a connected client whose outbound queue is full, and for a QoS 1/2
	// message that loses it for the session (it is rolled back from the inflight set). The queue
	// must hold a reconnecting device's whole retained set (all its subscriptions' retained
	// messages arrive at once) plus the events meanwhile: 512 slots lost events in the crash test,
	// whose device re-subscribes to 2,000 retained states. Each connection allocates its queue up
	// front (8 bytes per slot, 40 KB at 5,120), but as address space: the pages stay untouched
	// until used, and 1,000 idle clients measured the same RSS with 1,280 slots as with 5,120.
	caps.MaximumClientWritesPending = int32(opts.MaxInflight) + 1024
	caps.MaximumSessionExpiryInterval = uint32(opts.SessionExpiry / time.Second)
	// Zero keeps retained state messages (a lock's last state) and queued messages until they are
	// replaced, delivered or their session expires, instead of mochi's default 24 hours.
	caps.MaximumMessageExpiryInterval = 0
	caps.Compatibilities.ObscureNotAuthorized = false
	// mochi copies a PUBLISH's properties (user properties of up to the packet size) into its
	// PUBACK or PUBREC, and a PUBREC is kept until the PUBREL, in the store too: acknowledgements
	// carry only their reason.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	// A topic alias keeps its topic for the connection's life: 65,535 of them (mochi's default)
	// could hold 64 MiB per connection. The ACL refuses a PUBLISH that names its topic by alias
	// alone, so aliases save a client nothing here anyway.
	caps.TopicAliasMaximum = 16
	refs, limit := newClientRefs(), newLogLimiter(time.Minute)
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		Logger:                 newSlog(mochiLogger(opts.Log), refs, limit),
		SysTopicResendInterval: 60,
	})
	b := &Broker{srv: srv, log: opts.Log, store: opts.Store, opts: opts, refs: refs,
		count: &counters{}, limit: limit, done: make(chan struct{})}
	b.pub = srv.NewClient(nil, mqtt.LocalListener, "$hookbridge", true)
	b.pub.Properties.ProtocolVersion = 5

	b.auth = newAuthHook(opts, srv.Clients, b.count, b.limit, refs)
	if err := srv.AddHook(b.auth, nil); err != nil {
		return nil, err
	}
	if err := srv.AddHook(&qos2Bound{max: int(opts.MaxInflight), count: b.count, limit: limit, log: opts.Log}, nil); err != nil {
		return nil, err
	}
	// Before the retain guard: a Will it stops retaining must not take the guard (see OnWill).
	b.quota = newRetainQuota(b.auth, srv.Topics.Retained.GetAll)
	if err := srv.AddHook(b.quota, nil); err != nil {
		return nil, err
	}
	if err := srv.AddHook(&dropHook{b: b}, nil); err != nil {
		return nil, err
	}
	b.guard = &retainGuard{}
	if err := srv.AddHook(b.guard, nil); err != nil {
		return nil, err
	}
	// Before the store: it stores each queued message's number, which this hook assigns.
	order := newResendOrder()
	if err := srv.AddHook(order, nil); err != nil {
		return nil, err
	}
	if opts.Store != nil {
		b.hook = opts.Store.Hook()
		b.hook.SetSequencer(order)
		if err := srv.AddHook(b.hook, nil); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// mochiLogger returns the broker library's logger: warnings and up, unless debugging, since it logs
// every hook and listener start at info.
func mochiLogger(log zerolog.Logger) zerolog.Logger {
	l := log.With().Str("component", "mqtt").Logger()
	if log.GetLevel() > zerolog.DebugLevel {
		l = l.Level(max(log.GetLevel(), zerolog.WarnLevel))
	}
	return l
}

// Start listens on the configured address and restores stored state.
func (b *Broker) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mqtt listen %s: %w", addr, err)
	}
	b.listener = ln
	if err := b.purgeStoredSessions(); err != nil {
		ln.Close()
		return err
	}
	send := &sendPolicy{limit: b.auth.deviceLimits.SendQueue, stall: b.opts.SendTimeout, buffer: b.opts.sendBuffer, count: b.count, logs: b.limit, log: b.log}
	b.gate = newGate(ln, b.opts, b.count, b.limit, send)
	if err := b.srv.AddListener(b.gate); err != nil {
		ln.Close()
		return err
	}
	if err := b.srv.Serve(); err != nil {
		ln.Close()
		return fmt.Errorf("mqtt serve: %w", err)
	}
	b.loops.Add(1)
	go b.sweepLoop(b.done, &b.loops)
	return nil
}

// Addr returns the listener's address.
func (b *Broker) Addr() string {
	if b.listener == nil {
		return ""
	}
	return b.listener.Addr().String()
}

// Close disconnects clients and stops the broker. Persistent sessions stay stored. Closing again
// does nothing.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.done)
		b.loops.Wait()
		err = b.srv.Close()
	})
	return err
}

// Server returns the mochi server, for inline subscriptions.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// ErrPublish wraps a failure to hand a message to the broker.
var ErrPublish = errors.New("publish to embedded broker")

// Publish hands the events' messages to the broker, each carrying its event's token in the MQTT 5
// user property "event". When the broker is durable, the events' replay records are written in the
// same transaction as the messages queued for persistent sessions, and subscribers receive the
// messages only after that transaction is on disk.
//
// The states a crash can leave, and why each is right:
//   - before the transaction: nothing of the event is on disk and no subscriber has received it
//     (delivery waits for the transaction); the vendor, with no 2xx, retries, and the retry is
//     published once.
//   - after the transaction: the replay record and the queued messages are on disk together; after
//     a restart the messages are redelivered to their sessions (MQTT redelivery, DUP set), and the
//     vendor's retry, if any, is answered "duplicate" and not published again.
func (b *Broker) Publish(_ context.Context, evs ...*publish.Event) error {
	tokens := make([]string, 0, len(evs))
	for _, ev := range evs {
		tokens = append(tokens, ev.Token)
		if b.hook != nil {
			b.hook.Begin(ev.Token)
		}
	}
	var err error
publishing:
	for _, ev := range evs {
		for _, m := range ev.Messages {
			pk := packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.QoS, Retain: m.Retain},
				TopicName:   m.Topic,
				Payload:     m.Payload,
				PacketID:    uint16(m.QoS),
				Properties: packets.Properties{
					User: []packets.UserProperty{{Key: store.EventProperty, Val: ev.Token}},
				},
			}
			if e := b.inject(pk); e != nil {
				err = fmt.Errorf("%w: %v", ErrPublish, e)
				break publishing
			}
		}
	}
	var seen []store.Op
	if err == nil { // a partly published event must not be marked seen
		seen = store.RecordOps(evs...)
	}
	var cerr error
	switch {
	case b.hook != nil:
		cerr = b.hook.CommitAll(tokens, seen...)
	case b.store != nil && len(seen) > 0:
		cerr = b.store.Write(seen...)
	}
	if err != nil {
		return err
	}
	return cerr
}

// PublishPlain publishes one message that belongs to no event (discovery, alerts, state), not
// waiting for storage.
func (b *Broker) PublishPlain(topic string, payload []byte, retain bool, qos byte) error {
	return b.inject(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    uint16(qos),
	})
}

// Subscribe adds an inline subscription (mochi's Server.Subscribe), which hands the filter's
// retained messages to fn at once, under the retain guard.
func (b *Broker) Subscribe(filter string, id int, fn mqtt.InlineSubFn) error {
	b.guard.mu.RLock()
	defer b.guard.mu.RUnlock()
	return b.srv.Subscribe(filter, id, fn)
}

// inject publishes through the inline client, a retained message under the retain guard.
func (b *Broker) inject(pk packets.Packet) error {
	if pk.FixedHeader.Retain {
		b.guard.mu.Lock()
		defer b.guard.mu.Unlock()
	}
	return b.srv.InjectPacket(b.pub, pk)
}

var _ publish.Publisher = (*Broker)(nil)

// dropHook counts and logs messages mochi drops for a subscriber.
type dropHook struct {
	mqtt.HookBase
	b *Broker
}

func (h *dropHook) ID() string { return "hookbridge-drops" }

func (h *dropHook) Provides(b byte) bool { return b == mqtt.OnPublishDropped }

func (h *dropHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	n := h.b.count.dropped.Add(1)
	if n == 1 || n%1000 == 0 {
		h.b.log.Warn().Str("component", "mqtt").Str("account", string(cl.Properties.Username)).Str("client_ref", h.b.refs.of(cl.ID)).Int64("dropped_total", n).
			Msg("message dropped for a connected client whose outbound queue is full: that session will not get it")
	}
}
