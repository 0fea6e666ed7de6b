package app

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

const learnOnlyPolicy = `vendor: newcomer
title: A new sender
owner: Tests
contact: tests@hookbridge.invalid
risk: high
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
`

// learningRig is learn mode's state on a real store, as Start builds it.
type learningRig struct {
	t       *testing.T
	st      *store.Store
	cat     *catalog.Catalog
	vendors vendor.Vendors
	log     *bytes.Buffer
}

func newLearningRig(t *testing.T) *learningRig {
	t.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{"policies/newcomer.yaml": {Data: []byte(learnOnlyPolicy)}}})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := vendor.Compile("hookbridge", []vendor.Config{{Name: "newcomer", Mode: vendor.ModeLearn}}, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &learningRig{t: t, st: st, cat: cat, vendors: vs, log: &bytes.Buffer{}}
}

// start builds learn mode's state as a start does, saving every 10 ms.
func (r *learningRig) start() *learning {
	r.t.Helper()
	l, err := newLearning(r.vendors, []string{"newcomer"}, r.st, r.cat, zerolog.New(r.log))
	if err != nil {
		r.t.Fatal(err)
	}
	l.every = 10 * time.Millisecond
	l.start()
	return l
}

func record(l *learning, n, from int) {
	rec := l.recorders()["newcomer"]
	for i := range n {
		rec.Record(map[string]any{"id": fmt.Sprint("evt-", from+i), "type": "door.opened", "door": map[string]any{"open": true}}, "door.opened")
	}
}

func (r *learningRig) storedEvents() uint64 {
	r.t.Helper()
	data, err := r.st.Learnt("newcomer")
	if err != nil || data == nil {
		return 0
	}
	s, err := learn.Unmarshal(data)
	if err != nil {
		r.t.Fatal(err)
	}
	return s.Events
}

// TestLearningSavesAndMerges checks learn mode's state across restarts: the saver stores what
// changed while running, a stop saves the rest, and the next start goes on from it.
func TestLearningSavesAndMerges(t *testing.T) {
	r := newLearningRig(t)
	l := r.start()
	record(l, 5, 0)
	deadline := time.Now().Add(5 * time.Second)
	for r.storedEvents() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("stored events = %d after 5 s of saving every 10 ms, want 5", r.storedEvents())
		}
		time.Sleep(5 * time.Millisecond)
	}
	record(l, 2, 5)
	l.close()
	if got := r.storedEvents(); got != 7 {
		t.Fatalf("stored events after stop = %d, want 7", got)
	}

	l = r.start()
	s, err := l.Learnt("newcomer")
	if err != nil || s.Events != 7 {
		t.Fatalf("Learnt after a restart = %+v, %v; want the 7 events learnt before", s, err)
	}
	record(l, 3, 7)
	l.close()
	if got := r.storedEvents(); got != 10 {
		t.Errorf("stored events after the second run = %d, want 10", got)
	}
	d, err := OfflineDraft(r.cat, t.TempDir(), "newcomer")
	if err == nil || d != nil {
		t.Errorf("OfflineDraft(empty data dir) = %v, %v; want nothing learnt", d, err)
	}
}

// TestLearningStartsAfreshOnUnreadableState checks that a stored structure this build cannot
// read (damaged, or of another version) is reported and replaced, and never stops the start.
func TestLearningStartsAfreshOnUnreadableState(t *testing.T) {
	for name, data := range map[string]string{
		"damaged":       `{"version":1,"vendor":"newcomer","events":`,
		"other version": `{"version":99,"vendor":"newcomer","events":5}`,
		"other vendor":  `{"version":1,"vendor":"someone-else","events":5,"overflow":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := newLearningRig(t)
			if err := r.st.PutLearnt("newcomer", []byte(data)); err != nil {
				t.Fatal(err)
			}
			l := r.start()
			if s, _ := l.Learnt("newcomer"); s.Events != 0 {
				t.Errorf("Learnt after an unreadable state = %d events, want a fresh start", s.Events)
			}
			if !strings.Contains(r.log.String(), "learning starts afresh") || !strings.Contains(r.log.String(), `"vendor":"newcomer"`) {
				t.Errorf("log = %s, want a warning naming the vendor", r.log)
			}
			record(l, 1, 0)
			l.close()
			if got := r.storedEvents(); got != 1 {
				t.Errorf("stored events = %d, want the fresh start's 1", got)
			}
		})
	}
}
