package killswitch

import (
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeStore is a Persister that keeps what it is given, and fails when told to.
type fakeStore struct {
	mu     sync.Mutex
	states map[string][]byte
	puts   int
	fail   error
}

func newStore() *fakeStore { return &fakeStore{states: map[string][]byte{}} }

func (f *fakeStore) PutState(vendor string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.puts++
	f.states[vendor] = append([]byte(nil), value...)
	return nil
}

func (f *fakeStore) state(t *testing.T, vendor string) State {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var s State
	if err := json.Unmarshal(f.states[vendor], &s); err != nil {
		t.Fatalf("stored state of %s: %v", vendor, err)
	}
	return s
}

func stored(t *testing.T, s State) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newAt builds switches whose clock, after New, reads t0 plus one second per reading.
func newAt(option, canEnable map[string]bool, st map[string][]byte, p Persister) *Switches {
	sw := New(option, canEnable, st, p)
	clock := t0
	sw.now = func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}
	return sw
}

// same reports whether two states are equal, comparing times as instants (a stored state loses
// its monotonic reading and location).
func same(a, b State) bool {
	return a.Since.Equal(b.Since) && a.Mode == b.Mode && a.Reason == b.Reason && a.By == b.By && a.Option == b.Option
}

func TestNew(t *testing.T) {
	apiOff := State{Mode: Disabled, By: ByAPI, Reason: "maintenance", Since: t0, Option: true}
	quarantined := State{Mode: Quarantined, By: ByAnomaly, Reason: "signature failures", Since: t0, Option: true}
	apiOn := State{Mode: Enabled, By: ByAPI, Since: t0, Option: false}
	tests := []struct {
		name      string
		option    bool
		canEnable bool
		stored    []byte
		want      State // Since is not compared when zero
	}{
		{"enabled by option", true, true, nil, State{Mode: Enabled, By: ByOption, Option: true}},
		{"disabled by option", false, true, nil, State{Mode: Disabled, By: ByOption, Option: false}},
		{"no secret", true, false, nil, State{Mode: Disabled, By: ByOption, Reason: "no secret configured", Option: true}},
		{"stored disable wins", true, true, stored(t, apiOff), apiOff},
		{"stored quarantine wins", true, true, stored(t, quarantined), quarantined},
		{"stored enable wins", false, true, stored(t, apiOn), apiOn},
		{"option changed since the disable", false, true, stored(t, apiOff), State{Mode: Disabled, By: ByOption, Option: false}},
		{"option changed since the enable", true, true, stored(t, apiOn), State{Mode: Enabled, By: ByOption, Option: true}},
		{"option changed since the quarantine", false, true, stored(t, quarantined), State{Mode: Quarantined, By: ByAnomaly, Reason: "signature failures", Since: t0, Option: false}},
		{"quarantine without a secret", true, false, stored(t, quarantined), quarantined},
		{"stored enable without a secret", false, false, stored(t, apiOn), State{Mode: Disabled, By: ByOption, Reason: "no secret configured", Option: false}},
		{"damaged stored state", true, true, []byte("{not json"), State{Mode: Enabled, By: ByOption, Option: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := map[string][]byte{}
			if tt.stored != nil {
				st["acme"] = tt.stored
			}
			sw := New(map[string]bool{"acme": tt.option}, map[string]bool{"acme": tt.canEnable}, st, nil)
			got, ok := sw.Get("acme")
			if !ok {
				t.Fatal("Get(acme) not found")
			}
			if tt.want.Since.IsZero() {
				if got.Since.IsZero() {
					t.Errorf("Get(acme).Since is zero, want the start time")
				}
				got.Since = time.Time{}
			}
			if !got.Since.Equal(tt.want.Since) {
				t.Errorf("Get(acme).Since = %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Get(acme) = %+v, want %+v", got, tt.want)
			}
			if open := sw.Open("acme"); open != (tt.want.Mode == Enabled) {
				t.Errorf("Open(acme) = %v, want %v", open, !open)
			}
		})
	}
}

func TestNewIgnoresUnknownStored(t *testing.T) {
	st := map[string][]byte{"gone": stored(t, State{Mode: Enabled, Option: true})}
	sw := New(map[string]bool{"acme": true}, map[string]bool{"acme": true, "gone": true}, st, nil)
	if _, ok := sw.Get("gone"); ok || sw.Open("gone") {
		t.Errorf("a stored state of a vendor without an option became a vendor")
	}
	if got := sw.Vendors(); !reflect.DeepEqual(got, []string{"acme"}) {
		t.Errorf("Vendors() = %q, want [acme]", got)
	}
}

func TestVendors(t *testing.T) {
	sw := New(map[string]bool{"c": true, "a": false, "b": true}, nil, nil, nil)
	if got := sw.Vendors(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("Vendors() = %q, want [a b c]", got)
	}
	if _, ok := sw.Get("d"); ok || sw.Open("d") {
		t.Errorf("Get(d) found an unknown vendor")
	}
}

// step is one operation in a sequence and what it must lead to.
type step struct {
	op      string // enable, disable, quarantine, lift
	by      string
	reason  string
	wantErr error
	mode    Mode
	wantBy  string
	changed bool // whether state, store and watchers see a change
}

func apply(sw *Switches, vendor string, s step) error {
	switch s.op {
	case "enable":
		return sw.Enable(vendor, s.by)
	case "disable":
		return sw.Disable(vendor, s.by, s.reason)
	case "quarantine":
		return sw.Quarantine(vendor, s.reason)
	case "lift":
		return sw.Lift(vendor, s.by)
	}
	panic("unknown op " + s.op)
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name   string
		start  bool // option value (and so Enabled or Disabled)
		secret bool
		steps  []step
	}{
		{"disable then enable", true, true, []step{
			{op: "disable", by: ByAPI, reason: "maintenance", mode: Disabled, wantBy: ByAPI, changed: true},
			{op: "enable", by: ByMQTT, mode: Enabled, wantBy: ByMQTT, changed: true},
		}},
		{"enable when enabled changes nothing", true, true, []step{
			{op: "enable", by: ByAPI, mode: Enabled, wantBy: ByOption},
		}},
		{"disable twice changes once", true, true, []step{
			{op: "disable", by: ByAPI, reason: "r", mode: Disabled, wantBy: ByAPI, changed: true},
			{op: "disable", by: ByMQTT, reason: "r", mode: Disabled, wantBy: ByAPI},
			{op: "disable", by: ByMQTT, reason: "other reason", mode: Disabled, wantBy: ByMQTT, changed: true},
		}},
		{"quarantine refuses enable", true, true, []step{
			{op: "quarantine", reason: "signature failures", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "enable", by: ByAPI, wantErr: ErrQuarantined, mode: Quarantined, wantBy: ByAnomaly},
			{op: "enable", by: ByMQTT, wantErr: ErrQuarantined, mode: Quarantined, wantBy: ByAnomaly},
		}},
		{"disable keeps a quarantine", true, true, []step{
			{op: "quarantine", reason: "replays", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "disable", by: ByAPI, reason: "r", mode: Quarantined, wantBy: ByAnomaly},
		}},
		{"lift ends a quarantine", true, true, []step{
			{op: "quarantine", reason: "replays", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "lift", by: ByMQTT, wantErr: ErrQuarantined, mode: Quarantined, wantBy: ByAnomaly},
			{op: "lift", by: ByAnomaly, wantErr: ErrQuarantined, mode: Quarantined, wantBy: ByAnomaly},
			{op: "lift", by: ByAPI, mode: Enabled, wantBy: ByAPI, changed: true},
			{op: "lift", by: ByAPI, wantErr: ErrNotQuarantined, mode: Enabled, wantBy: ByAPI},
			{op: "disable", by: ByAPI, reason: "r", mode: Disabled, wantBy: ByAPI, changed: true},
			{op: "lift", by: ByAPI, wantErr: ErrNotQuarantined, mode: Disabled, wantBy: ByAPI},
		}},
		{"lift leaves a vendor the option keeps off", false, true, []step{
			{op: "quarantine", reason: "rate", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "enable", by: ByAPI, wantErr: ErrQuarantined, mode: Quarantined, wantBy: ByAnomaly},
			{op: "lift", by: ByAPI, reason: "quarantine lifted; the option keeps the vendor off", mode: Disabled, wantBy: ByOption, changed: true},
			{op: "enable", by: ByAPI, mode: Enabled, wantBy: ByAPI, changed: true},
		}},
		{"quarantine with a new reason", true, true, []step{
			{op: "quarantine", reason: "a", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "quarantine", reason: "b", mode: Quarantined, wantBy: ByAnomaly, changed: true},
		}},
		{"no secret refuses enable and lift", true, false, []step{
			{op: "enable", by: ByAPI, wantErr: ErrNoSecret, mode: Disabled, wantBy: ByOption},
			{op: "quarantine", reason: "x", mode: Quarantined, wantBy: ByAnomaly, changed: true},
			{op: "lift", by: ByAPI, wantErr: ErrNoSecret, mode: Quarantined, wantBy: ByAnomaly},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore()
			sw := newAt(map[string]bool{"acme": tt.start, "other": true}, map[string]bool{"acme": tt.secret, "other": true}, nil, store)
			var seen []State
			sw.Watch(func(vendor string, s State) {
				if vendor != "acme" {
					t.Errorf("watcher called for %s, want acme", vendor)
				}
				seen = append(seen, s)
			})
			otherBefore, _ := sw.Get("other")
			for i, s := range tt.steps {
				before, _ := sw.Get("acme")
				puts, watched := store.puts, len(seen)
				err := apply(sw, "acme", s)
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d %s = %v, want %v", i, s.op, err, s.wantErr)
				}
				got, _ := sw.Get("acme")
				if got.Mode != s.mode || got.By != s.wantBy {
					t.Errorf("step %d %s: state = %+v, want mode %s by %s", i, s.op, got, s.mode, s.wantBy)
				}
				if s.changed {
					if got.Reason != s.reason {
						t.Errorf("step %d %s: reason = %q, want %q", i, s.op, got.Reason, s.reason)
					}
					if got.Since.Equal(before.Since) || got.Since.Before(t0) {
						t.Errorf("step %d %s: Since = %v, want the clock's new reading (was %v)", i, s.op, got.Since, before.Since)
					}
					if store.puts != puts+1 || !same(store.state(t, "acme"), got) {
						t.Errorf("step %d %s: stored %d times, state %+v, want once with %+v", i, s.op, store.puts-puts, store.state(t, "acme"), got)
					}
					if len(seen) != watched+1 || !same(seen[len(seen)-1], got) {
						t.Errorf("step %d %s: watchers saw %+v, want one call with %+v", i, s.op, seen[watched:], got)
					}
				} else {
					if got != before {
						t.Errorf("step %d %s: state = %+v, want unchanged %+v", i, s.op, got, before)
					}
					if store.puts != puts || len(seen) != watched {
						t.Errorf("step %d %s: %d stores and %d watcher calls, want none", i, s.op, store.puts-puts, len(seen)-watched)
					}
				}
				if got.Option != tt.start {
					t.Errorf("step %d %s: Option = %v, want the option value %v kept", i, s.op, got.Option, tt.start)
				}
				if sw.Open("acme") != (got.Mode == Enabled) {
					t.Errorf("step %d %s: Open = %v with mode %s", i, s.op, sw.Open("acme"), got.Mode)
				}
			}
			if otherAfter, _ := sw.Get("other"); otherAfter != otherBefore {
				t.Errorf("other vendor changed from %+v to %+v", otherBefore, otherAfter)
			}
		})
	}
}

func TestUnknownVendor(t *testing.T) {
	sw := New(map[string]bool{"acme": true}, map[string]bool{"acme": true, "ghost": true}, nil, nil)
	for _, s := range []step{{op: "enable"}, {op: "disable"}, {op: "quarantine"}, {op: "lift"}} {
		if err := apply(sw, "ghost", s); !errors.Is(err, ErrUnknownVendor) {
			t.Errorf("%s(ghost) = %v, want ErrUnknownVendor", s.op, err)
		}
	}
	if _, ok := sw.Get("ghost"); ok {
		t.Errorf("a change to an unknown vendor added it")
	}
}

// TestPersistence checks that what a change stores brings the same state back at the next start,
// as long as the option keeps its value.
func TestPersistence(t *testing.T) {
	store := newStore()
	option := map[string]bool{"acme": true, "grid": true, "cams": false}
	secrets := map[string]bool{"acme": true, "grid": true, "cams": true}
	sw := newAt(option, secrets, nil, store)
	if err := sw.Quarantine("acme", "signature failures"); err != nil {
		t.Fatal(err)
	}
	if err := sw.Disable("grid", ByAPI, "maintenance"); err != nil {
		t.Fatal(err)
	}
	if err := sw.Enable("cams", ByMQTT); err != nil {
		t.Fatal(err)
	}
	restarted := New(option, secrets, store.states, nil)
	for _, v := range sw.Vendors() {
		before, _ := sw.Get(v)
		after, _ := restarted.Get(v)
		if !same(before, after) {
			t.Errorf("after a restart %s = %+v, want %+v", v, after, before)
		}
	}
	// The user toggles grid off and cams on in the Supervisor UI: the option wins for those two.
	option2 := map[string]bool{"acme": true, "grid": false, "cams": true}
	toggled := New(option2, secrets, store.states, nil)
	if s, _ := toggled.Get("acme"); s.Mode != Quarantined {
		t.Errorf("acme after a restart = %+v, want still quarantined", s)
	}
	if s, _ := toggled.Get("grid"); s.Mode != Disabled || s.By != ByOption {
		t.Errorf("grid after the option changed = %+v, want disabled by option", s)
	}
	if s, _ := toggled.Get("cams"); s.Mode != Enabled || s.By != ByOption {
		t.Errorf("cams after the option changed = %+v, want enabled by option", s)
	}
}

func TestPersistFailure(t *testing.T) {
	store := newStore()
	store.fail = errors.New("disk full")
	sw := newAt(map[string]bool{"acme": true}, map[string]bool{"acme": true}, nil, store)
	called := false
	sw.Watch(func(string, State) { called = true })
	before, _ := sw.Get("acme")
	err := sw.Disable("acme", ByAPI, "r")
	if err == nil || !errors.Is(err, store.fail) {
		t.Fatalf("Disable with a failing store = %v, want the store's error", err)
	}
	if after, _ := sw.Get("acme"); after != before || called {
		t.Errorf("a failed store changed the state to %+v (watchers called: %v), want %+v", after, called, before)
	}
}

func TestWatchers(t *testing.T) {
	sw := New(map[string]bool{"acme": true, "grid": true}, map[string]bool{"acme": true, "grid": true}, nil, nil)
	var calls []string
	sw.Watch(func(v string, s State) { calls = append(calls, "first:"+v+":"+string(s.Mode)) })
	sw.Watch(func(v string, s State) {
		calls = append(calls, "second:"+v+":"+string(s.Mode))
		// A watcher may read and change the switches: the lock is not held while it runs.
		if got, _ := sw.Get(v); got != s {
			t.Errorf("Get(%s) in a watcher = %+v, want the new state %+v", v, got, s)
		}
		if v == "acme" {
			if err := sw.Disable("grid", ByAPI, "follows acme"); err != nil {
				t.Errorf("Disable in a watcher = %v", err)
			}
		}
	})
	if err := sw.Quarantine("acme", "x"); err != nil {
		t.Fatal(err)
	}
	want := []string{"first:acme:quarantined", "second:acme:quarantined", "first:grid:disabled", "second:grid:disabled"}
	if len(calls) != len(want) {
		t.Fatalf("watcher calls = %q, want %q", calls, want)
	}
	for _, w := range want {
		found := false
		for _, c := range calls {
			found = found || c == w
		}
		if !found {
			t.Errorf("watcher calls = %q, lack %q", calls, w)
		}
	}
}

func TestConcurrent(t *testing.T) {
	store := newStore()
	sw := New(map[string]bool{"a": true, "b": true}, map[string]bool{"a": true, "b": true}, nil, store)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := []string{"a", "b"}[i%2]
				switch (g + i) % 4 {
				case 0:
					sw.Disable(v, ByAPI, "r")
				case 1:
					sw.Enable(v, ByAPI)
				case 2:
					sw.Open(v)
					sw.Vendors()
				case 3:
					sw.Get(v)
				}
			}
		}()
	}
	wg.Wait()
	for _, v := range []string{"a", "b"} {
		got, _ := sw.Get(v)
		if st := store.state(t, v); !same(st, got) {
			t.Errorf("%s: state %+v, last stored %+v, want equal", v, got, st)
		}
	}
}

// TestRetire turns a vendor off without opening an incident, keeps a quarantine, and a later
// Enable takes the vendor on again.
func TestRetire(t *testing.T) {
	on := map[string]bool{"a": true, "q": true}
	sw := New(on, on, nil, nil)
	var changes []State
	sw.Watch(func(_ string, s State) { changes = append(changes, s) })
	if err := sw.Retire("a", ByAPI, "offboarded"); err != nil {
		t.Fatal(err)
	}
	if st, _ := sw.Get("a"); st.Mode != Disabled || st.By != ByAPI || st.Reason != "offboarded" {
		t.Errorf("state after Retire = %+v, want disabled by api, offboarded", st)
	}
	if tl, _ := sw.Timeline("a", time.Now()); len(tl) != 0 {
		t.Errorf("Retire opened an incident: %+v", tl)
	}
	if len(changes) != 1 {
		t.Errorf("watchers told of %d changes, want 1", len(changes))
	}
	if err := sw.Retire("a", ByAPI, "offboarded"); err != nil || len(changes) != 1 {
		t.Errorf("Retire again = %v, %d changes; want nothing new", err, len(changes))
	}
	if err := sw.Quarantine("q", "bad"); err != nil {
		t.Fatal(err)
	}
	if err := sw.Retire("q", ByCLI, "offboarded"); err != nil {
		t.Fatal(err)
	}
	if st, _ := sw.Get("q"); st.Mode != Quarantined {
		t.Errorf("Retire of a quarantined vendor = %+v, want it left quarantined", st)
	}
	if err := sw.Enable("a", ByAPI); err != nil || !sw.Open("a") {
		t.Errorf("Enable after Retire = %v, open %v; want on again", err, sw.Open("a"))
	}
	if err := sw.Retire("nobody", ByAPI, "x"); !errors.Is(err, ErrUnknownVendor) {
		t.Errorf("Retire(unknown) = %v, want ErrUnknownVendor", err)
	}
}
