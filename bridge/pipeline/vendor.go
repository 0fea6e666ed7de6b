package pipeline

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Vendor is a configured vendor, compiled from its options entry and its catalog policy.
type Vendor struct {
	Name     string
	Policy   *policy.Policy
	Schema   *schema.Schema
	Verifier verify.Verifier // nil when the vendor has no secret (it cannot be enabled)
	Routes   *route.Table
	CIDRs    []netip.Prefix // empty = any source
	// Limiter is the vendor's rate (rate_per_minute), spent only by requests that verified.
	Limiter *rate.Limiter
	// FailLimiter counts the vendor's failed authentications, from any source: when it is empty
	// the vendor is flooded (ratelimit.VendorFailures).
	FailLimiter *rate.Limiter
	Enabled     bool // the option's value

	idTokens   []string
	typeTokens []string
}

// AllowsSource reports whether a source address may call this vendor.
func (v *Vendor) AllowsSource(a netip.Addr) bool {
	if len(v.CIDRs) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range v.CIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Vendors is the compiled vendor set.
type Vendors map[string]*Vendor

// CompileVendors checks options against the catalog and builds each configured vendor. Problems are
// reported all at once, each with its option key path.
func CompileVendors(o *options.Options, cat *catalog.Catalog, ps *pseudo.Pseudonymizer) (Vendors, error) {
	out := Vendors{}
	var problems []options.Problem
	add := func(path, format string, args ...any) {
		problems = append(problems, options.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i, ov := range o.Vendors {
		path := fmt.Sprintf("vendors[%d]", i)
		cv, ok := cat.Vendor(ov.Name)
		if !ok {
			add(path+".name", "no policy for vendor %q (known: %s)", ov.Name, strings.Join(cat.Names(), ", "))
			continue
		}
		v := &Vendor{
			Name:        ov.Name,
			Policy:      cv.Policy,
			Schema:      cv.Schema,
			Routes:      route.Compile(o.TopicPrefix, cv.Policy, ps),
			Limiter:     ratelimit.PerMinute(ov.RatePerMinute),
			FailLimiter: ratelimit.VendorFailures(ov.RatePerMinute),
			Enabled:     ov.Enabled,
			idTokens:    policy.SplitPointer(cv.Policy.Event.ID),
			typeTokens:  policy.SplitPointer(cv.Policy.Event.Type),
		}
		for j, c := range ov.AllowedCIDRs {
			if p, err := options.ParsePrefix(c); err == nil {
				v.CIDRs = append(v.CIDRs, p)
			} else {
				add(fmt.Sprintf("%s.allowed_cidrs[%d]", path, j), "%v", err)
			}
		}
		if len(ov.Secrets) == 0 {
			if ov.Enabled {
				add(path+".secrets", "an enabled vendor needs at least one secret")
			}
		} else {
			vf, err := verify.New(cv.Policy.Auth, ov.Secrets)
			if err != nil {
				add(path+".secrets", "%v (scheme %s)", err, cv.Policy.Auth.Scheme)
			}
			v.Verifier = vf
		}
		out[v.Name] = v
	}
	if len(problems) > 0 {
		return nil, &options.Error{Problems: problems}
	}
	return out, nil
}
