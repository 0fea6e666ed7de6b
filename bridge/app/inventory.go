package app

import (
	"fmt"
	"os"
	"path/filepath"

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
	var st *store.Store
	if _, err := os.Stat(filepath.Join(dataDir, "hookbridge.db")); err == nil {
		if st, err = store.Open(dataDir, store.Options{}); err != nil {
			warn(fmt.Sprintf("%v; states below follow the options only", err))
			st = nil
		} else {
			defer st.Close()
			if stored, err = st.States(); err != nil {
				return nil, err
			}
		}
	}
	sw := newSwitches(vendors, stored, nil)
	var lc admin.Lifecycle
	if st != nil {
		if lc, err = offlineLifecycle(o, vendors, st, sw, dataDir, warn); err != nil {
			return nil, err
		}
	}
	thresholds, err := opsThresholds(vendors)
	if err != nil {
		return nil, err
	}
	aud := offlineAudience(o)
	adm := admin.New(admin.Config{Vendors: vendors, Switches: sw, Lifecycle: lc})
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
	recs, err := decodeOffboarded(st)
	if err != nil {
		return nil, err
	}
	ob := &offboarded{st: st, m: map[string]*admin.Offboarding{}}
	for name, rep := range recs {
		if rep != nil { // an unreadable record is not shown
			ob.m[name] = rep
		}
	}
	t, err := newTracker(trackerConfig{Options: o, Vendors: vendors, Keys: keys, Store: st, Skip: ob.names()})
	if err != nil {
		return nil, err
	}
	t.open = switchOpen(sw)
	t.check() // silence and rotation as of now; no alert goes anywhere
	return lifecycleView{t, ob}, nil
}
