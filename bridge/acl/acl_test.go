package acl_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/acl"
)

func TestMatches(t *testing.T) {
	tests := []struct {
		name    string
		filters []string
		topic   string
		want    bool
	}{
		{"exact", []string{"a/b/c"}, "a/b/c", true},
		{"exact differs", []string{"a/b/c"}, "a/b/d", false},
		{"shorter topic", []string{"a/b/c"}, "a/b", false},
		{"longer topic", []string{"a/b/c"}, "a/b/c/d", false},
		{"plus one level", []string{"a/+/c"}, "a/x/c", true},
		{"plus empty level", []string{"a/+/c"}, "a//c", true},
		{"plus not two levels", []string{"a/+/c"}, "a/x/y/c", false},
		{"plus last", []string{"a/+"}, "a/x", true},
		{"plus last not parent", []string{"a/+"}, "a", false},
		{"hash below", []string{"a/#"}, "a/b/c", true},
		{"hash parent level", []string{"a/#"}, "a", true},
		{"hash not sibling", []string{"a/#"}, "ab", false},
		{"hash not other root", []string{"a/#"}, "b/a", false},
		{"hash alone", []string{"#"}, "x/y", true},
		{"plus then hash", []string{"+/#"}, "x", true},
		{"second filter", []string{"x", "a/b"}, "a/b", true},
		{"none", []string{"x", "y"}, "a", false},
		{"no filters", nil, "a", false},
		{"hash never $SYS", []string{"#"}, "$SYS/broker/load", false},
		{"plus never $SYS", []string{"+/broker/load"}, "$SYS/broker/load", false},
		{"plus hash never $SYS", []string{"+/#"}, "$SYS", false},
		{"literal $SYS", []string{"$SYS/broker/load"}, "$SYS/broker/load", true},
		{"$SYS hash", []string{"$SYS/#"}, "$SYS/broker", true},
		{"$ below first level", []string{"a/+"}, "a/$x", true},
		{"$ below first level hash", []string{"a/#"}, "a/$x/y", true},
		{"empty topic", []string{"#"}, "", false},
		{"wildcard in topic", []string{"#"}, "a/+", false},
		{"hash in topic", []string{"a/#"}, "a/#", false},
		{"leading slash", []string{"/a"}, "/a", true},
		{"leading slash plus", []string{"+/a"}, "/a", true},
		{"trailing slash", []string{"a/+"}, "a/", true},
		{"case sensitive", []string{"A"}, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := acl.NewFilters(tt.filters...)
			if got := f.Matches(tt.topic); got != tt.want {
				t.Errorf("NewFilters(%q).Matches(%q) = %v, want %v", tt.filters, tt.topic, got, tt.want)
			}
		})
	}
}

var coversTests = []struct {
	name    string
	filters []string
	sub     string
	want    bool
}{
	{"exact", []string{"hb/acme/locks/x/state"}, "hb/acme/locks/x/state", true},
	{"sibling topic", []string{"hb/acme/locks/x/state"}, "hb/acme/locks/y/state", false},
	{"sibling vendor", []string{"hb/acme/#"}, "hb/other/locks", false},
	{"parent topic", []string{"hb/acme/locks/x/state"}, "hb/acme/locks/x", false},
	{"child topic", []string{"hb/acme/locks/x"}, "hb/acme/locks/x/state", false},
	{"plus covers literal", []string{"hb/acme/locks/+/state"}, "hb/acme/locks/x/state", true},
	{"plus covers plus", []string{"hb/acme/locks/+/state"}, "hb/acme/locks/+/state", true},
	{"broader plus refused", []string{"hb/acme/locks/x/state"}, "hb/acme/locks/+/state", false},
	{"plus refused at other level", []string{"hb/acme/locks/+/state"}, "hb/acme/+/x/state", false},
	{"hash refused", []string{"hb/acme/locks/+/state"}, "hb/acme/locks/#", false},
	{"hash refused under plus", []string{"hb/acme/locks/+/state"}, "hb/acme/locks/+/#", false},
	{"hash granted", []string{"hb/acme/#"}, "hb/acme/#", true},
	{"hash covers deeper hash", []string{"hb/acme/#"}, "hb/acme/locks/#", true},
	{"hash covers plus", []string{"hb/acme/#"}, "hb/acme/+/+/state", true},
	{"hash covers parent level", []string{"a/#"}, "a", true},
	{"hash does not cover grandparent", []string{"a/b/#"}, "a", false},
	{"hash does not cover broader hash", []string{"a/b/#"}, "a/#", false},
	{"plus hash does not cover parent", []string{"a/+/#"}, "a", false},
	{"plus hash covers children", []string{"a/+/#"}, "a/+", true},
	{"union: parent and plus hash", []string{"a", "a/+/#"}, "a/#", true},
	{"union: parent, plus and deeper", []string{"a", "a/+", "a/+/+/#", "a/+/+"}, "a/#", true},
	{"union: deeper hash covers its parent", []string{"a", "a/+", "a/+/+/#"}, "a/#", true},
	{"union with a gap", []string{"a", "a/+/+/#"}, "a/#", false},
	{"union without the parent", []string{"a/+", "a/+/#"}, "a/#", false},
	{"union: two literals for one plus refused", []string{"a/x", "a/y"}, "a/+", false},
	{"union: plus and literal", []string{"a/x/#", "a/+/s"}, "a/+/s", true},
	{"union: literal and plus at different levels", []string{"a/x/+", "a/+/y"}, "a/x/y", true},
	{"union of literals covers literal", []string{"a/x", "a/y"}, "a/y", true},
	{"union needed for plus", []string{"a/+/s", "a/+/t"}, "a/+/+", false},
	{"hash alone", []string{"#"}, "anything/at/all", true},
	{"hash alone covers hash", []string{"#"}, "#", true},
	{"hash alone covers plus", []string{"#"}, "+", true},
	{"plus hash covers hash", []string{"+/#"}, "#", true},
	{"plus does not cover hash", []string{"+"}, "#", false},
	{"plus covers plus", []string{"+"}, "+", true},
	{"plus plus does not cover plus", []string{"+/+"}, "+", false},
	{"no filters", nil, "a", false},
	{"empty sub", []string{"#"}, "", false},
	{"$SYS not by hash", []string{"#"}, "$SYS/#", false},
	{"$SYS literal not by hash", []string{"#"}, "$SYS/broker/load", false},
	{"$SYS not by plus hash", []string{"+/#"}, "$SYS/broker", false},
	{"$SYS not by plus", []string{"+"}, "$SYS", false},
	{"$SYS not by plus level", []string{"+/broker/load"}, "$SYS/broker/load", false},
	{"$SYS granted literally", []string{"$SYS/#"}, "$SYS/broker/load", true},
	{"$SYS granted, wildcard elsewhere", []string{"#", "$SYS/broker/+"}, "$SYS/broker/load", true},
	{"$ below the first level", []string{"a/#"}, "a/$x/y", true},
	{"empty level", []string{"a/+/c"}, "a//c", true},
	{"leading slash", []string{"+/a"}, "/a", true},
	{"leading slash not by literal", []string{"a"}, "/a", false},
}

func TestCovers(t *testing.T) {
	for _, tt := range coversTests {
		t.Run(tt.name, func(t *testing.T) {
			f := acl.NewFilters(tt.filters...)
			if got := f.Covers(tt.sub); got != tt.want {
				t.Errorf("NewFilters(%q).Covers(%q) = %v, want %v", tt.filters, tt.sub, got, tt.want)
			}
			if got := brute(tt.filters, tt.sub); got != tt.want {
				t.Errorf("brute(%q, %q) = %v, want %v (the test's reference disagrees)", tt.filters, tt.sub, got, tt.want)
			}
		})
	}
}

func TestSplitShared(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"a/b", "a/b", true},
		{"#", "#", true},
		{"$share/g/a/b", "a/b", true},
		{"$share/g/#", "#", true},
		{"$share/g/$SYS/#", "$SYS/#", true},
		{"$share/group-1/hb/acme/+/state", "hb/acme/+/state", true},
		{"$share/g", "", false},
		{"$share/g/", "", false},
		{"$share//a", "", false},
		{"$share/", "", false},
		{"$share/g+/a", "", false},
		{"$share/#/a", "", false},
		{"$share/+/a", "", false},
		{"$SHARE/g/a", "$SHARE/g/a", true},
		{"$sharex/g/a", "$sharex/g/a", true},
		{"$SYS/#", "$SYS/#", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := acl.SplitShared(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("SplitShared(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLen(t *testing.T) {
	if got := acl.NewFilters().Len(); got != 0 {
		t.Errorf("NewFilters().Len() = %d, want 0", got)
	}
	if got := acl.NewFilters("a", "b/#").Len(); got != 2 {
		t.Errorf("NewFilters(a, b/#).Len() = %d, want 2", got)
	}
}

// refMatch is the MQTT matching rule written as plainly as possible, independent of acl.
func refMatch(filter, topic []string) bool {
	if len(topic) > 0 && strings.HasPrefix(topic[0], "$") && (filter[0] == "+" || filter[0] == "#") {
		return false
	}
	var rec func(f, t []string) bool
	rec = func(f, t []string) bool {
		switch {
		case len(f) == 0:
			return len(t) == 0
		case f[0] == "#":
			return true // this level's parent, and anything below it
		case len(t) == 0:
			return false
		case f[0] == "+" || f[0] == t[0]:
			return rec(f[1:], t[1:])
		}
		return false
	}
	return rec(filter, topic)
}

// brute decides containment by enumeration. It is exact for these reasons:
//   - Filters only ever compare a topic level for equality with their literals (and '$' matters in
//     the first level), so every level value that no filter names behaves like every other such
//     value of the same '$'-ness. The alphabet is therefore the literals used, plus one fresh value
//     and one fresh '$' value: "f" and "$f" below, primed until no filter names them (an empty
//     level is just another fresh value unless a filter names it).
//   - With M the most levels of any filter (sub included), a topic of more than M+1 levels is
//     matched by a filter exactly when its first M+1 levels are: only a '#' filter can match a topic
//     longer than itself, and it looks at its first len-1 levels only. So topics of 1..M+1 levels
//     stand for all topics.
//
// Covers(sub) must then be: every enumerated topic that sub matches is matched by some filter.
func brute(filters []string, sub string) bool {
	if sub == "" {
		return false
	}
	split := func(s string) []string { return strings.Split(s, "/") }
	alphabet := map[string]bool{}
	maxLen := 0
	var fs [][]string
	for _, s := range append([]string{sub}, filters...) {
		levels := split(s)
		maxLen = max(maxLen, len(levels))
		for _, l := range levels {
			if l != "+" && l != "#" {
				alphabet[l] = true
			}
		}
	}
	for _, s := range filters {
		fs = append(fs, split(s))
	}
	for _, fresh := range []string{"f", "$f"} {
		for alphabet[fresh] {
			fresh += "'"
		}
		alphabet[fresh] = true
	}
	var values []string
	for v := range alphabet {
		values = append(values, v)
	}
	sl := split(sub)
	ok := true
	var walk func(topic []string)
	walk = func(topic []string) {
		if !ok {
			return
		}
		if len(topic) > 0 && refMatch(sl, topic) {
			matched := false
			for _, f := range fs {
				if refMatch(f, topic) {
					matched = true
					break
				}
			}
			if !matched {
				ok = false
				return
			}
		}
		if len(topic) == maxLen+1 {
			return
		}
		for _, v := range values {
			walk(append(topic[:len(topic):len(topic)], v))
		}
	}
	walk(nil)
	return ok
}

// randomFilter returns a valid filter over a tiny alphabet: 1 to 3 levels of a, b, $s or '+', the
// last possibly '#'.
func randomFilter(r *rand.Rand) string {
	n := 1 + r.IntN(3)
	levels := make([]string, n)
	for i := range levels {
		switch r.IntN(5) {
		case 0:
			levels[i] = "a"
		case 1:
			levels[i] = "b"
		case 2:
			levels[i] = "$s"
		default:
			levels[i] = "+"
		}
	}
	if r.IntN(3) == 0 {
		levels[n-1] = "#"
	}
	return strings.Join(levels, "/")
}

func TestCoversBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	trials := 20000
	if testing.Short() {
		trials = 2000
	}
	agreedTrue := 0
	for range trials {
		filters := make([]string, r.IntN(5))
		for i := range filters {
			filters[i] = randomFilter(r)
		}
		sub := randomFilter(r)
		want := brute(filters, sub)
		if got := acl.NewFilters(filters...).Covers(sub); got != want {
			t.Fatalf("NewFilters(%q).Covers(%q) = %v, want %v", filters, sub, got, want)
		}
		if want {
			agreedTrue++
		}
	}
	// The trials must exercise both answers, or the check proves little.
	if agreedTrue < trials/20 || agreedTrue > trials-trials/20 {
		t.Errorf("%d of %d trials were covered, want a mix", agreedTrue, trials)
	}
}

func TestMatchesAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []string{"a", "b", "$s", "", "c"}
	for range 20000 {
		filters := make([]string, 1+r.IntN(3))
		for i := range filters {
			filters[i] = randomFilter(r)
		}
		levels := make([]string, 1+r.IntN(4))
		for i := range levels {
			levels[i] = values[r.IntN(len(values))]
		}
		topic := strings.Join(levels, "/")
		if topic == "" {
			continue
		}
		want := false
		for _, f := range filters {
			want = want || refMatch(strings.Split(f, "/"), levels)
		}
		if got := acl.NewFilters(filters...).Matches(topic); got != want {
			t.Fatalf("NewFilters(%q).Matches(%q) = %v, want %v", filters, topic, got, want)
		}
	}
}

// validFilter reports whether s is a syntactically valid MQTT topic filter.
func validFilter(s string) bool {
	if s == "" || strings.ContainsRune(s, 0) {
		return false
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && l != "+" && l != "#" {
			return false
		}
		if l == "#" && i != len(levels)-1 {
			return false
		}
	}
	return true
}

// FuzzCovers checks that for a literal filter (a topic name) Covers and Matches agree, and that
// every valid filter of a set covers itself.
func FuzzCovers(f *testing.F) {
	for _, tt := range coversTests {
		f.Add(strings.Join(tt.filters, "\n"), tt.sub)
	}
	f.Add("a/+\n$SYS/#", "$SYS/x")
	f.Fuzz(func(t *testing.T, list, topic string) {
		var filters []string
		for _, s := range strings.Split(list, "\n") {
			if validFilter(s) {
				filters = append(filters, s)
			}
		}
		set := acl.NewFilters(filters...)
		for _, s := range filters {
			if !set.Covers(s) {
				t.Fatalf("NewFilters(%q).Covers(%q) = false, want true (a filter of the set)", filters, s)
			}
		}
		if topic == "" || strings.ContainsAny(topic, "+#\x00") {
			return
		}
		if c, m := set.Covers(topic), set.Matches(topic); c != m {
			t.Fatalf("NewFilters(%q): Covers(%q) = %v, Matches = %v, want equal", filters, topic, c, m)
		}
		if small(filters, topic) {
			if got, want := set.Covers(topic), brute(filters, topic); got != want {
				t.Fatalf("NewFilters(%q).Covers(%q) = %v, want %v", filters, topic, got, want)
			}
		}
	})
}

// small reports whether brute can enumerate the topics of a fuzz case quickly.
func small(filters []string, sub string) bool {
	literals := map[string]bool{}
	for _, s := range append([]string{sub}, filters...) {
		levels := strings.Split(s, "/")
		if len(levels) > 4 {
			return false
		}
		for _, l := range levels {
			literals[l] = true
		}
	}
	return len(literals) <= 5
}
