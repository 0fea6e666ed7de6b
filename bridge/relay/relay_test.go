package relay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/relay"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

// fakeUplink records what it is asked to publish. While down it refuses everything; cut, when
// set, makes the next batch stop after that many acknowledgements, as a lost connection does.
type fakeUplink struct {
	mu    sync.Mutex
	up    bool
	cut   int // acknowledge this many of the next batch, then fail; -1: no cut
	got   []route.Message
	hooks []func()
	calls int
}

func newFakeUplink(up bool) *fakeUplink { return &fakeUplink{up: up, cut: -1} }

func (f *fakeUplink) PublishBatch(_ context.Context, msgs []route.Message) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if !f.up {
		return 0, errors.New("not connected")
	}
	n, err := len(msgs), error(nil)
	if f.cut >= 0 && f.cut < n {
		n, err = f.cut, errors.New("connection lost")
		f.cut = -1
	}
	f.got = append(f.got, msgs[:n]...)
	return n, err
}

func (f *fakeUplink) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up
}

func (f *fakeUplink) OnConnect(fn func()) {
	f.mu.Lock()
	f.hooks = append(f.hooks, fn)
	f.mu.Unlock()
}

// setUp connects or disconnects the fake, running the OnConnect functions on a connection.
func (f *fakeUplink) setUp(up bool) {
	f.mu.Lock()
	f.up = up
	hooks := append([]func(){}, f.hooks...)
	f.mu.Unlock()
	if up {
		for _, fn := range hooks {
			go fn()
		}
	}
}

func (f *fakeUplink) messages() []route.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]route.Message(nil), f.got...)
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newRelay(t *testing.T, opts relay.Options) *relay.Relay {
	t.Helper()
	opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if opts.RetryInterval == 0 {
		opts.RetryInterval = 10 * time.Millisecond
	}
	r, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func queueLen(t *testing.T, st *store.Store) int {
	t.Helper()
	n, err := st.QueueLen(relay.DefaultQueue)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func topics(msgs []route.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(m.Topic)
	}
	return b.String()
}

func seqTopics(from, to int) string {
	var msgs []route.Message
	for i := from; i < to; i++ {
		msgs = append(msgs, route.Message{Topic: fmt.Sprintf("t/%05d", i)})
	}
	return topics(msgs)
}

// event publishes one message as the embedded broker does: the event's group is open while the
// inline subscriber runs, and commits after.
func event(st *store.Store, r *relay.Relay, token, topic, payload string, retain bool, qos byte) error {
	st.Hook().Begin(token)
	r.Offer(token, topic, []byte(payload), retain, qos)
	return st.Hook().Commit(token)
}

// TestForwardsInOrder checks topic, payload, retain flag and QoS of forwarded messages, their order,
// and that the queue is empty once the broker acknowledged them.
func TestForwardsInOrder(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(true)
	r := newRelay(t, relay.Options{Store: st, Uplink: up, Batch: 7})
	for i := range 50 {
		if err := event(st, r, fmt.Sprint("ev", i), fmt.Sprintf("t/%05d", i), fmt.Sprint(i), i%2 == 0, byte(i%3)); err != nil {
			t.Fatal(err)
		}
	}
	r.Offer("", "t/plain", []byte("no event"), true, 0)
	waitFor(t, 5*time.Second, "51 messages", func() bool { return len(up.messages()) >= 51 })
	got := up.messages()
	if len(got) != 51 {
		t.Fatalf("forwarded %d messages, want 51", len(got))
	}
	for i, m := range got[:50] {
		want := route.Message{Topic: fmt.Sprintf("t/%05d", i), Payload: []byte(fmt.Sprint(i)), Retain: i%2 == 0, QoS: byte(i % 3)}
		if fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("message %d = %+v, want %+v", i, m, want)
		}
	}
	if m := got[50]; m.Topic != "t/plain" || string(m.Payload) != "no event" || !m.Retain {
		t.Errorf("message of no event = %+v", m)
	}
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if s := r.Status(); s.Forwarded != 51 || s.Queued != 0 || s.Dropped != 0 {
		t.Errorf("Status() = %+v, want 51 forwarded, none queued or dropped", s)
	}
}

// TestCutBatch: a batch cut short by a lost connection is sent again from the first message the
// broker did not acknowledge: nothing lost, nothing twice.
func TestCutBatch(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(false)
	r := newRelay(t, relay.Options{Store: st, Uplink: up, Batch: 10})
	for i := range 25 {
		if err := event(st, r, fmt.Sprint("ev", i), fmt.Sprintf("t/%05d", i), "{}", false, 1); err != nil {
			t.Fatal(err)
		}
	}
	up.mu.Lock()
	up.cut = 4
	up.mu.Unlock()
	up.setUp(true)
	waitFor(t, 5*time.Second, "25 messages", func() bool { return len(up.messages()) >= 25 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if got, want := topics(up.messages()), seqTopics(0, 25); got != want {
		t.Errorf("forwarded\n%s\nwant\n%s", got, want)
	}
}

// TestBound: while the broker is away, the queue keeps the newest MaxQueue messages; the oldest
// are dropped and counted; when it is back the rest arrive in order.
func TestBound(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(false)
	r := newRelay(t, relay.Options{Store: st, Uplink: up, MaxQueue: 100, Batch: 16})
	for i := range 350 {
		if err := event(st, r, fmt.Sprint("ev", i), fmt.Sprintf("t/%05d", i), "{}", true, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the queue trimmed to its limit", func() bool { return queueLen(t, st) == 100 && r.Status().Dropped == 250 })
	if s := r.Status(); s.Dropped != 250 || s.Limit != 100 {
		t.Errorf("Status() = %+v, want 250 dropped, limit 100", s)
	}
	if v := metric(t, r, "hookbridge_relay_dropped_total", "queue_full"); v != 250 {
		t.Errorf("hookbridge_relay_dropped_total{reason=queue_full} = %v, want 250", v)
	}
	if v := metric(t, r, "hookbridge_relay_queued_messages", ""); v != 100 {
		t.Errorf("hookbridge_relay_queued_messages = %v, want 100", v)
	}
	up.setUp(true)
	waitFor(t, 5*time.Second, "100 messages", func() bool { return len(up.messages()) >= 100 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if got, want := topics(up.messages()), seqTopics(250, 350); got != want {
		t.Errorf("forwarded\n%s\nwant the newest 100\n%s", got, want)
	}
}

// TestLaterCommitWaits: events commit in any order; a message whose event committed first is not
// sent before an earlier message whose event is still on its way to disk.
func TestLaterCommitWaits(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(true)
	r := newRelay(t, relay.Options{Store: st, Uplink: up})
	h := st.Hook()
	h.Begin("first")
	r.Offer("first", "t/1", []byte("old state"), true, 1)
	h.Begin("second")
	r.Offer("second", "t/1", []byte("new state"), true, 1)
	if err := h.Commit("second"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := up.messages(); len(got) != 0 {
		t.Fatalf("forwarded %v before the earlier event was recorded", got)
	}
	if err := h.Commit("first"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "2 messages", func() bool { return len(up.messages()) >= 2 })
	got := up.messages()
	if string(got[0].Payload) != "old state" || string(got[1].Payload) != "new state" {
		t.Errorf("forwarded %q then %q, want the old state then the new", got[0].Payload, got[1].Payload)
	}
}

// TestUnrecordedEvent: a message whose event never reaches the disk holds the ones after it back
// for SettleTimeout at most.
func TestUnrecordedEvent(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(true)
	r := newRelay(t, relay.Options{Store: st, Uplink: up, SettleTimeout: 200 * time.Millisecond})
	st.Hook().Begin("lost") // never committed
	r.Offer("lost", "t/lost", []byte("{}"), false, 1)
	start := time.Now()
	if err := event(st, r, "kept", "t/kept", "{}", false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the message after the lost one", func() bool { return len(up.messages()) >= 1 })
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("sent after %v, want after SettleTimeout (200ms)", d)
	}
	if got := topics(up.messages()); got != "t/kept" {
		t.Errorf("forwarded %s, want t/kept", got)
	}
}

// TestRestart: what was queued when the process stopped is sent by the next run, in order.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	down := newFakeUplink(false)
	r, err := relay.New(relay.Options{Store: st, Uplink: down, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := event(st, r, fmt.Sprint("ev", i), fmt.Sprintf("t/%05d", i), "{}", false, 1); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	st.Close()

	st = openStore(t, dir)
	up := newFakeUplink(true)
	newRelay(t, relay.Options{Store: st, Uplink: up})
	waitFor(t, 5*time.Second, "30 messages", func() bool { return len(up.messages()) >= 30 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if got, want := topics(up.messages()), seqTopics(0, 30); got != want {
		t.Errorf("forwarded\n%s\nwant\n%s", got, want)
	}
}

// TestBadRecord: a record that does not decode is dropped and counted, and does not stop the queue.
func TestBadRecord(t *testing.T) {
	st := openStore(t, t.TempDir())
	if err := st.Write(st.QueueOp(relay.DefaultQueue, []byte{9, 9, 9})); err != nil {
		t.Fatal(err)
	}
	up := newFakeUplink(true)
	r := newRelay(t, relay.Options{Store: st, Uplink: up})
	if err := event(st, r, "ev", "t/ok", "{}", false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the good message", func() bool { return len(up.messages()) >= 1 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if got := topics(up.messages()); got != "t/ok" {
		t.Errorf("forwarded %s, want t/ok", got)
	}
	if v := metric(t, r, "hookbridge_relay_dropped_total", "bad_record"); v != 1 {
		t.Errorf("hookbridge_relay_dropped_total{reason=bad_record} = %v, want 1", v)
	}
}

// metric gathers the relay's metrics through a pedantic registry and returns one value; reason
// picks a label value, "" a metric without labels.
func metric(t *testing.T, r *relay.Relay, name, reason string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != reason) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{%s} not gathered", name, reason)
	return 0
}

// TestForget deletes a vendor's queued messages while Home Assistant's broker is away: once it is
// back, the others go out in order, without waiting for the deleted ones to reach the disk (the
// settle timeout is longer than the test waits), and none of the vendor's.
func TestForget(t *testing.T) {
	st := openStore(t, t.TempDir())
	up := newFakeUplink(false)
	r := newRelay(t, relay.Options{Store: st, Uplink: up, SettleTimeout: time.Minute})
	var want []route.Message
	for i := range 6 {
		topic := fmt.Sprintf("hb/acme/locks/%d/state", i)
		if i%2 == 1 {
			topic = fmt.Sprintf("hb/other/meter/%d", i)
			want = append(want, route.Message{Topic: topic})
		}
		if err := event(st, r, fmt.Sprint("ev", i), topic, "{}", true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := event(st, r, "ev-2", "hb/acme-two/x", "{}", false, 1); err != nil {
		t.Fatal(err)
	}
	want = append(want, route.Message{Topic: "hb/acme-two/x"})
	n, err := r.Forget("hb/acme/")
	if err != nil || n != 3 {
		t.Fatalf("Forget(hb/acme/) = %d, %v, want 3", n, err)
	}
	if got := queueLen(t, st); got != 4 {
		t.Errorf("queue holds %d after Forget, want 4", got)
	}
	if _, err := r.Forget("hb/acme"); err == nil {
		t.Errorf("Forget(hb/acme) = nil error, want one: it would take hb/acme-two too")
	}
	up.setUp(true)
	waitFor(t, 5*time.Second, "4 messages", func() bool { return len(up.messages()) >= 4 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return queueLen(t, st) == 0 })
	if got := topics(up.messages()); got != topics(want) {
		t.Errorf("forwarded %s, want %s", got, topics(want))
	}
}
