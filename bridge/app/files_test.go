package app_test

import (
	"errors"
	"os"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/vendor"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// TestFreshOptions checks first-run options over the built-in catalog and the senders' test
// catalog: each vendor whose scheme can make a secret is on with a fresh one in its format; one
// whose secret the sender issues (or that is the sender's public key) is off without one; and the
// options pass the check a start makes, public_url unset.
func TestFreshOptions(t *testing.T) {
	cat, _, err := catalog.Load(catalog.Sources{Builtin: os.DirFS("../.."),
		PolicyDir: "../../testdata/catalog/senders/policies", SchemaDir: "../../testdata/catalog/senders/schemas"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := app.FreshOptions(cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Vendors) != len(cat.Names()) {
		t.Fatalf("FreshOptions lists %d vendors, want the catalog's %d", len(o.Vendors), len(cat.Names()))
	}
	generated, issued := 0, 0
	for _, v := range o.Vendors {
		cv, _ := cat.Vendor(v.Name)
		_, err := cv.Policy.Auth.NewSecret()
		switch {
		case errors.Is(err, verify.ErrCannotGenerate):
			issued++
			if v.Enabled || len(v.Secrets) != 0 {
				t.Errorf("vendor %s (scheme %s): enabled %v with %d secrets, want off without one: the sender issues it",
					v.Name, cv.Policy.Auth.Scheme, v.Enabled, len(v.Secrets))
			}
		case err != nil:
			t.Fatalf("vendor %s: NewSecret = %v", v.Name, err)
		default:
			generated++
			if !v.Enabled || len(v.Secrets) != 1 {
				t.Fatalf("vendor %s: enabled %v with %d secrets, want on with one", v.Name, v.Enabled, len(v.Secrets))
			}
			if err := cv.Policy.Auth.CheckSecret(v.Secrets[0]); err != nil {
				t.Errorf("vendor %s (scheme %s): its fresh secret is refused: %v", v.Name, cv.Policy.Auth.Scheme, err)
			}
		}
	}
	if generated == 0 || issued == 0 {
		t.Errorf("FreshOptions: %d generated and %d sender-issued secrets, want some of each", generated, issued)
	}
	cfgs, err := o.VendorConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if err := vendor.Check(cfgs, cat); err != nil {
		t.Errorf("vendor.Check(FreshOptions) = %v, want the first start to work", err)
	}
}

// TestFreshOptionsLearnOnly checks that first-run options put a vendor whose policy has no
// schema or routes yet in learn mode, the one mode it can start in.
func TestFreshOptionsLearnOnly(t *testing.T) {
	cat, _, err := catalog.Load(catalog.Sources{Builtin: os.DirFS("../.."), PolicyDir: "../../testdata/onboarding/policies"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := app.FreshOptions(cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range o.Vendors {
		want := "live"
		if v.Name == "lumen-sensors" {
			want = "learn"
		}
		if v.Mode != want {
			t.Errorf("FreshOptions: vendor %s in mode %q, want %s", v.Name, v.Mode, want)
		}
	}
	cfgs, err := o.VendorConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if err := vendor.Check(cfgs, cat); err != nil {
		t.Errorf("vendor.Check(FreshOptions) = %v, want the first start to work", err)
	}
}
