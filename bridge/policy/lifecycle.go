package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// The lifecycle keys of a policy: how often the vendor's secret is rotated, how often it is
// expected to send, and whom to call about it.
//
//	rotate_after: 365d         # a secret older than this is due for rotation (default 365d)
//	expect_every: 6h           # no accepted event for this long raises an alert (default: none)
//	contacts:
//	  - role: owner            # a word: owner, on_call, vendor, security, ...
//	    name: Jane Doe
//	    channel: mailto:jane@example.net   # an email address, a phone number, mailto:, tel:,
//	                                       # sms:, https: or a Home Assistant notify.<service>
//	    backup: Sam Roe        # the name of another contact of this list, who covers
//	  - role: on_call
//	    name: Sam Roe
//	    channel: notify.mobile_app_sam
//
// Contacts are what the operator wrote and nothing more: the inventory and the status page show
// them, and alerts carry each contact's role and channel (never its name).

// DefaultRotateAfter is how old a secret may grow before it is due for rotation, when the policy
// says nothing.
const DefaultRotateAfter = 365 * 24 * time.Hour

// Bounds of the lifecycle periods.
const (
	maxRotateAfter = 3650 * 24 * time.Hour
	maxExpectEvery = 365 * 24 * time.Hour
	minPeriod      = time.Second
)

// Period is a duration written as a Go duration ("6h", "90m", "30s") or in whole days or weeks
// ("365d", "2w").
type Period time.Duration

var periodRE = regexp.MustCompile(`^([0-9]{1,5})([dw])$`)

// ParsePeriod parses a Period.
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	if m := periodRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		return Period(time.Duration(n) * unit), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a period like 365d, 2w, 6h or 30s")
	}
	return Period(d), nil
}

// UnmarshalYAML parses a Period.
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePeriod(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: not a period like 365d, 2w, 6h or 30s", n.Line)}}
	}
	*p = v
	return nil
}

// MarshalText writes the period as "8760h0m0s".
func (p Period) MarshalText() ([]byte, error) { return []byte(time.Duration(p).String()), nil }

// String writes the period in days when it is a whole number of them, else as a Go duration.
func (p Period) String() string {
	d := time.Duration(p)
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Contact is one person or team to call about a vendor.
type Contact struct {
	// Role is what the contact is for: a word such as owner, on_call, vendor or security.
	Role string `yaml:"role" json:"role"`
	// Name is who it is, as the operator wrote it.
	Name string `yaml:"name" json:"name"`
	// Channel is how to reach them: an email address, a phone number, a mailto:, tel:, sms: or
	// https: URL, or a Home Assistant notify service (notify.mobile_app_x).
	Channel string `yaml:"channel" json:"channel"`
	// Backup names another contact of the list who covers when this one cannot.
	Backup string `yaml:"backup,omitempty" json:"backup,omitempty"`
}

// RotationPeriod returns how old a secret may grow before it is due for rotation: the policy's
// rotate_after, else DefaultRotateAfter.
func (p *Policy) RotationPeriod() time.Duration {
	if p.RotateAfter > 0 {
		return time.Duration(p.RotateAfter)
	}
	return DefaultRotateAfter
}

var (
	roleRE     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	emailRE    = regexp.MustCompile(`^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$`)
	phoneRE    = regexp.MustCompile(`^\+?[0-9][0-9 ()./-]{5,30}$`)
	notifyRE   = regexp.MustCompile(`^notify\.[a-z0-9_]{1,64}$`)
	channelURI = []string{"mailto:", "tel:", "sms:", "https://", "http://"}
)

// checkChannel reports what is wrong with a contact's channel, if anything.
func checkChannel(s string) string {
	for _, scheme := range channelURI {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			if rest == "" || strings.ContainsAny(rest, " \t") {
				return fmt.Sprintf("channel %s needs what follows it, without spaces", scheme)
			}
			return ""
		}
	}
	if emailRE.MatchString(s) || phoneRE.MatchString(s) || notifyRE.MatchString(s) {
		return ""
	}
	return "channel must be an email address, a phone number, a mailto:, tel:, sms: or https: URL, or a Home Assistant notify.<service>"
}

// printable reports whether s is one line of printable text.
func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkLifecycle checks rotate_after, expect_every and contacts.
func checkLifecycle(p *Policy, doc *yaml.Node, add func(int, string, ...any)) {
	at := func(path ...string) int { return lineOf(doc, path...) }
	if nodeAt(doc, "rotate_after") != nil {
		if d := time.Duration(p.RotateAfter); d < minPeriod || d > maxRotateAfter {
			add(at("rotate_after"), "rotate_after must be between 1s and 3650d")
		}
	}
	if nodeAt(doc, "expect_every") != nil {
		if d := time.Duration(p.ExpectEvery); d < minPeriod || d > maxExpectEvery {
			add(at("expect_every"), "expect_every must be between 1s and 365d")
		}
	}
	list := nodeAt(doc, "contacts")
	names := map[string]int{}
	for i, c := range p.Contacts {
		line := at("contacts")
		if list != nil && i < len(list.Content) {
			line = list.Content[i].Line
		}
		where := fmt.Sprintf("contacts[%d]", i)
		switch {
		case c.Role == "":
			add(line, "%s.role is required (a word such as owner, on_call, vendor or security)", where)
		case !roleRE.MatchString(c.Role):
			add(line, "%s.role must be a lowercase word (letters, digits, _ and -)", where)
		}
		switch {
		case strings.TrimSpace(c.Name) == "":
			add(line, "%s.name is required", where)
		case len(c.Name) > 100 || !printable(c.Name):
			add(line, "%s.name must be one line of at most 100 characters", where)
		default:
			if j, dup := names[c.Name]; dup {
				add(line, "%s.name: contacts[%d] has the same name", where, j)
			}
			names[c.Name] = i
		}
		switch {
		case strings.TrimSpace(c.Channel) == "":
			add(line, "%s.channel is required (how to reach them)", where)
		case len(c.Channel) > 200 || !printable(c.Channel):
			add(line, "%s.channel must be one line of at most 200 characters", where)
		default:
			if msg := checkChannel(c.Channel); msg != "" {
				add(line, "%s.%s", where, msg)
			}
		}
	}
	for i, c := range p.Contacts {
		if c.Backup == "" {
			continue
		}
		line := at("contacts")
		if list != nil && i < len(list.Content) {
			line = list.Content[i].Line
		}
		j, ok := names[c.Backup]
		switch {
		case !ok:
			add(line, "contacts[%d].backup %q names no contact of this list", i, c.Backup)
		case j == i:
			add(line, "contacts[%d].backup names the contact itself", i)
		}
	}
}
