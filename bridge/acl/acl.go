// Package acl decides what an MQTT account may read and write on the embedded broker.
//
// Rules are topic filters. A subscription is allowed only when every topic it could ever match is
// matched by some allowed filter (containment, checked exactly, across several filters); a delivery
// is allowed when its topic matches an allowed filter. Nothing is allowed by default.
package acl

import "strings"

// Filters is a set of MQTT topic filters, each split into levels.
type Filters struct {
	filters [][]string
}

// NewFilters builds a set from absolute filters.
func NewFilters(filters ...string) Filters {
	f := Filters{}
	for _, s := range filters {
		f.filters = append(f.filters, strings.Split(s, "/"))
	}
	return f
}

// Len returns the number of filters.
func (f Filters) Len() int { return len(f.filters) }

// Matches reports whether a concrete topic name is matched by some filter. Topics starting with '$'
// are never matched by a wildcard in the first level (MQTT 4.7.2).
func (f Filters) Matches(topic string) bool {
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return false
	}
	levels := strings.Split(topic, "/")
	for _, flt := range f.filters {
		if matchLevels(flt, levels) {
			return true
		}
	}
	return false
}

func matchLevels(flt, topic []string) bool {
	for i, fl := range flt {
		if fl == "#" {
			return !(i == 0 && strings.HasPrefix(topic[0], "$"))
		}
		if i >= len(topic) {
			return false
		}
		if fl == "+" {
			if i == 0 && strings.HasPrefix(topic[0], "$") {
				return false
			}
			continue
		}
		if fl != topic[i] {
			return false
		}
	}
	return len(flt) == len(topic)
}

// Covers reports whether every topic the filter sub can match is matched by some filter of the set.
// sub must be a syntactically valid filter.
func (f Filters) Covers(sub string) bool {
	if sub == "" {
		return false
	}
	levels := strings.Split(sub, "/")
	cands := f.filters
	if strings.HasPrefix(levels[0], "$") {
		// A wildcard in the first level never matches a '$' topic (MQTT 4.7.2), so it cannot
		// cover one either.
		cands = nil
		for _, c := range f.filters {
			if c[0] != "+" && c[0] != "#" {
				cands = append(cands, c)
			}
		}
	}
	return covers(levels, 0, cands)
}

// covers decides containment level by level. At level i, cands are the filters that can still
// match every topic that sub's levels before i allow.
func covers(sub []string, i int, cands [][]string) bool {
	if len(cands) == 0 {
		return false
	}
	for _, c := range cands {
		if i < len(c) && c[i] == "#" {
			return true // matches this level's parent and everything below
		}
	}
	if i == len(sub) {
		// Topics end here: some candidate must end here too.
		for _, c := range cands {
			if len(c) == i {
				return true
			}
		}
		return false
	}
	switch s := sub[i]; s {
	case "#":
		return coversRest(i, cands)
	case "+":
		// Any value, including one no filter names: only '+' levels cover them all.
		var next [][]string
		for _, c := range cands {
			if i < len(c) && c[i] == "+" {
				next = append(next, c)
			}
		}
		return covers(sub, i+1, next)
	default:
		var next [][]string
		for _, c := range cands {
			if i < len(c) && (c[i] == "+" || c[i] == s) {
				next = append(next, c)
			}
		}
		return covers(sub, i+1, next)
	}
}

// coversRest reports whether the candidates cover a trailing '#' at level i: the topic ending at
// level i-1 (there is none when i is 0: a topic has at least one level) and every topic with more
// levels. Lacking a '#' of their own, they must end exactly at i-1 and cover any fresh value at level
// i (only '+' does) followed again by anything.
func coversRest(i int, cands [][]string) bool {
	endsHere := false
	var next [][]string
	for _, c := range cands {
		if i < len(c) && c[i] == "#" {
			return true
		}
		if len(c) == i {
			endsHere = true
		}
		if i < len(c) && c[i] == "+" {
			next = append(next, c)
		}
	}
	return (endsHere || i == 0) && len(next) > 0 && coversRest(i+1, next)
}

// SplitShared returns the filter of a "$share/{group}/{filter}" subscription, or the filter itself.
// ok is false for a malformed shared subscription.
func SplitShared(filter string) (string, bool) {
	rest, shared := strings.CutPrefix(filter, "$share/")
	if !shared {
		return filter, true
	}
	group, f, found := strings.Cut(rest, "/")
	if !found || group == "" || f == "" || strings.ContainsAny(group, "+#") {
		return "", false
	}
	return f, true
}
