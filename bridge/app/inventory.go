package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/audit"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/killswitch"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/store"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// OfflineInventory builds the integration inventory from the files, as a server would at start:
// the options, the catalog and, when the data dir holds a state file, the stored kill-switch
// states. warn receives a problem that leaves the inventory usable (an unreadable state file).
func OfflineInventory(o *options.Options, cat *catalog.Catalog, dataDir string, warn func(string)) ([]admin.VendorInfo, error) {
	cfgs, err := o.VendorConfigs()
	if err != nil {
		return nil, err
	}
	// No pseudonym is computed for the inventory: a throwaway key serves the routes' compilation.
	ps, err := pseudo.New(make([]byte, pseudo.KeyLen))
	if err != nil {
		return nil, err
	}
	vendors, err := vendor.Compile(o.TopicPrefix, cfgs, cat, ps)
	if err != nil {
		return nil, o.VendorError(err)
	}
	stored := map[string][]byte{}
	var lc admin.Lifecycle
	if _, err := os.Stat(filepath.Join(dataDir, "hookbridge.db")); err == nil {
		st, err := store.Open(dataDir, store.Options{})
		if err != nil {
			warn(fmt.Sprintf("%v; states below follow the options only", err))
		} else {
			defer st.Close()
			if stored, err = st.States(); err != nil {
				return nil, err
			}
			if lc, err = offlineLifecycle(o, vendors, st, newSwitches(vendors, stored, nil), dataDir, warn); err != nil {
				return nil, err
			}
		}
	}
	thresholds, err := opsThresholds(vendors)
	if err != nil {
		return nil, err
	}
	aud := offlineAudience(o)
	adm := admin.New(admin.Config{Vendors: vendors, Switches: newSwitches(vendors, stored, nil), Lifecycle: lc})
	adm.SetInventory(admin.InventoryConfig{TopicPrefix: o.TopicPrefix, RetentionDays: o.RetentionDays,
		Schemas: schemaDocs(cat, vendors), Anomaly: thresholds, Audience: &aud})
	return adm.Inventory(), nil
}

// offlineLifecycle reads the secrets' use, the vendors' activity and the offboardings from a
// state file, without writing. Without the audit key (never started) the secrets are not known.
func offlineLifecycle(o *options.Options, vendors vendor.Vendors, st *store.Store, sw *killswitch.Switches, dataDir string, warn func(string)) (admin.Lifecycle, error) {
	keys, err := audit.LoadKeys(dataDir)
	if err != nil {
		warn(fmt.Sprintf("%v; secrets below are not shown", err))
		keys = nil
	}
	recs, err := st.Offboarded()
	if err != nil {
		return nil, err
	}
	ob := &offboarded{st: st, m: map[string]*admin.Offboarding{}}
	for name, data := range recs {
		var rep admin.Offboarding
		if json.Unmarshal(data, &rep) == nil {
			ob.m[name] = &rep
		}
	}
	t, err := newTracker(trackerConfig{Options: o, Vendors: vendors, Keys: keys, Store: st, Skip: ob.names()})
	if err != nil {
		return nil, err
	}
	t.open = func(name string) (bool, time.Time) {
		state, ok := sw.Get(name)
		return ok && state.Mode == killswitch.Enabled, state.Since
	}
	t.check() // silence and rotation as of now; no alert goes anywhere
	return offlineLifecycleView{t, ob}, nil
}

// offlineLifecycleView is appLifecycle without a running App.
type offlineLifecycleView struct {
	t  *tracker
	ob *offboarded
}

func (l offlineLifecycleView) Secrets(v string) []admin.SecretInfo    { return l.t.Secrets(v) }
func (l offlineLifecycleView) Activity(v string) *admin.Activity      { return l.t.Activity(v) }
func (l offlineLifecycleView) Offboarded(v string) *admin.Offboarding { return l.ob.get(v) }
