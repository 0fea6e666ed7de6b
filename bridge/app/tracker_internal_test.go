package app

import (
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

const trackedPolicy = `vendor: tracked
title: A tracked sender
owner: Tests
contact: tests@hookbridge.invalid
risk: high
auth:
  scheme: hmac-sha256
  header: X-Sig
  encoding: hex
event:
  id: /id
  type: /type
rotate_after: 30d
expect_every: 1h
contacts:
  - {role: owner, name: Jane Doe, channel: mailto:jane@example.net}
`

// trackerRig is a tracker over a real store with a clock the test moves.
type trackerRig struct {
	t       *testing.T
	st      *store.Store
	dir     string
	keys    *audit.Keys
	cat     *catalog.Catalog
	mu      sync.Mutex
	now     time.Time
	alerts  []lifecycleAlert
	on      bool
	onSince time.Time
}

func newTrackerRig(t *testing.T) *trackerRig {
	t.Helper()
	cat, _, err := catalog.Load(catalog.Sources{Builtin: fstest.MapFS{"policies/tracked.yaml": {Data: []byte(trackedPolicy)}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.NewKeys(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &trackerRig{t: t, dir: t.TempDir(), keys: keys, cat: cat, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), on: true}
	r.open()
	return r
}

func (r *trackerRig) open() {
	st, err := store.Open(r.dir, store.Options{NoSync: true})
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	r.t.Cleanup(func() { st.Close() })
}

func (r *trackerRig) clock() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
func (r *trackerRig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// start builds a tracker for the options' vendor "tracked" with the given secrets in the shape
// the options give.
func (r *trackerRig) start(v options.Vendor) (*tracker, vendor.Vendors) {
	r.t.Helper()
	v.Name, v.Enabled, v.Mode = "tracked", true, options.ModeLearn
	o := &options.Options{TopicPrefix: "hookbridge", Vendors: []options.Vendor{v}}
	cfgs, _ := o.VendorConfigs()
	vs, err := vendor.Compile("hookbridge", cfgs, r.cat, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	t, err := newTracker(trackerConfig{Options: o, Vendors: vs, Keys: r.keys, Store: r.st, Log: zerolog.Nop(), Now: r.clock, Write: true})
	if err != nil {
		r.t.Fatal(err)
	}
	t.open = func(string) (bool, time.Time) { return r.on, r.onSince }
	t.alert = func(a lifecycleAlert) { r.alerts = append(r.alerts, a) }
	t.wrap(vs)
	return t, vs
}

// verify signs a body with secret and verifies it with the vendor's (wrapped) verifier.
func (r *trackerRig) verify(vs vendor.Vendors, secret string) {
	r.t.Helper()
	v := vs["tracked"]
	body := []byte(`{"id":"1","type":"x"}`)
	h, err := verify.Signer{Auth: v.Policy.Auth, Secret: secret}.Sign(body, "1", r.clock())
	if err != nil {
		r.t.Fatal(err)
	}
	hdr := http.Header{}
	for k, val := range h {
		hdr.Set(k, val)
	}
	if _, err := v.Verifier.Verify(&verify.Request{Method: "POST", Header: hdr, Body: body, Now: r.clock()}); err != nil {
		r.t.Fatalf("Verify = %v", err)
	}
}

const (
	oldSecret = "tracked-old-secret-0123456789"
	newSecret = "tracked-new-secret-0123456789"
)

// TestSecretLifecycle follows a rotation: an old secret in use, a new one added (previous_secret
// the old), the vendor switching to it, the old one reported ready to remove and for how long;
// the age of the newest secret past rotate_after is alerted once; a restart keeps first seen and
// last use; nothing shows a secret.
func TestSecretLifecycle(t *testing.T) {
	r := newTrackerRig(t)
	tr, vs := r.start(options.Vendor{Secrets: []string{oldSecret}})
	r.advance(time.Hour)
	r.verify(vs, oldSecret)
	if s := tr.Secrets("tracked"); len(s) != 1 || s[0].LastVerified == nil || !s[0].LastVerified.Equal(r.clock()) || s[0].Key != "secret" {
		t.Fatalf("Secrets = %+v, want the one secret verified now", s)
	}
	tr.save()

	// Ten days later a new secret is added; the old one becomes previous_secret.
	r.advance(10 * 24 * time.Hour)
	tr, vs = r.start(options.Vendor{Secrets: []string{newSecret, oldSecret}})
	s := tr.Secrets("tracked")
	if len(s) != 2 || !s[0].Newest || s[1].Newest || s[1].AgeDays != 10 || s[0].AgeDays != 0 || s[1].LastVerified == nil {
		t.Fatalf("Secrets after adding = %+v, want the new one newest, the old 10 days old with its last use kept", s)
	}
	if s[1].ReadyToRemove {
		t.Errorf("the old secret is ready to remove before the new one verified anything")
	}
	r.advance(time.Minute)
	r.verify(vs, oldSecret) // the vendor still signs with the old one
	r.advance(time.Minute)
	switched := r.clock()
	r.verify(vs, newSecret) // and switches
	r.advance(2 * time.Hour)
	r.verify(vs, newSecret)
	s = tr.Secrets("tracked")
	if !s[1].ReadyToRemove || !s[1].ReadySince.Equal(switched) || s[1].ReadyForSeconds != (2*time.Hour).Seconds() || s[0].ReadyToRemove {
		t.Errorf("Secrets after the switch = %+v, want the old one ready to remove since %v (2h)", s, switched)
	}
	for _, si := range s {
		if len(si.Digest) != 12 {
			t.Errorf("digest %q, want 12 hex digits", si.Digest)
		}
		if _, err := hex.DecodeString(si.Digest); err != nil {
			t.Errorf("digest %q is not hex", si.Digest)
		}
	}

	// Rotation: 30 days after the new secret was first seen, alerted once. (The policy's
	// expect_every raises silence alerts meanwhile: they are TestSilence's.)
	rotation := func() []lifecycleAlert {
		var out []lifecycleAlert
		for _, a := range r.alerts {
			if a.Kind == kindRotationDue {
				out = append(out, a)
			}
		}
		return out
	}
	tr.check()
	if a := rotation(); len(a) != 0 {
		t.Fatalf("alerts before rotate_after = %+v", a)
	}
	r.advance(31 * 24 * time.Hour)
	tr.check()
	tr.check()
	if a := rotation(); len(a) != 1 || *a[0].SecretAgeDays != 31 || a[0].RotateAfter != "30d" || a[0].Secret != tr.Secrets("tracked")[0].Digest ||
		len(a[0].Contacts) != 1 || a[0].Contacts[0] != (alertContact{Role: "owner", Channel: "mailto:jane@example.net"}) {
		t.Errorf("alerts = %+v, want one rotation_due naming the newest secret, with the contact's role and channel", a)
	}
	if !tr.Activity("tracked").RotationDue || !tr.Problems("tracked").RotationDue {
		t.Errorf("Activity = %+v, want rotation due", tr.Activity("tracked"))
	}

	// A restart keeps what was known, once saved.
	tr.save()
	lastNew := *tr.Secrets("tracked")[0].LastVerified
	r.st.Close()
	r.open()
	tr, _ = r.start(options.Vendor{Secrets: []string{newSecret, oldSecret}})
	s = tr.Secrets("tracked")
	if !s[0].LastVerified.Equal(lastNew) || !s[1].ReadyToRemove {
		t.Errorf("Secrets after a restart = %+v, want last use %v and the old one ready", s, lastNew)
	}
	// Removing the old secret forgets its record.
	tr, _ = r.start(options.Vendor{Secrets: []string{newSecret}})
	if uses, _ := r.st.SecretUses(); len(uses) != 1 || uses[0].Digest != r.keys.SecretDigest("tracked", newSecret) {
		t.Errorf("stored uses = %+v, want the new secret's only", uses)
	}
}

// TestSecretTieBreak: two secrets first seen at once (0.1's options at the first start of this
// version): the options' rank says which is newer.
func TestSecretTieBreak(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     options.Vendor
		newer int
	}{
		{"secret and previous_secret", options.Vendor{Secrets: []string{newSecret, oldSecret}}, 0},
		{"0.1's list, the new one added after", options.Vendor{Secrets: []string{oldSecret, newSecret}, LegacySecrets: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTrackerRig(t)
			tr, vs := r.start(tc.v)
			r.verify(vs, oldSecret)
			r.advance(time.Second)
			r.verify(vs, newSecret)
			s := tr.Secrets("tracked")
			old := 1 - tc.newer
			if !s[tc.newer].Newest || !s[old].ReadyToRemove || s[tc.newer].ReadyToRemove {
				t.Errorf("Secrets = %+v, want %d newest and %d ready to remove", s, tc.newer, old)
			}
		})
	}
}

// TestSilence: no accepted event for expect_every raises one alert, an event a recovery; a vendor
// turned off is not silent, and turned on again gets a whole expect_every.
func TestSilence(t *testing.T) {
	r := newTrackerRig(t)
	tr, _ := r.start(options.Vendor{Secrets: []string{newSecret}})
	accept := func() {
		tr.Observe(&outcome.Outcome{Vendor: "tracked", Reason: outcome.Accepted, Received: r.clock()})
	}
	r.advance(59 * time.Minute)
	tr.check()
	if len(r.alerts) != 0 {
		t.Fatalf("alerts within expect_every = %+v", r.alerts)
	}
	r.advance(2 * time.Minute)
	tr.check()
	tr.check()
	if len(r.alerts) != 1 || r.alerts[0].Kind != kindSilence || r.alerts[0].Action != actionAlert || r.alerts[0].ExpectEvery != "1h0m0s" {
		t.Fatalf("alerts = %+v, want one silence alert", r.alerts)
	}
	if a := tr.Activity("tracked"); !a.Silent || !a.SilentSince.Equal(r.clock().Add(-time.Minute)) {
		t.Errorf("Activity = %+v, want silent since the hour passed", a)
	}
	r.advance(10 * time.Minute)
	accept()
	tr.check()
	if len(r.alerts) != 2 || r.alerts[1].Action != actionRecovered || r.alerts[1].SilentSeconds != (71*time.Minute).Seconds() {
		t.Fatalf("alerts = %+v, want a recovery after 71 minutes without events", r.alerts)
	}
	if tr.Activity("tracked").Silent {
		t.Errorf("still silent after an event")
	}
	// Off: never silent; on again: a whole expect_every from then.
	r.on = false
	r.advance(3 * time.Hour)
	tr.check()
	r.on, r.onSince = true, r.clock()
	r.advance(30 * time.Minute)
	tr.check()
	if len(r.alerts) != 2 {
		t.Errorf("alerts while off and just after = %+v, want none new", r.alerts[2:])
	}
	r.advance(31 * time.Minute)
	tr.check()
	if len(r.alerts) != 3 || r.alerts[2].LastAccepted == nil {
		t.Errorf("alerts = %+v, want silence again, with the last accepted event", r.alerts)
	}
	// The last event is kept across a restart, and saved in one write.
	commits := r.st.Stats().Commits
	tr.save()
	if got := r.st.Stats().Commits - commits; got != 1 {
		t.Errorf("save wrote %d transactions, want 1", got)
	}
	if acts, _ := r.st.Activities(); acts["tracked"].LastAccepted.IsZero() {
		t.Errorf("stored activity = %+v, want the last accepted event", acts)
	}
}

// TestTrackedVerifierCost: thousands of verifications cost no store write until a save, which
// writes one transaction.
func TestTrackedVerifierCost(t *testing.T) {
	r := newTrackerRig(t)
	tr, vs := r.start(options.Vendor{Secrets: []string{newSecret, oldSecret}})
	commits := r.st.Stats().Commits
	for range 2000 {
		r.verify(vs, newSecret)
		tr.Observe(&outcome.Outcome{Vendor: "tracked", Reason: outcome.Accepted, Received: r.clock()})
	}
	if got := r.st.Stats().Commits - commits; got != 0 {
		t.Errorf("2,000 verified webhooks wrote %d transactions, want 0 before a save", got)
	}
	tr.save()
	tr.save()
	if got := r.st.Stats().Commits - commits; got != 1 {
		t.Errorf("two saves wrote %d transactions, want 1 (nothing changed the second time)", got)
	}
}
