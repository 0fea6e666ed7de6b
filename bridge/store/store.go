// Package store keeps Hookbridge's durable state in one bbolt file: the replay records (which
// events were already published), the embedded broker's sessions, subscriptions, retained and
// inflight messages, and the vendors' kill-switch state. (The audit trail is in bridge/audit's own
// files.)
//
// Writes go through one group committer: whatever was queued while the previous transaction was
// being fsynced is written by the next, so many concurrent events share one fsync. An event's
// replay record and every broker record its publish produced commit in the same transaction, and
// the broker holds the event's messages back from subscribers until that transaction is on disk
// (see Hook). That is what makes a 2xx mean "kept" and a crash unable to publish twice.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/bbolt"

	"github.com/hookbridge/hookbridge/bridge/publish"
)

// Bucket names.
var (
	// seen_time holds the replay records in time order: unix nanos (8 bytes BE) + key -> vendor.
	// Lookups go to an in-memory index of the keys, built from it at Open, so the bucket is only
	// ever appended to (cheap pages) and never read on the request path.
	bucketSeenByTime = []byte("seen_time")
	bucketClients    = []byte("mqtt_clients")
	bucketSubs       = []byte("mqtt_subs")
	bucketInflight   = []byte("mqtt_inflight")
	bucketRetained   = []byte("mqtt_retained")
	bucketState      = []byte("state") // vendor -> kill-switch state (JSON)
	allBuckets       = [][]byte{bucketSeenByTime, bucketClients, bucketSubs, bucketInflight, bucketRetained, bucketState}
)

// asyncDelay bounds how long a write that nobody waits for may wait to share a transaction.
const asyncDelay = 20 * time.Millisecond

// ErrClosed reports a write after Close.
var ErrClosed = errors.New("store closed")

// Op is one write of a transaction.
type Op struct {
	Bucket []byte
	Key    []byte
	Value  []byte // nil deletes the key
	// Seq, when non-zero, makes the put conditional: it is skipped when the stored value carries a
	// higher sequence number in its first 8 bytes. Retained messages use it so that two events'
	// commits, which may finish in either order, leave the newer message stored.
	Seq uint64
}

// prefixDeletes returns the ops that delete every key of bucket b that starts with prefix, in key
// order.
func prefixDeletes(tx *bbolt.Tx, b, prefix []byte) []Op {
	var ops []Op
	c := tx.Bucket(b).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ops = append(ops, Op{Bucket: b, Key: bytes.Clone(k)})
	}
	return ops
}

// Options configure a Store.
type Options struct {
	// MaxSeen caps the replay records; past it the oldest are purged early, with a warning.
	MaxSeen int
	// NoSync skips fsync: for benchmarks that measure its cost, never for real use.
	NoSync bool
	// PageSize of a new file (default: the OS page size); an existing file keeps its own.
	PageSize int
	Log      zerolog.Logger
}

// Store is the durable state. Its methods are safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	log  zerolog.Logger
	opts Options

	mu      sync.Mutex // guards queue, waiters, closed and the Hook's pending groups
	queue   []Op
	waiters []chan error
	closed  bool
	// firstQueued is when the oldest op of queue was queued.
	firstQueued time.Time
	wake        chan struct{} // has a value when queue is non-empty
	done        chan struct{} // closed when the committer has stopped

	// seenMu guards seen: the replay records' keys, each with the time of its newest record.
	seenMu  sync.RWMutex
	seen    map[seenID]int64
	commits atomic.Int64 // transactions written
	ops     atomic.Int64 // ops written
	seq     atomic.Uint64

	hook *Hook
}

// Open opens (creating if needed) the state file in dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, "hookbridge.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		NoSync:         opts.NoSync,
		PageSize:       opts.PageSize,
		// Map generously up front (address space, not memory): growing the map takes a lock that
		// every reader (the replay check) waits on.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: in use by another process", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.MaxSeen <= 0 {
		opts.MaxSeen = 1_000_000
	}
	s := &Store{db: db, log: opts.Log, opts: opts, wake: make(chan struct{}, 1), done: make(chan struct{}),
		seen: map[seenID]int64{}}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Nothing else can reach s yet: one lock for the whole index build, not one per record.
		s.seenMu.Lock()
		defer s.seenMu.Unlock()
		return tx.Bucket(bucketSeenByTime).ForEach(func(k, _ []byte) error {
			if len(k) > 8 {
				s.noteSeenLocked(k)
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare %s: %w", path, err)
	}
	s.seq.Store(uint64(time.Now().UnixNano()))
	s.hook = newHook(s)
	go s.committer()
	return s, nil
}

// Close writes what is queued and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.signal()
	<-s.done
	return s.db.Close()
}

// nextSeq returns a number larger than any returned before, in this run or an earlier one.
func (s *Store) nextSeq() uint64 {
	for {
		old := s.seq.Load()
		n := max(old+1, uint64(time.Now().UnixNano()))
		if s.seq.CompareAndSwap(old, n) {
			return n
		}
	}
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueueLocked appends ops to the next transaction; s.mu must be held. The returned channel, when
// wait is true, receives the transaction's outcome.
func (s *Store) enqueueLocked(ops []Op, wait bool) chan error {
	var ch chan error
	if s.closed {
		if wait {
			ch = make(chan error, 1)
			ch <- ErrClosed
		}
		return ch
	}
	if len(s.queue) == 0 {
		s.firstQueued = time.Now()
	}
	s.queue = append(s.queue, ops...)
	if wait {
		ch = make(chan error, 1)
		s.waiters = append(s.waiters, ch)
	}
	s.signal()
	return ch
}

// Write queues ops for the next transaction and waits until it is on disk.
func (s *Store) Write(ops ...Op) error {
	s.mu.Lock()
	ch := s.enqueueLocked(ops, true)
	s.mu.Unlock()
	return <-ch
}

// WriteAsync queues ops for the next transaction without waiting.
func (s *Store) WriteAsync(ops ...Op) {
	s.mu.Lock()
	s.enqueueLocked(ops, false)
	s.mu.Unlock()
}

// committer writes the queue in transactions until Close. While one transaction is being written,
// the next one accumulates: that is the group commit.
func (s *Store) committer() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		<-s.wake
		for {
			s.mu.Lock()
			// Writes nobody waits for (acknowledged deliveries, resend marks) wait up to asyncDelay
			// for one somebody waits for, and share its transaction: fewer transactions, so a
			// shorter cycle for the events that do wait.
			for len(s.waiters) == 0 && len(s.queue) > 0 && !s.closed {
				wait := time.Until(s.firstQueued.Add(asyncDelay))
				if wait <= 0 {
					break
				}
				s.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-s.wake:
				case <-timer.C:
				}
				// Since Go 1.23 (go.mod says 1.26) Stop and Reset leave no stale tick behind to drain.
				timer.Stop()
				s.mu.Lock()
			}
			ops, waiters, closed := s.queue, s.waiters, s.closed
			s.queue, s.waiters = nil, nil
			s.mu.Unlock()
			if len(ops) == 0 && len(waiters) == 0 {
				if closed {
					return
				}
				break
			}
			err := s.apply(ops)
			if err != nil {
				s.log.Error().Err(err).Int("ops", len(ops)).Msg("state write failed")
			}
			for _, w := range waiters {
				w <- err
			}
		}
	}
}

func (s *Store) apply(ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, op := range ops {
			if op.Bucket == nil {
				continue // cancelled while staged
			}
			b := tx.Bucket(op.Bucket)
			if appendOrder(op.Bucket) {
				b.FillPercent = 0.95 // keys only grow: pack the pages
			}
			if op.Value == nil {
				if err := b.Delete(op.Key); err != nil {
					return err
				}
				continue
			}
			if op.Seq != 0 {
				if old := b.Get(op.Key); len(old) >= 8 && binary.BigEndian.Uint64(old) > op.Seq {
					continue
				}
			}
			if err := b.Put(op.Key, op.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		// Before the waiters hear of the commit: a duplicate arriving after its original's answer
		// must find the record.
		s.seenMu.Lock()
		for _, op := range ops {
			if string(op.Bucket) == string(bucketSeenByTime) && op.Value != nil && len(op.Key) > 8 {
				s.noteSeenLocked(op.Key)
			}
		}
		s.seenMu.Unlock()
		s.commits.Add(1)
		s.ops.Add(int64(len(ops)))
	}
	return err
}

// seenID is a replay record's key in the index.
type seenID [16]byte

func idOf(key []byte) seenID {
	var id seenID
	if len(key) == len(id) {
		copy(id[:], key)
		return id
	}
	sum := sha256.Sum256(key) // a token that is not 32 hex digits (tests)
	copy(id[:], sum[:])
	return id
}

// seenTimeKey builds a seen_time key: the time in unix nanos (8 bytes BE), then the token's key.
func seenTimeKey(at time.Time, key []byte) []byte {
	k := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
	copy(k[8:], key)
	return k
}

// seenKeyTime returns the unix nanos a seen_time key starts with.
func seenKeyTime(timeKey []byte) int64 { return int64(binary.BigEndian.Uint64(timeKey[:8])) }

// splitSeenKey takes a seen_time key (longer than 8 bytes) apart: the index entry it stands for
// and its time in unix nanos.
func splitSeenKey(timeKey []byte) (seenID, int64) {
	return idOf(timeKey[8:]), seenKeyTime(timeKey)
}

// noteSeenLocked indexes a seen_time key (time + key); s.seenMu must be held.
func (s *Store) noteSeenLocked(timeKey []byte) {
	id, at := splitSeenKey(timeKey)
	if old, ok := s.seen[id]; !ok || at > old {
		s.seen[id] = at
	}
}

// appendOrder reports whether a bucket's new keys always sort last (time or sequence first).
func appendOrder(b []byte) bool {
	return string(b) == string(bucketSeenByTime) || string(b) == string(bucketQueue)
}

// Stats are counters for metrics.
type Stats struct {
	Commits int64 // transactions written
	Ops     int64 // writes in them
	Seen    int64 // replay records held
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.seenMu.RLock()
	n := len(s.seen)
	s.seenMu.RUnlock()
	return Stats{Commits: s.commits.Load(), Ops: s.ops.Load(), Seen: int64(n)}
}

// Seen reports whether an event token has a replay record.
func (s *Store) Seen(token string) (bool, error) {
	id := idOf(seenKey(token))
	s.seenMu.RLock()
	_, found := s.seen[id]
	s.seenMu.RUnlock()
	return found, nil
}

// seenKey is a token's key: the bytes a hex token stands for (half the size), else the token.
func seenKey(token string) []byte {
	if k, err := hex.DecodeString(token); err == nil && len(k) > 0 {
		return k
	}
	return []byte(token)
}

// SeenOps returns the ops that record an event token as seen at a time.
func SeenOps(vendor, token string, at time.Time) []Op {
	return []Op{{Bucket: bucketSeenByTime, Key: seenTimeKey(at, seenKey(token)), Value: []byte(vendor)}}
}

// RecordOps returns the ops that record events as published: their replay records.
func RecordOps(evs ...*publish.Event) []Op {
	ops := make([]Op, 0, len(evs))
	for _, ev := range evs {
		ops = append(ops, SeenOps(ev.Vendor, ev.Token, ev.At)...)
	}
	return ops
}

// Record records events as published, durably, in one transaction: the replay records, for sinks
// that cannot share the broker's transaction (publish.Ledger).
func (s *Store) Record(evs ...*publish.Event) error { return s.Write(RecordOps(evs...)...) }

var _ publish.Ledger = (*Store)(nil)

// PurgeSeen deletes replay records older than their vendor's cutoff (cutoff(vendor) is the oldest
// time to keep), then, while more than MaxSeen remain, the oldest beyond the cap. latest is the
// newest of all cutoffs: the scan stops there once the cap holds. It returns how many records it
// deleted by age and by cap.
func (s *Store) PurgeSeen(cutoff func(vendor string) time.Time, latest time.Time) (byAge, byCap int, err error) {
	// Collect in a read transaction, then delete through the committer so that the deletes stay
	// ordered with concurrent writes.
	var ops []Op
	over := int(s.Stats().Seen) - s.opts.MaxSeen
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSeenByTime).Cursor()
		for k, v := c.First(); k != nil && len(k) > 8; k, v = c.Next() {
			at := time.Unix(0, seenKeyTime(k))
			switch {
			case at.Before(cutoff(string(v))):
				byAge++
			case byAge+byCap < over:
				byCap++
			case !at.Before(latest):
				return nil
			default:
				continue
			}
			ops = append(ops, Op{Bucket: bucketSeenByTime, Key: append([]byte(nil), k...)})
		}
		return nil
	})
	if err != nil || len(ops) == 0 {
		return byAge, byCap, err
	}
	if err := s.Write(ops...); err != nil {
		return 0, 0, err
	}
	// Forget the purged keys, unless a newer record of the same event came since.
	s.seenMu.Lock()
	for _, op := range ops {
		id, at := splitSeenKey(op.Key)
		if s.seen[id] == at {
			delete(s.seen, id)
		}
	}
	s.seenMu.Unlock()
	if byCap > 0 {
		s.log.Warn().Int("evicted", byCap).Int("cap", s.opts.MaxSeen).
			Msg("replay store full: oldest replay records evicted before their retention ended; a vendor redelivering one of those events would have it published again")
	}
	return byAge, byCap, nil
}

// PutState records a vendor's state value.
func (s *Store) PutState(vendor string, value []byte) error {
	return s.Write(Op{Bucket: bucketState, Key: []byte(vendor), Value: value})
}

// States returns every recorded vendor state.
func (s *Store) States() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// Hook returns the broker storage hook bound to this store.
func (s *Store) Hook() *Hook { return s.hook }
