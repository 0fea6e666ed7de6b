package store

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestSecretUsesAndActivity(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	u := SecretUse{Vendor: "acme", Digest: "d1", FirstSeen: at, LastVerified: at.Add(time.Hour)}
	if err := s.Write(SecretUseOp(u), SecretUseOp(SecretUse{Vendor: "acme", Digest: "d2", FirstSeen: at}),
		ActivityOp("acme", Activity{LastAccepted: at.Add(2 * time.Hour)}), DeleteSecretUseOp("acme", "d2")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uses, err := s.SecretUses()
	if err != nil || len(uses) != 1 || uses[0] != u {
		t.Errorf("SecretUses() = %+v, %v, want [%+v]", uses, err, u)
	}
	acts, err := s.Activities()
	if err != nil || !acts["acme"].LastAccepted.Equal(at.Add(2*time.Hour)) {
		t.Errorf("Activities() = %+v, %v", acts, err)
	}
}

// TestForgetVendor deletes one vendor's replay records, secret and activity records and learnt
// structure, and nothing of another vendor's.
func TestForgetVendor(t *testing.T) {
	s := openTest(t, Options{})
	now := time.Now()
	var ops []Op
	for i, v := range []string{"acme", "other", "acme", "acme-two"} {
		ops = append(ops, SeenOps(v, "tok-"+v+string(rune('a'+i)), now.Add(time.Duration(i)*time.Second))...)
		ops = append(ops, SecretUseOp(SecretUse{Vendor: v, Digest: "d" + string(rune('a'+i)), FirstSeen: now}), ActivityOp(v, Activity{LastAccepted: now}))
	}
	ops = append(ops, LearntOp("acme", []byte("{}")), LearntOp("other", []byte("{}")))
	if err := s.Write(ops...); err != nil {
		t.Fatal(err)
	}
	f, err := s.ForgetVendor("acme")
	if want := (Forgotten{Replay: 2, Secrets: 2, Activity: 1, Learnt: 1}); err != nil || f != want {
		t.Fatalf("ForgetVendor(acme) = %+v, %v, want %+v", f, err, want)
	}
	for tok, want := range map[string]bool{"tok-acmea": false, "tok-acmec": false, "tok-otherb": true, "tok-acme-twod": true} {
		if got, _ := s.Seen(tok); got != want {
			t.Errorf("Seen(%s) = %v, want %v", tok, got, want)
		}
	}
	uses, _ := s.SecretUses()
	for _, u := range uses {
		if u.Vendor == "acme" {
			t.Errorf("a secret record of acme is left: %+v", u)
		}
	}
	if len(uses) != 2 {
		t.Errorf("SecretUses() = %+v, want other's and acme-two's", uses)
	}
	if l, _ := s.Learnt("acme"); l != nil {
		t.Errorf("Learnt(acme) = %s, want nothing", l)
	}
	if l, _ := s.Learnt("other"); l == nil {
		t.Errorf("Learnt(other) = nothing, want it kept")
	}
	if f, err := s.ForgetVendor("acme"); err != nil || f != (Forgotten{}) {
		t.Errorf("ForgetVendor(acme) again = %+v, %v, want nothing", f, err)
	}
	if _, err := s.ForgetVendor(""); err != ErrVendorName {
		t.Errorf("ForgetVendor(\"\") = %v, want ErrVendorName", err)
	}
}

// TestForgetTopics deletes the retained and queued messages under a prefix, and no other.
func TestForgetTopics(t *testing.T) {
	s := openTest(t, Options{})
	msg := func(topic string) []byte {
		return encodeMessage(&storage.Message{TopicName: topic, Payload: []byte("{}"), FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}})
	}
	retained := func(topic string) []byte {
		v := binary.BigEndian.AppendUint64(nil, s.nextSeq())
		return append(v, msg(topic)...)
	}
	var ops []Op
	for _, topic := range []string{"hb/acme/locks/a/state", "hb/acme/locks/b/state", "hb/acme-two/x", "hb/other/acme/y"} {
		ops = append(ops, Op{Bucket: bucketRetained, Key: []byte(topic), Value: retained(topic)})
	}
	for i, topic := range []string{"hb/acme/locks/a/state", "hb/other/z", "hb/acme/locks/a/battery"} {
		ops = append(ops, Op{Bucket: bucketInflight, Key: inflightKey("panel\x00c1", uint16(i+1)), Value: msg(topic)})
	}
	if err := s.Write(ops...); err != nil {
		t.Fatal(err)
	}
	r, q, err := s.ForgetTopics("hb/acme/")
	if err != nil || r != 2 || q != 2 {
		t.Fatalf("ForgetTopics(hb/acme/) = %d retained, %d queued, %v; want 2, 2", r, q, err)
	}
	left, _ := s.Hook().StoredRetainedMessages()
	inflight, _ := s.Hook().StoredInflightMessages()
	var topics []string
	for _, m := range append(left, inflight...) {
		topics = append(topics, m.TopicName)
	}
	if want := "[hb/acme-two/x hb/other/acme/y hb/other/z]"; fmt.Sprint(topics) != want {
		t.Errorf("left = %v, want %s", topics, want)
	}
	if _, _, err := s.ForgetTopics("hb/acme"); err == nil {
		t.Errorf("ForgetTopics without a trailing / = nil error, want one (hb/acme would take hb/acme-two)")
	}
}

func TestDeleteQueued(t *testing.T) {
	s := openTest(t, Options{})
	for _, rec := range []string{"a1", "b1", "a2"} {
		if err := s.Write(s.QueueOp("bridge", []byte(rec)), s.QueueOp("other", []byte(rec))); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.DeleteQueued("bridge", func(r []byte) bool { return r[0] == 'a' })
	if err != nil || len(keys) != 2 {
		t.Fatalf("DeleteQueued = %q, %v, want 2 keys", keys, err)
	}
	if l, _ := s.QueueLen("bridge"); l != 1 {
		t.Errorf("bridge queue holds %d, want 1", l)
	}
	if l, _ := s.QueueLen("other"); l != 3 {
		t.Errorf("other queue holds %d, want 3", l)
	}
}

func TestOffboarded(t *testing.T) {
	s := openTest(t, Options{})
	if err := s.PutOffboarded("acme", []byte(`{"at":"x"}`)); err != nil {
		t.Fatal(err)
	}
	m, err := s.Offboarded()
	if err != nil || string(m["acme"]) != `{"at":"x"}` || len(m) != 1 {
		t.Errorf("Offboarded() = %q, %v", m, err)
	}
	if err := s.DeleteOffboarded("acme"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Offboarded(); len(m) != 0 {
		t.Errorf("Offboarded() after delete = %q", m)
	}
}
