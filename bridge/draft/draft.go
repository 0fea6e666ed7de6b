// Package draft turns what learn mode recorded about a vendor's events (a learn.Structure) into a
// JSON Schema and a policy file that `hookbridge check` accepts and that publishes nothing until a
// person lists the fields each topic should carry.
//
// The policy keeps the vendor's current policy (auth, event, and whatever else it says) and adds
// the schema and one placeholder route per learnt event type. A route must list at least one field
// (policy.Parse), so a route that publishes nothing cannot simply be empty: each placeholder route
// has one field, TODO, whose pointer (/TODO) names a member the drafted schema forbids, and its
// topic is built from that field. Every event that passes the schema therefore lacks the field,
// and the router skips the route (counted, never published). `check` says so with its warning
// that the topic field is not required by the schema. A person replaces the TODO field and topic
// with real ones, choosing from the learnt paths listed under each route.
package draft

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hookbridge/hookbridge/bridge/learn"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/schema"
)

// Placeholder is the literal value of what a draft cannot know (owner, contact, title when the
// current policy has none) and the name of each placeholder route's field.
const Placeholder = "TODO"

// ErrNothingLearnt reports a structure without events.
var ErrNothingLearnt = errors.New("nothing learnt yet")

// ErrPolicy reports a current policy that cannot be read as a YAML mapping for this vendor.
var ErrPolicy = errors.New("current policy unusable")

// ErrInvalid reports a draft that fails its own check (policy.Parse or schema compilation): a bug.
var ErrInvalid = errors.New("draft does not pass its check")

// ErrExists reports that Write would replace a file.
var ErrExists = errors.New("file exists")

// Input is what a draft is made from.
type Input struct {
	// Learnt is the vendor's learnt structure: learn.Recorder.Snapshot, or learn.Unmarshal of
	// what the store keeps.
	Learnt *learn.Structure
	// Policy is the vendor's current policy file, as read. Learn mode lets it leave out schema
	// and routes; every other key (auth, event, owner, ...) is kept as it is, comments included.
	Policy []byte
	// PolicyFile names it in messages.
	PolicyFile string
	// SchemaName is the schema's catalog name; default "{vendor}/v1.json".
	SchemaName string
}

// Draft is a drafted policy and schema.
type Draft struct {
	Vendor     string
	SchemaName string // catalog name, as the policy's schema key says
	PolicyPath string // "policies/{vendor}.yaml"
	SchemaPath string // "schemas/{SchemaName}"
	Policy     []byte
	Schema     []byte
	// Warnings are what policy.Parse says of the draft (it has no errors).
	Warnings []policy.Problem
}

// Make drafts a vendor's schema and policy.
func Make(in Input) (*Draft, error) {
	s := in.Learnt
	if s == nil || s.Events == 0 || s.Root == nil {
		return nil, ErrNothingLearnt
	}
	vendor := s.Vendor
	file := in.PolicyFile
	if file == "" {
		file = "policies/" + vendor + ".yaml"
	}
	name := in.SchemaName
	if name == "" {
		name = vendor + "/v1.json"
	}
	cur, err := readCurrent(in.Policy, vendor)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, file, err)
	}

	// The placeholder routes' field: a root member no learnt event had.
	placeholderKey := Placeholder
	for s.Root.Keys[placeholderKey] != nil {
		placeholderKey += "_"
	}
	w := &schemaWriter{placeholder: placeholderKey}
	if tokens := policy.SplitPointer(cur.typePointer); len(tokens) > 0 && s.Overflow.OtherTypes == 0 && len(s.Types) > 0 {
		if n := find(s.Root, tokens); n != nil {
			w.typeNode = n
			for _, t := range s.Types {
				w.typeNames = append(w.typeNames, t.Name)
			}
		}
	}
	title := cur.title
	if title == "" {
		title = vendor
	}
	schemaDoc, err := w.document(s, title+" webhook event, drafted")
	if err != nil {
		return nil, err
	}
	head, err := cur.encode()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, file, err)
	}
	var pol bytes.Buffer
	writeHeader(&pol, s)
	pol.Write(head)
	writeRoutes(&pol, s, name, "/"+placeholderKey)

	d := &Draft{Vendor: vendor, SchemaName: name, PolicyPath: "policies/" + vendor + ".yaml",
		SchemaPath: "schemas/" + name, Policy: pol.Bytes(), Schema: schemaDoc}
	// The draft checks itself as `check` will: the policy parses, the schema compiles.
	p, problems := policy.Parse(d.PolicyPath, d.Policy)
	for _, pr := range problems {
		if !pr.Warning {
			return nil, fmt.Errorf("%w: %s", ErrInvalid, pr)
		}
		d.Warnings = append(d.Warnings, pr)
	}
	if p == nil || p.Schema != name {
		return nil, fmt.Errorf("%w: policy does not name schema %s", ErrInvalid, name)
	}
	set := schema.NewSet()
	set.Add(name, schemaDoc)
	if _, err := set.Compile(name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return d, nil
}

// Write writes the policy and the schema under dir (dir/policies/..., dir/schemas/...), so that
// `--policies dir/policies --schemas dir/schemas` loads them. It replaces existing files only when
// replace is true; else it fails with ErrExists before writing anything.
func (d *Draft) Write(dir string, replace bool) error {
	files := []struct {
		path string
		data []byte
	}{{filepath.Join(dir, filepath.FromSlash(d.PolicyPath)), d.Policy}, {filepath.Join(dir, filepath.FromSlash(d.SchemaPath)), d.Schema}}
	if !replace {
		for _, f := range files {
			if _, err := os.Stat(f.path); err == nil {
				return fmt.Errorf("%w: %s", ErrExists, f.path)
			}
		}
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return nil
}

// find follows pointer tokens through named members (not array elements).
func find(n *learn.Node, tokens []string) *learn.Node {
	for _, t := range tokens {
		if n == nil {
			return nil
		}
		n = n.Keys[t]
	}
	return n
}

// current is the vendor's current policy, as a YAML mapping to carry over.
type current struct {
	root        *yaml.Node // the mapping, without schema and routes
	title       string
	typePointer string
}

// readCurrent reads the current policy as YAML (not with policy.Parse, which a learn-mode policy
// without schema and routes may not pass) and fills in what it lacks.
func readCurrent(data []byte, vendor string) (*current, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	src := doc.Content[0]
	get := func(key string) (*yaml.Node, *yaml.Node) {
		for i := 0; i+1 < len(src.Content); i += 2 {
			if src.Content[i].Value == key {
				return src.Content[i], src.Content[i+1]
			}
		}
		return nil, nil
	}
	if _, v := get("vendor"); v == nil || v.Value != vendor {
		return nil, fmt.Errorf("it is not vendor %s's policy", vendor)
	}
	c := &current{root: &yaml.Node{Kind: yaml.MappingNode}}
	if _, v := get("title"); v != nil && v.Kind == yaml.ScalarNode {
		c.title = v.Value
	}
	if _, ev := get("event"); ev != nil && ev.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ev.Content); i += 2 {
			if ev.Content[i].Value == "type" {
				c.typePointer = ev.Content[i+1].Value
			}
		}
	}
	add := func(k, v *yaml.Node) { c.root.Content = append(c.root.Content, k, v) }
	placeholder := func(key, value, comment string) {
		add(&yaml.Node{Kind: yaml.ScalarNode, Value: key},
			&yaml.Node{Kind: yaml.ScalarNode, Value: value, LineComment: comment})
	}
	// The governance keys first, in the order of the hand-written policies; then the rest as it was.
	first := map[string]bool{}
	for _, key := range []string{"vendor", "title", "owner", "contact", "risk"} {
		first[key] = true
		k, v := get(key)
		if k != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
			add(k, v)
			continue
		}
		switch key {
		case "title":
			placeholder(key, Placeholder, "# what this sender is, in a few words")
		case "owner":
			placeholder(key, Placeholder, "# who reviews this integration")
		case "contact":
			placeholder(key, Placeholder, "# who to call in an incident")
		case "risk":
			placeholder(key, "high", "# TODO: low, medium or high; high until someone has looked")
		}
	}
	for i := 0; i+1 < len(src.Content); i += 2 {
		k := src.Content[i].Value
		if first[k] || k == "schema" || k == "routes" {
			continue
		}
		add(src.Content[i], src.Content[i+1])
	}
	return c, nil
}

// encode writes the carried-over mapping as block YAML.
func (c *current) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeHeader(b *bytes.Buffer, s *learn.Structure) {
	fmt.Fprintf(b, "# Drafted by `hookbridge draft %s` from %d learnt events (%d paths, %d event types).\n",
		s.Vendor, s.Events, s.CountPaths(), len(s.Types))
	b.WriteString("# It publishes nothing yet: each route below is a placeholder that every event skips.\n")
	b.WriteString("# Before going live: replace every TODO, list the fields each topic needs (learnt paths are\n")
	b.WriteString("# listed under each route), and run it in shadow mode first.\n")
	o := s.Overflow
	if o.Dropped > 0 {
		fmt.Fprintf(b, "# %d values were at paths past the learning limit and were not learnt: the schema leaves\n# their objects open.\n", o.Dropped)
	}
	if o.Deep > 0 {
		fmt.Fprintf(b, "# %d objects or arrays were nested past the learning depth: the schema leaves them open.\n", o.Deep)
	}
	if o.Folded > 0 {
		fmt.Fprintf(b, "# %d object keys looked like values (ids, numbers, dates) and are listed as {key}.\n", o.Folded)
	}
	if o.OtherTypes > 0 {
		fmt.Fprintf(b, "# %d events had an event type that is not listed (absent, identifier-like, or past the\n# limit on types): no route is drafted for them.\n", o.OtherTypes)
	}
}

// writeRoutes writes the schema key and the routes: every learnt path as a comment, then one
// placeholder route per event type with the fields a person may uncomment.
func writeRoutes(b *bytes.Buffer, s *learn.Structure, schemaName, placeholderPtr string) {
	paths := s.Paths()
	fmt.Fprintf(b, "schema: %s\n", yamlScalar(schemaName))
	b.WriteString("# Learnt paths: JSON types, in how many of the ")
	fmt.Fprintf(b, "%d events, and what the values looked like.\n", s.Events)
	b.WriteString("# Identifier-like paths are marked: publish them only as `pseudonymize: true`, or leave them out.\n")
	for _, p := range paths {
		if p.Pointer == "" {
			continue
		}
		fmt.Fprintf(b, "#   %s  %s\n", commentText(p.Pointer), describe(p, p.Node.Events, s.Events))
	}
	b.WriteString("routes:\n")
	for i, t := range s.Types {
		fmt.Fprintf(b, "  # Event type %s: %d of %d events.\n", commentText(t.Name), t.Events, s.Events)
		fmt.Fprintf(b, "  # Publishes nothing: the schema forbids %s, the topic needs it, so every event skips\n", placeholderPtr)
		b.WriteString("  # this route. Replace the TODO field and topic with the fields to publish.\n")
		fmt.Fprintf(b, "  - when: %s\n", strconv.QuoteToASCII(t.Name))
		fmt.Fprintf(b, "    topic: %s/{%s}\n", topicLevel(t.Name), Placeholder)
		b.WriteString("    qos: 1\n")
		b.WriteString("    fields:\n")
		fmt.Fprintf(b, "      %s: %s\n", Placeholder, placeholderPtr)
		fmt.Fprintf(b, "      # Fields of %s events (uncomment what the topic needs; in how many of its %d events):\n", commentText(t.Name), t.Events)
		var fields []learn.Path
		var array string // an array the type's events carry, for the hint
		for _, p := range paths {
			n := p.Node
			if p.Pointer == "" || p.InDynamic || n.TypeEvents(i) == 0 {
				continue
			}
			if n.Types&learn.TypeArray != 0 && !p.InArray && array == "" {
				array = p.Pointer
			}
			if p.InArray || n.Types&(learn.TypeObject|learn.TypeArray) != 0 {
				continue // objects and arrays: list their members instead
			}
			fields = append(fields, p)
		}
		names := fieldNames(fields)
		for j, p := range fields {
			n := p.Node
			from := yamlPointer(p.Pointer)
			line := fmt.Sprintf("%s: %s", names[j], from)
			if n.Kinds() != 0 || n.Personal {
				line = fmt.Sprintf("%s: {from: %s, pseudonymize: true}", names[j], from)
			}
			fmt.Fprintf(b, "      #   %s  # %s\n", line, describe(p, n.TypeEvents(i), t.Events))
		}
		if array != "" {
			fmt.Fprintf(b, "      # (an array's members: name one element, like %s/0, or the whole array, %s)\n",
				commentText(array), commentText(array))
		} else if len(fields) == 0 {
			b.WriteString("      # (no fields learnt outside arrays and objects keyed by values)\n")
		}
	}
	if len(s.Types) == 0 {
		// No event type was kept by name: one route for all, publishing nothing all the same.
		b.WriteString("  # No event type was learnt by name; this route takes every event and publishes nothing.\n")
		b.WriteString("  - when: \"*\"\n")
		fmt.Fprintf(b, "    topic: events/{%s}\n", Placeholder)
		b.WriteString("    qos: 1\n")
		b.WriteString("    fields:\n")
		fmt.Fprintf(b, "      %s: %s\n", Placeholder, placeholderPtr)
	}
}

// describe says what a path's values were like, without any value but qualified enum candidates.
func describe(p learn.Path, events, of uint64) string {
	n := p.Node
	var parts []string
	parts = append(parts, fmt.Sprintf("%s in %d/%d", typeNamesText(n.Types), events, of))
	if n.Strings > 0 {
		if f := n.Format(); f != 0 {
			parts = append(parts, f.String())
		}
		if vals := n.EnumValues(); vals != nil {
			quoted := make([]string, len(vals))
			for i, v := range vals {
				quoted[i] = commentText(v)
			}
			parts = append(parts, "one of "+strings.Join(quoted, ", "))
		} else if n.MinLen == n.MaxLen {
			parts = append(parts, fmt.Sprintf("length %d", n.MinLen))
		} else {
			parts = append(parts, fmt.Sprintf("length %d..%d", n.MinLen, n.MaxLen))
		}
	}
	if n.Min != nil && n.Max != nil {
		if *n.Min == *n.Max {
			parts = append(parts, "about "+num(*n.Min))
		} else {
			parts = append(parts, fmt.Sprintf("about %s..%s", num(*n.Min), num(*n.Max)))
		}
	}
	if k := n.Kinds(); k != 0 {
		how := []string{}
		if n.Identifier != 0 {
			how = append(how, n.Identifier.String()+" by name")
		}
		if n.IdentifierByValue != 0 {
			how = append(how, n.IdentifierByValue.String()+" by value")
		}
		advice := "pseudonymize or leave out"
		if !k.Pseudonymize() {
			advice = "leave out"
		}
		parts = append(parts, fmt.Sprintf("IDENTIFIER (%s): %s", strings.Join(how, "; "), advice))
	} else if p.InDynamic {
		parts = append(parts, "PERSONAL (under keys that look like ids or values): leave out or pseudonymize")
	} else if n.Personal {
		parts = append(parts, "PERSONAL (under a personal name): leave out or pseudonymize")
	}
	if n.Truncated {
		parts = append(parts, "not fully learnt (limits)")
	}
	return strings.Join(parts, ", ")
}

func typeNamesText(t learn.Types) string {
	return strings.Join(typeNames(t), "|")
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// commentText makes text safe inside a YAML comment: printable ASCII stays, anything else
// (line breaks of any kind included) is escaped.
func commentText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// yamlPointer writes a pointer as a YAML scalar: plain when it is made of safe characters, else
// double-quoted with ASCII escapes (which YAML reads as Go writes them).
func yamlPointer(p string) string {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/_.~-", c) >= 0) {
			return strconv.QuoteToASCII(p)
		}
	}
	return p
}

func yamlScalar(s string) string { return yamlPointer(s) }

// topicLevel turns an event type into one topic level: letters, digits, '.', '_' and '-' kept,
// anything else '-'.
func topicLevel(t string) string {
	b := []byte(t)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// fieldNames derives a route field name (letters, digits, _) for each path from its last token,
// taking more tokens for the paths whose names would clash ("/id" and "/data/user/id" become id
// and user_id). Placeholder is never one of them.
func fieldNames(paths []learn.Path) []string {
	names := make([]string, len(paths))
	used := make([]int, len(paths)) // tokens used per path
	for i := range paths {
		used[i] = 1
	}
	for round := 0; ; round++ {
		count := map[string]int{Placeholder: 1}
		for i, p := range paths {
			toks := p.Tokens
			k := min(used[i], len(toks))
			names[i] = sanitize(strings.Join(toks[len(toks)-k:], "_"))
			count[names[i]]++
		}
		clash := false
		for i, p := range paths {
			if count[names[i]] > 1 && used[i] < len(p.Tokens) {
				used[i]++
				clash = true
			}
		}
		if !clash || round > 64 {
			break
		}
	}
	// What still clashes (the same name from every token, or the placeholder) gets a number.
	taken := map[string]bool{Placeholder: true}
	for i := range names {
		name := names[i]
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("%s_%d", names[i], n)
			if len(name) > 64 {
				name = fmt.Sprintf("field_%d", n)
			}
		}
		names[i] = name
		taken[name] = true
	}
	return names
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	out := string(b)
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "f_" + out
	}
	if len(out) > 64 {
		out = out[len(out)-64:]
		if out[0] >= '0' && out[0] <= '9' {
			out = "f" + out[1:]
		}
	}
	return out
}
