package store

import (
	"reflect"
	"testing"
)

// TestEntityTopics: the known entity topics survive a reopen, are listed by vendor and topic, and
// one vendor's are deleted without touching another's (one vendor's name is a prefix of the other's).
func TestEntityTopics(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []EntityTopic{
		{"acme", "hb/acme/locks/b/state", []byte(`{"b":1}`)},
		{"acme", "hb/acme/locks/a/state", []byte(`{"a":1}`)},
		{"acme-2", "hb/acme-2/x", []byte(`{}`)},
	} {
		if err := s.PutEntityTopic(e.Vendor, e.Topic, e.Record); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	got, err := s.EntityTopics()
	want := []EntityTopic{
		{"acme", "hb/acme/locks/a/state", []byte(`{"a":1}`)},
		{"acme", "hb/acme/locks/b/state", []byte(`{"b":1}`)},
		{"acme-2", "hb/acme-2/x", []byte(`{}`)},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("EntityTopics() = %v, %v; want %v", got, err, want)
	}
	if err := s.DeleteEntityTopic("acme", "hb/acme/locks/a/state"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteEntityTopics("acme"); n != 1 || err != nil {
		t.Fatalf("DeleteEntityTopics(acme) = %d, %v; want 1", n, err)
	}
	got, _ = s.EntityTopics()
	if !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("EntityTopics() after deletes = %v, want %v", got, want[2:])
	}
	if n, err := s.DeleteEntityTopics("nobody"); n != 0 || err != nil {
		t.Errorf("DeleteEntityTopics(nobody) = %d, %v; want 0", n, err)
	}
}
