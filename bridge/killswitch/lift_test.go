package killswitch_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/killswitch"
)

// memPersister keeps states in memory, like the store does on disk.
type memPersister map[string][]byte

func (m memPersister) PutState(vendor string, value []byte) error {
	m[vendor] = append([]byte(nil), value...)
	return nil
}

// TestQuarantineOnlyLiftEnds checks that nothing but a person's Lift ends a quarantine: not Enable
// from the API or MQTT, not Disable, not a Lift sent over MQTT, not a restart with the Supervisor
// option toggled.
func TestQuarantineOnlyLiftEnds(t *testing.T) {
	const v = "acme-locks"
	p := memPersister{}
	sw := killswitch.New(map[string]bool{v: true}, map[string]bool{v: true}, nil, p)
	if err := sw.Quarantine(v, "20 signature failures in 5m0s"); err != nil {
		t.Fatalf("Quarantine: %v", err)
	}
	tries := []struct {
		name string
		do   func() error
		want error
	}{
		{"enable by api", func() error { return sw.Enable(v, killswitch.ByAPI) }, killswitch.ErrQuarantined},
		{"enable by mqtt", func() error { return sw.Enable(v, killswitch.ByMQTT) }, killswitch.ErrQuarantined},
		{"disable by mqtt", func() error { return sw.Disable(v, killswitch.ByMQTT, "off") }, nil},
		{"lift by mqtt", func() error { return sw.Lift(v, killswitch.ByMQTT) }, killswitch.ErrQuarantined},
	}
	for _, tc := range tries {
		if err := tc.do(); !errors.Is(err, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, err, tc.want)
		}
		if s, _ := sw.Get(v); s.Mode != killswitch.Quarantined {
			t.Errorf("after %s: mode = %s, want %s", tc.name, s.Mode, killswitch.Quarantined)
		}
	}

	// A restart with the option toggled off and on again keeps the quarantine.
	for _, on := range []bool{false, true} {
		sw = killswitch.New(map[string]bool{v: on}, map[string]bool{v: true}, p, p)
		if s, _ := sw.Get(v); s.Mode != killswitch.Quarantined {
			t.Errorf("restart with option %v: mode = %s, want %s", on, s.Mode, killswitch.Quarantined)
		}
	}

	if err := sw.Lift(v, killswitch.ByAPI); err != nil {
		t.Fatalf("Lift by api: %v", err)
	}
	if s, _ := sw.Get(v); s.Mode != killswitch.Enabled {
		t.Errorf("after lift: mode = %s, want %s", s.Mode, killswitch.Enabled)
	}
	if err := sw.Lift(v, killswitch.ByAPI); !errors.Is(err, killswitch.ErrNotQuarantined) {
		t.Errorf("Lift of an enabled vendor = %v, want %v", err, killswitch.ErrNotQuarantined)
	}
}

// TestLiftFollowsOption checks that lifting a quarantine whose option was turned off meanwhile
// leaves the vendor disabled by the option.
func TestLiftFollowsOption(t *testing.T) {
	const v = "acme-locks"
	raw, _ := json.Marshal(killswitch.State{Mode: killswitch.Quarantined, By: killswitch.ByAnomaly, Option: true})
	p := memPersister{v: raw}
	sw := killswitch.New(map[string]bool{v: false}, map[string]bool{v: true}, p, p)
	if err := sw.Lift(v, killswitch.ByAPI); err != nil {
		t.Fatalf("Lift: %v", err)
	}
	s, _ := sw.Get(v)
	if s.Mode != killswitch.Disabled || s.By != killswitch.ByOption {
		t.Errorf("after lift = %s by %s, want %s by %s", s.Mode, s.By, killswitch.Disabled, killswitch.ByOption)
	}
}
