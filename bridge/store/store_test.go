package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, Options{})
	const writers = 200
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.Write(SeenOps("v", fmt.Sprintf("tok-%d", i), time.Now())...); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	st := s.Stats()
	if st.Seen != writers {
		t.Fatalf("Seen = %d, want %d", st.Seen, writers)
	}
	if st.Commits >= writers {
		t.Errorf("Commits = %d for %d concurrent writers, want fewer (group commit)", st.Commits, writers)
	}
	t.Logf("%d concurrent writes in %d transactions", writers, st.Commits)
	for i := 0; i < writers; i++ {
		if ok, err := s.Seen(fmt.Sprintf("tok-%d", i)); !ok || err != nil {
			t.Fatalf("Seen(tok-%d) = %v, %v, want true", i, ok, err)
		}
	}
}

func TestSeenSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(SeenOps("v", "tok", time.Now())...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, _ := s.Seen("tok"); !ok {
		t.Fatal("Seen after reopen = false, want true")
	}
	if got := s.Stats().Seen; got != 1 {
		t.Fatalf("Stats().Seen after reopen = %d, want 1", got)
	}
}

func TestPurgeSeen(t *testing.T) {
	var logs bytes.Buffer
	s := openTest(t, Options{MaxSeen: 10, Log: zerolog.New(&logs)})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 15; i++ {
		vendor := "short"
		if i%2 == 1 {
			vendor = "long"
		}
		if err := s.Write(SeenOps(vendor, fmt.Sprintf("tok-%02d", i), base.Add(time.Duration(i)*time.Hour))...); err != nil {
			t.Fatal(err)
		}
	}
	// "short" keeps records newer than base+4h, "long" everything: tok-00 and tok-02 expire.
	cutoff := func(v string) time.Time {
		if v == "short" {
			return base.Add(3*time.Hour + time.Minute)
		}
		return time.Time{}
	}
	byAge, byCap, err := s.PurgeSeen(cutoff, base.Add(3*time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if byAge != 2 || byCap != 3 {
		t.Fatalf("PurgeSeen = %d by age, %d by cap; want 2, 3", byAge, byCap)
	}
	if got := s.Stats().Seen; got != 10 {
		t.Fatalf("Seen after purge = %d, want 10 (the cap)", got)
	}
	for i, want := range []bool{false, false, false, false, false, true, true} {
		if ok, _ := s.Seen(fmt.Sprintf("tok-%02d", i)); ok != want {
			t.Errorf("Seen(tok-%02d) = %v, want %v", i, ok, want)
		}
	}
	if !strings.Contains(logs.String(), "replay store full") {
		t.Errorf("no clear log line when the cap was hit: %s", logs.String())
	}
	// Nothing more to purge.
	if a, c, _ := s.PurgeSeen(cutoff, base); a+c != 0 {
		t.Errorf("second purge deleted %d", a+c)
	}
}

func TestConditionalPut(t *testing.T) {
	s := openTest(t, Options{})
	key := []byte("topic")
	val := func(seq uint64, v string) []byte {
		b := make([]byte, 8)
		for i := 0; i < 8; i++ {
			b[7-i] = byte(seq >> (8 * i))
		}
		return append(b, v...)
	}
	// The newer message commits first; the older one, committed later, must not replace it.
	if err := s.Write(Op{Bucket: bucketRetained, Key: key, Value: val(2, "new"), Seq: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(Op{Bucket: bucketRetained, Key: key, Value: val(1, "old"), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	var got []byte
	s.hook.each(bucketRetained, func(_, v []byte) error { got = append([]byte(nil), v...); return nil })
	if string(got[8:]) != "new" {
		t.Fatalf("retained = %q, want new", got[8:])
	}
}

func TestStates(t *testing.T) {
	s := openTest(t, Options{})
	if err := s.PutState("v", []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, _ := s.States()
	if string(st["v"]) != "x" {
		t.Fatalf("States = %v", st)
	}
}

func TestWriteAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Write(SeenOps("v", "t", time.Now())...); err != ErrClosed {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestQueue(t *testing.T) {
	s := openTest(t, Options{})
	for i := 0; i < 5; i++ {
		if err := s.Write(s.QueueOp("fwd", []byte(fmt.Sprintf("r%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(s.QueueOp("other", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	head, err := s.QueueHead("fwd", 3)
	if err != nil || len(head) != 3 || string(head[0].Record) != "r0" || string(head[2].Record) != "r2" {
		t.Fatalf("QueueHead = %v, %v", head, err)
	}
	if err := s.Write(QueueDelete(head[0].Key), QueueDelete(head[1].Key)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.QueueLen("fwd"); n != 3 {
		t.Fatalf("QueueLen = %d, want 3", n)
	}
	head, _ = s.QueueHead("fwd", 10)
	if string(head[0].Record) != "r2" {
		t.Fatalf("head after delete = %s, want r2", head[0].Record)
	}
	// Staged with a pending event: invisible until the event commits.
	s.Hook().Begin("ev")
	s.Stage("ev", s.QueueOp("fwd", []byte("staged")))
	if n, _ := s.QueueLen("fwd"); n != 3 {
		t.Fatalf("staged record visible before commit (len %d)", n)
	}
	if err := s.Hook().Commit("ev"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.QueueLen("fwd"); n != 4 {
		t.Fatalf("QueueLen after commit = %d, want 4", n)
	}
}

// A seen_time key is the time in unix nanos (8 bytes BE) followed by the token's key.
func TestSeenTimeKeyLayout(t *testing.T) {
	at := time.Unix(1764058443, 123456789)
	tok := "00112233445566778899aabbccddeeff"
	k := SeenOps("v", tok, at)[0].Key
	want := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	want = append(want, seenKey(tok)...)
	if !bytes.Equal(k, want) {
		t.Fatalf("seen_time key = %x, want %x", k, want)
	}
	if id, ns := splitSeenKey(k); id != idOf(seenKey(tok)) || ns != at.UnixNano() {
		t.Fatalf("splitSeenKey = %x, %d", id, ns)
	}
}
