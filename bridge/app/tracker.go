package app

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/discovery"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/outcome"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// SaveLifecycleEvery is how often what changed of the secrets' use and of the vendors' last
// accepted events is written to the store, in one transaction: a webhook costs two atomic
// operations, never a write, and a crash loses at most this much of their times.
const SaveLifecycleEvery = time.Minute

// checkEvery is how often silence and rotation are looked at.
const checkEvery = time.Second

// tracker keeps each vendor's lifecycle: what is known of its secrets (by keyed digest: first
// seen, first and last verified a webhook), when it last had an event accepted, whether it went
// silent (expect_every) and whether its newest secret is due for rotation (rotate_after). It
// raises the alerts of both, once and (silence) again on recovery, and tells discovery.
//
// The webhook path touches it twice: the vendor's verifier, wrapped, stores the time into the
// secret that verified (Result.Key), and an outcome observer stores an accepted event's time.
// Everything else happens on the checker's goroutine.
type tracker struct {
	store *store.Store
	log   zerolog.Logger
	now   func() time.Time
	// open reports whether a vendor's webhooks are taken (its kill switch): a vendor turned off
	// is not silent, and one turned on gets a whole expect_every from then (on).
	open func(vendor string) (on bool, since time.Time)
	// alert raises a lifecycle alert.
	alert func(lifecycleAlert)

	vendors map[string]*vendorTrack // fixed after newTracker
	names   []string                // sorted

	mu       sync.Mutex // guards watchers, and each vendorTrack's problem state
	watchers []func(vendor string)
	saveMu   sync.Mutex // serializes saves
	poke     chan struct{}
	loops    background
}

// vendorTrack is one vendor's lifecycle.
type vendorTrack struct {
	name        string
	rotateAfter time.Duration
	expectEvery time.Duration       // 0: no silence check
	contacts    []alertContact      // the policy's, as alerts carry them
	secrets     []*secretTrack      // in the options' order
	newer       func(i, j int) bool // the options' rank: secret over previous_secret
	since       time.Time           // when tracking began (the first start that saw the vendor)

	lastAccepted atomic.Int64 // unix nanos, 0: never
	savedAccept  int64        // lastAccepted when last saved; the saver's
	retired      atomic.Bool  // offboarded: nothing of it is saved any more

	// Problem state, guarded by tracker.mu.
	silent       bool
	silentSince  time.Time
	rotationDue  bool
	rotationTold bool // its alert was raised this run
}

// secretTrack is what is known of one secret.
type secretTrack struct {
	digest        string
	key           string // where the options hold it
	firstSeen     time.Time
	firstVerified atomic.Int64 // unix nanos, 0: never
	lastVerified  atomic.Int64
	saved         int64 // lastVerified when last saved; the saver's
}

// used records that the secret verified a webhook at a time (unix nanos).
func (s *secretTrack) used(at int64) {
	s.firstVerified.CompareAndSwap(0, at)
	storeMax(&s.lastVerified, at)
}

// storeMax stores v into x unless x already holds as much: of two times stored at once, the
// later stays.
func storeMax(x *atomic.Int64, v int64) {
	for {
		old := x.Load()
		if old >= v || x.CompareAndSwap(old, v) {
			return
		}
	}
}

// lifecycleAlert is an alert about a vendor's lifecycle, published like anomaly alerts on
// {topic_prefix}/_alerts.
type lifecycleAlert struct {
	Vendor    string         `json:"vendor"`
	Kind      string         `json:"kind"`       // silence or rotation_due
	Action    string         `json:"action"`     // alert or recovered
	EventType string         `json:"event_type"` // the same, for Home Assistant's event entity
	Time      time.Time      `json:"time"`
	Contacts  []alertContact `json:"contacts,omitempty"`

	// Silence: the policy's expect_every, the last accepted event, and for a recovery how long
	// the vendor was silent.
	ExpectEvery        string     `json:"expect_every,omitempty"`
	ExpectEverySeconds float64    `json:"expect_every_seconds,omitempty"`
	LastAccepted       *time.Time `json:"last_accepted,omitempty"`
	SilentSeconds      float64    `json:"silent_seconds,omitempty"`
	// Rotation: the newest secret's digest (its start) and age, and the policy's rotate_after.
	Secret         string  `json:"secret,omitempty"`
	SecretAgeDays  *int    `json:"secret_age_days,omitempty"`
	RotateAfter    string  `json:"rotate_after,omitempty"`
	RotateAfterSec float64 `json:"rotate_after_seconds,omitempty"`
}

// alertContact is a contact as alerts carry it: role and channel, never the name.
type alertContact struct {
	Role    string `json:"role"`
	Channel string `json:"channel"`
}

// Kinds and actions of lifecycle alerts.
const (
	kindSilence     = "silence"
	kindRotationDue = "rotation_due"
	actionAlert     = "alert"
	actionRecovered = "recovered"
)

func alertContacts(cs []policy.Contact) []alertContact {
	var out []alertContact
	for _, c := range cs {
		out = append(out, alertContact{Role: c.Role, Channel: c.Channel})
	}
	return out
}

// trackerConfig is what newTracker needs.
type trackerConfig struct {
	Options *options.Options
	Vendors vendor.Vendors
	Keys    *audit.Keys
	Store   *store.Store
	// Skip are vendors not tracked (offboarded ones).
	Skip map[string]bool
	Log  zerolog.Logger
	Now  func() time.Time
	// Write, when true, records at once the secrets first seen now and forgets the records of
	// secrets no longer configured (a running bridge); false only reads (the offline inventory).
	Write bool
}

// newTracker builds each configured vendor's lifecycle from the options, its policy and what the
// store kept.
func newTracker(c trackerConfig) (*tracker, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	t := &tracker{store: c.Store, log: c.Log.With().Str("component", "lifecycle").Logger(), now: c.Now,
		vendors: map[string]*vendorTrack{}, poke: make(chan struct{}, 1),
		open:  func(string) (bool, time.Time) { return true, time.Time{} },
		alert: func(lifecycleAlert) {}}
	stored := map[string]store.SecretUse{}
	activity := map[string]store.Activity{}
	if c.Store != nil {
		uses, err := c.Store.SecretUses()
		if err != nil {
			return nil, fmt.Errorf("read the secrets' use: %w", err)
		}
		for _, u := range uses {
			stored[u.Vendor+"\x00"+u.Digest] = u
		}
		if activity, err = c.Store.Activities(); err != nil {
			return nil, fmt.Errorf("read the vendors' activity: %w", err)
		}
	}
	now := c.Now()
	var ops []store.Op
	keep := map[string]bool{}
	for _, ov := range c.Options.Vendors {
		v, ok := c.Vendors[ov.Name]
		if !ok || v.Policy == nil || c.Skip[ov.Name] {
			continue
		}
		vt := &vendorTrack{name: ov.Name, rotateAfter: v.Policy.RotationPeriod(), expectEvery: time.Duration(v.Policy.ExpectEvery),
			contacts: alertContacts(v.Policy.Contacts), newer: ov.Newer, since: now}
		if a, ok := activity[ov.Name]; ok {
			if !a.Since.IsZero() {
				vt.since = a.Since
			}
			if !a.LastAccepted.IsZero() {
				vt.lastAccepted.Store(a.LastAccepted.UnixNano())
				vt.savedAccept = a.LastAccepted.UnixNano()
			}
		}
		if _, ok := activity[ov.Name]; !ok && c.Write {
			ops = append(ops, store.ActivityOp(ov.Name, store.Activity{Since: vt.since}))
		}
		if c.Keys != nil {
			for i, secret := range ov.Secrets {
				d := c.Keys.SecretDigest(ov.Name, secret)
				st := &secretTrack{digest: d, key: ov.SecretKey(i), firstSeen: now}
				if u, ok := stored[ov.Name+"\x00"+d]; ok {
					st.firstSeen = u.FirstSeen
					if !u.FirstVerified.IsZero() {
						st.firstVerified.Store(u.FirstVerified.UnixNano())
					}
					if !u.LastVerified.IsZero() {
						st.lastVerified.Store(u.LastVerified.UnixNano())
						st.saved = u.LastVerified.UnixNano()
					}
				} else if c.Write {
					ops = append(ops, store.SecretUseOp(store.SecretUse{Vendor: ov.Name, Digest: d, FirstSeen: now}))
				}
				keep[ov.Name+"\x00"+d] = true
				vt.secrets = append(vt.secrets, st)
			}
		}
		t.vendors[ov.Name] = vt
		t.names = append(t.names, ov.Name)
	}
	sort.Strings(t.names)
	if c.Write && c.Store != nil {
		for k, u := range stored {
			if !keep[k] {
				ops = append(ops, store.DeleteSecretUseOp(u.Vendor, u.Digest))
			}
		}
		if len(ops) > 0 {
			if err := c.Store.Write(ops...); err != nil {
				return nil, fmt.Errorf("record the secrets first seen: %w", err)
			}
		}
	}
	return t, nil
}

// wrap makes each tracked vendor's verifier report which secret verified a request.
func (t *tracker) wrap(vendors vendor.Vendors) {
	for name, vt := range t.vendors {
		v := vendors[name]
		if v == nil || v.Verifier == nil || len(vt.secrets) == 0 {
			continue
		}
		tv := &trackedVerifier{Verifier: v.Verifier, secrets: vt.secrets, now: t.now}
		if _, ok := v.Verifier.(challenger); ok {
			v.Verifier = challengingVerifier{tv}
		} else {
			v.Verifier = tv
		}
	}
}

// challenger is a verifier whose 401 says how to authenticate (HTTP Basic).
type challenger interface{ Challenge() string }

// trackedVerifier records which secret verified a request.
type trackedVerifier struct {
	verify.Verifier
	secrets []*secretTrack
	now     func() time.Time
}

func (tv *trackedVerifier) Verify(r *verify.Request) (verify.Result, error) {
	res, err := tv.Verifier.Verify(r)
	if err == nil && res.Key >= 0 && res.Key < len(tv.secrets) {
		at := r.Now
		if at.IsZero() {
			at = tv.now()
		}
		tv.secrets[res.Key].used(at.UnixNano())
	}
	return res, err
}

// challengingVerifier is a trackedVerifier that keeps its verifier's challenge.
type challengingVerifier struct{ *trackedVerifier }

func (cv challengingVerifier) Challenge() string {
	return cv.trackedVerifier.Verifier.(challenger).Challenge()
}

var (
	_ outcome.Observer    = (*tracker)(nil)
	_ discovery.Lifecycle = (*tracker)(nil)
)

// Observe records an accepted event's time (outcome.Observer). A silent vendor's recovery is
// reported by the checker, woken at once.
func (t *tracker) Observe(o *outcome.Outcome) {
	if o.Reason != outcome.Accepted {
		return
	}
	vt, ok := t.vendors[o.Vendor]
	if !ok {
		return
	}
	storeMax(&vt.lastAccepted, o.Received.UnixNano())
	if vt.expectEvery > 0 {
		select {
		case t.poke <- struct{}{}:
		default:
		}
	}
}

// start runs the checker (every checkEvery, and when poked) and the saver (every
// SaveLifecycleEvery) until close.
func (t *tracker) start() {
	t.loops.run(func(stop <-chan struct{}) {
		check := time.NewTicker(checkEvery)
		save := time.NewTicker(SaveLifecycleEvery)
		defer check.Stop()
		defer save.Stop()
		t.check()
		for {
			select {
			case <-stop:
				return
			case <-check.C:
				t.check()
			case <-t.poke:
				t.check()
			case <-save.C:
				t.save()
			}
		}
	})
}

// close stops the loops and saves once more; it runs after the partner listener stopped and
// before the store closes.
func (t *tracker) close() {
	if t == nil {
		return
	}
	t.loops.halt()
	t.save()
}

// save writes, in one transaction, what changed since the last save.
func (t *tracker) save() {
	if t.store == nil {
		return
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	var ops []store.Op
	type mark struct {
		p *int64
		v int64
	}
	var marks []mark
	for _, name := range t.names {
		vt := t.vendors[name]
		if vt.retired.Load() {
			continue
		}
		if la := vt.lastAccepted.Load(); la != vt.savedAccept {
			ops = append(ops, store.ActivityOp(name, store.Activity{Since: vt.since, LastAccepted: time.Unix(0, la).UTC()}))
			marks = append(marks, mark{&vt.savedAccept, la})
		}
		for _, s := range vt.secrets {
			lv := s.lastVerified.Load()
			if lv == s.saved {
				continue
			}
			u := store.SecretUse{Vendor: name, Digest: s.digest, FirstSeen: s.firstSeen, LastVerified: time.Unix(0, lv).UTC()}
			if fv := s.firstVerified.Load(); fv != 0 {
				u.FirstVerified = time.Unix(0, fv).UTC()
			}
			ops = append(ops, store.SecretUseOp(u))
			marks = append(marks, mark{&s.saved, lv})
		}
	}
	if len(ops) == 0 {
		return
	}
	if err := t.store.Write(ops...); err != nil {
		if !errors.Is(err, store.ErrClosed) {
			t.log.Error().Err(err).Msg("could not save the secrets' use and the vendors' last events; trying again later")
		}
		return
	}
	for _, m := range marks {
		*m.p = m.v
	}
}

// check looks at each vendor's silence and rotation, raising the alerts and telling the
// watchers of what changed.
func (t *tracker) check() {
	now := t.now()
	var changed []string
	var alerts []lifecycleAlert
	t.mu.Lock()
	for _, name := range t.names {
		vt := t.vendors[name]
		if vt.retired.Load() {
			continue
		}
		was := [2]bool{vt.silent, vt.rotationDue}
		if vt.expectEvery > 0 {
			if a, ok := t.checkSilence(vt, now); ok {
				alerts = append(alerts, a)
			}
		}
		if newest := vt.newest(); newest != nil {
			age := now.Sub(newest.firstSeen)
			vt.rotationDue = age > vt.rotateAfter
			if vt.rotationDue && !vt.rotationTold {
				vt.rotationTold = true
				days := int(age / (24 * time.Hour))
				alerts = append(alerts, lifecycleAlert{Vendor: name, Kind: kindRotationDue, Action: actionAlert, EventType: actionAlert,
					Time: now.UTC(), Contacts: vt.contacts, Secret: admin.ShortDigest(newest.digest),
					SecretAgeDays: &days, RotateAfter: policy.Period(vt.rotateAfter).String(),
					RotateAfterSec: vt.rotateAfter.Seconds()})
			}
		}
		if was != [2]bool{vt.silent, vt.rotationDue} {
			changed = append(changed, name)
		}
	}
	watchers := append([]func(string){}, t.watchers...)
	t.mu.Unlock()
	for _, a := range alerts {
		t.alert(a)
	}
	for _, name := range changed {
		for _, w := range watchers {
			w(name)
		}
	}
}

// checkSilence updates a vendor's silence as of now and returns the alert to raise, if any;
// t.mu is held. A vendor turned off is left as it is: neither silent anew nor recovered.
func (t *tracker) checkSilence(vt *vendorTrack, now time.Time) (lifecycleAlert, bool) {
	on, onSince := t.open(vt.name)
	la := vt.lastAccepted.Load()
	var last time.Time
	if la != 0 {
		last = time.Unix(0, la)
	}
	switch {
	case vt.silent && la != 0 && last.After(vt.silentSince.Add(-vt.expectEvery)):
		// An event came: recovered.
		silentFor := last.Sub(vt.silentSince.Add(-vt.expectEvery))
		vt.silent, vt.silentSince = false, time.Time{}
		lt := last.UTC()
		return lifecycleAlert{Vendor: vt.name, Kind: kindSilence, Action: actionRecovered, EventType: actionRecovered, Time: now.UTC(),
			Contacts: vt.contacts, ExpectEvery: policy.Period(vt.expectEvery).String(), ExpectEverySeconds: vt.expectEvery.Seconds(), LastAccepted: &lt,
			SilentSeconds: silentFor.Seconds()}, true
	case vt.silent || !on:
		return lifecycleAlert{}, false
	}
	ref := vt.since
	if last.After(ref) {
		ref = last
	}
	if onSince.After(ref) {
		ref = onSince
	}
	if now.Sub(ref) < vt.expectEvery {
		return lifecycleAlert{}, false
	}
	vt.silent, vt.silentSince = true, ref.Add(vt.expectEvery)
	a := lifecycleAlert{Vendor: vt.name, Kind: kindSilence, Action: actionAlert, EventType: actionAlert, Time: now.UTC(),
		Contacts: vt.contacts, ExpectEvery: policy.Period(vt.expectEvery).String(), ExpectEverySeconds: vt.expectEvery.Seconds()}
	if la != 0 {
		lt := last.UTC()
		a.LastAccepted = &lt
	}
	return a, true
}

// newest returns the vendor's newest secret: first seen last, and between two seen at once the
// one the options rank newer.
func (vt *vendorTrack) newest() *secretTrack {
	var best *secretTrack
	bi := -1
	for i, s := range vt.secrets {
		if best == nil || vt.newerThan(i, bi) {
			best, bi = s, i
		}
	}
	return best
}

// newerThan reports whether secret i is newer than secret j.
func (vt *vendorTrack) newerThan(i, j int) bool {
	a, b := vt.secrets[i], vt.secrets[j]
	if !a.firstSeen.Equal(b.firstSeen) {
		return a.firstSeen.After(b.firstSeen)
	}
	return vt.newer(i, j)
}

// WatchProblems registers fn to be called after a vendor's problems changed (discovery).
func (t *tracker) WatchProblems(fn func(vendor string)) {
	t.mu.Lock()
	t.watchers = append(t.watchers, fn)
	t.mu.Unlock()
}

// Problems returns a vendor's problems, for its status (discovery).
func (t *tracker) Problems(name string) discovery.Problems {
	vt, ok := t.vendors[name]
	if !ok {
		return discovery.Problems{}
	}
	var p discovery.Problems
	t.mu.Lock()
	p.RotationDue, p.Silent = vt.rotationDue, vt.silent
	if vt.silent {
		s := vt.silentSince.UTC()
		p.SilentSince = &s
	}
	t.mu.Unlock()
	if n := vt.newest(); n != nil {
		days := int(t.now().Sub(n.firstSeen) / (24 * time.Hour))
		p.SecretAgeDays = &days
	}
	if la := vt.lastAccepted.Load(); la != 0 {
		l := time.Unix(0, la).UTC()
		p.LastAccepted = &l
	}
	return p
}

// Secrets returns a vendor's secrets with their age and last use (admin.Lifecycle).
func (t *tracker) Secrets(name string) []admin.SecretInfo {
	vt, ok := t.vendors[name]
	if !ok || vt.retired.Load() {
		return nil
	}
	now := t.now()
	newest := vt.newest()
	out := make([]admin.SecretInfo, 0, len(vt.secrets))
	for i, s := range vt.secrets {
		age := now.Sub(s.firstSeen)
		si := admin.SecretInfo{Digest: admin.ShortDigest(s.digest), Key: s.key, FirstSeen: s.firstSeen.UTC(),
			AgeSeconds: float64(age.Milliseconds()) / 1000, AgeDays: int(age / (24 * time.Hour)),
			Newest: s == newest, RotationDue: age > vt.rotateAfter}
		si.FirstVerified, si.LastVerified = nanoTime(s.firstVerified.Load()), nanoTime(s.lastVerified.Load())
		if since, ok := vt.readySince(i); ok {
			si.ReadyToRemove, si.ReadySince = true, &since
			si.ReadyForSeconds = float64(max(now.Sub(since), 0).Milliseconds()) / 1000
		}
		out = append(out, si)
	}
	return out
}

// readySince reports whether secret i is ready to remove, and since when: a newer secret has
// verified a webhook after i last did (or i never did). Since is the later of i's last use and
// that newer secret's first; over several newer ones, the earliest.
func (vt *vendorTrack) readySince(i int) (time.Time, bool) {
	last := vt.secrets[i].lastVerified.Load()
	var best int64
	for j, n := range vt.secrets {
		if j == i || !vt.newerThan(j, i) {
			continue
		}
		nl, nf := n.lastVerified.Load(), n.firstVerified.Load()
		if nl == 0 || nl <= last {
			continue
		}
		since := max(last, nf)
		if best == 0 || since < best {
			best = since
		}
	}
	if best == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, best).UTC(), true
}

func nanoTime(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

// Activity returns a vendor's rotation and silence state (admin.Lifecycle); nil for a vendor not
// tracked.
func (t *tracker) Activity(name string) *admin.Activity {
	vt, ok := t.vendors[name]
	if !ok || vt.retired.Load() {
		return nil
	}
	p := t.Problems(name)
	a := admin.Activity{RotateAfter: policy.Period(vt.rotateAfter).String(), RotationDue: p.RotationDue,
		LastAccepted: p.LastAccepted, Silent: p.Silent, SilentSince: p.SilentSince}
	if vt.expectEvery > 0 {
		a.ExpectEvery = policy.Period(vt.expectEvery).String()
	}
	return &a
}

// retire stops tracking a vendor that is being offboarded: nothing of it is saved again, and it
// shows no secrets.
func (t *tracker) retire(name string) {
	vt, ok := t.vendors[name]
	if !ok {
		return
	}
	t.saveMu.Lock() // a save in progress finishes first
	vt.retired.Store(true)
	t.saveMu.Unlock()
	t.mu.Lock()
	vt.silent, vt.rotationDue = false, false
	watchers := append([]func(string){}, t.watchers...)
	t.mu.Unlock()
	for _, w := range watchers {
		w(name)
	}
}

// collector returns the lifecycle's metrics: hookbridge_vendor_last_event_timestamp_seconds,
// hookbridge_vendor_silent, hookbridge_vendor_secret_rotation_due,
// hookbridge_vendor_secret_age_seconds and hookbridge_secret_last_verified_timestamp_seconds.
// Label values are configured vendor names and secrets' digests (their start).
func (t *tracker) collector() prometheus.Collector { return trackerCollector{t} }

type trackerCollector struct{ t *tracker }

var (
	descLastEvent = prometheus.NewDesc("hookbridge_vendor_last_event_timestamp_seconds",
		"When an event of the vendor was last accepted (Unix time), kept across restarts; absent before the first.", []string{"vendor"}, nil)
	descSilent = prometheus.NewDesc("hookbridge_vendor_silent",
		"1 while a vendor whose policy sets expect_every had no event accepted for that long.", []string{"vendor"}, nil)
	descRotationDue = prometheus.NewDesc("hookbridge_vendor_secret_rotation_due",
		"1 while the vendor's newest secret is older than its policy's rotate_after (365 days by default).", []string{"vendor"}, nil)
	descSecretAge = prometheus.NewDesc("hookbridge_vendor_secret_age_seconds",
		"Age of the vendor's newest secret: since Hookbridge first saw it in the options.", []string{"vendor"}, nil)
	descSecretLast = prometheus.NewDesc("hookbridge_secret_last_verified_timestamp_seconds",
		"When each secret last verified a webhook (Unix time), by the start of its keyed digest; absent before it did.", []string{"vendor", "secret"}, nil)
)

func (c trackerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastEvent, descSilent, descRotationDue, descSecretAge, descSecretLast} {
		ch <- d
	}
}

func (c trackerCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.t
	now := t.now()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, name := range t.names {
		vt := t.vendors[name]
		if vt.retired.Load() {
			continue
		}
		if la := vt.lastAccepted.Load(); la != 0 {
			ch <- prometheus.MustNewConstMetric(descLastEvent, prometheus.GaugeValue, float64(la)/1e9, name)
		}
		t.mu.Lock()
		silent, due := vt.silent, vt.rotationDue
		t.mu.Unlock()
		if vt.expectEvery > 0 {
			ch <- prometheus.MustNewConstMetric(descSilent, prometheus.GaugeValue, b(silent), name)
		}
		if n := vt.newest(); n != nil {
			ch <- prometheus.MustNewConstMetric(descRotationDue, prometheus.GaugeValue, b(due), name)
			ch <- prometheus.MustNewConstMetric(descSecretAge, prometheus.GaugeValue, now.Sub(n.firstSeen).Seconds(), name)
		}
		for _, s := range vt.secrets {
			if lv := s.lastVerified.Load(); lv != 0 {
				ch <- prometheus.MustNewConstMetric(descSecretLast, prometheus.GaugeValue, float64(lv)/1e9, name, admin.ShortDigest(s.digest))
			}
		}
	}
}
