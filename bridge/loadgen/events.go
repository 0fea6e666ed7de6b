package loadgen

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// chunkSize is how many events one chunk of the record holds.
const chunkSize = 1 << 14

// Events records every event of a run: when it was sent, when its answer came, its status, and
// when each subscriber received it. Events are numbered from 0 across the run (phases take
// consecutive ranges), so a message that arrives late still lands on its own event. Times are
// nanoseconds since the run's start, 0 meaning "not yet". It is safe for concurrent use.
type Events struct {
	start time.Time
	subs  int

	mu     sync.RWMutex // guards chunks (the slice; the chunks' fields are atomics)
	chunks []*chunk

	next    atomic.Uint64
	seed    maphash.Seed
	markers [64]markerShard
}

type chunk struct {
	due    [chunkSize]atomic.Int64 // when the event was due: its send time, or its slot when paced
	sent   [chunkSize]atomic.Int64
	done   [chunkSize]atomic.Int64
	status [chunkSize]atomic.Int32
	recv   []atomic.Int64 // chunkSize per subscriber
}

type markerShard struct {
	mu sync.Mutex // guards m
	m  map[string]uint64
}

// NewEvents returns an empty record for a run with a number of subscribers.
func NewEvents(subscribers int) *Events {
	e := &Events{start: time.Now(), subs: subscribers, seed: maphash.MakeSeed()}
	for i := range e.markers {
		e.markers[i].m = map[string]uint64{}
	}
	return e
}

// Now returns the time since the run started, in nanoseconds, never 0.
func (e *Events) Now() int64 { return e.at(time.Now()) }

func (e *Events) at(t time.Time) int64 { return max(1, int64(t.Sub(e.start))) }

// Next returns the number of the next event; phases use it to find their range.
func (e *Events) Next() uint64 { return e.next.Load() }

// take numbers a new event.
func (e *Events) take() uint64 { return e.next.Add(1) - 1 }

// chunk returns the chunk holding event seq, creating it when create is set.
func (e *Events) chunk(seq uint64, create bool) *chunk {
	i := int(seq / chunkSize)
	e.mu.RLock()
	if i < len(e.chunks) {
		c := e.chunks[i]
		e.mu.RUnlock()
		return c
	}
	e.mu.RUnlock()
	if !create {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.chunks) <= i {
		e.chunks = append(e.chunks, &chunk{recv: make([]atomic.Int64, chunkSize*e.subs)})
	}
	return e.chunks[i]
}

// shard returns the marker table shard that holds marker.
func (e *Events) shard(marker string) *markerShard {
	return &e.markers[maphash.String(e.seed, marker)%uint64(len(e.markers))]
}

// mark records that the published message with this marker belongs to event seq.
func (e *Events) mark(marker string, seq uint64) {
	s := e.shard(marker)
	s.mu.Lock()
	s.m[marker] = seq
	s.mu.Unlock()
}

// Forget drops the markers recorded so far; messages that arrive for those events later count as
// unknown. Call it between phases, once their messages are in, so the table stays small.
func (e *Events) Forget() {
	for i := range e.markers {
		s := &e.markers[i]
		s.mu.Lock()
		s.m = map[string]uint64{}
		s.mu.Unlock()
	}
}

// lookup returns the event a marker belongs to.
func (e *Events) lookup(marker string) (uint64, bool) {
	s := e.shard(marker)
	s.mu.Lock()
	seq, ok := s.m[marker]
	s.mu.Unlock()
	return seq, ok
}

// sent records when an event was due (in a paced run, its slot) and when it was sent.
func (e *Events) sent(seq uint64, due, at int64) {
	c := e.chunk(seq, true)
	c.due[seq%chunkSize].Store(due)
	c.sent[seq%chunkSize].Store(at)
}

// answered records an event's answer.
func (e *Events) answered(seq uint64, at int64, status int) {
	c := e.chunk(seq, true)
	c.status[seq%chunkSize].Store(int32(status))
	c.done[seq%chunkSize].Store(at)
}

// received records that subscriber sub received event seq at a time; it reports false when the
// subscriber had already received it.
func (e *Events) received(sub int, seq uint64, at int64) bool {
	c := e.chunk(seq, false)
	if c == nil {
		return true
	}
	return c.recv[sub*chunkSize+int(seq%chunkSize)].CompareAndSwap(0, at)
}

// FirstPending returns the first event in [from, to) that answered 202 but some subscriber has not
// received yet, or to when there is none. An event with no answer yet does not count; once the
// phase's answers are all in, an event that is not pending stays so (receipts are never undone),
// so a caller waiting for delivery can start its next call from the result.
func (e *Events) FirstPending(from, to uint64) uint64 {
	for seq := from; seq < to; seq++ {
		c := e.chunk(seq, false)
		if c == nil || c.status[seq%chunkSize].Load() != 202 {
			continue
		}
		for s := 0; s < e.subs; s++ {
			if c.recv[s*chunkSize+int(seq%chunkSize)].Load() == 0 {
				return seq
			}
		}
	}
	return to
}

// Latency summarizes a set of durations.
type Latency struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Summarize returns the nearest-rank 50th and 99th percentiles and the maximum; it sorts xs.
func Summarize(xs []int64) Latency {
	if len(xs) == 0 {
		return Latency{}
	}
	slices.Sort(xs)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(xs))+0.999999) - 1
		return time.Duration(xs[min(max(i, 0), len(xs)-1)])
	}
	return Latency{N: len(xs), P50: rank(0.50), P99: rank(0.99), Max: time.Duration(xs[len(xs)-1])}
}

// Delivery is what the subscribers received of a phase's accepted events.
type Delivery struct {
	// Received counts, per subscriber, the accepted events it received.
	Received []int `json:"received"`
	// Missing counts (event, subscriber) pairs not received.
	Missing int `json:"missing"`
	// Latency is from sending the request to a subscriber receiving the message, over every
	// (event, subscriber) pair received; in a paced phase, from when the request was due.
	Latency Latency `json:"latency"`
	// FromSend is Latency from when the request was actually sent: without the generator's own
	// lateness, and without the wait of requests due while every connection was busy.
	FromSend Latency `json:"latency_from_send"`
}

// Deliveries summarizes what the subscribers received of the accepted events in [from, to).
func (e *Events) Deliveries(from, to uint64) Delivery {
	d := Delivery{Received: make([]int, e.subs)}
	var lat, fromSend []int64
	for seq := from; seq < to; seq++ {
		c := e.chunk(seq, false)
		i := int(seq % chunkSize)
		if c == nil || c.status[i].Load() != 202 {
			continue
		}
		due, sent := c.due[i].Load(), c.sent[i].Load()
		for s := 0; s < e.subs; s++ {
			r := c.recv[s*chunkSize+i].Load()
			if r == 0 {
				d.Missing++
				continue
			}
			d.Received[s]++
			lat = append(lat, max(0, r-due))
			fromSend = append(fromSend, max(0, r-sent))
		}
	}
	d.Latency = Summarize(lat)
	d.FromSend = Summarize(fromSend)
	return d
}
