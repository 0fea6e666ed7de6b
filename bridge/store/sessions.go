package store

import (
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"go.etcd.io/bbolt"
)

// sessionBuckets hold a session's records under its id + NUL: its subscriptions and its queued
// messages.
var sessionBuckets = [][]byte{bucketSubs, bucketInflight}

// storedSessionOps returns the ops that delete a session's records on disk: its client record,
// its subscriptions and its queued messages.
func storedSessionOps(tx *bbolt.Tx, id string) []Op {
	ops := []Op{{Bucket: bucketClients, Key: clientKey(id)}}
	for _, b := range sessionBuckets {
		ops = append(ops, prefixDeletes(tx, b, []byte(id+"\x00"))...)
	}
	return ops
}

// sessionOpsLocked returns the ops that delete a session's records: its client record, its
// subscriptions and its queued messages, those on disk and those staged in a pending event's
// group (which would otherwise be written after the deletion). s.mu must be held.
func (h *Hook) sessionOpsLocked(tx *bbolt.Tx, id string) []Op {
	ops := storedSessionOps(tx, id)
	for _, b := range sessionBuckets {
		bp := string(b) + "\x00" + id + "\x00"
		for sk := range h.staged {
			if len(sk) > len(bp) && sk[:len(bp)] == bp {
				ops = append(ops, Op{Bucket: b, Key: []byte(sk[len(b)+1:])})
			}
		}
	}
	return ops
}

// DeleteSession deletes a session's records (client, subscriptions, queued messages) and waits
// until the deletion is on disk. The broker must have forgotten the session first, so that
// nothing writes its records again.
func (h *Hook) DeleteSession(id string) error {
	var ops []Op
	err := h.s.db.View(func(tx *bbolt.Tx) error {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		ops = h.sessionOpsLocked(tx, id)
		for _, op := range ops {
			h.cancelStagedLocked(op)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return h.s.Write(ops...)
}

// cancelStagedLocked drops a staged put of op's key from its pending group. s.mu must be held.
func (h *Hook) cancelStagedLocked(op Op) {
	sk := string(op.Bucket) + "\x00" + string(op.Key)
	if g := h.staged[sk]; g != nil {
		g.ops[g.idx[sk]].Bucket = nil
		delete(g.idx, sk)
		delete(h.staged, sk)
	}
}

// PurgeSessions deletes, before the broker reads the store, every stored session that keep
// refuses (given its client id and username), with its subscriptions and queued messages, and the
// subscriptions and queued messages of sessions that have no client record. It returns how many
// sessions it deleted.
func (h *Hook) PurgeSessions(keep func(id string, username []byte) bool) (int, error) {
	var ops []Op
	purged := 0
	err := h.s.db.View(func(tx *bbolt.Tx) error {
		kept := map[string]bool{}
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		err := tx.Bucket(bucketClients).ForEach(func(k, v []byte) error {
			var c storage.Client
			if err := c.UnmarshalBinary(v); err != nil || c.ID != string(k) || !keep(c.ID, c.Username) {
				// Only the client record here: the sweeps below delete its subscriptions and
				// queued messages by their owner. By key prefix they would also take those of a
				// kept session whose id starts with this one and a NUL (a 0.1 client id "sensor"
				// and account sensor's session "sensor\x00panel"). Nothing is staged yet.
				purged++
				ops = append(ops, Op{Bucket: bucketClients, Key: append([]byte(nil), k...)})
				return nil
			}
			kept[c.ID] = true
			return nil
		})
		if err != nil {
			return err
		}
		// Records of no kept session: their owner was purged above, or never had a client record
		// (mochi restores neither).
		err = tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
			var sub storage.Subscription
			if err := sub.UnmarshalBinary(v); err != nil || !kept[sub.Client] {
				ops = append(ops, Op{Bucket: bucketSubs, Key: append([]byte(nil), k...)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketInflight).ForEach(func(k, v []byte) error {
			var m storage.Message
			if err := decodeMessage(v, &m); err != nil || !kept[m.Client] {
				ops = append(ops, Op{Bucket: bucketInflight, Key: append([]byte(nil), k...)})
			}
			return nil
		})
	})
	if err != nil || len(ops) == 0 {
		return purged, err
	}
	return purged, h.s.Write(ops...)
}
