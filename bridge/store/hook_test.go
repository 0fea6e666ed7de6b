package store

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// TestHoldUntilOnDisk: a subscriber's writer that reaches an event's message while the event's
// transaction is being written must wait for it to be on disk. Commit used to drop the event from
// its pending set before the write finished, so a writer arriving during the fsync (a slow disk,
// a loaded machine) sent the message at once; a crash then lost the event's replay record while
// the device had the message, and the vendor's retry was published a second time.
func TestHoldUntilOnDisk(t *testing.T) {
	s := openTest(t, Options{})
	h := s.Hook()
	const token = "0123456789abcdef0123456789abcdef"

	// Hold the database's one write transaction, so the committer's write blocks in mid-commit.
	inWrite, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the store's own cleanup closes it
	go s.db.Update(func(*bbolt.Tx) error {
		close(inWrite)
		<-release
		return nil
	})
	<-inWrite

	h.Begin(token)
	committed := make(chan error, 1)
	go func() { committed <- h.Commit(token, SeenOps("v", token, time.Now())...) }()
	// Let Commit hand its ops to the committer, which then waits for the held transaction.
	time.Sleep(100 * time.Millisecond)

	held := make(chan struct{})
	go func() {
		h.waitFor(token) // what OnPacketEncode does for the event's message
		close(held)
	}()
	select {
	case <-held:
		t.Fatal("a writer was let through while the event's transaction was not on disk")
	case <-time.After(100 * time.Millisecond):
	}
	unblock()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer was never released after the commit")
	}
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Seen(token); !ok {
		t.Error("the replay record is not indexed after the commit")
	}
}

// TestUnsubscribedDeletesOnlyStored: an UNSUBSCRIBE used to queue a delete for every filter it
// named, for clean sessions and filters never subscribed to as well, so one device could fill the
// write queue with millions of deletes. Only a subscription the session has stored is deleted.
func TestUnsubscribedDeletesOnlyStored(t *testing.T) {
	s := openTest(t, Options{})
	h := s.Hook()
	srv := mqtt.New(nil)
	client := func(id string, clean bool) *mqtt.Client {
		cl := srv.NewClient(nil, "test", id, false)
		cl.Properties.ProtocolVersion = 4
		cl.Properties.Clean = clean
		return cl
	}
	filters := func(fs ...string) packets.Packet {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}}
		for _, f := range fs {
			pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
		}
		return pk
	}
	persistent := client("dev\x00persistent", false)
	h.OnSubscribed(persistent, filters("a/1", "a/2"), []byte{1, 1}) // stored before it returns
	never := make([]string, 1000)
	for i := range never {
		never[i] = fmt.Sprintf("never/%d", i)
	}
	for _, c := range []struct {
		name    string
		cl      *mqtt.Client
		filters []string
		want    int64 // writes
	}{
		{"a clean session", client("dev\x00clean", true), never, 0},
		{"filters never subscribed to", persistent, never, 0},
		{"one stored among them", persistent, append([]string{"a/1"}, never...), 1},
		{"one already deleted", persistent, []string{"a/1"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Write(); err != nil { // nothing queued before
				t.Fatal(err)
			}
			before := s.Stats().Ops
			h.OnUnsubscribed(c.cl, filters(c.filters...))
			if err := s.Write(); err != nil { // what OnUnsubscribed queued is on disk
				t.Fatal(err)
			}
			if got := s.Stats().Ops - before; got != c.want {
				t.Errorf("OnUnsubscribed(%d filters) wrote %d records, want %d", len(c.filters), got, c.want)
			}
		})
	}
	subs, err := h.StoredSubscriptions()
	if err != nil || len(subs) != 1 || subs[0].Filter != "a/2" {
		t.Errorf("stored subscriptions = %+v, %v; want a/2 only", subs, err)
	}
}

// seqLog is a Sequencer that records what it is handed back.
type seqLog struct {
	mu       sync.Mutex
	seqs     map[string]uint64 // client + "/" + packet id -> sequence
	restored map[string]uint64
}

func seqKey(id string, packetID uint16) string { return fmt.Sprintf("%s/%d", id, packetID) }

func (l *seqLog) Seq(id string, packetID uint16) uint64 { return l.seqs[seqKey(id, packetID)] }

func (l *seqLog) Restore(id string, packetID uint16, seq uint64) {
	l.mu.Lock()
	l.restored[seqKey(id, packetID)] = seq
	l.mu.Unlock()
}

// Each inflight message is stored with its queue sequence and handed back with it; records
// stored without one (before 0.2) get 1, 2, ... per session in the order of their time, then
// packet id.
func TestInflightSequencesStored(t *testing.T) {
	s := openTest(t, Options{NoSync: true})
	h := s.Hook()
	l := &seqLog{seqs: map[string]uint64{"new/7": 5000, "new/2": 6000}, restored: map[string]uint64{}}
	h.SetSequencer(l)
	cl := &mqtt.Client{ID: "new"}
	cl.Properties.ProtocolVersion = 4
	for _, id := range []uint16{7, 2} {
		h.OnQosPublish(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			PacketID: id, TopicName: "p/v/x", Created: 100}, 100, 0)
	}
	// Records of before 0.2: packet ids out of time order, two in one second.
	var ops []Op
	for _, r := range []struct {
		id      uint16
		created int64
	}{{1, 300}, {9, 200}, {4, 200}} {
		m := storage.Message{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "p/v/x",
			Client: "old", Created: r.created, PacketID: r.id}
		ops = append(ops, Op{Bucket: bucketInflight, Key: inflightKey("old", r.id), Value: encodeMessage(&m)})
	}
	if err := s.Write(ops...); err != nil {
		t.Fatal(err)
	}
	msgs, err := h.StoredInflightMessages()
	if err != nil || len(msgs) != 5 {
		t.Fatalf("StoredInflightMessages() = %d messages, %v, want 5, nil", len(msgs), err)
	}
	want := map[string]uint64{"new/7": 5000, "new/2": 6000, "old/4": 1, "old/9": 2, "old/1": 3}
	for k, v := range want {
		if got := l.restored[k]; got != v {
			t.Errorf("restored sequence of %s = %d, want %d (all: %v)", k, got, v, l.restored)
		}
	}
}
