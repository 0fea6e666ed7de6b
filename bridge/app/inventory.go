package app

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookbridge/hookbridge/addon/admin"
	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/catalog"
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
	if _, err := os.Stat(filepath.Join(dataDir, "hookbridge.db")); err == nil {
		st, err := store.Open(dataDir, store.Options{})
		if err != nil {
			warn(fmt.Sprintf("%v; states below follow the options only", err))
		} else {
			stored, err = st.States()
			st.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	thresholds, err := opsThresholds(vendors)
	if err != nil {
		return nil, err
	}
	adm := admin.New(admin.Config{Vendors: vendors, Switches: newSwitches(vendors, stored, nil)})
	adm.SetInventory(admin.InventoryConfig{TopicPrefix: o.TopicPrefix, RetentionDays: o.RetentionDays,
		Schemas: schemaDocs(cat, vendors), Anomaly: thresholds})
	return adm.Inventory(), nil
}
