package options

import (
	"errors"
	"fmt"
	"strings"

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
// ("vendors[0].secrets"); other errors are returned as they are. Options.VendorError names the
// secret's own key.
func VendorError(err error) error { return (*Options)(nil).VendorError(err) }

// VendorError turns a vendor configuration's problems into option problems, each with its key
// path: a secret's problem names the key the file gives it under (vendors[0].previous_secret, or
// vendors[0].secrets[1] in the older list).
func (o *Options) VendorError(err error) error {
	var ve *vendor.Error
	if !errors.As(err, &ve) {
		return err
	}
	oe := &Error{}
	for _, p := range ve.Problems {
		path := fmt.Sprintf("vendors[%d].%s", p.Index, p.Key)
		msg := p.Message
		switch {
		case p.Key == vendor.KeyPublicURL:
			path = "public_url" // a setting of the whole app, that this vendor needs
		case p.Key == KeySecrets && o != nil && p.Index < len(o.Vendors):
			v := o.Vendors[p.Index]
			key := KeySecret
			if v.LegacySecrets {
				key = KeySecrets
			}
			var i int
			if n, _ := fmt.Sscanf(msg, "secrets[%d]: ", &i); n == 1 {
				key = v.SecretKey(i)
				_, msg, _ = strings.Cut(msg, ": ")
			}
			path = fmt.Sprintf("vendors[%d].%s", p.Index, key)
		}
		oe.Problems = append(oe.Problems, Problem{Path: path, Message: msg})
	}
	return oe
}
