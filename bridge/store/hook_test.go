package store

import (
	"sync"
	"testing"
	"time"

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
