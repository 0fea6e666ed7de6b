// Package relay is the MQTT bridge's forwarding half: it keeps the messages the embedded broker
// publishes on the bridge_topics in a durable queue, and sends them in order to Home Assistant's
// broker (the Supervisor's MQTT service) over an uplink.
//
// Offer runs inside the publish of the message (an inline subscription of the embedded broker,
// before the event commits). It stages the queue record with the event's records, so the record is
// on disk exactly when the event is: a crash before the commit loses neither (the vendor, with no
// 2xx, retries), one after it finds the record and sends it after the restart. A message of no
// event is written in the next transaction.
//
// One goroutine drains the queue in key order (the order of Offer calls): it reads a batch,
// publishes it on one connection at QoS 1 at least with the message's retain flag, and deletes the
// records the broker acknowledged, in the next transaction (usually an event's own). A batch cut
// short by a lost connection is sent again from the first unacknowledged record, so a message is
// sent twice only when its acknowledgement was lost with the connection, or when the process
// stopped between the acknowledgement and the delete's transaction: what QoS 1 allows.
//
// Records become visible when their event commits, and events commit in any order. A record is
// not sent while an older Offer's record is still on its way to disk (or until SettleTimeout says
// that event was never recorded), so a later message on a topic never overtakes an earlier one.
//
// The queue is bounded: past MaxQueue records the oldest are deleted (Home Assistant cares most
// for the newest state), counted, and logged once per episode.
package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// Defaults of Options.
const (
	DefaultQueue         = "bridge"
	DefaultMaxQueue      = 10_000
	DefaultBatch         = 256
	DefaultSettleTimeout = 10 * time.Second
	DefaultRetryInterval = time.Second
	// trimEvery is the least time between two trims of the queue while the uplink is away, so that
	// a burst costs one delete transaction, not one per message. The bound is exceeded by at most
	// what arrives in that time.
	trimEvery = 100 * time.Millisecond
	// settlePoll is how often the drainer looks again for a record on its way to disk.
	settlePoll = time.Millisecond
)

// Uplink is the connection to Home Assistant's broker, as the relay uses it.
type Uplink interface {
	// PublishBatch publishes msgs in order and returns how many at the start the broker
	// acknowledged.
	PublishBatch(ctx context.Context, msgs []route.Message) (acked int, err error)
	// Connected reports whether messages can be sent now.
	Connected() bool
	// OnConnect adds a function to run after every (re)connection.
	OnConnect(fn func())
}

// Options configure a Relay.
type Options struct {
	Store  *store.Store
	Uplink Uplink
	// Queue names the durable queue; DefaultQueue when empty.
	Queue string
	// MaxQueue bounds the queued records; past it the oldest are dropped. DefaultMaxQueue when 0.
	MaxQueue int
	// Batch is the most records published before waiting for their acknowledgements; at most the
	// uplink's MaxInflight. DefaultBatch when 0.
	Batch int
	// SettleTimeout is how long a record that Offer staged may take to reach the disk before the
	// records behind it are sent without it (its event was not recorded: the vendor retries).
	// DefaultSettleTimeout when 0.
	SettleTimeout time.Duration
	// RetryInterval is the wait after a batch failed while the uplink still looks connected.
	// DefaultRetryInterval when 0.
	RetryInterval time.Duration
	Log           zerolog.Logger
}

// ErrConfig reports Options that cannot work.
var ErrConfig = errors.New("relay: bad options")

// Relay forwards queued messages to Home Assistant's broker. Its methods are safe for concurrent
// use.
type Relay struct {
	opts Options
	log  zerolog.Logger

	mu      sync.Mutex // guards pending
	pending []staged   // records Offer staged and the drainer has not seen on disk, in key order

	queued atomic.Int64 // records on disk or on their way, approximately: it triggers trims
	// dropping and droppedBefore belong to the draining goroutine: whether the queue overflowed
	// since it was last empty, and the dropped count when that began.
	dropping      bool
	droppedBefore uint64
	// deleting belongs to the draining goroutine too: keys of forwarded records whose delete is
	// queued for the next transaction but maybe not written yet, in key order. Waiting for each
	// delete would cost a transaction of its own per batch; not waiting means skipping these.
	deleting  [][]byte
	wake      chan struct{}
	connected chan struct{}
	stats     counters

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// staged is a record Offer staged.
type staged struct {
	key []byte
	at  time.Time
}

type counters struct {
	offered   atomic.Uint64
	forwarded atomic.Uint64
	dropped   atomic.Uint64 // oldest records dropped past MaxQueue
	bad       atomic.Uint64 // records that could not be decoded
	failures  atomic.Uint64 // batches that failed
}

// New returns a relay; Start starts draining.
func New(opts Options) (*Relay, error) {
	if opts.Store == nil || opts.Uplink == nil {
		return nil, fmt.Errorf("%w: Store and Uplink are required", ErrConfig)
	}
	if opts.Queue == "" {
		opts.Queue = DefaultQueue
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = DefaultMaxQueue
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = DefaultSettleTimeout
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	return &Relay{
		opts:      opts,
		log:       opts.Log.With().Str("component", "relay").Logger(),
		wake:      make(chan struct{}, 1),
		connected: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}, nil
}

// Offer queues one message for Home Assistant's broker. token is the message's event token (the
// MQTT 5 user property "event"), or "" for a message of no event. It does not block on the disk.
func (r *Relay) Offer(token, topic string, payload []byte, retain bool, qos byte) {
	rec := encode(topic, payload, retain, qos)
	now := time.Now()
	r.mu.Lock()
	// The key is taken under the lock, so pending stays in key order.
	op := r.opts.Store.QueueOp(r.opts.Queue, rec)
	r.expireLocked(now)
	r.pending = append(r.pending, staged{key: op.Key, at: now})
	r.mu.Unlock()
	if token != "" {
		r.opts.Store.Stage(token, op)
	} else {
		r.opts.Store.WriteAsync(op)
	}
	r.stats.offered.Add(1)
	r.queued.Add(1)
	r.signal(r.wake)
}

// Start starts draining the queue in the background: records left from an earlier run first.
func (r *Relay) Start() error {
	var err error
	r.startOnce.Do(func() {
		var n int
		n, err = r.opts.Store.QueueLen(r.opts.Queue)
		if err != nil {
			err = fmt.Errorf("relay: read the queue: %w", err)
			close(r.done)
			return
		}
		r.queued.Store(int64(n))
		if n > 0 {
			r.log.Info().Int("queued", n).Msg("messages for Home Assistant's broker left from the last run: sending them first")
		}
		r.opts.Uplink.OnConnect(func() { r.signal(r.connected) })
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go r.run(ctx)
	})
	return err
}

// Close stops draining; what is queued stays on disk for the next run.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.startOnce.Do(func() { close(r.done) }) // never started
		if r.cancel != nil {
			r.cancel()
		}
	})
	<-r.done
	return nil
}

// Status is the relay's state, for health.
type Status struct {
	Queued    int    `json:"queued"`
	Limit     int    `json:"limit"`
	Forwarded uint64 `json:"forwarded"`
	Dropped   uint64 `json:"dropped"`
}

// Status returns the relay's state.
func (r *Relay) Status() Status {
	n, err := r.opts.Store.QueueLen(r.opts.Queue)
	if err != nil {
		n = int(max(r.queued.Load(), 0))
	}
	return Status{Queued: n, Limit: r.opts.MaxQueue, Forwarded: r.stats.forwarded.Load(), Dropped: r.stats.dropped.Load()}
}

func (r *Relay) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run drains the queue until ctx ends.
func (r *Relay) run(ctx context.Context) {
	defer close(r.done)
	var (
		lastTrim time.Time
		failing  bool // the last batch failed: log the next failure only at debug level
	)
	for ctx.Err() == nil {
		if r.queued.Load() > int64(r.opts.MaxQueue) && time.Since(lastTrim) >= trimEvery {
			lastTrim = time.Now()
			r.trim()
		}
		if !r.opts.Uplink.Connected() {
			// Wake for a connection, or for messages that may need a trim; after a trim, not
			// before the next is due.
			if since := time.Since(lastTrim); r.queued.Load() > int64(r.opts.MaxQueue) && since < trimEvery {
				r.waitFor(ctx, trimEvery-since, r.connected)
			} else {
				r.waitFor(ctx, time.Second, r.connected, r.wake)
			}
			continue
		}
		entries, err := r.head(r.opts.Batch)
		if err != nil {
			r.log.Error().Err(err).Msg("read the queue for Home Assistant's broker")
			r.waitFor(ctx, r.opts.RetryInterval, nil)
			continue
		}
		ready, waiting := r.settle(entries, time.Now())
		if ready == 0 {
			if waiting {
				// A record is on its way to disk (its event commits in a moment), and it goes
				// before anything behind it.
				r.waitFor(ctx, settlePoll, r.connected)
				continue
			}
			r.endDropEpisode()
			r.queued.Store(0)
			r.waitFor(ctx, time.Second, r.wake, r.connected)
			continue
		}
		entries, msgs := r.decode(entries[:ready])
		acked, err := r.opts.Uplink.PublishBatch(ctx, msgs)
		if acked > 0 {
			// The deletes go with the next transaction (the events' own, usually). A crash before
			// it is written sends these again after the restart: what QoS 1 allows.
			ops := make([]store.Op, acked)
			for i, e := range entries[:acked] {
				ops[i] = store.QueueDelete(e.Key)
				r.deleting = append(r.deleting, e.Key)
			}
			r.opts.Store.WriteAsync(ops...)
			r.queued.Add(-int64(acked))
			r.stats.forwarded.Add(uint64(acked))
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.stats.failures.Add(1)
			ev := r.log.Warn()
			if failing {
				ev = r.log.Debug()
			}
			ev.Err(err).Int("acknowledged", acked).Int("batch", len(msgs)).
				Msg("forwarding to Home Assistant's broker failed; sending again from the first unacknowledged message")
			failing = true
			r.waitFor(ctx, r.opts.RetryInterval, r.connected)
			continue
		}
		if failing {
			r.log.Info().Msg("forwarding to Home Assistant's broker again")
			failing = false
		}
	}
}

// head returns up to n of the oldest records not yet forwarded: the head of the queue without the
// records whose delete may not be written yet. A record in deleting that is no longer on disk (the
// head starts after it) is forgotten.
func (r *Relay) head(n int) ([]store.QueueEntry, error) {
	entries, err := r.opts.Store.QueueHead(r.opts.Queue, n+len(r.deleting))
	if err != nil {
		return nil, err
	}
	for len(r.deleting) > 0 && (len(entries) == 0 || bytes.Compare(r.deleting[0], entries[0].Key) < 0) {
		r.deleting[0] = nil
		r.deleting = r.deleting[1:]
	}
	out := entries[:0]
	i := 0
	for _, e := range entries {
		for i < len(r.deleting) && bytes.Compare(r.deleting[i], e.Key) < 0 {
			i++
		}
		if i < len(r.deleting) && bytes.Equal(r.deleting[i], e.Key) {
			continue
		}
		out = append(out, e)
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// waitFor waits d, or until ctx ends or one of chs has a value.
func (r *Relay) waitFor(ctx context.Context, d time.Duration, chs ...chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	var a, b chan struct{}
	if len(chs) > 0 {
		a = chs[0]
	}
	if len(chs) > 1 {
		b = chs[1]
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-a:
	case <-b:
	}
}

// settle returns how many of entries (the head of the queue, in key order) may be sent now: those
// before the first record Offer staged that is not on disk yet. waiting reports whether such a
// record holds entries back, or, with no entries, is still expected. Staged records seen in entries
// are on disk and forgotten; one that stayed off the disk past SettleTimeout is given up.
func (r *Relay) settle(entries []store.QueueEntry, now time.Time) (ready int, waiting bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(entries)
	for len(r.pending) > 0 {
		p := r.pending[0]
		i := 0 // entries before p may go
		for i < len(entries) && bytes.Compare(entries[i].Key, p.key) < 0 {
			i++
		}
		if i > 0 && i == len(entries) {
			return i, false
		}
		if now.Sub(p.at) < r.opts.SettleTimeout {
			return i, true
		}
		r.pending = r.pending[1:]
		r.log.Warn().Dur("waited", now.Sub(p.at)).
			Msg("a message for Home Assistant's broker never reached the disk (its event was not recorded, so the vendor retries it); going on without it")
	}
	return len(entries), false
}

// forgetLocked removes from pending the records in entries (both in key order); r.mu is held.
func (r *Relay) forgetLocked(entries []store.QueueEntry) {
	if len(r.pending) == 0 || len(entries) == 0 {
		return
	}
	out := r.pending[:0]
	i := 0
	for _, p := range r.pending {
		for i < len(entries) && bytes.Compare(entries[i].Key, p.key) < 0 {
			i++
		}
		if i < len(entries) && bytes.Equal(entries[i].Key, p.key) {
			continue
		}
		out = append(out, p)
	}
	clear(r.pending[len(out):])
	r.pending = out
}

// expireLocked drops staged records older than twice SettleTimeout from the front of pending, so
// that it stays small while the drainer is not reading (Home Assistant's broker is away); r.mu is
// held.
func (r *Relay) expireLocked(now time.Time) {
	n := 0
	for n < len(r.pending) && now.Sub(r.pending[n].at) > 2*r.opts.SettleTimeout {
		n++
	}
	if n > 0 {
		clear(r.pending[:n])
		r.pending = r.pending[n:]
	}
}

// trim drops the oldest records past MaxQueue.
func (r *Relay) trim() {
	n, err := r.opts.Store.QueueLen(r.opts.Queue)
	if err != nil {
		r.log.Error().Err(err).Msg("read the queue for Home Assistant's broker")
		return
	}
	over := n - r.opts.MaxQueue
	if over <= 0 {
		r.queued.Store(int64(n))
		return
	}
	entries, err := r.head(over)
	if err != nil {
		r.log.Error().Err(err).Msg("read the queue for Home Assistant's broker")
		return
	}
	ops := make([]store.Op, len(entries))
	for i, e := range entries {
		ops[i] = store.QueueDelete(e.Key)
	}
	if err := r.opts.Store.Write(ops...); err != nil {
		r.log.Error().Err(err).Msg("drop the oldest messages for Home Assistant's broker")
		return
	}
	// That transaction came after every delete queued before it.
	clear(r.deleting)
	r.deleting = r.deleting[:0]
	r.mu.Lock()
	r.forgetLocked(entries)
	r.mu.Unlock()
	r.queued.Store(int64(n - len(entries)))
	if !r.dropping {
		r.dropping, r.droppedBefore = true, r.stats.dropped.Load()
		r.log.Warn().Int("limit", r.opts.MaxQueue).
			Msg("the queue for Home Assistant's broker is full: dropping the oldest messages until it drains (counted in hookbridge_relay_dropped_total)")
	}
	r.stats.dropped.Add(uint64(len(entries)))
}

// endDropEpisode logs how many messages were dropped since the queue was last empty.
func (r *Relay) endDropEpisode() {
	if !r.dropping {
		return
	}
	r.dropping = false
	r.log.Warn().Uint64("dropped", r.stats.dropped.Load()-r.droppedBefore).Int("limit", r.opts.MaxQueue).
		Msg("the queue for Home Assistant's broker drained; the oldest messages over the limit were dropped")
}

// decode turns queue records into messages. A record that does not decode (written by a newer
// version, or damaged) is counted, logged and deleted; entries returns the others, one per message.
func (r *Relay) decode(in []store.QueueEntry) (entries []store.QueueEntry, msgs []route.Message) {
	entries = in[:0:0]
	msgs = make([]route.Message, 0, len(in))
	var bad []store.Op
	for _, e := range in {
		m, err := decode(e.Record)
		if err != nil {
			bad = append(bad, store.QueueDelete(e.Key))
			continue
		}
		entries = append(entries, e)
		msgs = append(msgs, m)
	}
	if len(bad) > 0 {
		r.stats.bad.Add(uint64(len(bad)))
		r.log.Error().Int("records", len(bad)).Msg("queued messages for Home Assistant's broker do not decode: dropped")
		if err := r.opts.Store.Write(bad...); err != nil {
			r.log.Error().Err(err).Msg("delete queue records that do not decode")
		}
		r.queued.Add(-int64(len(bad)))
	}
	return entries, msgs
}

// Record format: version (1), flags (bit 0 retain, bits 1-2 QoS), topic length (2 bytes BE),
// topic, payload.
const recordVersion = 1

func encode(topic string, payload []byte, retain bool, qos byte) []byte {
	b := make([]byte, 4, 4+len(topic)+len(payload))
	b[0] = recordVersion
	b[1] = (qos & 3) << 1
	if retain {
		b[1] |= 1
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(topic)))
	b = append(b, topic...)
	return append(b, payload...)
}

var errBadRecord = errors.New("relay: bad queue record")

func decode(b []byte) (route.Message, error) {
	if len(b) < 4 || b[0] != recordVersion {
		return route.Message{}, errBadRecord
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if len(b) < 4+n || n == 0 {
		return route.Message{}, errBadRecord
	}
	return route.Message{
		Topic:   string(b[4 : 4+n]),
		Payload: b[4+n:], // b is Store.QueueHead's own copy, never reused
		Retain:  b[1]&1 != 0,
		QoS:     (b[1] >> 1) & 3,
	}, nil
}

// Forget deletes, durably, the queued messages on topics under prefix (which ends with "/"), for
// offboarding a vendor, and returns how many. A batch being sent at that moment may still carry
// one of them.
func (r *Relay) Forget(prefix string) (int, error) {
	keys, err := ForgetStored(r.opts.Store, r.opts.Queue, prefix)
	if err != nil {
		return 0, err
	}
	// A deleted record the drainer has not seen on disk yet must not hold the ones behind it
	// until SettleTimeout.
	r.mu.Lock()
	r.pending = slices.DeleteFunc(r.pending, func(p staged) bool {
		return slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, p.key) })
	})
	r.mu.Unlock()
	r.queued.Add(-int64(len(keys)))
	r.log.Info().Str("topic", prefix+"#").Int("messages", len(keys)).Msg("queued messages for Home Assistant's broker forgotten")
	return len(keys), nil
}

// ForgetStored deletes a queue's records on topics under prefix from a store, whether or not a
// relay runs on it (offboarding while stopped), and returns their keys.
func ForgetStored(st *store.Store, queue, prefix string) ([][]byte, error) {
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("relay: forget topics: prefix %q must end with /", prefix)
	}
	if queue == "" {
		queue = DefaultQueue
	}
	keys, err := st.DeleteQueued(queue, func(rec []byte) bool {
		m, err := decode(rec)
		return err == nil && strings.HasPrefix(m.Topic, prefix)
	})
	if err != nil {
		return nil, fmt.Errorf("relay: forget topics: %w", err)
	}
	return keys, nil
}
