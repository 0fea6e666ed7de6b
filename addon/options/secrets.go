package options

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A vendor's secrets come in two shapes. The Supervisor's UI masks a field of type password but
// shows a list of password strings in clear (the frontend renders any list of strings as chips),
// so 0.2 gives each vendor two single password fields:
//
//	"secret": "whsec_new...", "previous_secret": "whsec_old..."
//
// secret is the one the vendor signs with now; previous_secret, while rotating, the one it signed
// with before. Options files of 0.1 hold the list "secrets": ["whsec_old...", "whsec_new..."],
// which is still read (the Supervisor would drop a key its schema no longer names, so config.yaml
// keeps it, optional). A vendor entry uses one shape or the other: both at once is an error, since
// which secrets count would be a guess.

// Keys of a vendor's secrets.
const (
	KeySecret         = "secret"
	KeyPreviousSecret = "previous_secret"
	KeySecrets        = "secrets" // the older list, shown in clear by the Supervisor's UI
)

// secrets reads a vendor entry's secrets, in either shape, into vd.
func (w *walker) secrets(path string, m map[string]any, vd *Vendor) {
	var secret, previous string
	if x, ok := m[KeySecret]; ok {
		w.str(path+"."+KeySecret, x, &secret)
	}
	if x, ok := m[KeyPreviousSecret]; ok {
		w.str(path+"."+KeyPreviousSecret, x, &previous)
	}
	var list []string
	if x, ok := m[KeySecrets]; ok {
		w.strings(path+"."+KeySecrets, x, &list, func(p, s string) {
			if strings.TrimSpace(s) == "" {
				w.add(p, "must not be empty")
			}
		})
	}
	// The UI writes a cleared password field as "": unset.
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	if secret != "" && blank(secret) {
		w.add(path+"."+KeySecret, "must not be blank")
	}
	if previous != "" && blank(previous) {
		w.add(path+"."+KeyPreviousSecret, "must not be blank")
	}
	switch {
	case len(list) > 0 && (secret != "" || previous != ""):
		w.add(path+"."+KeySecrets, "give the secrets either as secret and previous_secret or as the older list secrets, not both: "+
			"move the newest entry of secrets to secret, the one before it (while rotating) to previous_secret, and empty secrets")
	case len(list) > 0:
		vd.Secrets, vd.LegacySecrets = list, true
	case previous != "" && secret == "":
		w.add(path+"."+KeyPreviousSecret, "is set without secret: previous_secret is the one being replaced, secret the one the vendor signs with now")
	case previous != "" && previous == secret:
		w.add(path+"."+KeyPreviousSecret, "is the same as secret; leave it empty")
	case secret != "":
		vd.Secrets = []string{secret}
		if previous != "" {
			vd.Secrets = append(vd.Secrets, previous)
		}
	}
}

// Newer reports whether the vendor's secret at place i (in Secrets) was configured as newer than
// the one at place j: secret is newer than previous_secret; in the older list a later entry is
// newer than an earlier one.
func (v Vendor) Newer(i, j int) bool {
	if v.LegacySecrets {
		return i > j
	}
	return i < j
}

// vendorJSON is a vendor entry as the file holds it.
type vendorJSON struct {
	Name           string   `json:"name"`
	Enabled        bool     `json:"enabled"`
	Secret         string   `json:"secret,omitempty"`
	PreviousSecret string   `json:"previous_secret,omitempty"`
	Secrets        []string `json:"secrets,omitempty"`
	AllowedCIDRs   []string `json:"allowed_cidrs"`
	RatePerMinute  int      `json:"rate_per_minute"`
	Mode           string   `json:"mode,omitempty"`
}

// MarshalJSON writes the vendor in the shape its secrets came in: secret and previous_secret,
// unless they came as the older list (or are more than two, which only the list can hold).
func (v Vendor) MarshalJSON() ([]byte, error) {
	j := vendorJSON{Name: v.Name, Enabled: v.Enabled, AllowedCIDRs: v.AllowedCIDRs, RatePerMinute: v.RatePerMinute, Mode: v.Mode}
	switch {
	case v.LegacySecrets || len(v.Secrets) > 2:
		j.Secrets = v.Secrets
	case len(v.Secrets) > 0:
		j.Secret = v.Secrets[0]
		if len(v.Secrets) > 1 {
			j.PreviousSecret = v.Secrets[1]
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a vendor entry in either shape, without Parse's checks.
func (v *Vendor) UnmarshalJSON(data []byte) error {
	var j vendorJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*v = Vendor{Name: j.Name, Enabled: j.Enabled, AllowedCIDRs: j.AllowedCIDRs, RatePerMinute: j.RatePerMinute, Mode: j.Mode}
	switch {
	case len(j.Secrets) > 0:
		v.Secrets, v.LegacySecrets = j.Secrets, true
	case j.Secret != "":
		v.Secrets = []string{j.Secret}
		if j.PreviousSecret != "" {
			v.Secrets = append(v.Secrets, j.PreviousSecret)
		}
	}
	return nil
}

// SecretKey returns the option key of the vendor's secret at place i, for messages: secret or
// previous_secret, or secrets[i] in the older list.
func (v Vendor) SecretKey(i int) string {
	switch {
	case v.LegacySecrets || i > 1:
		return fmt.Sprintf("%s[%d]", KeySecrets, i)
	case i == 0:
		return KeySecret
	}
	return KeyPreviousSecret
}
