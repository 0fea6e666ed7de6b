// Package learn records the structure of a vendor's verified events in learn mode, and never
// their values: each JSON Pointer path (array elements folded to "/*"), its JSON types, how many
// events carried it (per event type too), string lengths and formats, number ranges rounded to
// one significant digit, and enum candidates only for short, plain, repeated strings on paths no
// one would call personal. bridge/draft turns what was learnt into a JSON Schema and a policy.
//
// A Recorder is bounded (Limits): past a bound it counts what it left out (Overflow), and the
// draft leaves the affected objects open so that it still accepts every event it learnt from.
package learn

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Limits bound what a Recorder keeps.
type Limits struct {
	// MaxPaths bounds the distinct paths kept; values at further paths are counted as dropped.
	MaxPaths int
	// MaxDepth bounds the pointer tokens followed; deeper members are counted, not recorded.
	MaxDepth int
	// MaxTypes bounds the event types kept by name; further types count as other types.
	MaxTypes int
	// EnumWindow is how many events enum candidates may take new values for; after it, a value
	// not yet seen ends the path's enum (so the enum stays true for every recorded event).
	EnumWindow uint64
}

// DefaultLimits suit real webhooks: Stripe's largest event objects have a few hundred paths.
var DefaultLimits = Limits{MaxPaths: 512, MaxDepth: 16, MaxTypes: 64, EnumWindow: 10_000}

// Recorder learns one vendor's event structure. Its methods are safe for concurrent use.
type Recorder struct {
	vendor string
	lim    Limits
	gen    atomic.Uint64 // bumped by every change

	mu        sync.Mutex // guards the fields below
	root      *node
	paths     int
	events    uint64
	types     []TypeCount    // in the order first seen; node.byType follows it
	typeIndex map[string]int // name -> index into types
	over      Overflow
}

// node is a path while recording; Snapshot turns it into a Node.
type node struct {
	types     Types
	events    uint64
	count     uint64
	lastEvent uint64 // the event that last counted in events
	byType    []uint64
	objects   uint64

	strings        uint64
	minLen, maxLen uint32
	formats        Formats

	numbers  uint64
	lo, hi   float64 // rounded outward to one significant digit; valid when hasRange
	hasRange bool

	ident      Kinds // by name
	identValue Kinds // by value
	personal   bool

	enum   []EnumValue // sorted by value
	noEnum bool

	keys      map[string]*node
	dyn       *node
	items     *node
	truncated bool
}

// New returns an empty recorder for a vendor; zero limits take DefaultLimits' values.
func New(vendor string, lim Limits) *Recorder {
	if lim.MaxPaths <= 0 {
		lim.MaxPaths = DefaultLimits.MaxPaths
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if lim.MaxTypes <= 0 {
		lim.MaxTypes = DefaultLimits.MaxTypes
	}
	if lim.EnumWindow == 0 {
		lim.EnumWindow = DefaultLimits.EnumWindow
	}
	return &Recorder{vendor: vendor, lim: lim, typeIndex: map[string]int{}}
}

// Vendor returns the vendor the recorder learns.
func (r *Recorder) Vendor() string { return r.vendor }

// Generation returns a number that changes whenever the recorder does: save a Snapshot when it
// differs from the one saved last.
func (r *Recorder) Generation() uint64 { return r.gen.Load() }

// Size returns how many events were recorded and how many paths are kept, for counters.
func (r *Recorder) Size() (events uint64, paths int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events, r.paths
}

// Reset forgets everything learnt.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.root, r.paths, r.events, r.types, r.typeIndex, r.over = nil, 0, 0, nil, map[string]int{}, Overflow{}
	r.mu.Unlock()
	r.gen.Add(1)
}

// Record learns from one event: doc is the parsed, verified document (as bridge/payload returns
// it: map[string]any, []any, string, json.Number, bool, nil) and eventType its type ("" when it
// has none). Only events that passed verification may be recorded: what a forger sends must
// teach nothing.
func (r *Recorder) Record(doc any, eventType string) {
	r.mu.Lock()
	r.events++
	ev := r.events
	ti := r.typeLocked(eventType, 1)
	if r.events > r.lim.EnumWindow {
		r.over.EnumClosed = true
	}
	if r.root == nil {
		r.root = &node{}
		r.paths++
	}
	r.visit(r.root, doc, 0, ev, ti)
	r.mu.Unlock()
	r.gen.Add(1)
}

// typeLocked returns the index of an event type, adding it when it qualifies and there is room,
// and counts events of it; -1 (counted as other) when it is not kept by name.
func (r *Recorder) typeLocked(t string, events uint64) int {
	i, ok := r.typeIndex[t]
	if !ok {
		if len(r.types) >= r.lim.MaxTypes || !typeName(t) {
			r.over.OtherTypes += events
			return -1
		}
		i = len(r.types)
		r.types = append(r.types, TypeCount{Name: strings.Clone(t)})
		r.typeIndex[r.types[i].Name] = i
	}
	r.types[i].Events += events
	return i
}

func (r *Recorder) visit(n *node, v any, depth int, ev uint64, ti int) {
	n.count++
	if n.lastEvent != ev {
		n.lastEvent = ev
		n.events++
		n.addType(ti, 1)
	}
	switch x := v.(type) {
	case map[string]any:
		n.types |= TypeObject
		n.objects++
		if len(x) == 0 {
			return
		}
		if depth >= r.lim.MaxDepth {
			n.truncated = true
			r.over.Deep++
			return
		}
		var fresh []string
		for k, e := range x {
			if c := n.keys[k]; c != nil {
				r.visit(c, e, depth+1, ev, ti)
				continue
			}
			fresh = append(fresh, k)
		}
		// Keys not seen before (or folded) in key order, not map order: so which of them fit
		// the path budget does not depend on chance.
		sort.Strings(fresh)
		for _, k := range fresh {
			if c := r.member(n, k, 1); c != nil {
				r.visit(c, x[k], depth+1, ev, ti)
			}
		}
	case []any:
		n.types |= TypeArray
		if len(x) == 0 {
			return
		}
		if depth >= r.lim.MaxDepth {
			n.truncated = true
			r.over.Deep++
			return
		}
		it := r.itemsOf(n, 1)
		if it == nil {
			return
		}
		for _, e := range x {
			r.visit(it, e, depth+1, ev, ti)
		}
	case string:
		r.str(n, x)
	case json.Number:
		n.num(string(x))
	case float64:
		n.num(strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		n.types |= TypeBoolean
	case nil:
		n.types |= TypeNull
	}
}

func (n *node) addType(ti int, events uint64) {
	if ti < 0 {
		return
	}
	if ti >= len(n.byType) {
		n.byType = append(n.byType, make([]uint64, ti+1-len(n.byType))...)
	}
	n.byType[ti] += events
}

// room takes a path from the budget, or marks n truncated and counts the drop.
func (r *Recorder) room(n *node, dropped uint64) bool {
	if r.paths >= r.lim.MaxPaths {
		n.truncated = true
		r.over.Dropped += dropped
		return false
	}
	r.paths++
	return true
}

// member returns n's member node for key k, creating it if there is room; nil when not. values
// is how many values the member stands for, for the overflow counters.
func (r *Recorder) member(n *node, k string, values uint64) *node {
	if c := n.keys[k]; c != nil {
		return c
	}
	if !nameable(k) {
		r.over.Folded += values
		return r.dynamicOf(n, values)
	}
	if !r.room(n, values) {
		return nil
	}
	kinds := nameKinds(k)
	c := &node{ident: kinds, personal: n.personal || kinds != 0}
	c.noEnum = c.personal
	if n.keys == nil {
		n.keys = map[string]*node{}
	}
	n.keys[strings.Clone(k)] = c
	return c
}

// dynamicOf returns the node of n's members whose keys looked like values, creating it if there
// is room.
func (r *Recorder) dynamicOf(n *node, values uint64) *node {
	if n.dyn == nil {
		if !r.room(n, values) {
			return nil
		}
		// The key was a value, probably an identifier: what is under it belongs to it.
		n.dyn = &node{personal: true, noEnum: true}
	}
	return n.dyn
}

// itemsOf returns the node of n's array elements, creating it if there is room. Elements take
// the array's name: the items of "user_ids" are ids.
func (r *Recorder) itemsOf(n *node, values uint64) *node {
	if n.items == nil {
		if !r.room(n, values) {
			return nil
		}
		n.items = &node{ident: n.ident, personal: n.personal, noEnum: n.personal}
	}
	return n.items
}

func (r *Recorder) str(n *node, s string) {
	n.types |= TypeString
	n.strings++
	want := n.formats
	if n.strings == 1 || !n.noEnum {
		want = allFormats // enum candidates must match no format: check them all
	}
	cl := classify(s, want)
	if n.strings == 1 {
		n.formats = cl.formats
		n.minLen, n.maxLen = uint32(cl.runes), uint32(cl.runes)
	} else {
		n.formats &= cl.formats
		n.minLen = min(n.minLen, uint32(cl.runes))
		n.maxLen = max(n.maxLen, uint32(cl.runes))
	}
	n.identValue |= cl.kinds
	if n.noEnum {
		return
	}
	if n.personal || n.identValue != 0 || !cl.plain {
		n.dropEnum()
		return
	}
	i := sort.Search(len(n.enum), func(i int) bool { return n.enum[i].Value >= s })
	if i < len(n.enum) && n.enum[i].Value == s {
		n.enum[i].Count++
		return
	}
	if len(n.enum) >= MaxEnum || r.events > r.lim.EnumWindow {
		n.dropEnum()
		return
	}
	n.enum = append(n.enum, EnumValue{})
	copy(n.enum[i+1:], n.enum[i:])
	n.enum[i] = EnumValue{Value: strings.Clone(s), Count: 1}
}

// dropEnum ends the path's enum for good and forgets its values.
func (n *node) dropEnum() {
	n.noEnum = true
	n.enum = nil
}

func (n *node) num(lit string) {
	if strings.ContainsAny(lit, ".eE") {
		n.types |= TypeNumber
	} else {
		n.types |= TypeInteger
	}
	n.numbers++
	if n.personal {
		return // a coordinate's or an account number's range is the value itself
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return
	}
	n.widen(f, f)
}

// widen extends the rounded range to cover [lo, hi].
func (n *node) widen(lo, hi float64) {
	if !n.hasRange {
		n.lo, n.hi, n.hasRange = coarseDown(lo), coarseUp(hi), true
		return
	}
	if lo < n.lo {
		n.lo = coarseDown(lo)
	}
	if hi > n.hi {
		n.hi = coarseUp(hi)
	}
}

// coarseDown returns the largest d×10^e ≤ f with d a single digit: a bound that keeps a number's
// magnitude and not its value.
func coarseDown(f float64) float64 {
	if f < 0 {
		return -coarseUp(-f)
	}
	return coarse(f, false)
}

// coarseUp returns the smallest d×10^e ≥ f with d a single digit (or 10^(e+1)).
func coarseUp(f float64) float64 {
	if f < 0 {
		return -coarseDown(-f)
	}
	return coarse(f, true)
}

func coarse(f float64, up bool) float64 {
	if f == 0 {
		return 0
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d.ddde±xx
	d := int(b[0] - '0')
	ePos := strings.IndexByte(string(b), 'e')
	exp, _ := strconv.Atoi(string(b[ePos+1:]))
	if up && ePos > 1 { // a fraction follows the first digit
		d++
	}
	if d == 10 {
		d, exp = 1, exp+1
	}
	out, err := strconv.ParseFloat(fmt.Sprintf("%de%d", d, exp), 64)
	if err != nil {
		return f
	}
	return out
}

// Snapshot returns what was learnt so far, as a value the recorder no longer touches.
func (r *Recorder) Snapshot() *Structure {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Structure{Version: Version, Vendor: r.vendor, Events: r.events, Overflow: r.over}
	// Types sorted by name; remap holds each recorded index's place in that order.
	order := make([]int, len(r.types))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return r.types[order[a]].Name < r.types[order[b]].Name })
	remap := make([]int, len(r.types))
	for to, from := range order {
		remap[from] = to
		s.Types = append(s.Types, r.types[from])
	}
	if r.root != nil {
		s.Root = r.root.export(remap)
	}
	return s
}

func (n *node) export(remap []int) *Node {
	out := &Node{Types: n.types, Events: n.events, Count: n.count, Objects: n.objects,
		Strings: n.strings, MinLen: n.minLen, MaxLen: n.maxLen, Formats: n.formats,
		Numbers: n.numbers, Identifier: n.ident, IdentifierByValue: n.identValue, Personal: n.personal,
		NoEnum: n.noEnum && !n.personal, Truncated: n.truncated}
	if n.strings == 0 {
		out.Formats = 0
	}
	if n.hasRange {
		lo, hi := n.lo, n.hi
		out.Min, out.Max = &lo, &hi
	}
	if len(n.byType) > 0 {
		bt := make([]uint64, len(remap))
		for i, c := range n.byType {
			bt[remap[i]] = c
		}
		for len(bt) > 0 && bt[len(bt)-1] == 0 {
			bt = bt[:len(bt)-1]
		}
		if len(bt) > 0 {
			out.ByType = bt
		}
	}
	if len(n.enum) > 0 {
		out.Enum = append([]EnumValue(nil), n.enum...)
	}
	if len(n.keys) > 0 {
		out.Keys = make(map[string]*Node, len(n.keys))
		for k, c := range n.keys {
			out.Keys[k] = c.export(remap)
		}
	}
	if n.dyn != nil {
		out.Dynamic = n.dyn.export(remap)
	}
	if n.items != nil {
		out.Items = n.items.export(remap)
	}
	return out
}

// Merge adds what a structure holds to the recorder: at start, the structure saved before a
// restart. The recorder's rules apply to it anew (a key or a value that no longer qualifies is
// folded or dropped), and so do its limits.
func (r *Recorder) Merge(s *Structure) error {
	if s == nil {
		return nil
	}
	if s.Version != Version {
		return fmt.Errorf("%w %d (this build reads %d)", ErrVersion, s.Version, Version)
	}
	if s.Vendor != r.vendor {
		return fmt.Errorf("%w: %s into %s", ErrVendor, s.Vendor, r.vendor)
	}
	r.mu.Lock()
	r.events += s.Events
	r.over.Dropped += s.Overflow.Dropped
	r.over.Deep += s.Overflow.Deep
	r.over.Folded += s.Overflow.Folded
	r.over.OtherTypes += s.Overflow.OtherTypes
	r.over.EnumClosed = r.over.EnumClosed || s.Overflow.EnumClosed || r.events > r.lim.EnumWindow
	remap := make([]int, len(s.Types))
	for i, t := range s.Types {
		remap[i] = r.typeLocked(t.Name, t.Events)
	}
	if s.Root != nil {
		if r.root == nil {
			r.root = &node{}
			r.paths++
		}
		r.merge(r.root, s.Root, remap, 0)
	}
	r.mu.Unlock()
	r.gen.Add(1)
	return nil
}

func (r *Recorder) merge(n *node, src *Node, remap []int, depth int) {
	n.types |= src.Types
	n.count += src.Count
	n.events += src.Events
	for i, c := range src.ByType {
		if i < len(remap) {
			n.addType(remap[i], c)
		}
	}
	n.objects += src.Objects
	if src.Strings > 0 {
		if n.strings == 0 {
			n.formats, n.minLen, n.maxLen = src.Formats, src.MinLen, src.MaxLen
		} else {
			n.formats &= src.Formats
			n.minLen, n.maxLen = min(n.minLen, src.MinLen), max(n.maxLen, src.MaxLen)
		}
	}
	n.numbers += src.Numbers
	if src.Min != nil && src.Max != nil && !n.personal {
		n.widen(*src.Min, *src.Max)
	}
	n.identValue |= src.IdentifierByValue
	n.truncated = n.truncated || src.Truncated
	r.mergeEnum(n, src)
	n.strings += src.Strings

	if len(src.Keys)+boolInt(src.Dynamic != nil)+boolInt(src.Items != nil) > 0 && depth >= r.lim.MaxDepth {
		n.truncated = true
		r.over.Deep++
		return
	}
	keys := make([]string, 0, len(src.Keys))
	for k := range src.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys) // so that which paths fit the budget does not depend on map order
	for _, k := range keys {
		c := src.Keys[k]
		if c == nil {
			continue
		}
		if m := r.member(n, k, c.Count); m != nil {
			r.merge(m, c, remap, depth+1)
		}
	}
	if src.Dynamic != nil {
		if d := r.dynamicOf(n, src.Dynamic.Count); d != nil {
			r.merge(d, src.Dynamic, remap, depth+1)
		}
	}
	if src.Items != nil {
		if it := r.itemsOf(n, src.Items.Count); it != nil {
			r.merge(it, src.Items, remap, depth+1)
		}
	}
}

// mergeEnum combines enum candidates; n.strings does not yet include src's.
func (r *Recorder) mergeEnum(n *node, src *Node) {
	if src.Strings == 0 || n.noEnum {
		return
	}
	var sum uint64
	for _, e := range src.Enum {
		sum += e.Count
	}
	// Every string the source saw must be one of its candidates, or the enum would refuse it.
	if src.NoEnum || src.Personal || n.personal || n.identValue != 0 || sum != src.Strings {
		n.dropEnum()
		return
	}
	for _, e := range src.Enum {
		if !classify(e.Value, allFormats).plain {
			n.dropEnum()
			return
		}
		i := sort.Search(len(n.enum), func(i int) bool { return n.enum[i].Value >= e.Value })
		if i < len(n.enum) && n.enum[i].Value == e.Value {
			n.enum[i].Count += e.Count
			continue
		}
		if len(n.enum) >= MaxEnum {
			n.dropEnum()
			return
		}
		n.enum = append(n.enum, EnumValue{})
		copy(n.enum[i+1:], n.enum[i:])
		n.enum[i] = EnumValue{Value: strings.Clone(e.Value), Count: e.Count}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
