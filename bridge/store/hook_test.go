package store

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
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
