// Package uplink publishes events to a broker outside the process (the Supervisor's MQTT service,
// usually the Mosquitto app, or an external broker) with the paho MQTT client.
//
// An event is acknowledged only once the broker has acknowledged every one of its messages: each
// is published at QoS 1 or 2, and Publish waits, for a bounded time, for the PUBACK (PUBCOMP) of
// each before it writes the event's replay record. While the broker is unreachable, Publish fails
// at once with a *publish.UnavailableError (the vendor gets 503 and Retry-After) and nothing is
// queued: memory stays bounded however long the outage lasts, and the vendor keeps the event.
//
// The uplink runs its own reconnect loop, with a fresh paho client per connection, clean session,
// an in-memory store and paho's auto-reconnect off. paho's auto-reconnect would keep publishes
// made while disconnected in its store, and on reconnect completes the tokens of resent messages
// before the broker acknowledged them; a fresh client has neither problem, and a lost connection
// fails every publish still waiting for its acknowledgement.
//
// The broker cannot share the replay store's transaction, so the one window for a second publish
// is a crash (or a failed replay write) after the broker's acknowledgement and before the replay
// record is on disk: the vendor, having no 2xx, retries. The embedded broker stamps both copies
// with the MQTT 5 user property "event"; paho speaks MQTT 3.1.1, which has no user properties, so
// here the copies cannot carry it, and the payload stays exactly what the route decided.
package uplink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
)

var (
	// ErrNotConnected reports a publish while the uplink has no connection to the broker.
	ErrNotConnected = errors.New("not connected to the broker")
	// ErrAckTimeout reports a message the broker did not acknowledge within the bounded wait.
	ErrAckTimeout = errors.New("broker did not acknowledge in time")
	// ErrBusy reports that too many messages are already waiting for the broker's acknowledgement.
	ErrBusy = errors.New("too many messages waiting for the broker")
)

// Will is the message the broker publishes when the uplink's connection drops without a
// DISCONNECT (for example Home Assistant availability "offline").
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Options configure an Uplink.
type Options struct {
	// Resolve returns the broker to connect to. It is called before every connection attempt, so
	// a broker that moved or changed its credentials (the Supervisor's MQTT service after the
	// broker app was reinstalled) is followed. Use Static for a fixed endpoint.
	Resolve func(ctx context.Context) (Endpoint, error)
	// Ledger, when set, records each event as published once the broker acknowledged all of its
	// messages (the state store).
	Ledger publish.Ledger
	// ClientID is the MQTT client id; empty means "hookbridge-" and random hex.
	ClientID string
	// AckTimeout bounds the wait for the broker's acknowledgements of one event, and for a free
	// slot when MaxInflight messages are already waiting. Default 5s.
	AckTimeout time.Duration
	// ConnectTimeout bounds one connection attempt. Default 10s.
	ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection attempts; it doubles after each
	// failure, with jitter. Defaults 500ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// KeepAlive is the MQTT keep-alive; a broker that stops answering is noticed within about
	// KeepAlive plus 5 seconds. Default 15s.
	KeepAlive time.Duration
	// MaxInflight bounds messages waiting for the broker's acknowledgement. Default 1024.
	MaxInflight int
	// Will, when set, is registered with every connection.
	Will *Will
	Log  zerolog.Logger
}

// Static returns a Resolve function for a fixed endpoint.
func Static(e Endpoint) func(context.Context) (Endpoint, error) {
	return func(context.Context) (Endpoint, error) { return e, nil }
}

// Uplink publishes to an outside broker. Its methods are safe for concurrent use.
type Uplink struct {
	opts  Options
	log   zerolog.Logger
	slots chan struct{} // one value per message waiting for an acknowledgement

	conn atomic.Pointer[conn] // the open connection, nil when there is none

	mu          sync.Mutex // guards the fields below
	subs        []subscription
	onConnect   []func()
	broker      string // redacted URL of the last endpoint tried
	lastErr     string
	since       time.Time // when the current state (connected or not) began
	nextAttempt time.Time // when the loop tries to connect again, while disconnected
	started     bool
	closed      bool

	stats  counters
	cancel context.CancelFunc
	done   chan struct{}
}

// conn is one connection: a paho client used for it alone.
type conn struct {
	cl   mqtt.Client
	lost chan struct{} // closed when the connection is lost
	err  error         // why it was lost; set before lost is closed
}

type subscription struct {
	filter string
	qos    byte
	fn     func(topic string, payload []byte)
}

// counters are the uplink's metrics.
type counters struct {
	connects       atomic.Uint64
	losses         atomic.Uint64
	failedAttempts atomic.Uint64
	published      atomic.Uint64 // messages acknowledged by the broker
	events         atomic.Uint64 // events acknowledged and recorded
	unavailable    atomic.Uint64 // publishes refused: not connected
	timeouts       atomic.Uint64 // publishes refused: no acknowledgement in time
	rejected       atomic.Uint64 // publishes refused: the client reported an error
	busy           atomic.Uint64 // publishes refused: no free inflight slot in time
	storeErrors    atomic.Uint64
}

// New returns an uplink; Start connects it.
func New(opts Options) (*Uplink, error) {
	if opts.Resolve == nil {
		return nil, errors.New("uplink: no broker to connect to (Options.Resolve is nil)")
	}
	if opts.ClientID == "" {
		b := make([]byte, 6)
		rand.Read(b)
		opts.ClientID = "hookbridge-" + hex.EncodeToString(b)
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 5 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 1024
	}
	return &Uplink{
		opts:  opts,
		log:   opts.Log.With().Str("component", "uplink").Logger(),
		slots: make(chan struct{}, opts.MaxInflight),
		done:  make(chan struct{}),
		since: time.Now(),
	}, nil
}

// Start begins connecting in the background; it does not wait for the connection. Publish fails
// with a *publish.UnavailableError until the broker is connected.
func (u *Uplink) Start() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.started || u.closed {
		return
	}
	u.started = true
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	go u.run(ctx)
}

// Close disconnects and stops reconnecting. Publishes waiting for an acknowledgement fail.
func (u *Uplink) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	started := u.started
	u.mu.Unlock()
	if !started {
		return nil
	}
	u.cancel()
	<-u.done
	return nil
}

// Connected reports whether the uplink has an open connection to the broker.
func (u *Uplink) Connected() bool {
	c := u.conn.Load()
	return c != nil && c.cl.IsConnectionOpen()
}

// WaitConnected waits until the uplink is connected or ctx ends.
func (u *Uplink) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !u.Connected() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Publish publishes the events' messages, in order, and waits for the broker to acknowledge each,
// then records the events as published. Any message the broker did not acknowledge makes it return
// a *publish.UnavailableError, with nothing recorded, so the vendor retries.
func (u *Uplink) Publish(ctx context.Context, evs ...*publish.Event) error {
	var msgs []route.Message
	if len(evs) == 1 {
		msgs = evs[0].Messages
	} else {
		for _, ev := range evs {
			msgs = append(msgs, ev.Messages...)
		}
	}
	if _, err := u.send(ctx, msgs); err != nil {
		return err
	}
	if u.opts.Ledger != nil {
		if err := u.opts.Ledger.Record(evs...); err != nil {
			u.stats.storeErrors.Add(1)
			return fmt.Errorf("uplink: record events after the broker acknowledged them: %w", err)
		}
	}
	u.stats.events.Add(uint64(len(evs)))
	return nil
}

var _ publish.Publisher = (*Uplink)(nil)

// PublishPlain publishes one message that belongs to no event (discovery, availability, alerts)
// and waits for the broker's acknowledgement.
func (u *Uplink) PublishPlain(topic string, payload []byte, retain bool, qos byte) error {
	_, err := u.send(context.Background(), []route.Message{{Topic: topic, Payload: payload, Retain: retain, QoS: qos}})
	return err
}

// PublishBatch publishes msgs in order on one connection, at QoS 1 at least, and waits for the
// broker's acknowledgements until one deadline (AckTimeout from now, or ctx's). It returns how
// many messages at the start of msgs the broker acknowledged: on an error, the caller sends again
// from msgs[acked], so nothing is lost and only a message whose acknowledgement was lost with the
// connection is sent twice (what QoS 1 allows). A batch may hold at most MaxInflight messages.
func (u *Uplink) PublishBatch(ctx context.Context, msgs []route.Message) (acked int, err error) {
	return u.send(ctx, msgs)
}

// OnConnect adds fn to the functions that run, each in its own goroutine, after every successful
// connection from now on (for example to announce MQTT discovery and availability again after the
// broker restarted).
func (u *Uplink) OnConnect(fn func()) {
	u.mu.Lock()
	u.onConnect = append(u.onConnect, fn)
	u.mu.Unlock()
}

// Subscribe subscribes to filter on every connection, now and after each reconnect. fn runs on
// the client's delivery goroutine: it must not block, nor publish and wait.
func (u *Uplink) Subscribe(filter string, qos byte, fn func(topic string, payload []byte)) error {
	s := subscription{filter: filter, qos: qos, fn: fn}
	u.mu.Lock()
	u.subs = append(u.subs, s)
	u.mu.Unlock()
	if c := u.conn.Load(); c != nil {
		return u.subscribe(c.cl, s)
	}
	return nil
}

func (u *Uplink) subscribe(cl mqtt.Client, s subscription) error {
	t := cl.Subscribe(s.filter, s.qos, func(_ mqtt.Client, m mqtt.Message) { s.fn(m.Topic(), m.Payload()) })
	if !t.WaitTimeout(u.opts.AckTimeout) {
		return fmt.Errorf("uplink: subscribe %s: %w", s.filter, ErrAckTimeout)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("uplink: subscribe %s: %w", s.filter, err)
	}
	return nil
}

// send publishes msgs in order, at QoS 1 at least, and waits for every acknowledgement until one
// deadline: AckTimeout from now, or ctx's, whichever is first. acked is how many messages at the
// start of msgs the broker acknowledged.
func (u *Uplink) send(ctx context.Context, msgs []route.Message) (acked int, _ error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c := u.conn.Load()
	if c == nil || !c.cl.IsConnectionOpen() {
		u.stats.unavailable.Add(1)
		return 0, u.unavailable(ErrNotConnected)
	}
	if len(msgs) > cap(u.slots) {
		return 0, fmt.Errorf("uplink: %d messages at once exceed MaxInflight %d", len(msgs), cap(u.slots))
	}
	// One deadline for the whole call; a context, unlike a timer's channel, can be asked again.
	wctx, cancel := context.WithTimeout(ctx, u.opts.AckTimeout)
	defer cancel()
	timedOut := false
	gaveUp := func() error {
		if ctx.Err() != nil {
			return &publish.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
		}
		if !timedOut { // once per call, though both loops below may see the deadline
			timedOut = true
			u.stats.timeouts.Add(1)
		}
		return &publish.UnavailableError{RetryAfter: u.opts.AckTimeout, Err: ErrAckTimeout}
	}
	// A slot is released when the broker answers for its message, or the connection is lost —
	// not when this call gives up waiting, so slots bound the messages paho holds.
	held := 0
	for range msgs {
		select {
		case u.slots <- struct{}{}:
			held++
		case <-wctx.Done():
			for ; held > 0; held-- {
				<-u.slots
			}
			if ctx.Err() != nil {
				return 0, &publish.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
			}
			u.stats.busy.Add(1)
			return 0, &publish.UnavailableError{RetryAfter: u.opts.AckTimeout, Err: ErrBusy}
		}
	}
	tokens := make([]mqtt.Token, 0, len(msgs))
	var unsent error // why the messages after tokens were not handed to paho
	for _, m := range msgs {
		// paho's Publish blocks up to WriteTimeout (AckTimeout) handing a message to its writer;
		// past the deadline, or once the connection is gone, the rest is not even tried.
		if !c.cl.IsConnectionOpen() {
			u.stats.unavailable.Add(1)
			unsent = u.unavailable(ErrNotConnected)
			break
		}
		if wctx.Err() != nil {
			unsent = gaveUp()
			break
		}
		tokens = append(tokens, c.cl.Publish(m.Topic, max(m.QoS, 1), m.Retain, m.Payload))
	}
	for i := len(tokens); i < len(msgs); i++ {
		<-u.slots // slots of messages never handed to paho
	}
	// Count the acknowledged prefix even when the rest was never sent: the caller sends again
	// from the first message not acknowledged, so acknowledgements must not be thrown away.
	var fail error
	for i, t := range tokens {
		if fail == nil {
			if !answered(wctx, t) {
				fail = gaveUp()
			} else if err := t.Error(); err != nil {
				u.stats.rejected.Add(1)
				fail = u.unavailable(fmt.Errorf("publish %s: %w", msgs[i].Topic, err))
			} else {
				acked++
			}
		}
		select {
		case <-t.Done():
			<-u.slots
		default:
			// Still waiting for the broker: hand the slot to a goroutine that frees it when the
			// broker answers or the connection is lost. At most MaxInflight of these exist.
			go func(t mqtt.Token) {
				<-t.Done()
				<-u.slots
			}(t)
		}
	}
	if fail == nil {
		fail = unsent
	}
	u.stats.published.Add(uint64(acked))
	return acked, fail
}

// answered waits for t until ctx ends; a token already done counts even past the deadline
// (select alone would pick at random between the two).
func answered(ctx context.Context, t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
	}
	select {
	case <-t.Done():
		return true
	case <-ctx.Done():
		return false
	}
}

// unavailable wraps err with a Retry-After that points at the next connection attempt.
func (u *Uplink) unavailable(err error) error {
	return &publish.UnavailableError{RetryAfter: u.retryAfter(), Err: err}
}

// retryAfter is how long a vendor should wait: until the next connection attempt (at least a
// second, at most MaxBackoff), or a second while connected.
func (u *Uplink) retryAfter() time.Duration {
	u.mu.Lock()
	next := u.nextAttempt
	u.mu.Unlock()
	d := time.Until(next) + time.Second
	return min(max(d, time.Second), u.opts.MaxBackoff)
}

// Status is the connection's state, for health and metrics.
type Status struct {
	Connected bool      `json:"connected"`
	Broker    string    `json:"broker"` // URL without credentials
	Since     time.Time `json:"since"`  // when the current state began
	LastError string    `json:"last_error,omitempty"`
}

// Status returns the connection's state.
func (u *Uplink) Status() Status {
	connected := u.Connected()
	u.mu.Lock()
	defer u.mu.Unlock()
	return Status{Connected: connected, Broker: u.broker, Since: u.since, LastError: u.lastErr}
}

// run keeps one connection open until ctx ends, reconnecting with backoff.
func (u *Uplink) run(ctx context.Context) {
	defer close(u.done)
	backoff := u.opts.MinBackoff
	failures := 0
	for {
		c, ep, err := u.connect(ctx)
		if ctx.Err() != nil {
			if c != nil {
				c.cl.Disconnect(250)
			}
			return
		}
		if err != nil {
			failures++
			u.stats.failedAttempts.Add(1)
			wait := jitter(backoff)
			u.setDown(ep, err, time.Now().Add(wait))
			if failures == 1 || failures%20 == 0 {
				u.log.Warn().Err(err).Str("broker", ep.Redacted()).Int("attempts", failures).Dur("retry_in", wait).
					Msg("cannot connect to the MQTT broker; webhooks get 503 until it is back")
			} else {
				u.log.Debug().Err(err).Str("broker", ep.Redacted()).Int("attempts", failures).Dur("retry_in", wait).
					Msg("cannot connect to the MQTT broker")
			}
			if !sleep(ctx, wait) {
				return
			}
			backoff = min(backoff*2, u.opts.MaxBackoff)
			continue
		}
		failures = 0
		connectedAt := time.Now()
		u.stats.connects.Add(1)
		u.setUp(ep, connectedAt)
		u.conn.Store(c)
		u.log.Info().Str("broker", ep.Redacted()).Str("client_id", u.opts.ClientID).Msg("connected to the MQTT broker")
		u.mu.Lock()
		hooks := append([]func(){}, u.onConnect...)
		u.mu.Unlock()
		for _, fn := range hooks {
			go fn()
		}
		select {
		case <-ctx.Done():
			u.conn.Store(nil)
			c.cl.Disconnect(250)
			return
		case <-c.lost:
		}
		u.conn.Store(nil)
		u.stats.losses.Add(1)
		// A connection that lasted keeps the backoff short; one that dropped at once (a broker
		// that accepts and then closes) keeps growing it.
		if time.Since(connectedAt) > u.opts.MaxBackoff {
			backoff = u.opts.MinBackoff
		}
		wait := jitter(backoff)
		u.setDown(ep, c.err, time.Now().Add(wait))
		u.log.Warn().Err(c.err).Str("broker", ep.Redacted()).Dur("retry_in", wait).
			Msg("lost the connection to the MQTT broker; webhooks get 503 until it is back")
		if !sleep(ctx, wait) {
			return
		}
		backoff = min(backoff*2, u.opts.MaxBackoff)
	}
}

// connect resolves the endpoint and makes one connection attempt.
func (u *Uplink) connect(ctx context.Context) (*conn, Endpoint, error) {
	rctx, cancel := context.WithTimeout(ctx, u.opts.ConnectTimeout)
	ep, err := u.opts.Resolve(rctx)
	cancel()
	if err != nil {
		return nil, ep, fmt.Errorf("find the broker: %w", err)
	}
	ep, err = ep.Normalize()
	if err != nil {
		return nil, ep, err
	}
	c := &conn{lost: make(chan struct{})}
	var once sync.Once
	o := mqtt.NewClientOptions().
		AddBroker(ep.URL).
		SetClientID(u.opts.ClientID).
		SetUsername(ep.Username).
		SetPassword(ep.Password).
		SetProtocolVersion(ep.Protocol).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetStore(mqtt.NewMemoryStore()).
		SetKeepAlive(u.opts.KeepAlive).
		SetPingTimeout(5 * time.Second).
		SetConnectTimeout(u.opts.ConnectTimeout).
		SetWriteTimeout(u.opts.AckTimeout).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			once.Do(func() {
				c.err = err
				close(c.lost)
			})
		})
	if ep.TLS != nil {
		o.SetTLSConfig(ep.TLS)
	}
	if w := u.opts.Will; w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
	}
	c.cl = mqtt.NewClient(o)
	t := c.cl.Connect()
	// The attempt is bounded by ConnectTimeout; waiting for it even when ctx ends means no
	// connection is left open behind Close.
	<-t.Done()
	if err := t.Error(); err != nil {
		return nil, ep, err
	}
	u.mu.Lock()
	subs := append([]subscription(nil), u.subs...)
	u.mu.Unlock()
	for _, s := range subs {
		if err := u.subscribe(c.cl, s); err != nil {
			c.cl.Disconnect(0)
			return nil, ep, err
		}
	}
	return c, ep, nil
}

func (u *Uplink) setUp(ep Endpoint, at time.Time) {
	u.mu.Lock()
	u.broker, u.lastErr, u.since, u.nextAttempt = ep.Redacted(), "", at, time.Time{}
	u.mu.Unlock()
}

func (u *Uplink) setDown(ep Endpoint, err error, next time.Time) {
	u.mu.Lock()
	if ep.URL != "" {
		u.broker = ep.Redacted()
	}
	if u.lastErr == "" {
		u.since = time.Now()
	}
	u.lastErr = "unknown"
	if err != nil {
		u.lastErr = err.Error()
	}
	u.nextAttempt = next
	u.mu.Unlock()
}

// jitter spreads d by ±20%, so many bridges do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(mrand.Int64N(int64(d/5)*2+1))
}

// sleep waits d or until ctx ends; it reports whether the wait ran out.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
