package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/pipeline"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/publish"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

const modePolicy = `vendor: sender
title: A sender
owner: Tests
contact: tests@hookbridge.invalid
risk: low
auth:
  scheme: standard-webhooks
event:
  id: /id
  type: /type
schema: sender/v1.json
routes:
  - when: "*"
    topic: things/{level}
    fields:
      level: /level
`

const modeSecret = "whsec_dGVzdC1hY21lLXNlY3JldC0wMTIzNDU2Nzg5"

// recordingPublisher is a sink that keeps what it was given and, as a real sink does, records
// each event as published in the store.
type recordingPublisher struct {
	ledger publish.Ledger
	mu     sync.Mutex
	events []*publish.Event
}

func (p *recordingPublisher) Publish(_ context.Context, evs ...*publish.Event) error {
	p.mu.Lock()
	p.events = append(p.events, evs...)
	p.mu.Unlock()
	return p.ledger.Record(evs...)
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

type recordingRecorder struct {
	types []string
}

func (r *recordingRecorder) Record(_ any, eventType string) { r.types = append(r.types, eventType) }

// modeRig is one pipeline on a real store, with the same vendor compiled in each mode.
type modeRig struct {
	t       *testing.T
	p       *pipeline.Pipeline
	pub     *recordingPublisher
	rec     *recordingRecorder
	vendors map[vendor.Mode]*vendor.Vendor
	auth    verify.Auth
}

func newModeRig(t *testing.T) *modeRig {
	t.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{
		"policies/sender.yaml":   {Data: []byte(modePolicy)},
		"schemas/sender/v1.json": {Data: []byte(`{"type":"object","required":["id","type","level"],"properties":{"level":{"type":"integer","maximum":10}}}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ps, err := pseudo.New(make([]byte, pseudo.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	r := &modeRig{t: t, pub: &recordingPublisher{ledger: st}, rec: &recordingRecorder{}, vendors: map[vendor.Mode]*vendor.Vendor{}}
	for _, m := range vendor.Modes {
		vs, err := vendor.Compile("hookbridge", []vendor.Config{{Name: "sender", Enabled: true, Secrets: []string{modeSecret}, Mode: m, RatePerMinute: 100_000}}, cat, ps)
		if err != nil {
			t.Fatal(err)
		}
		r.vendors[m] = vs["sender"]
	}
	r.auth = r.vendors[vendor.ModeLive].Policy.Auth
	r.p = pipeline.New(ps, st, r.pub)
	r.p.SetRecorders(map[string]pipeline.Recorder{"sender": r.rec})
	return r
}

// send runs one event of the vendor in a mode through the pipeline; forged signs it with
// another secret.
func (r *modeRig) send(mode vendor.Mode, id string, level int, forged bool) error {
	r.t.Helper()
	body := fmt.Appendf(nil, `{"id":%q,"type":"reading","level":%d}`, id, level)
	secret := modeSecret
	if forged {
		secret = "whsec_b3RoZXItdmVuZG9yLXNlY3JldC0wMTIz"
	}
	h, err := verify.Signer{Auth: r.auth, Secret: secret}.Sign(body, id, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	header := http.Header{}
	for k, v := range h {
		header.Set(k, v)
	}
	return r.p.Process(context.Background(), &pipeline.Event{Vendor: r.vendors[mode], Header: header, Body: body,
		Received: time.Now(), Method: http.MethodPost})
}

// TestShadowAnswersAsLive runs the same requests through a vendor in live mode and in shadow
// mode: the same error (so the same answer) for each, a resend is a duplicate in both, and only
// live mode publishes. A shadow event is no duplicate once the vendor is live, while an event
// published live is a duplicate in shadow mode, as it would be in live mode.
func TestShadowAnswersAsLive(t *testing.T) {
	r := newModeRig(t)
	steps := []struct {
		name   string
		id     string
		level  int
		forged bool
		want   error
	}{
		{"new event", "evt-1", 3, false, nil},
		{"resend", "evt-1", 3, false, pipeline.ErrDuplicate},
		{"forged", "evt-2", 3, true, verify.ErrBadSignature},
		{"schema violation", "evt-3", 99, false, schema.ErrInvalid},
		{"after the violation, valid", "evt-3", 4, false, nil},
	}
	for _, mode := range []vendor.Mode{vendor.ModeLive, vendor.ModeShadow} {
		before := r.pub.count()
		for _, s := range steps {
			// Each mode gets ids of its own: both share one store.
			id := string(mode) + "-" + s.id
			if err := r.send(mode, id, s.level, s.forged); !errors.Is(err, s.want) && !(s.want == nil && err == nil) {
				t.Errorf("%s: %s: Process = %v, want %v", mode, s.name, err, s.want)
			}
		}
		published := r.pub.count() - before
		if want := map[vendor.Mode]int{vendor.ModeLive: 2, vendor.ModeShadow: 0}[mode]; published != want {
			t.Errorf("%s: %d events published, want %d", mode, published, want)
		}
	}
	// A shadow event, sent again once the vendor is live, is new: it was never published.
	if err := r.send(vendor.ModeLive, "shadow-evt-1", 3, false); err != nil {
		t.Errorf("shadow event resent in live mode: Process = %v, want nil (published)", err)
	}
	// A live event, redelivered while the vendor is in shadow mode, is a duplicate, as live
	// mode would answer.
	if err := r.send(vendor.ModeShadow, "live-evt-1", 3, false); !errors.Is(err, pipeline.ErrDuplicate) {
		t.Errorf("live event resent in shadow mode: Process = %v, want ErrDuplicate", err)
	}
	if len(r.rec.types) != 0 {
		t.Errorf("live and shadow mode recorded %v for learning, want nothing", r.rec.types)
	}
}

// TestLearnRecordsVerifiedOnce checks learn mode: a verified event is learnt once (a resend is a
// duplicate and teaches nothing), a forged one never, nothing is published, the schema is not
// applied, and a learnt event is new again once the vendor is live.
func TestLearnRecordsVerifiedOnce(t *testing.T) {
	r := newModeRig(t)
	for _, s := range []struct {
		name   string
		id     string
		level  int
		forged bool
		want   error
	}{
		{"new event", "evt-1", 3, false, nil},
		{"resend", "evt-1", 3, false, pipeline.ErrDuplicate},
		{"forged", "evt-2", 3, true, verify.ErrBadSignature},
		{"what the schema refuses", "evt-3", 99, false, nil},
	} {
		if err := r.send(vendor.ModeLearn, s.id, s.level, s.forged); !errors.Is(err, s.want) && !(s.want == nil && err == nil) {
			t.Errorf("learn: %s: Process = %v, want %v", s.name, err, s.want)
		}
	}
	if got := len(r.rec.types); got != 2 {
		t.Errorf("learn mode recorded %d events, want 2 (the new event and the one the schema refuses)", got)
	}
	if n := r.pub.count(); n != 0 {
		t.Errorf("learn mode published %d events, want 0", n)
	}
	if err := r.send(vendor.ModeLive, "evt-1", 3, false); err != nil {
		t.Errorf("learnt event sent in live mode: Process = %v, want nil (published)", err)
	}
}

func TestReplayKey(t *testing.T) {
	tok := "00112233445566778899aabbccddeeff"
	keys := map[string]vendor.Mode{}
	for _, m := range vendor.Modes {
		k := pipeline.ReplayKey(m, tok)
		if other, dup := keys[k]; dup {
			t.Errorf("ReplayKey(%s) = ReplayKey(%s) = %q", m, other, k)
		}
		keys[k] = m
	}
	if got := pipeline.ReplayKey(vendor.ModeLive, tok); got != tok {
		t.Errorf("ReplayKey(live, %q) = %q, want the token itself", tok, got)
	}
}
