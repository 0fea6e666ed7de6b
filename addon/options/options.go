// Package options loads the app's options file (/data/options.json), the file the Home Assistant
// Supervisor writes from the values a user sets in its UI.
//
// Loading is strict: an unknown key, a wrong type or an out-of-range value is an error naming the
// key's path (for example "vendors[1].allowed_cidrs[0]"), every problem in the file is reported at
// once, and a missing key takes its documented default.
package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Broker modes, the values of the broker option.
const (
	BrokerEmbedded   = "embedded"
	BrokerSupervisor = "supervisor"
	BrokerExternal   = "external"
)

// Home Assistant MQTT modes, the values of the ha_mqtt option.
const (
	HAMQTTAuto       = "auto"
	HAMQTTSupervisor = "supervisor"
	HAMQTTEmbedded   = "embedded"
	HAMQTTOff        = "off"
)

// HomeAssistantUser is the device account with more rights than the others: it reads everything under
// the topic prefix, reads and writes discovery topics, and may command the kill switches.
const HomeAssistantUser = "homeassistant"

// Options is the parsed options file. After Parse it is only read.
type Options struct {
	LogLevel            string         `json:"log_level"`
	TopicPrefix         string         `json:"topic_prefix"`
	Broker              string         `json:"broker"`
	ExternalBroker      ExternalBroker `json:"external_broker"`
	MaxBodyKB           int            `json:"max_body_kb"`
	SourceRatePerMinute int            `json:"source_rate_per_minute"`
	TrustedProxies      []string       `json:"trusted_proxies"`
	// PublicURL is the URL vendors are given, e.g. https://hooks.example.net, for the senders
	// that sign the URL they post to (Twilio, Square). Behind a proxy it is the only correct
	// source: Host and X-Forwarded-* are never trusted for it. Empty means not set.
	PublicURL     string   `json:"public_url,omitempty"`
	RetentionDays int      `json:"retention_days"`
	PseudonymKey  string   `json:"pseudonym_key"`
	HAMQTT        string   `json:"ha_mqtt"`
	BridgeTopics  []string `json:"bridge_topics"`
	Vendors       []Vendor `json:"vendors"`
	Devices       []Device `json:"devices"`
}

// ExternalBroker is where events go in broker mode external. The certificate files are paths,
// relative ones under the app's configuration folder.
type ExternalBroker struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
	CAFile   string `json:"ca_file"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Vendor is one partner's settings. Its policy (what it may send and where it goes) lives in
// policies/{name}.yaml; these are the per-home values: on or off, secrets, sources, rate, mode.
//
// The file holds a vendor's secrets in one of two shapes (secrets.go): secret and previous_secret,
// single password fields that the Supervisor's UI masks, or the older list secrets, which it shows
// in clear. Either way Secrets holds them once parsed.
type Vendor struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Secrets are the vendor's secrets: secret then previous_secret, or the older list as the
	// file gives it (LegacySecrets).
	Secrets []string `json:"-"`
	// LegacySecrets reports that the file gives the secrets as the older list secrets, whose
	// later entries are the newer ones (0.1's rotation added the new secret after the old one).
	LegacySecrets bool     `json:"-"`
	AllowedCIDRs  []string `json:"allowed_cidrs"`
	RatePerMinute int      `json:"rate_per_minute"`
	// Mode is what the vendor's verified events are for: live (publish), shadow (check and
	// answer as live, publish nothing) or learn (record their structure for a draft).
	Mode string `json:"mode"`
}

// Vendor modes, the values of vendors[].mode (bridge/vendor's Mode).
const (
	ModeLive   = "live"
	ModeShadow = "shadow"
	ModeLearn  = "learn"
)

// Device is an MQTT account on the embedded broker.
type Device struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Allow    []string `json:"allow"`
}

// Defaults returns the options a missing key takes.
func Defaults() Options {
	return Options{
		LogLevel:            "info",
		TopicPrefix:         "hookbridge",
		Broker:              BrokerEmbedded,
		MaxBodyKB:           64,
		SourceRatePerMinute: 1200,
		TrustedProxies:      []string{},
		RetentionDays:       7,
		HAMQTT:              HAMQTTAuto,
		BridgeTopics:        []string{},
		Vendors:             []Vendor{},
		Devices:             []Device{},
	}
}

// VendorDefaults returns the values a vendor entry's missing keys take.
func VendorDefaults() Vendor {
	return Vendor{Enabled: true, Secrets: []string{}, AllowedCIDRs: []string{}, RatePerMinute: 600, Mode: ModeLive}
}

// Problem is one thing wrong with an options file.
type Problem struct {
	Path    string // key path, e.g. "vendors[0].secrets"; empty for the whole file
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error reports every problem found in an options file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "options: " + strings.Join(parts, "; ")
}

// ErrInvalid is matched by every *Error, for errors.Is.
var ErrInvalid = errors.New("invalid options")

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Parse reads an options file. On any problem it returns an *Error listing all of them.
func Parse(data []byte) (*Options, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{Problems: []Problem{{Message: "not valid JSON: " + jsonErrorText(err)}}}
	}
	// More would miss a stray '}' or ']': it reports only whether another element follows.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Problems: []Problem{{Message: "not valid JSON: data after the top-level object"}}}
	}
	w := &walker{}
	o := Defaults()
	w.options(raw, &o)
	if len(w.problems) > 0 {
		return nil, &Error{Problems: w.problems}
	}
	return &o, nil
}

// jsonErrorText describes a decoding error without quoting the file's content.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return "unexpected end or content"
}

// Keys returns the top-level keys the loader knows, sorted; with the nested keys of external_broker,
// vendors[] and devices[] under their parent's name ("vendors.name"). Manifest tests compare it with
// config.yaml's schema.
func Keys() []string {
	var keys []string
	for _, k := range topKeys {
		keys = append(keys, k)
	}
	for _, k := range externalKeys {
		keys = append(keys, "external_broker."+k)
	}
	for _, k := range vendorKeys {
		keys = append(keys, "vendors."+k)
	}
	for _, k := range deviceKeys {
		keys = append(keys, "devices."+k)
	}
	sort.Strings(keys)
	return keys
}

var (
	topKeys = []string{"log_level", "topic_prefix", "broker", "external_broker", "max_body_kb",
		"source_rate_per_minute", "trusted_proxies", "public_url", "retention_days", "pseudonym_key", "ha_mqtt",
		"bridge_topics", "vendors", "devices"}
	externalKeys = []string{"url", "username", "password", "ca_file", "cert_file", "key_file"}
	vendorKeys   = []string{"name", "enabled", KeySecret, KeyPreviousSecret, KeySecrets, "allowed_cidrs", "rate_per_minute", "mode"}
	deviceKeys   = []string{"username", "password", "allow"}
)

// LogLevels are the levels log_level accepts, the Supervisor's usual set.
var LogLevels = []string{"trace", "debug", "info", "notice", "warning", "error", "fatal"}

var (
	slugRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// walker checks a decoded options document key by key, collecting problems.
type walker struct {
	problems []Problem
}

func (w *walker) add(path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// object returns v as an object, reporting unknown keys; ok is false when v is not an object.
func (w *walker) object(path string, v any, known []string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		w.add(path, "must be an object, not %s", typeName(v))
		return nil, false
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !contains(known, k) {
			w.add(join(path, k), "unknown key")
		}
	}
	return m, true
}

func (w *walker) str(path string, v any, dst *string) bool {
	s, ok := v.(string)
	if !ok {
		w.add(path, "must be a string, not %s", typeName(v))
		return false
	}
	if strings.ContainsRune(s, 0) {
		w.add(path, "must not contain NUL")
		return false
	}
	*dst = s
	return true
}

func (w *walker) boolean(path string, v any, dst *bool) {
	b, ok := v.(bool)
	if !ok {
		w.add(path, "must be true or false, not %s", typeName(v))
		return
	}
	*dst = b
}

func (w *walker) integer(path string, v any, lo, hi int, dst *int) {
	n, ok := v.(json.Number)
	if !ok {
		w.add(path, "must be a whole number, not %s", typeName(v))
		return
	}
	i, err := n.Int64()
	if err != nil {
		w.add(path, "must be a whole number")
		return
	}
	if i < int64(lo) || i > int64(hi) {
		w.add(path, "must be between %d and %d", lo, hi)
		return
	}
	*dst = int(i)
}

func (w *walker) strings(path string, v any, dst *[]string, check func(path, s string)) {
	list, ok := v.([]any)
	if !ok {
		w.add(path, "must be a list, not %s", typeName(v))
		return
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		var s string
		if !w.str(p, e, &s) {
			continue
		}
		if check != nil {
			check(p, s)
		}
		out = append(out, s)
	}
	*dst = out
}

func (w *walker) oneOf(path string, v any, choices []string, dst *string) {
	var s string
	if !w.str(path, v, &s) {
		return
	}
	if !contains(choices, s) {
		w.add(path, "must be one of %s", strings.Join(choices, ", "))
		return
	}
	*dst = s
}

func (w *walker) options(v any, o *Options) {
	m, ok := w.object("", v, topKeys)
	if !ok {
		return
	}
	if x, ok := m["log_level"]; ok {
		w.oneOf("log_level", x, LogLevels, &o.LogLevel)
	}
	if x, ok := m["topic_prefix"]; ok {
		if w.str("topic_prefix", x, &o.TopicPrefix) {
			if err := CheckTopicPrefix(o.TopicPrefix); err != nil {
				w.add("topic_prefix", "%v", err)
			}
		}
	}
	if x, ok := m["broker"]; ok {
		w.oneOf("broker", x, []string{BrokerEmbedded, BrokerSupervisor, BrokerExternal}, &o.Broker)
	}
	if x, ok := m["external_broker"]; ok {
		w.external(x, &o.ExternalBroker)
	}
	if x, ok := m["max_body_kb"]; ok {
		w.integer("max_body_kb", x, 1, 10240, &o.MaxBodyKB)
	}
	if x, ok := m["source_rate_per_minute"]; ok {
		w.integer("source_rate_per_minute", x, 1, 1_000_000, &o.SourceRatePerMinute)
	}
	if x, ok := m["trusted_proxies"]; ok {
		w.strings("trusted_proxies", x, &o.TrustedProxies, w.prefix)
	}
	if x, ok := m["public_url"]; ok {
		if w.str("public_url", x, &o.PublicURL) && o.PublicURL != "" {
			u, err := CheckPublicURL(o.PublicURL)
			if err != nil {
				w.add("public_url", "%v", err)
			}
			o.PublicURL = u
		}
	}
	if x, ok := m["retention_days"]; ok {
		w.integer("retention_days", x, 1, 3650, &o.RetentionDays)
	}
	if x, ok := m["pseudonym_key"]; ok {
		if w.str("pseudonym_key", x, &o.PseudonymKey) && o.PseudonymKey != "" && len(o.PseudonymKey) < 32 {
			w.add("pseudonym_key", "must be empty (generate one) or at least 32 characters")
		}
	}
	if x, ok := m["ha_mqtt"]; ok {
		w.oneOf("ha_mqtt", x, []string{HAMQTTAuto, HAMQTTSupervisor, HAMQTTEmbedded, HAMQTTOff}, &o.HAMQTT)
	}
	if x, ok := m["bridge_topics"]; ok {
		w.strings("bridge_topics", x, &o.BridgeTopics, w.filter)
	}
	if x, ok := m["vendors"]; ok {
		w.vendors(x, &o.Vendors)
	}
	if x, ok := m["devices"]; ok {
		w.devices(x, &o.Devices)
	}
	if o.Broker == BrokerExternal && o.ExternalBroker.URL == "" {
		w.add("external_broker.url", "is required when broker is external")
	}
	w.problems = append(w.problems, o.Conflicts()...)
}

// Conflicts returns the combinations of options that cannot work together: each valid alone, but
// not with the broker mode.
func (o *Options) Conflicts() []Problem {
	if o.Broker == BrokerEmbedded {
		return nil
	}
	var out []Problem
	if len(o.BridgeTopics) > 0 {
		out = append(out, Problem{Path: "bridge_topics", Message: fmt.Sprintf(
			"forwarding works with broker: embedded only; with broker: %s every event already goes to that broker, so remove bridge_topics", o.Broker)})
	}
	if o.HAMQTT == HAMQTTEmbedded {
		out = append(out, Problem{Path: "ha_mqtt", Message: fmt.Sprintf(
			"embedded needs broker: embedded; with broker: %s the embedded broker does not run (use auto to put Home Assistant's topics on the %s broker)", o.Broker, o.Broker)})
	}
	return out
}

func (w *walker) external(v any, e *ExternalBroker) {
	m, ok := w.object("external_broker", v, externalKeys)
	if !ok {
		return
	}
	fields := map[string]*string{"url": &e.URL, "username": &e.Username, "password": &e.Password,
		"ca_file": &e.CAFile, "cert_file": &e.CertFile, "key_file": &e.KeyFile}
	for _, k := range externalKeys {
		if x, ok := m[k]; ok {
			w.str("external_broker."+k, x, fields[k])
		}
	}
	if e.URL != "" {
		if err := CheckBrokerURL(e.URL); err != nil {
			w.add("external_broker.url", "%v", err)
		}
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		w.add("external_broker.cert_file", "cert_file and key_file go together")
	}
}

func (w *walker) vendors(v any, dst *[]Vendor) {
	list, ok := v.([]any)
	if !ok {
		w.add("vendors", "must be a list, not %s", typeName(v))
		return
	}
	seen := map[string]bool{}
	for i, e := range list {
		path := fmt.Sprintf("vendors[%d]", i)
		m, ok := w.object(path, e, vendorKeys)
		if !ok {
			continue
		}
		vd := VendorDefaults()
		if x, ok := m["name"]; !ok {
			w.add(path+".name", "is required")
		} else if w.str(path+".name", x, &vd.Name) {
			switch {
			case !slugRE.MatchString(vd.Name):
				w.add(path+".name", "must be lowercase letters, digits and dashes ([a-z0-9-]+)")
			case seen[vd.Name]:
				w.add(path+".name", "duplicate vendor name %q", vd.Name)
			}
			seen[vd.Name] = true
		}
		if x, ok := m["enabled"]; ok {
			w.boolean(path+".enabled", x, &vd.Enabled)
		}
		w.secrets(path, m, &vd)
		if x, ok := m["allowed_cidrs"]; ok {
			w.strings(path+".allowed_cidrs", x, &vd.AllowedCIDRs, w.prefix)
		}
		if x, ok := m["rate_per_minute"]; ok {
			w.integer(path+".rate_per_minute", x, 1, 1_000_000, &vd.RatePerMinute)
		}
		if x, ok := m["mode"]; ok {
			w.oneOf(path+".mode", x, []string{ModeLive, ModeShadow, ModeLearn}, &vd.Mode)
		}
		*dst = append(*dst, vd)
	}
}

func (w *walker) devices(v any, dst *[]Device) {
	list, ok := v.([]any)
	if !ok {
		w.add("devices", "must be a list, not %s", typeName(v))
		return
	}
	seen := map[string]bool{}
	for i, e := range list {
		path := fmt.Sprintf("devices[%d]", i)
		m, ok := w.object(path, e, deviceKeys)
		if !ok {
			continue
		}
		d := Device{Allow: []string{}}
		if x, ok := m["username"]; !ok {
			w.add(path+".username", "is required")
		} else if w.str(path+".username", x, &d.Username) {
			switch {
			case !usernameRE.MatchString(d.Username):
				w.add(path+".username", "must be letters, digits, '.', '_' or '-' (at most 64)")
			case seen[d.Username]:
				w.add(path+".username", "duplicate username %q", d.Username)
			}
			seen[d.Username] = true
		}
		if x, ok := m["password"]; !ok {
			w.add(path+".password", "is required")
		} else if w.str(path+".password", x, &d.Password) && len(d.Password) < 8 {
			w.add(path+".password", "must be at least 8 characters")
		}
		if x, ok := m["allow"]; ok {
			w.strings(path+".allow", x, &d.Allow, w.filter)
		}
		*dst = append(*dst, d)
	}
}

// prefix checks a CIDR or a single address.
func (w *walker) prefix(path, s string) {
	if _, err := ParsePrefix(s); err != nil {
		w.add(path, "%v", err)
	}
}

// filter checks an MQTT topic filter relative to topic_prefix.
func (w *walker) filter(path, s string) {
	if err := CheckRelativeFilter(s); err != nil {
		w.add(path, "%v", err)
	}
}

// ParsePrefix parses a CIDR ("192.168.1.0/24", "2001:db8::/32") or a single address, which stands for
// itself alone.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a valid CIDR (like 192.0.2.0/24)")
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("host bits set in CIDR; did you mean %s?", p.Masked())
		}
		if p.Addr().Is4In6() {
			// Client addresses are unmapped before matching: unmap the prefix too, or it never matches.
			if p.Bits() < 96 {
				return netip.Prefix{}, errors.New("an IPv4-mapped CIDR needs at least /96")
			}
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96), nil
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not a valid address or CIDR")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CheckTopicPrefix reports what is wrong with a topic prefix, if anything.
func CheckTopicPrefix(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 128:
		return errors.New("must be at most 128 characters")
	case strings.ContainsAny(s, "+#\x00"):
		return errors.New("must not contain '+', '#' or NUL")
	case strings.HasPrefix(s, "$"):
		return errors.New("must not start with '$'")
	case s == "homeassistant" || strings.HasPrefix(s, "homeassistant/"):
		return errors.New("must not be homeassistant (the discovery prefix)")
	}
	for _, level := range strings.Split(s, "/") {
		if level == "" {
			return errors.New("must not have empty levels (a leading, trailing or double '/')")
		}
	}
	return nil
}

// CheckRelativeFilter reports what is wrong with an MQTT topic filter that is relative to the topic
// prefix, if anything.
func CheckRelativeFilter(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 256:
		return errors.New("must be at most 256 characters")
	case strings.HasPrefix(s, "/"):
		return errors.New("is relative to topic_prefix: drop the leading '/'")
	case strings.HasPrefix(s, "$"):
		return errors.New("must not start with '$'")
	case strings.ContainsRune(s, 0):
		return errors.New("must not contain NUL")
	}
	levels := strings.Split(s, "/")
	for i, level := range levels {
		switch {
		case level == "#" && i != len(levels)-1:
			return errors.New("'#' must be the last level")
		case level != "#" && level != "+" && strings.ContainsAny(level, "+#"):
			return errors.New("'+' and '#' must fill a whole level")
		}
	}
	return nil
}

// CheckBrokerURL reports what is wrong with an external broker URL, if anything.
func CheckBrokerURL(s string) error {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return errors.New("must be a URL like tcp://host:1883 or ssl://host:8883")
	}
	switch scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return errors.New("scheme must be tcp, mqtt, ssl, mqtts, ws or wss")
	}
	return nil
}

// publicURLRE is what public_url may be: http or https, a host, an optional path; no user, query
// or fragment. config.yaml's schema has the same pattern.
var publicURLRE = regexp.MustCompile(`^https?://[^/?#@\s]+(/[^?#\s]*)?$`)

// CheckPublicURL checks a public_url and returns it without a trailing slash: the URL a vendor
// is given is public_url + "/hooks/{vendor}".
func CheckPublicURL(s string) (string, error) {
	if !publicURLRE.MatchString(s) {
		return s, errors.New("must be the URL vendors are given, like https://hooks.example.net (http or https, a host and an optional path; no query, fragment or user)")
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return s, errors.New("must be a URL like https://hooks.example.net")
	}
	return strings.TrimRight(s, "/"), nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "an unknown type"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
