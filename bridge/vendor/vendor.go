// Package vendor compiles each configured vendor from its per-home settings (Config, which the
// options loader produces) and its catalog policy into what the pipeline runs: the verifier, the
// schema, the routes and the limits. Checking a configuration and compiling it are separate:
// Check needs no pseudonym key and builds nothing that keeps state.
package vendor

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/time/rate"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/ratelimit"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/schema"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Mode is what a vendor's verified events are for (the vendor option mode).
type Mode string

// The modes. Every mode verifies, rate-limits, parses and identifies an event and guards it
// against replays; they differ in what follows.
const (
	// ModeLive validates, routes and publishes: the default.
	ModeLive Mode = "live"
	// ModeShadow validates and routes like live mode, answers what live mode would answer, and
	// publishes nothing: a pilot whose outcomes the audit trail and counters record.
	ModeShadow Mode = "shadow"
	// ModeLearn records the structure of each event (bridge/learn), never a value, and publishes
	// nothing; the policy may leave out schema and routes, which `hookbridge draft` drafts.
	ModeLearn Mode = "learn"
)

// Modes are the modes, the default first.
var Modes = []Mode{ModeLive, ModeShadow, ModeLearn}

// ParseMode returns the mode a setting names; "" is ModeLive.
func ParseMode(s string) (Mode, bool) {
	if s == "" {
		return ModeLive, true
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, true
		}
	}
	return "", false
}

// Publishes reports whether the mode publishes events.
func (m Mode) Publishes() bool { return m == ModeLive || m == "" }

// Config is one vendor's per-home settings: on or off, secrets, sources, rate, mode. Its policy
// (what it may send and where it goes) comes from the catalog.
type Config struct {
	Name    string
	Enabled bool
	// Mode is live (also when ""), shadow or learn.
	Mode Mode
	// Secrets are the vendor's secrets, several during a rotation.
	Secrets []string
	// AllowedCIDRs are the source networks allowed to call; empty means any.
	AllowedCIDRs  []netip.Prefix
	RatePerMinute int
	// PublicURL is the URL vendors are given (the public_url option, without a trailing slash);
	// "" when not set. A scheme that signs the URL needs it.
	PublicURL string
}

// KeyMode is the Problem key of a mode the vendor's policy cannot run in.
const KeyMode = "mode"

// KeyPublicURL is the Problem key of a vendor whose scheme signs the URL while public_url is not
// set: the setting to fix is the app's, not the vendor's.
const KeyPublicURL = "public_url"

// Problem is one thing wrong with a vendor's settings: Index is the vendor's position in the
// configuration, Key the setting ("name", "secrets").
type Problem struct {
	Index   int
	Key     string
	Message string
}

// Error lists the problems of a vendor configuration.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, fmt.Sprintf("vendor %d: %s: %s", p.Index, p.Key, p.Message))
	}
	return strings.Join(parts, "; ")
}

// Vendor is a configured vendor, compiled.
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
	Enabled     bool // the setting's value
	// Mode is what verified events are for: never "" once compiled.
	Mode Mode

	// URL is the URL the vendor was given: public_url + "/hooks/{name}"; "" without public_url.
	URL string

	// IDPointer and TypePointer are the policy's event.id and event.type, split into tokens.
	IDPointer   []string
	TypePointer []string
	// Type says where the event type comes from (event.type or one of its alternatives).
	Type EventType
	// Intake is what the vendor's sender sends besides one JSON object (the policy's intake).
	Intake Intake
	// Answer is the success answer the sender expects; nil for the contract's JSON answers.
	Answer *Answer
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

// Check checks vendor settings against the catalog: every name has a policy, every mode is one
// its policy can run in (live and shadow need a schema and routes), every enabled vendor a
// secret, every secret fits its policy's scheme, and a vendor whose scheme signs the URL has a
// public_url to build it from. It reports every problem at once.
func Check(cfgs []Config, cat *catalog.Catalog) error {
	var problems []Problem
	for i, c := range cfgs {
		add := func(key, format string, args ...any) {
			problems = append(problems, Problem{Index: i, Key: key, Message: fmt.Sprintf(format, args...)})
		}
		cv, ok := cat.Vendor(c.Name)
		if !ok {
			add("name", "no policy for vendor %q (known: %s)", c.Name, strings.Join(cat.Names(), ", "))
			continue
		}
		if msg := modeProblem(c, cv.Policy); msg != "" {
			add(KeyMode, "%s", msg)
		}
		if len(c.Secrets) == 0 {
			if c.Enabled {
				add("secrets", "an enabled vendor needs at least one secret")
			}
			continue
		}
		if cv.Policy.Auth.SignsURL() && c.PublicURL == "" {
			add(KeyPublicURL, "vendor %s signs the URL it posts to (scheme %s): set public_url to the URL vendors are given, e.g. https://hooks.example.net",
				c.Name, cv.Policy.Auth.Scheme)
		}
		if _, err := verify.New(cv.Policy.Auth, c.Secrets); err != nil {
			add("secrets", "%v (scheme %s)", err, cv.Policy.Auth.Scheme)
		}
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// modeProblem says why a vendor cannot run in its mode, or "".
func modeProblem(c Config, p *policy.Policy) string {
	mode, ok := ParseMode(string(c.Mode))
	if !ok {
		return fmt.Sprintf("vendor %s: mode %q is not one of live, shadow, learn", c.Name, c.Mode)
	}
	if mode == ModeLearn || p.CanPublish() {
		return ""
	}
	var lacks []string
	if p.Schema == "" {
		lacks = append(lacks, "schema")
	}
	if len(p.Routes) == 0 {
		lacks = append(lacks, "routes")
	}
	return fmt.Sprintf("vendor %s cannot run in mode %s: its policy %s has no %s, which %s mode needs; "+
		"draft them with `hookbridge draft %s` (or from the status page), list the fields to publish, and add both files "+
		"to the extra policies and schemas (--policies and --schemas; under Home Assistant, the app's configuration folder), "+
		"or keep mode learn until then", c.Name, mode, p.File, strings.Join(lacks, " and no "), mode, c.Name)
}

// Compile checks the settings (see Check) and builds each vendor; topics go under prefix and
// identifiers are pseudonymized with ps.
func Compile(prefix string, cfgs []Config, cat *catalog.Catalog, ps *pseudo.Pseudonymizer) (Vendors, error) {
	if err := Check(cfgs, cat); err != nil {
		return nil, err
	}
	out := Vendors{}
	for _, c := range cfgs {
		cv, _ := cat.Vendor(c.Name)
		v := &Vendor{
			Name:        c.Name,
			Policy:      cv.Policy,
			Schema:      cv.Schema,
			Routes:      route.Compile(prefix, cv.Policy, ps),
			CIDRs:       c.AllowedCIDRs,
			Limiter:     ratelimit.PerMinute(c.RatePerMinute),
			FailLimiter: ratelimit.VendorFailures(c.RatePerMinute),
			Enabled:     c.Enabled,
			Mode:        compiledMode(c.Mode),
			URL:         VendorURL(c.PublicURL, c.Name),
			IDPointer:   policy.SplitPointer(cv.Policy.Event.ID),
			TypePointer: policy.SplitPointer(cv.Policy.Event.Type),
		}
		v.Intake, v.Type, v.Answer = compileIntake(cv.Policy)
		if len(c.Secrets) > 0 {
			vf, err := verify.New(cv.Policy.Auth, c.Secrets)
			if err != nil {
				return nil, err // Check accepted these secrets
			}
			v.Verifier = vf
		}
		out[v.Name] = v
	}
	return out, nil
}

// VendorURL is the URL a vendor is given, public_url + "/hooks/{name}"; "" without public_url.
func VendorURL(publicURL, name string) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/hooks/" + name
}

// RequestURL is the URL a request was sent to as its sender knows it: the vendor's URL, the path
// after it and the raw query. "" when the vendor's URL is unknown (public_url not set).
func RequestURL(vendorURL, rest, rawQuery string) string {
	if vendorURL == "" {
		return ""
	}
	u := vendorURL
	if rest != "" {
		u += "/" + rest
	}
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// compiledMode is a vendor's mode once modeProblem passed it: ParseMode's, "" being live.
func compiledMode(m Mode) Mode {
	mode, _ := ParseMode(string(m))
	return mode
}
