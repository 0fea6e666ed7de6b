package store

import (
	"errors"

	"go.etcd.io/bbolt"
)

// bucketLearnt holds what learn mode recorded per vendor: vendor -> its learnt structure as
// bridge/learn encodes it (the store does not read it). It holds structure only: paths, types,
// counts, and no value of an event but qualified enum candidates and event type names.
var bucketLearnt = []byte("learnt")

func init() { allBuckets = append(allBuckets, bucketLearnt) }

// ErrVendorName reports a vendor name that cannot be a key.
var ErrVendorName = errors.New("vendor name empty or too long")

// maxVendorKey bounds a vendor key; vendor names are slugs of at most 63 bytes.
const maxVendorKey = 255

// checkVendor returns ErrVendorName for a vendor name that cannot be a key. Writers check it
// before queuing: a bad key would fail the whole shared transaction, other writers' too.
func checkVendor(vendor string) error {
	if vendor == "" || len(vendor) > maxVendorKey {
		return ErrVendorName
	}
	return nil
}

// LearntOp returns the op that stores a vendor's learnt structure, or deletes it when data is
// nil, for a caller that writes it with other ops.
func LearntOp(vendor string, data []byte) Op {
	return Op{Bucket: bucketLearnt, Key: []byte(vendor), Value: data}
}

// PutLearnt stores a vendor's learnt structure durably, replacing the one before. Learn mode
// saves a snapshot now and then (and at shutdown), not one per event.
func (s *Store) PutLearnt(vendor string, data []byte) error {
	if err := checkVendor(vendor); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	return s.Write(LearntOp(vendor, data))
}

// DeleteLearnt forgets a vendor's learnt structure: when it goes live or is offboarded.
func (s *Store) DeleteLearnt(vendor string) error {
	if err := checkVendor(vendor); err != nil {
		return err
	}
	return s.Write(LearntOp(vendor, nil))
}

// Learnt returns a vendor's stored learnt structure, or nil when there is none.
func (s *Store) Learnt(vendor string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketLearnt).Get([]byte(vendor)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}

// LearntVendors returns the vendors that have a stored learnt structure, sorted.
func (s *Store) LearntVendors() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLearnt).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}
