// Package policy reads vendor policy files (policies/{vendor}.yaml): who the vendor is, how its
// webhooks are signed, where its event id and type are, which schema its payloads follow, and the
// routes that decide which fields go to which MQTT topic.
//
// Decoding is strict: unknown keys and wrong types are errors, and every problem carries the file's
// name and the line it is on.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Policy is one vendor's policy file.
type Policy struct {
	Vendor        string      `yaml:"vendor"`
	Title         string      `yaml:"title"`
	Owner         string      `yaml:"owner"`
	Contact       string      `yaml:"contact"`
	Risk          string      `yaml:"risk"`
	RetentionDays int         `yaml:"retention_days"`
	Auth          verify.Auth `yaml:"auth"`
	Event         Event       `yaml:"event"`
	Intake        Intake      `yaml:"intake"`
	Answer        *Answer     `yaml:"answer"`
	Schema        string      `yaml:"schema"`
	Routes        []Route     `yaml:"routes"`
	Anomaly       Anomaly     `yaml:"anomaly"`
	// RotateAfter, ExpectEvery and Contacts are the lifecycle keys (lifecycle.go).
	RotateAfter Period    `yaml:"rotate_after" json:",omitzero"`
	ExpectEvery Period    `yaml:"expect_every" json:",omitzero"`
	Contacts    []Contact `yaml:"contacts" json:",omitzero"`

	// File is where the policy came from, for messages.
	File string `yaml:"-"`
}

// Event locates the event id and type.
//
// ID is optional. With it, the id at that pointer keys replays, and a body without it is refused
// (400 "no event id"); without it, a digest of the raw body does (of the element's raw bytes, for
// an event of a batch). Either way a scheme's signed id (Standard Webhooks' webhook-id) comes
// first, except in a batch, whose elements share it.
//
// The type comes from exactly one place: Type, a JSON Pointer into the document; TypeHeader, a
// request header (Shopify's X-Shopify-Topic); TypePath, the path segment after /hooks/{vendor}/
// (The Things Stack appends one per message type); or TypeConst, one type for every event.
type Event struct {
	ID         string `yaml:"id"`
	Type       string `yaml:"type"`
	TypeHeader string `yaml:"type_header"`
	TypePath   bool   `yaml:"type_path"`
	TypeConst  string `yaml:"type_const"`
}

// Route publishes the listed fields of matching events to one topic.
type Route struct {
	When   string `yaml:"when"`
	Topic  string `yaml:"topic"`
	Retain bool   `yaml:"retain"`
	QoS    int    `yaml:"qos"`
	Fields Fields `yaml:"fields"`
	// Entities are the Home Assistant entities announced for each topic the route publishes.
	Entities Entities `yaml:"entities"`

	// Line is the route's line in its file, for messages.
	Line int `yaml:"-"`
}

// Field is one published field: a JSON Pointer into the payload, optionally pseudonymized.
type Field struct {
	Name         string
	From         string
	Pseudonymize bool
	Line         int
}

// Fields keeps a route's fields in the order the file lists them.
type Fields []Field

// UnmarshalYAML reads a mapping of name to a pointer string or to {from, pseudonymize}.
func (f *Fields) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: fields must be a mapping of name to JSON Pointer", n.Line)}}
	}
	var problems []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fd := Field{Name: k.Value, Line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			fd.From = v.Value
		case yaml.MappingNode:
			var long struct {
				From         string `yaml:"from"`
				Pseudonymize bool   `yaml:"pseudonymize"`
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				switch key := v.Content[j].Value; key {
				case "from", "pseudonymize":
				default:
					problems = append(problems, fmt.Sprintf("line %d: unknown key %q in field %q", v.Content[j].Line, key, k.Value))
				}
			}
			if err := v.Decode(&long); err != nil {
				var te *yaml.TypeError
				if errors.As(err, &te) {
					// One problem per error, each on its own line: the TypeError's text spans
					// several lines and would hide the line number from splitLine.
					for _, e := range te.Errors {
						line, msg := splitLine(e)
						if line == 0 {
							line = v.Line
						}
						problems = append(problems, fmt.Sprintf("line %d: field %q: %s", line, k.Value, msg))
					}
				} else {
					problems = append(problems, fmt.Sprintf("line %d: field %q: %v", v.Line, k.Value, cleanYAMLError(err)))
				}
			}
			fd.From, fd.Pseudonymize = long.From, long.Pseudonymize
		default:
			problems = append(problems, fmt.Sprintf("line %d: field %q must be a JSON Pointer or {from, pseudonymize}", v.Line, k.Value))
		}
		*f = append(*f, fd)
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

// Anomaly holds the thresholds of the vendor's anomaly detector; zero values take defaults.
type Anomaly struct {
	Window            Duration  `yaml:"window"`
	SignatureFailures Threshold `yaml:"signature_failures"`
	SchemaFailures    Threshold `yaml:"schema_failures"`
	UnknownFields     Threshold `yaml:"unknown_fields"`
	Replays           Threshold `yaml:"replays"`
	// RateFactor alerts when a window's requests exceed this many times the vendor's usual rate.
	RateFactor Threshold `yaml:"rate_factor"`
}

// Threshold is an alert level and an automatic quarantine level, counts per window (0 = never).
type Threshold struct {
	Alert      float64 `yaml:"alert"`
	Quarantine float64 `yaml:"quarantine"`
}

// Duration is a time.Duration written as "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: not a duration like 5m or 30s", n.Line)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as "5m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Problem is one thing wrong with a policy file.
type Problem struct {
	File    string
	Line    int // 0 when unknown
	Message string
	Warning bool // a warning does not stop the start
}

func (p Problem) String() string {
	kind := ""
	if p.Warning {
		kind = "warning: "
	}
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s%s", p.File, p.Line, kind, p.Message)
	}
	return fmt.Sprintf("%s: %s%s", p.File, kind, p.Message)
}

// Error lists the problems of one or more policy files.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

var (
	slugRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	lineRE      = regexp.MustCompile(`^line (\d+): (.*)$`)
	notFoundRE  = regexp.MustCompile(`field (\S+) not found in type \S+`)
	fieldNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	placeRE     = regexp.MustCompile(`\{([^{}]*)\}`)
)

// Parse decodes and checks one policy file. It returns the policy with the problems found; the
// policy is usable only when no problem is an error (not a warning).
func Parse(file string, data []byte) (*Policy, []Problem) {
	p := &Policy{File: file}
	var problems []Problem
	add := func(line int, format string, args ...any) {
		problems = append(problems, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
	}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := splitLine(cleanYAMLError(err))
		add(line, "%s", msg)
		return nil, problems
	}
	if len(root.Content) == 0 {
		add(0, "empty policy file")
		return nil, problems
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				line, msg := splitLine(e)
				add(line, "%s", msg)
			}
			if repeatsKey(root.Content[0]) {
				// yaml.v3 skips the top-level mapping when a key in it is given twice: checking
				// what was decoded would report its other keys as missing.
				return nil, problems
			}
		} else {
			line, msg := splitLine(cleanYAMLError(err))
			add(line, "%s", msg)
			return nil, problems
		}
	}
	doc := root.Content[0]
	at := func(path ...string) int { return lineOf(doc, path...) }

	switch {
	case p.Vendor == "":
		add(at("vendor"), "vendor is required")
	case !slugRE.MatchString(p.Vendor):
		add(at("vendor"), "vendor must be lowercase letters, digits and dashes ([a-z0-9-]+)")
	}
	warn := func(line int, format string, args ...any) {
		problems = append(problems, Problem{File: file, Line: line, Warning: true, Message: fmt.Sprintf(format, args...)})
	}
	if p.Title == "" {
		add(at("title"), "title is required")
	}
	if p.Owner == "" {
		add(at("owner"), "owner is required (who reviews this integration)")
	}
	if p.Contact == "" {
		add(at("contact"), "contact is required (who to call in an incident)")
	}
	for _, key := range p.Unfilled() {
		warn(at(key), "%s is %s, a placeholder: %s", key, Unfilled, unfilledHelp[key])
	}
	switch p.Risk {
	case "low", "medium", "high":
	default:
		add(at("risk"), "risk must be low, medium or high")
	}
	if p.RetentionDays < 0 || p.RetentionDays > 3650 {
		add(at("retention_days"), "retention_days must be between 1 and 3650")
	}
	checkAuth(p, doc, add, warn)
	checkEventSection(p, doc, add)
	checkIntake(p, doc, add)
	checkAnswer(p, doc, add)
	checkLifecycle(p, doc, add)
	// Learn mode needs neither a schema nor routes; live and shadow mode need both, which
	// vendor.Check enforces where it knows the vendor's mode.
	if p.Schema == "" {
		warn(at("schema"), "no schema: this policy can only run in learn mode (mode: learn; `hookbridge draft %s` drafts one)", p.Vendor)
	} else if !strings.HasSuffix(p.Schema, ".json") || strings.Contains(p.Schema, "..") || strings.HasPrefix(p.Schema, "/") {
		add(at("schema"), "schema must be a relative path like %s/v1.json", p.Vendor)
	}
	if len(p.Routes) == 0 {
		warn(at("routes"), "no routes: this policy can only run in learn mode (mode: learn; `hookbridge draft %s` drafts them)", p.Vendor)
	}
	routes := nodeAt(doc, "routes")
	for i := range p.Routes {
		r := &p.Routes[i]
		if routes != nil && i < len(routes.Content) {
			r.Line = routes.Content[i].Line
		}
		checkRoute(r, i, add)
		checkEntities(r, i, p.Routes[:i], add)
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return p, problems
}

// Unfilled is the value `hookbridge draft` gives what it cannot know (title, owner, contact):
// Parse accepts it with a warning, and the inventory shows such a key as missing.
const Unfilled = "TODO"

// unfilledHelp says what each key that may hold Unfilled should say instead.
var unfilledHelp = map[string]string{
	"title":   "say what this sender is",
	"owner":   "name who reviews this integration",
	"contact": "name who to call in an incident",
}

// Unfilled returns the keys among title, owner and contact that hold the draft's placeholder
// (Unfilled), in that order.
func (p *Policy) Unfilled() []string {
	var out []string
	for _, kv := range []struct{ key, value string }{{"title", p.Title}, {"owner", p.Owner}, {"contact", p.Contact}} {
		if strings.TrimSpace(kv.value) == Unfilled {
			out = append(out, kv.key)
		}
	}
	return out
}

// CanPublish reports whether the policy has what live and shadow mode need: a schema and at
// least one route. A policy without them can only run in learn mode.
func (p *Policy) CanPublish() bool { return p.Schema != "" && len(p.Routes) > 0 }

// checkAuth reports a missing auth section (verify.DecodeAuth checks one that is there) and warns
// about an id_header, which no scheme signs.
func checkAuth(p *Policy, doc *yaml.Node, add func(int, string, ...any), warn func(int, string, ...any)) {
	if nodeAt(doc, "auth") == nil {
		add(lineOf(doc, "auth"), "auth.scheme is required (one of %s)", strings.Join(verify.Schemes(), ", "))
		return
	}
	if p.Auth.IDHeader == "" {
		return
	}
	key := "a digest of the body"
	switch {
	case p.Auth.SignsID():
		key = "the id scheme " + p.Auth.Scheme + " signs"
	case p.Event.ID != "":
		key = "the body's id at event.id " + p.Event.ID
	}
	warn(lineOf(doc, "auth", "id_header"), "auth.id_header %s is not signed, so it does not key replays (%s does); remove it", p.Auth.IDHeader, key)
}

func checkRoute(r *Route, i int, add func(int, string, ...any)) {
	where := fmt.Sprintf("routes[%d]", i)
	if r.When == "" {
		add(r.Line, "%s.when is required (an event type, or \"*\")", where)
	}
	if r.QoS < 0 || r.QoS > 2 {
		add(r.Line, "%s.qos must be 0, 1 or 2", where)
	}
	if len(r.Fields) == 0 {
		add(r.Line, "%s.fields: at least one field is required", where)
	}
	names := map[string]bool{}
	for _, f := range r.Fields {
		switch {
		case !fieldNameRE.MatchString(f.Name):
			add(f.Line, "%s.fields: name %q must be letters, digits and _", where, f.Name)
		case names[f.Name]:
			add(f.Line, "%s.fields: duplicate field %q", where, f.Name)
		}
		names[f.Name] = true
		if f.From == "" {
			add(f.Line, "%s.fields.%s: from is required", where, f.Name)
		} else if err := CheckPointer(f.From); err != nil {
			add(f.Line, "%s.fields.%s: %v", where, f.Name, err)
		}
	}
	if err := CheckTopicTemplate(r.Topic, names); err != nil {
		add(r.Line, "%s.topic: %v", where, err)
	}
}

// CheckTopicTemplate reports what is wrong with a route topic, relative to {topic_prefix}/{vendor}/:
// a placeholder must fill a whole level and name a declared field; no level may be empty, a wildcard,
// or start with '$'.
func CheckTopicTemplate(topic string, fields map[string]bool) error {
	if topic == "" {
		return errors.New("is required")
	}
	if len(topic) > 200 {
		return errors.New("must be at most 200 characters")
	}
	for _, level := range strings.Split(topic, "/") {
		switch {
		case level == "":
			return errors.New("must not have empty levels (a leading, trailing or double '/')")
		case strings.ContainsAny(level, "+#\x00"):
			return errors.New("must not contain '+', '#' or NUL")
		case strings.HasPrefix(level, "$"):
			return errors.New("levels must not start with '$'")
		}
		if strings.ContainsAny(level, "{}") {
			m := placeRE.FindStringSubmatch(level)
			if m == nil || m[0] != level {
				return fmt.Errorf("placeholder in %q must fill a whole level, like {device}", level)
			}
			if !fields[m[1]] {
				return fmt.Errorf("placeholder {%s} names no field of the route", m[1])
			}
		}
	}
	return nil
}

// Placeholder returns the field name when level is a placeholder like "{device}".
func Placeholder(level string) (string, bool) {
	if len(level) > 2 && level[0] == '{' && level[len(level)-1] == '}' {
		return level[1 : len(level)-1], true
	}
	return "", false
}

// CheckPointer reports what is wrong with a JSON Pointer (RFC 6901), if anything.
func CheckPointer(p string) error {
	if p == "" {
		return nil
	}
	if p[0] != '/' {
		return fmt.Errorf("%q is not a JSON Pointer: it must start with '/'", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 >= len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q is not a JSON Pointer: '~' must be followed by 0 or 1", p)
		}
	}
	return nil
}

// SplitPointer returns a JSON Pointer's unescaped reference tokens.
func SplitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		if strings.Contains(s, "~") {
			s = strings.ReplaceAll(s, "~1", "/")
			parts[i] = strings.ReplaceAll(s, "~0", "~")
		}
	}
	return parts
}

func splitLine(s string) (int, string) {
	s = strings.TrimPrefix(s, "yaml: ")
	if m := lineRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, rewriteMessage(m[2])
	}
	return 0, rewriteMessage(s)
}

func rewriteMessage(s string) string {
	if m := notFoundRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	return s
}

func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// repeatsKey reports whether mapping n gives a key twice.
func repeatsKey(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

// nodeAt follows mapping keys from n.
func nodeAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// lineOf returns the line of the value at path, or of the deepest existing parent.
func lineOf(n *yaml.Node, path ...string) int {
	line := n.Line
	for i := range path {
		m := nodeAt(n, path[:i+1]...)
		if m == nil {
			break
		}
		line = m.Line
	}
	return line
}
