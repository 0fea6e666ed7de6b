package learn

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Version is the version of the serialized Structure that Marshal writes and Unmarshal reads.
const Version = 1

// ErrVersion reports a stored structure of a version this build does not read.
var ErrVersion = errors.New("learnt structure: unknown version")

// ErrCorrupt reports stored bytes that are not a learnt structure.
var ErrCorrupt = errors.New("learnt structure: not readable")

// ErrVendor reports merging one vendor's structure into another vendor's recorder.
var ErrVendor = errors.New("learnt structure: another vendor's")

// Structure is what a Recorder learnt about one vendor's events: a snapshot that the store keeps,
// the draft turns into a schema and a policy, and the status page lists. It holds no value of an
// event except event type names and enum candidates, both of which passed the rules in
// classify.go.
type Structure struct {
	Version int    `json:"version"`
	Vendor  string `json:"vendor"`
	// Events is how many events were recorded.
	Events uint64 `json:"events"`
	// Types are the event types kept by name, sorted by name; Node.ByType counts follow this order.
	Types []TypeCount `json:"types,omitempty"`
	// Overflow counts what the limits kept out.
	Overflow Overflow `json:"overflow"`
	// Root is the document's top level (pointer "").
	Root *Node `json:"root,omitempty"`
}

// TypeCount is an event type and how many events had it.
type TypeCount struct {
	Name   string `json:"name"`
	Events uint64 `json:"events"`
}

// Overflow counts what the Limits kept out of a Structure, for the status page and the draft.
type Overflow struct {
	// Dropped counts values at paths not kept because MaxPaths was reached; their parent objects
	// are marked Truncated.
	Dropped uint64 `json:"dropped,omitempty"`
	// Deep counts objects and arrays at MaxDepth whose members were not followed.
	Deep uint64 `json:"deep,omitempty"`
	// Folded counts object keys that looked like values (ids, numbers, dates, addresses) and were
	// folded into their object's Dynamic member instead of becoming paths.
	Folded uint64 `json:"folded,omitempty"`
	// OtherTypes counts events whose type was not kept by name: identifier-like, absent, or past
	// MaxTypes.
	OtherTypes uint64 `json:"other_types,omitempty"`
	// EnumClosed reports that enum candidates stopped taking new values after EnumWindow events.
	EnumClosed bool `json:"enum_closed,omitempty"`
}

// Node is one learnt path: its JSON types, how often it was seen, and what its values look like.
type Node struct {
	Types Types `json:"types"`
	// Events counts events that carried the path; Count counts its values (more than Events under
	// arrays, where each element counts).
	Events uint64 `json:"events"`
	Count  uint64 `json:"count"`
	// ByType counts events that carried the path per event type, in Structure.Types order
	// (trailing zeros left out).
	ByType []uint64 `json:"by_type,omitempty"`
	// Objects counts the values that were objects: a key present in every one is required.
	Objects uint64 `json:"objects,omitempty"`

	// Strings counts string values; their lengths in code points ranged over [MinLen, MaxLen], and
	// every one of them matched each of Formats.
	Strings uint64  `json:"strings,omitempty"`
	MinLen  uint32  `json:"min_len,omitempty"`
	MaxLen  uint32  `json:"max_len,omitempty"`
	Formats Formats `json:"formats,omitempty"`

	// Numbers counts number values. Min and Max bound them, rounded outward to one significant
	// digit (87 is kept as 90) so that no value is kept; nil for personal paths.
	Numbers uint64   `json:"numbers,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`

	// Identifier holds the identifier kinds the path's name says (its last name, or the array's
	// name for array items); IdentifierByValue those some value looked like.
	Identifier        Kinds `json:"identifier,omitempty"`
	IdentifierByValue Kinds `json:"identifier_by_value,omitempty"`
	// Personal reports that a name on the path (this one or a parent's) is personal, or that the
	// path is under a key folded for looking like a value: no enum, no number range.
	Personal bool `json:"personal,omitempty"`

	// Enum holds the string values seen while the path qualified for an enum, sorted; NoEnum
	// reports that it stopped qualifying, for good.
	Enum   []EnumValue `json:"enum,omitempty"`
	NoEnum bool        `json:"no_enum,omitempty"`

	// Keys are the object members kept by name; Dynamic stands for the members whose keys looked
	// like values; Items for the elements of arrays ("/*").
	Keys    map[string]*Node `json:"keys,omitempty"`
	Dynamic *Node            `json:"dynamic,omitempty"`
	Items   *Node            `json:"items,omitempty"`
	// Truncated reports that members or elements were not recorded (MaxPaths or MaxDepth): the
	// draft leaves such an object open.
	Truncated bool `json:"truncated,omitempty"`
}

// EnumValue is an enum candidate and how many values were it.
type EnumValue struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

// Rules for what the draft may claim from a node (see Node.EnumValues and Node.Format).
const (
	// MaxEnum is the most distinct values an enum candidate may have.
	MaxEnum = 8
	// minEnumRepeat is how often each value must have been seen, and minEnumSamples how many
	// string values the path must have had, for the draft to make an enum of them.
	minEnumRepeat  = 2
	minEnumSamples = 5
	// minFormatSamples is how many string values, all of one format, make the draft name it.
	minFormatSamples = 3
)

// EnumValues returns the values the draft may list as the path's enum, sorted, or nil when the
// path does not qualify: personal, an identifier-like value seen, more than MaxEnum values, or
// too few samples of each.
func (n *Node) EnumValues() []string {
	if n == nil || n.NoEnum || n.Personal || n.IdentifierByValue != 0 || len(n.Enum) == 0 ||
		len(n.Enum) > MaxEnum || n.Strings < minEnumSamples {
		return nil
	}
	out := make([]string, 0, len(n.Enum))
	var sum uint64
	for _, e := range n.Enum {
		if e.Count < minEnumRepeat || !classify(e.Value, allFormats).plain {
			return nil
		}
		sum += e.Count
		out = append(out, e.Value)
	}
	if sum != n.Strings {
		return nil // some string was none of them: the enum would refuse it
	}
	return out
}

// Format returns the one format every string value of the path matched, when there were enough
// of them to be confident; else 0.
func (n *Node) Format() Formats {
	if n == nil || n.Strings < minFormatSamples {
		return 0
	}
	for _, f := range formatPreference {
		if n.Formats&f != 0 {
			return f
		}
	}
	return 0
}

// formatPreference orders formats from the most to the least specific.
var formatPreference = []Formats{FormatDateTime, FormatDate, FormatUUID, FormatEmail, FormatMAC, FormatIPv4, FormatURI, FormatNumeric}

// Kinds returns every identifier kind of the path, by name and by value.
func (n *Node) Kinds() Kinds { return n.Identifier | n.IdentifierByValue }

// Path is a node with its place in the structure.
type Path struct {
	// Pointer is the JSON Pointer (RFC 6901 escaping) with "*" for array elements and "{key}" for
	// the members folded into Dynamic, such as "/items/*/sku" or "/devices/{key}/state".
	Pointer string
	// Tokens are the pointer's unescaped tokens; InArray and InDynamic report whether one of them
	// is "*" (array elements) or "{key}" (folded members): such a path names no single value.
	Tokens    []string
	InArray   bool
	InDynamic bool
	Node      *Node
}

// Paths lists every path of the structure, the root ("") first, then in pointer order.
func (s *Structure) Paths() []Path {
	var out []Path
	var walk func(n *Node, ptr string, tokens []string, inArray, inDyn bool)
	walk = func(n *Node, ptr string, tokens []string, inArray, inDyn bool) {
		out = append(out, Path{Pointer: ptr, Tokens: tokens, InArray: inArray, InDynamic: inDyn, Node: n})
		keys := make([]string, 0, len(n.Keys))
		for k := range n.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(n.Keys[k], ptr+"/"+escapeToken(k), append(tokens[:len(tokens):len(tokens)], k), inArray, inDyn)
		}
		if n.Dynamic != nil {
			walk(n.Dynamic, ptr+"/{key}", append(tokens[:len(tokens):len(tokens)], "{key}"), inArray, true)
		}
		if n.Items != nil {
			walk(n.Items, ptr+"/*", append(tokens[:len(tokens):len(tokens)], "*"), true, inDyn)
		}
	}
	if s.Root != nil {
		walk(s.Root, "", nil, false, false)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// CountPaths returns how many paths the structure holds.
func (s *Structure) CountPaths() int {
	var count func(n *Node) int
	count = func(n *Node) int {
		if n == nil {
			return 0
		}
		c := 1 + count(n.Dynamic) + count(n.Items)
		for _, k := range n.Keys {
			c += count(k)
		}
		return c
	}
	return count(s.Root)
}

// TypeEvents returns how many events of the type (an index into Types) carried the path.
func (n *Node) TypeEvents(i int) uint64 {
	if i < 0 || i >= len(n.ByType) {
		return 0
	}
	return n.ByType[i]
}

func escapeToken(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// Marshal encodes the structure for the store. The encoding is deterministic (one structure, one
// encoding): fields in a fixed order, map keys and lists sorted.
func (s *Structure) Marshal() ([]byte, error) {
	return json.Marshal(s)
}

// Unmarshal decodes a structure that Marshal encoded.
func Unmarshal(data []byte) (*Structure, error) {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, head.Version, Version)
	}
	var s Structure
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.Root != nil && depth(s.Root) > maxStoredDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrCorrupt, maxStoredDepth)
	}
	return &s, nil
}

// maxStoredDepth bounds a stored tree, so a damaged file cannot make merging recurse without end.
const maxStoredDepth = 64

func depth(n *Node) int {
	if n == nil {
		return 0
	}
	d := max(depth(n.Dynamic), depth(n.Items))
	for _, c := range n.Keys {
		d = max(d, depth(c))
		if d > maxStoredDepth {
			break
		}
	}
	return d + 1
}

// Types is a set of JSON types. Numbers are "integer" when written without fraction or exponent,
// else "number".
type Types uint8

// JSON types.
const (
	TypeObject Types = 1 << iota
	TypeArray
	TypeString
	TypeInteger
	TypeNumber
	TypeBoolean
	TypeNull
)

var typeNames = []string{"object", "array", "string", "integer", "number", "boolean", "null"}

// Names returns the types' names, in a fixed order.
func (t Types) Names() []string { return setNames(uint16(t), typeNames) }

func (t Types) String() string { return strings.Join(t.Names(), "|") }

// MarshalJSON writes the set as a list of names.
func (t Types) MarshalJSON() ([]byte, error) { return json.Marshal(t.Names()) }

// UnmarshalJSON reads a list of names.
func (t *Types) UnmarshalJSON(b []byte) error {
	v, err := parseSet(b, typeNames, "type")
	*t = Types(v)
	return err
}

// Formats is a set of string formats.
type Formats uint8

// String formats: the JSON Schema formats date-time, date, email, uuid, uri and ipv4, and two
// the draft writes as a pattern: a MAC address (six hex pairs joined by ':' or '-') and a
// numeric string (an optional '-', digits, an optional fraction).
const (
	FormatDateTime Formats = 1 << iota
	FormatDate
	FormatEmail
	FormatUUID
	FormatMAC
	FormatURI
	FormatNumeric
	FormatIPv4
)

const allFormats = FormatDateTime | FormatDate | FormatEmail | FormatUUID | FormatMAC | FormatURI | FormatNumeric | FormatIPv4

var formatNames = []string{"date-time", "date", "email", "uuid", "mac", "uri", "numeric", "ipv4"}

// Names returns the formats' names, in a fixed order.
func (f Formats) Names() []string { return setNames(uint16(f), formatNames) }

func (f Formats) String() string { return strings.Join(f.Names(), "|") }

// MarshalJSON writes the set as a list of names.
func (f Formats) MarshalJSON() ([]byte, error) { return json.Marshal(f.Names()) }

// UnmarshalJSON reads a list of names.
func (f *Formats) UnmarshalJSON(b []byte) error {
	v, err := parseSet(b, formatNames, "format")
	*f = Formats(v)
	return err
}

// Kinds is a set of identifier kinds: what makes a path personal.
type Kinds uint16

// Identifier kinds.
const (
	KindID Kinds = 1 << iota
	KindSerial
	KindEmail
	KindMAC
	KindAccount
	KindCoordinate
	KindName
	KindPhone
	KindAddress
	KindNetwork
	KindSecret
)

var kindNames = []string{"id", "serial", "email", "mac", "account", "coordinate", "name", "phone", "address", "network", "secret"}

// Names returns the kinds' names, in a fixed order.
func (k Kinds) Names() []string { return setNames(uint16(k), kindNames) }

func (k Kinds) String() string { return strings.Join(k.Names(), ", ") }

// MarshalJSON writes the set as a list of names.
func (k Kinds) MarshalJSON() ([]byte, error) { return json.Marshal(k.Names()) }

// UnmarshalJSON reads a list of names.
func (k *Kinds) UnmarshalJSON(b []byte) error {
	v, err := parseSet(b, kindNames, "identifier kind")
	*k = Kinds(v)
	return err
}

// Pseudonymize reports whether the kinds are identifiers a device may usefully see as a
// pseudonym (ids, serials, emails, MACs, accounts, phone numbers, network addresses): the same
// thing gets the same token. Names, postal addresses, coordinates and secrets are better left
// out: a pseudonym of them is rarely useful, and a secret must never leave.
func (k Kinds) Pseudonymize() bool {
	return k&KindSecret == 0 && k&(KindID|KindSerial|KindEmail|KindMAC|KindAccount|KindPhone|KindNetwork) != 0
}

func setNames(bits uint16, names []string) []string {
	out := []string{}
	for i, n := range names {
		if bits&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func parseSet(b []byte, names []string, what string) (uint16, error) {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return 0, err
	}
	var bits uint16
	for _, s := range list {
		i := indexOf(names, s)
		if i < 0 {
			return 0, fmt.Errorf("unknown %s %q", what, s)
		}
		bits |= 1 << i
	}
	return bits, nil
}

func indexOf(list []string, s string) int {
	for i, e := range list {
		if e == s {
			return i
		}
	}
	return -1
}

// Field is one learnt path as the status page and the admin API show it: counts, types, a
// confident format, qualified enum values and identifier marks; nothing else of the values.
type Field struct {
	Pointer    string   `json:"pointer"`
	Types      []string `json:"types"`
	Events     uint64   `json:"events"` // events that carried it, of Structure.Events
	Format     string   `json:"format,omitempty"`
	Enum       []string `json:"enum,omitempty"`
	Identifier []string `json:"identifier,omitempty"` // kinds, by name and by value
	Personal   bool     `json:"personal,omitempty"`
}

// Fields lists every path but the root, in pointer order, for display.
func (s *Structure) Fields() []Field {
	var out []Field
	for _, p := range s.Paths() {
		if p.Pointer == "" {
			continue
		}
		n := p.Node
		f := Field{Pointer: p.Pointer, Types: n.Types.Names(), Events: n.Events, Enum: n.EnumValues(),
			Personal: n.Personal}
		if fm := n.Format(); fm != 0 {
			f.Format = fm.String()
		}
		if k := n.Kinds(); k != 0 {
			f.Identifier = k.Names()
		}
		out = append(out, f)
	}
	return out
}
