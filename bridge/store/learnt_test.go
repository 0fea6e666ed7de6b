package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestLearnt(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Learnt("acme"); got != nil || err != nil {
		t.Fatalf("Learnt(acme) before any = %q, %v; want nil, nil", got, err)
	}
	for _, v := range []string{"zeta", "acme"} {
		if err := s.PutLearnt(v, []byte(`{"version":1,"vendor":"`+v+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutLearnt("acme", []byte(`{"version":1,"vendor":"acme","events":2}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", string(bytes.Repeat([]byte("a"), 256))} {
		if err := s.PutLearnt(bad, []byte("x")); !errors.Is(err, ErrVendorName) {
			t.Errorf("PutLearnt(%.10q) = %v, want ErrVendorName", bad, err)
		}
	}
	// The store still writes after a refused put.
	if err := s.Write(SeenOps("acme", "tok", time.Now())...); err != nil {
		t.Fatalf("Write after a refused put = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := mustLearnt(t, s, "acme"), `{"version":1,"vendor":"acme","events":2}`; string(got) != want {
		t.Errorf("Learnt(acme) after reopen = %s, want %s", got, want)
	}
	if got, err := s.LearntVendors(); err != nil || !reflect.DeepEqual(got, []string{"acme", "zeta"}) {
		t.Errorf("LearntVendors() = %q, %v; want acme, zeta", got, err)
	}
	if err := s.DeleteLearnt("zeta"); err != nil {
		t.Fatal(err)
	}
	if got := mustLearnt(t, s, "zeta"); got != nil {
		t.Errorf("Learnt(zeta) after DeleteLearnt = %q, want nil", got)
	}
	if got, _ := s.LearntVendors(); !reflect.DeepEqual(got, []string{"acme"}) {
		t.Errorf("LearntVendors() after delete = %q, want acme", got)
	}
}

func mustLearnt(t *testing.T, s *Store, vendor string) []byte {
	t.Helper()
	b, err := s.Learnt(vendor)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLearntOnOlderFile: a state file written before the bucket existed gets it at Open.
func TestLearntOnOlderFile(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "hookbridge.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucketState); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutLearnt("acme", []byte("{}")); err != nil {
		t.Errorf("PutLearnt on an older file = %v", err)
	}
}
