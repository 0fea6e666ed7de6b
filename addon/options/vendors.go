package options

import (
	"errors"
	"fmt"

	"github.com/hookbridge/hookbridge/bridge/vendor"
)

// VendorConfigs returns the vendors' settings as the pipeline takes them. Parse has checked them;
// options built in code may hold a bad CIDR, reported like Parse would.
func (o *Options) VendorConfigs() ([]vendor.Config, error) {
	var problems []Problem
	out := make([]vendor.Config, 0, len(o.Vendors))
	for i, v := range o.Vendors {
		c := vendor.Config{Name: v.Name, Enabled: v.Enabled, Secrets: v.Secrets, RatePerMinute: v.RatePerMinute,
			PublicURL: o.PublicURL, Mode: vendor.Mode(v.Mode)}
		for j, s := range v.AllowedCIDRs {
			p, err := ParsePrefix(s)
			if err != nil {
				problems = append(problems, Problem{Path: fmt.Sprintf("vendors[%d].allowed_cidrs[%d]", i, j), Message: err.Error()})
				continue
			}
			c.AllowedCIDRs = append(c.AllowedCIDRs, p)
		}
		out = append(out, c)
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return out, nil
}

// VendorError turns a vendor configuration's problems into option problems, each with its key path
// ("vendors[0].secrets"); other errors are returned as they are.
func VendorError(err error) error {
	var ve *vendor.Error
	if !errors.As(err, &ve) {
		return err
	}
	oe := &Error{}
	for _, p := range ve.Problems {
		path := fmt.Sprintf("vendors[%d].%s", p.Index, p.Key)
		if p.Key == vendor.KeyPublicURL {
			path = "public_url" // a setting of the whole app, that this vendor needs
		}
		oe.Problems = append(oe.Problems, Problem{Path: path, Message: p.Message})
	}
	return oe
}
