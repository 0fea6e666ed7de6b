package store

import (
	"bytes"
	"strings"

	"go.etcd.io/bbolt"
)

// bucketEntities holds the topics for which Home Assistant entities were announced (discovery of
// route entities): vendor + NUL + topic -> a record that discovery writes (which discovery configs
// it announced for the topic). It is what lets a restart announce them again and remove the
// entities of a route or vendor that is gone, without asking the broker.
var bucketEntities = []byte("ha_entities")

func init() { allBuckets = append(allBuckets, bucketEntities) }

// EntityTopic is one topic with announced entities.
type EntityTopic struct {
	Vendor string
	Topic  string
	Record []byte
}

func entityKey(vendor, topic string) []byte {
	return []byte(vendor + "\x00" + topic)
}

// PutEntityTopic records a topic's entities and waits until the record is on disk.
func (s *Store) PutEntityTopic(vendor, topic string, record []byte) error {
	return s.Write(Op{Bucket: bucketEntities, Key: entityKey(vendor, topic), Value: record})
}

// DeleteEntityTopic removes a topic's record and waits until that is on disk.
func (s *Store) DeleteEntityTopic(vendor, topic string) error {
	return s.Write(Op{Bucket: bucketEntities, Key: entityKey(vendor, topic)})
}

// EntityTopics returns every recorded topic, ordered by vendor and topic.
func (s *Store) EntityTopics() ([]EntityTopic, error) {
	var out []EntityTopic
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketEntities).ForEach(func(k, v []byte) error {
			vendor, topic, ok := strings.Cut(string(k), "\x00")
			if !ok {
				return nil
			}
			out = append(out, EntityTopic{Vendor: vendor, Topic: topic, Record: bytes.Clone(v)})
			return nil
		})
	})
	return out, err
}

// DeleteEntityTopics removes every record of a vendor (offboarding while stopped) and returns how
// many there were. The entities' retained discovery configs are cleared by the next start, which
// finds them on Home Assistant's broker with no record behind them.
func (s *Store) DeleteEntityTopics(vendor string) (int, error) {
	var ops []Op
	err := s.db.View(func(tx *bbolt.Tx) error {
		ops = prefixDeletes(tx, bucketEntities, []byte(vendor+"\x00"))
		return nil
	})
	if err != nil || len(ops) == 0 {
		return 0, err
	}
	return len(ops), s.Write(ops...)
}
