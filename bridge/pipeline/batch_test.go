package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

const batchPolicy = `vendor: batcher
title: Test
owner: Tests
contact: tests@hookbridge.invalid
risk: low
auth: {scheme: bearer}
intake: {batch: true}
event: {type: /event}
schema: batcher/v1.json
routes:
  - when: "*"
    topic: things/{thing}
    fields:
      thing: /thing
`

const batchToken = "batcher-token-0123456789abcdef"

// batchVendor compiles the test vendor.
func batchVendor(t *testing.T) (*vendor.Vendor, *pseudo.Pseudonymizer) {
	t.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/batcher.yaml":   {Data: []byte(batchPolicy)},
		"schemas/batcher/v1.json": {Data: []byte(`{"type":"object","required":["thing"]}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pseudo.New([]byte("pipeline-test-pseudonym-key-0123"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := vendor.Compile("hookbridge", []vendor.Config{{Name: "batcher", Enabled: true, Secrets: []string{batchToken}, RatePerMinute: 100_000}}, cat, ps)
	if err != nil {
		t.Fatal(err)
	}
	return vs["batcher"], ps
}

// memLedger is a replay store in memory whose Seen can be made to wait.
type memLedger struct {
	mu   sync.Mutex
	seen map[string]bool
	wait func(token string)
}

func (l *memLedger) Seen(token string) (bool, error) {
	if l.wait != nil {
		l.wait(token)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[token], nil
}

func (l *memLedger) Publish(_ context.Context, evs ...*publish.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range evs {
		if l.seen[ev.Token] {
			return errors.New("published twice: " + ev.Token)
		}
		l.seen[ev.Token] = true
	}
	return nil
}

// Record records events as taken, as the store does for modes that publish nothing.
func (l *memLedger) Record(evs ...*publish.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range evs {
		l.seen[ev.Token] = true
	}
	return nil
}

func batchEvent(v *vendor.Vendor, body string) *pipeline.Event {
	h := http.Header{"Authorization": {"Bearer " + batchToken}}
	return &pipeline.Event{Vendor: v, Header: h, Body: []byte(body), Received: time.Now(), Method: http.MethodPost}
}

// TestBatchesWaitInOrder runs two batches holding the same two events in opposite orders, with
// the replay store's lookups made to meet: each batch has reserved its first id when the other
// looks up its own. Reserving in body order, each would then wait for the id the other holds,
// until its context ends; reserved in sorted order, one waits for the other and both finish.
func TestBatchesWaitInOrder(t *testing.T) {
	v, ps := batchVendor(t)
	var once sync.Once
	met := make(chan struct{})
	arrived := make(chan struct{}, 2)
	l := &memLedger{seen: map[string]bool{}}
	l.wait = func(string) {
		arrived <- struct{}{}
		once.Do(func() {
			go func() { <-arrived; <-arrived; close(met) }()
		})
		select {
		case <-met:
		case <-time.After(300 * time.Millisecond): // sorted, the second batch never looks up first
		}
	}
	p := pipeline.New(ps, l, l)
	a, b := `{"event":"e","thing":"a"}`, `{"event":"e","thing":"b"}`
	bodies := []string{"[" + a + "," + b + "]", "[" + b + "," + a + "]"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	errs := make([]error, 2)
	evs := make([]*pipeline.Event, 2)
	var wg sync.WaitGroup
	for i := range bodies {
		evs[i] = batchEvent(v, bodies[i])
		wg.Go(func() { errs[i] = p.Process(ctx, evs[i]) })
	}
	wg.Wait()
	published := 0
	for i, err := range errs {
		if err != nil && !errors.Is(err, pipeline.ErrDuplicate) {
			t.Fatalf("Process(batch %d) = %v, want nil or ErrDuplicate: the batches waited for each other", i, err)
		}
		for _, it := range evs[i].Items {
			if !it.Duplicate {
				published++
			}
		}
	}
	if published != 2 {
		t.Errorf("%d events published, want 2 (each once)", published)
	}
}

// TestBatchItems checks how a batch's events are keyed: by the element's raw bytes when the
// policy names no id, so whitespace between elements does not matter and a repeated element is a
// duplicate within the request.
func TestBatchItems(t *testing.T) {
	v, ps := batchVendor(t)
	l := &memLedger{seen: map[string]bool{}}
	p := pipeline.New(ps, l, l)
	ev := batchEvent(v, ` [ {"event":"e","thing":"a"} ,`+"\n"+`{"event":"e","thing":"b"},{"event":"e","thing":"a"} ] `)
	if err := p.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Batch || len(ev.Items) != 3 {
		t.Fatalf("Process = batch %v, %d items, want a batch of 3", ev.Batch, len(ev.Items))
	}
	want := []bool{false, false, true}
	for i, it := range ev.Items {
		if it.Duplicate != want[i] || it.Type != "e" || it.Token == "" {
			t.Errorf("item %d = duplicate %v, type %q, token %q, want duplicate %v, type e", i, it.Duplicate, it.Type, it.Token, want[i])
		}
	}
	if ev.Items[0].Token != ev.Items[2].Token || ev.Items[0].Token == ev.Items[1].Token {
		t.Errorf("tokens %s %s %s: want the repeated element's equal, the other's different", ev.Items[0].Token, ev.Items[1].Token, ev.Items[2].Token)
	}
	// The same elements in another batch, spaced otherwise: duplicates.
	again := batchEvent(v, `[{"event":"e","thing":"b"},{"event":"e","thing":"a"}]`)
	if err := p.Process(context.Background(), again); !errors.Is(err, pipeline.ErrDuplicate) {
		t.Errorf("Process(same elements) = %v, want ErrDuplicate", err)
	}
	// An object, not an array: one event keyed by the whole body.
	one := batchEvent(v, `{"event":"e","thing":"a"}`)
	if err := p.Process(context.Background(), one); !errors.Is(err, pipeline.ErrDuplicate) || one.Batch {
		t.Errorf("Process(object) = %v, batch %v, want ErrDuplicate (same bytes as an element), not a batch", err, one.Batch)
	}
}

// countingRecorder counts the documents learn mode records.
type countingRecorder struct {
	mu   sync.Mutex
	docs int
}

func (r *countingRecorder) Record(any, string) {
	r.mu.Lock()
	r.docs++
	r.mu.Unlock()
}

// TestBatchModes runs a batch through the modes that publish nothing: learn mode learns each new
// element once (a repeated element and a resent batch teach nothing more); shadow mode publishes
// nothing, answers a resend as a duplicate, and neither keeps the events from being new once the
// vendor is live.
func TestBatchModes(t *testing.T) {
	body := `[{"event":"e","thing":"a"},{"event":"e","thing":"b"},{"event":"e","thing":"a"}]`
	for _, mode := range []vendor.Mode{vendor.ModeLearn, vendor.ModeShadow} {
		t.Run(string(mode), func(t *testing.T) {
			v, ps := batchVendor(t)
			v.Mode = mode
			l := &memLedger{seen: map[string]bool{}}
			pub := &memLedger{seen: map[string]bool{}} // the sink: must stay empty
			p := pipeline.New(ps, l, pub)
			rec := &countingRecorder{}
			p.SetRecorders(map[string]pipeline.Recorder{"batcher": rec})
			if err := p.Process(context.Background(), batchEvent(v, body)); err != nil {
				t.Fatal(err)
			}
			if err := p.Process(context.Background(), batchEvent(v, body)); !errors.Is(err, pipeline.ErrDuplicate) {
				t.Errorf("Process(resent batch) = %v, want ErrDuplicate", err)
			}
			wantDocs := 0
			if mode == vendor.ModeLearn {
				wantDocs = 2
			}
			if rec.docs != wantDocs || len(pub.seen) != 0 {
				t.Errorf("learnt %d documents, published %d events; want %d learnt, none published", rec.docs, len(pub.seen), wantDocs)
			}
			v.Mode = vendor.ModeLive
			if err := p.Process(context.Background(), batchEvent(v, body)); err != nil {
				t.Errorf("Process(live) = %v, want the events new", err)
			}
			if len(pub.seen) != 2 {
				t.Errorf("published %d events live, want 2", len(pub.seen))
			}
		})
	}
}
