package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"go.etcd.io/bbolt"
)

// A vendor's lifecycle state: what is known of each of its secrets (by keyed digest, never the
// secret), when it last had an event accepted, and whether it was offboarded. And the deletions
// that offboarding makes in the store.
var (
	// bucketSecrets holds vendor + NUL + digest -> SecretUse (JSON).
	bucketSecrets = []byte("secret_use")
	// bucketActivity holds vendor -> Activity (JSON).
	bucketActivity = []byte("activity")
	// bucketOffboarded holds vendor -> the offboarding's report (JSON, the caller's).
	bucketOffboarded = []byte("offboarded")
)

func init() { allBuckets = append(allBuckets, bucketSecrets, bucketActivity, bucketOffboarded) }

// SecretUse is what is known of one of a vendor's secrets, known by its keyed digest.
type SecretUse struct {
	Vendor string `json:"-"`
	Digest string `json:"-"`
	// FirstSeen is when a start first found the secret in the options.
	FirstSeen time.Time `json:"first_seen"`
	// FirstVerified and LastVerified are when it first and last verified a webhook; zero when it
	// never did.
	FirstVerified time.Time `json:"first_verified,omitzero"`
	LastVerified  time.Time `json:"last_verified,omitzero"`
}

func secretKey(vendor, digest string) []byte { return []byte(vendor + "\x00" + digest) }

// SecretUseOp returns the op that stores what is known of a secret.
func SecretUseOp(u SecretUse) Op {
	data, _ := json.Marshal(u) // times and strings only
	return Op{Bucket: bucketSecrets, Key: secretKey(u.Vendor, u.Digest), Value: data}
}

// DeleteSecretUseOp returns the op that forgets a secret.
func DeleteSecretUseOp(vendor, digest string) Op {
	return Op{Bucket: bucketSecrets, Key: secretKey(vendor, digest)}
}

// SecretUses returns what is known of every secret, ordered by vendor and digest. A record that
// does not decode is left out.
func (s *Store) SecretUses() ([]SecretUse, error) {
	var out []SecretUse
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSecrets).ForEach(func(k, v []byte) error {
			vendor, digest, ok := strings.Cut(string(k), "\x00")
			var u SecretUse
			if !ok || json.Unmarshal(v, &u) != nil {
				return nil
			}
			u.Vendor, u.Digest = vendor, digest
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// Activity is what is kept of a vendor's traffic across restarts.
type Activity struct {
	// Since is when a start first tracked the vendor: the silence of a vendor that never sent
	// counts from then.
	Since time.Time `json:"since,omitzero"`
	// LastAccepted is when an event of the vendor was last accepted.
	LastAccepted time.Time `json:"last_accepted,omitzero"`
}

// ActivityOp returns the op that stores a vendor's activity.
func ActivityOp(vendor string, a Activity) Op {
	data, _ := json.Marshal(a)
	return Op{Bucket: bucketActivity, Key: []byte(vendor), Value: data}
}

// Activities returns every stored vendor's activity.
func (s *Store) Activities() (map[string]Activity, error) {
	out := map[string]Activity{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketActivity).ForEach(func(k, v []byte) error {
			var a Activity
			if json.Unmarshal(v, &a) == nil {
				out[string(k)] = a
			}
			return nil
		})
	})
	return out, err
}

// PutOffboarded records that a vendor was offboarded, with a report of what was removed, durably.
func (s *Store) PutOffboarded(vendor string, report []byte) error {
	if err := checkVendor(vendor); err != nil {
		return err
	}
	return s.Write(Op{Bucket: bucketOffboarded, Key: []byte(vendor), Value: report})
}

// DeleteOffboarded forgets that a vendor was offboarded (it was taken on again).
func (s *Store) DeleteOffboarded(vendor string) error {
	if err := checkVendor(vendor); err != nil {
		return err
	}
	return s.Write(Op{Bucket: bucketOffboarded, Key: []byte(vendor)})
}

// Offboarded returns the reports of the vendors offboarded, by name.
func (s *Store) Offboarded() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOffboarded).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

// Forgotten counts what ForgetVendor deleted.
type Forgotten struct {
	// Replay is the vendor's replay records.
	Replay int `json:"replay_records"`
	// Secrets and Activity are the records of its secrets' use and of its last event.
	Secrets  int `json:"secret_records"`
	Activity int `json:"activity_records"`
	// Learnt is 1 when what learn mode recorded of it was deleted.
	Learnt int `json:"learnt"`
}

// ForgetVendor deletes, durably and in one transaction, what the store keeps of a vendor beside
// its messages: its replay records (a request of it captured before is new again: offboarding is
// for vendors that are gone), what is known of its secrets' use and its last event, and what learn
// mode recorded.
func (s *Store) ForgetVendor(vendor string) (Forgotten, error) {
	if err := checkVendor(vendor); err != nil {
		return Forgotten{}, err
	}
	var f Forgotten
	var ops []Op
	err := s.db.View(func(tx *bbolt.Tx) error {
		_ = tx.Bucket(bucketSeenByTime).ForEach(func(k, v []byte) error {
			if len(k) > 8 && string(v) == vendor {
				ops = append(ops, Op{Bucket: bucketSeenByTime, Key: bytes.Clone(k)})
				f.Replay++
			}
			return nil
		})
		secrets := prefixDeletes(tx, bucketSecrets, []byte(vendor+"\x00"))
		ops = append(ops, secrets...)
		f.Secrets = len(secrets)
		if tx.Bucket(bucketActivity).Get([]byte(vendor)) != nil {
			ops = append(ops, Op{Bucket: bucketActivity, Key: []byte(vendor)})
			f.Activity++
		}
		if tx.Bucket(bucketLearnt).Get([]byte(vendor)) != nil {
			ops = append(ops, LearntOp(vendor, nil))
			f.Learnt++
		}
		return nil
	})
	if err != nil || len(ops) == 0 {
		return f, err
	}
	if err := s.Write(ops...); err != nil {
		return Forgotten{}, err
	}
	s.seenMu.Lock()
	for _, op := range ops {
		if string(op.Bucket) == string(bucketSeenByTime) {
			id, at := splitSeenKey(op.Key)
			if s.seen[id] == at {
				delete(s.seen, id)
			}
		}
	}
	s.seenMu.Unlock()
	return f, nil
}

// ForgetTopics deletes, durably, the broker's stored messages on topics under prefix (which ends
// with "/"): retained messages, and the messages queued for sessions (inflight). It returns how
// many of each it deleted. A running broker holds them in memory too: the broker's own Forget
// removes them there and calls this.
func (s *Store) ForgetTopics(prefix string) (retained, queued int, err error) {
	if !strings.HasSuffix(prefix, "/") {
		return 0, 0, fmt.Errorf("store: forget topics: prefix %q must end with /", prefix)
	}
	var ops []Op
	err = s.db.View(func(tx *bbolt.Tx) error {
		ops = prefixDeletes(tx, bucketRetained, []byte(prefix))
		retained = len(ops)
		return tx.Bucket(bucketInflight).ForEach(func(k, v []byte) error {
			var m storage.Message
			if decodeMessage(v, &m) == nil && strings.HasPrefix(m.TopicName, prefix) {
				ops = append(ops, Op{Bucket: bucketInflight, Key: bytes.Clone(k)})
				queued++
			}
			return nil
		})
	})
	if err != nil || len(ops) == 0 {
		return retained, queued, err
	}
	if err := s.Write(ops...); err != nil {
		return 0, 0, err
	}
	return retained, queued, nil
}

// DeleteQueued deletes, durably, the records of a named queue that match, and returns their keys.
func (s *Store) DeleteQueued(queue string, match func(record []byte) bool) ([][]byte, error) {
	prefix := append([]byte(queue), 0)
	var ops []Op
	var keys [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if match(v) {
				key := bytes.Clone(k)
				ops = append(ops, QueueDelete(key))
				keys = append(keys, key)
			}
		}
		return nil
	})
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	return keys, s.Write(ops...)
}
