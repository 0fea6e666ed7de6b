package store

import (
	"bytes"
	"encoding/binary"

	"go.etcd.io/bbolt"
)

// bucketQueue holds durable outgoing queues (the MQTT bridge's forwards to the Supervisor's
// broker): queue name + NUL + sequence (8 bytes BE) -> record.
var bucketQueue = []byte("queue")

func init() { allBuckets = append(allBuckets, bucketQueue) }

// QueueOp returns the op that appends a record to a named queue. The sequence makes the key order
// the append order, across restarts too.
func (s *Store) QueueOp(queue string, record []byte) Op {
	k := make([]byte, len(queue)+9)
	copy(k, queue)
	binary.BigEndian.PutUint64(k[len(queue)+1:], s.nextSeq())
	return Op{Bucket: bucketQueue, Key: k, Value: record}
}

// Stage writes op with an event's records when the event is pending (so it commits in the event's
// transaction, and becomes visible only then), else queues it for the next transaction. Broker
// hooks and inline subscribers that react to an event's messages use it.
func (s *Store) Stage(eventToken string, op Op) { s.hook.write(eventToken, op) }

// QueueEntry is one record of a queue.
type QueueEntry struct {
	Key    []byte
	Record []byte
}

// QueueHead returns up to n of a queue's oldest records, in order.
func (s *Store) QueueHead(queue string, n int) ([]QueueEntry, error) {
	prefix := append([]byte(queue), 0)
	var out []QueueEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(out) < n && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, QueueEntry{Key: append([]byte(nil), k...), Record: append([]byte(nil), v...)})
		}
		return nil
	})
	return out, err
}

// QueueLen returns how many records a queue holds.
func (s *Store) QueueLen(queue string) (int, error) {
	prefix := append([]byte(queue), 0)
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// QueueDelete returns the op that removes a queue record.
func QueueDelete(key []byte) Op { return Op{Bucket: bucketQueue, Key: key} }
