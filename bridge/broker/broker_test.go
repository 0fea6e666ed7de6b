package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/store"
)

const filter = "p/v/+"

// openStore opens a store in a temporary directory, closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startBroker(t *testing.T, st *store.Store) *Broker {
	t.Helper()
	b, err := New(Options{
		Accounts: []Account{{Username: "dev", Password: "pw-12345678", Read: []string{"p/v/+"}}},
		Store:    st,
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return b
}

type recorder struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (r *recorder) handle(_ paho.Client, m paho.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func connect(t *testing.T, addr, id string, clean bool, rec *recorder, noAck bool) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetUsername("dev").
		SetPassword("pw-12345678").SetCleanSession(clean).SetAutoReconnect(false).SetAutoAckDisabled(noAck)
	opts.SetDefaultPublishHandler(rec.handle)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	return c
}

func subscribe(t *testing.T, c paho.Client) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("subscribe timed out")
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	return 0x80
}

func publishEvent(t *testing.T, b *Broker, st *store.Store, token string, n int) {
	t.Helper()
	var msgs []route.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, route.Message{Topic: fmt.Sprintf("p/v/%s-%d", token, i), Payload: []byte(`{}`), QoS: 1})
	}
	if err := b.Publish(context.Background(), &publish.Event{Vendor: "v", Token: token, Messages: msgs, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func waitCount(t *testing.T, r *recorder, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d messages, want %d", r.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that resumes a session holding queued messages and subscribes again must not be refused
// because its SUBSCRIBE's packet id equals one of the queued messages' ids (mochi shares one id
// space for both directions).
func TestResumeSubscribeWithQueuedMessages(t *testing.T) {
	st := openStore(t)
	b := startBroker(t, st)
	defer b.Close()
	rec := &recorder{}
	c := connect(t, b.Addr(), "resumer", false, rec, false)
	if code := subscribe(t, c); code != 1 {
		t.Fatalf("first subscribe = 0x%02x, want 1", code)
	}
	c.Disconnect(50)
	time.Sleep(50 * time.Millisecond)
	publishEvent(t, b, st, "e1", 5) // queued with packet ids 1..5

	rec2 := &recorder{}
	c2 := connect(t, b.Addr(), "resumer", false, rec2, false)
	defer c2.Disconnect(50)
	for i := 0; i < 3; i++ { // paho numbers these from 1: they collide with the queued ids
		if code := subscribe(t, c2); code != 1 {
			t.Fatalf("subscribe %d after resuming = 0x%02x, want 1 (granted)", i, code)
		}
	}
	waitCount(t, rec2, 5)
}

// Taking over a session (a reconnect with the same id) keeps the queued messages' records, with
// their packet ids, until the client acknowledges them; and a restart restores them.
func TestTakeoverKeepsInflightRecords(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, st)
	rec := &recorder{}
	c := connect(t, b.Addr(), "taker", false, rec, false)
	subscribe(t, c)
	c.Disconnect(50)
	time.Sleep(50 * time.Millisecond)
	publishEvent(t, b, st, "e1", 3)

	// Reconnect without acknowledging anything.
	noack := &recorder{}
	c2 := connect(t, b.Addr(), "taker", false, noack, true)
	waitCount(t, noack, 3)
	c2.Disconnect(50)
	time.Sleep(50 * time.Millisecond)
	msgs, err := st.Hook().StoredInflightMessages()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint16]bool{}
	for _, m := range msgs {
		ids[m.PacketID] = true
	}
	if len(msgs) != 3 || len(ids) != 3 || ids[0] {
		t.Fatalf("stored inflight after takeover: %d messages with ids %v, want 3 distinct non-zero ids", len(msgs), ids)
	}

	// Restart: the session gets them again (as redeliveries), and after acknowledging, they are gone.
	b.Close()
	st.Close()
	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b = startBroker(t, st)
	defer b.Close()
	again := &recorder{}
	c3 := connect(t, b.Addr(), "taker", false, again, false)
	waitCount(t, again, 3)
	again.mu.Lock()
	for _, m := range again.msgs {
		if !m.Duplicate() {
			t.Errorf("restored message %s without DUP", m.Topic())
		}
	}
	again.mu.Unlock()
	c3.Disconnect(50)
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, _ := st.Hook().StoredInflightMessages()
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d inflight records left after acknowledgement", len(msgs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A refused subscription is never stored, so it is not restored after a restart.
func TestRefusedSubscriptionNotStored(t *testing.T) {
	st := openStore(t)
	b := startBroker(t, st)
	defer b.Close()
	c := connect(t, b.Addr(), "refused", false, &recorder{}, false)
	defer c.Disconnect(50)
	tok := c.Subscribe("p/#", 1, nil)
	tok.WaitTimeout(5 * time.Second)
	subscribe(t, c)
	subs, err := st.Hook().StoredSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].Filter != filter {
		t.Fatalf("stored subscriptions = %+v, want only %s", subs, filter)
	}
}

// An event's messages reach subscribers only after its records are on disk.
func TestDeliveryWaitsForCommit(t *testing.T) {
	st := openStore(t)
	b := startBroker(t, st)
	defer b.Close()
	rec := &recorder{}
	c := connect(t, b.Addr(), "watcher", true, rec, false)
	defer c.Disconnect(50)
	subscribe(t, c)

	st.Hook().Begin("held")
	if err := b.PublishPlain("p/v/unrelated", []byte("x"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitCount(t, rec, 1) // a message of no event passes
	// Publish the event's message by hand, without committing.
	pk := route.Message{Topic: "p/v/held", Payload: []byte(`{}`), QoS: 1}
	held := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		held <- st.Hook().Commit("held", store.SeenOps("v", "held", time.Now())...)
	}()
	if err := b.publishHeld("held", pk); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if n := rec.count(); n != 1 {
		t.Fatalf("the event's message arrived before its commit (%d messages)", n)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	waitCount(t, rec, 2)
	if ok, _ := st.Seen("held"); !ok {
		t.Fatal("replay record not written with the event")
	}
}

// TestRetainedPublishWhileSubscribing runs retained publishes against wildcard subscriptions, the
// interleaving in which mochi v2.7.9 reads a topic's retainPath without its lock; under -race it
// fails without the retain guard.
func TestRetainedPublishWhileSubscribing(t *testing.T) {
	b := startBroker(t, nil)
	defer b.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 400; i++ {
			if err := b.PublishPlain(fmt.Sprintf("p/v/t%d", i%50), []byte("x"), true, 1); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		c := connect(t, b.Addr(), fmt.Sprintf("sub-%d", i), true, &recorder{}, false)
		subscribe(t, c)
		c.Disconnect(10)
	}
	<-done
}

// TestPublishBatch: several events in one Publish are one transaction: every event's replay
// record and every message queued for a persistent session commit together, and the session gets
// the messages in order.
func TestPublishBatch(t *testing.T) {
	st := openStore(t)
	b := startBroker(t, st)
	defer b.Close()
	rec := &recorder{}
	c := connect(t, b.Addr(), "batch", false, rec, false)
	if code := subscribe(t, c); code != 1 {
		t.Fatalf("subscribe = 0x%02x, want 1", code)
	}
	c.Disconnect(50)
	time.Sleep(50 * time.Millisecond) // offline: its messages are queued in the store
	before := st.Stats().Commits
	var evs []*publish.Event
	for i := range 3 {
		tok := fmt.Sprintf("%032x", 0xb0+i)
		evs = append(evs, &publish.Event{Vendor: "v", Token: tok, At: time.Now(),
			Messages: []route.Message{{Topic: fmt.Sprintf("p/v/batch-%d", i), Payload: []byte(`{}`), QoS: 1}}})
	}
	if err := b.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if got := st.Stats().Commits - before; got != 1 {
		t.Errorf("commits for a batch of 3 = %d, want 1", got)
	}
	for _, ev := range evs {
		if seen, err := st.Seen(ev.Token); err != nil || !seen {
			t.Errorf("Seen(%s) = %v, %v; want true", ev.Token, seen, err)
		}
	}
	rec2 := &recorder{}
	c2 := connect(t, b.Addr(), "batch", false, rec2, false)
	defer c2.Disconnect(50)
	waitCount(t, rec2, 3)
	rec2.mu.Lock()
	defer rec2.mu.Unlock()
	for i, m := range rec2.msgs {
		if want := fmt.Sprintf("p/v/batch-%d", i); m.Topic() != want {
			t.Errorf("message %d on %s, want %s", i, m.Topic(), want)
		}
	}
}
