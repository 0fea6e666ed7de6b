package audit

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"
)

// Action is a record of something a person or Hookbridge did, beside the webhook records: a kill
// switch changed, an incident's step, a secret, policy or schema that changed between starts, a
// retention purge. It goes into the vendor's chain (noVendorDir's when Vendor is empty), sealed like
// any record.
//
// No field may hold personal data or a secret: Kind, By and What are fixed words, Detail is built
// from fixed words, configuration (a vendor's name, a kill switch's reason) and counts, Digest is a
// keyed digest of a secret (Keys.SecretDigest) or the Hash of a document that is not secret.
type Action struct {
	Time time.Time `json:"time"`
	// Kind is what the record is about: KindKillSwitch, KindIncident, KindSecret, ...
	Kind   string `json:"kind"`
	Vendor string `json:"vendor,omitempty"`
	// By is who acted: an interface a person used (api, status_page, mqtt), anomaly, option,
	// hookbridge (noticed by Hookbridge itself) or retention.
	By string `json:"by"`
	// What is what happened, a word of the kind's (disabled, acknowledged, changed, ...).
	What   string `json:"what"`
	Detail string `json:"detail,omitempty"`
	// Digest identifies what changed: a secret's keyed digest, a policy's or schema's hash; Was
	// is the one before, for a change.
	Digest string `json:"digest,omitempty"`
	Was    string `json:"was,omitempty"`

	// A purge checkpoint (KindPurge) says how many records went, the time range they covered, and
	// the seq and MAC of the last one: the record its chain continues from.
	Purged  int       `json:"purged,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	LastSeq uint64    `json:"last_seq,omitempty"`
	LastMAC string    `json:"last_mac,omitempty"`
}

// Kinds of Action.
const (
	KindKillSwitch = "killswitch" // a vendor's mode changed; What is the new mode, Detail the reason
	KindIncident   = "incident"   // a step of an incident: What is a killswitch milestone
	KindSecret     = "secret"     // a vendor secret seen, added or removed (Digest)
	KindPolicy     = "policy"     // a vendor's policy seen or changed (Digest, Was)
	KindSchema     = "schema"     // a vendor's schema seen or changed (Digest, Was)
	KindVendor     = "vendor"     // a vendor added to or removed from the configuration
	KindAdmin      = "admin"      // another admin action (sessions dropped, offboarding, ...)
	KindPurge      = "purge"      // a retention purge's checkpoint
	KindChain      = "chain"      // the chain itself: records found removed at start, a changed head
)

// Who acted, besides the kill switch's sources (killswitch.ByAPI, ByStatusPage, ByMQTT,
// ByOption, ByAnomaly).
const (
	ByHookbridge = "hookbridge" // noticed by Hookbridge, at start
	ByRetention  = "retention"  // the retention purge
)

// Words of What that this package writes.
const (
	WhatFirstSeen   = "first_seen" // the first start with a chained trail saw it
	WhatAdded       = "added"
	WhatRemoved     = "removed"
	WhatChanged     = "changed"
	WhatPurged      = "purged"
	WhatGap         = "gap"          // a chain ended before its head at start: Verify reports it
	WhatHeadChanged = "head_changed" // the head file did not match its MAC at start: Verify reports it
)

// AppendJSON appends the action's JSON encoding.
func (a *Action) AppendJSON(b []byte) []byte {
	data, _ := json.Marshal(a) // cannot fail: plain fields
	return append(b, data...)
}

// ErrAction reports an Action without a kind or without what happened.
var ErrAction = errors.New("audit action needs a kind and what happened")

// Note appends an action record to the trail and writes it through to disk before it returns:
// such records are few, and each matters. A zero Time is now.
func (l *Log) Note(a Action) error {
	if a.Kind == "" || a.What == "" {
		return ErrAction
	}
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	a.Time = a.Time.UTC()
	if err := l.Append(a.Time, a.Vendor, a.AppendJSON(nil)); err != nil {
		return err
	}
	return l.Flush()
}

// NoteConfig compares the vendors' configuration with the one the previous start saw, records
// each difference, and remembers this one (in the head) for the next start: a vendor added or
// removed, a policy or schema changed (by hash), a secret added or removed (by keyed digest). On
// a trail that remembers none (the first start), every vendor's policy, schema and secrets are
// recorded as first seen. It returns how many records it wrote.
func (l *Log) NoteConfig(now time.Time, cfg map[string]VendorConfig) (int, error) {
	l.mu.Lock()
	old, had := l.config, l.hasConfig
	l.mu.Unlock()
	cfg = normalizeConfig(cfg)

	var notes []Action
	note := func(kind, vendor, what, digest, was string) {
		notes = append(notes, Action{Time: now, Kind: kind, Vendor: vendor, By: ByHookbridge, What: what,
			Digest: digest, Was: was, Detail: "noticed at start"})
	}
	names := map[string]bool{}
	for v := range old {
		names[v] = true
	}
	for v := range cfg {
		names[v] = true
	}
	sorted := make([]string, 0, len(names))
	for v := range names {
		sorted = append(sorted, v)
	}
	sort.Strings(sorted)
	for _, v := range sorted {
		o, wasThere := old[v]
		n, isThere := cfg[v]
		switch {
		case !isThere:
			note(KindVendor, v, WhatRemoved, "", "")
			continue
		case !had:
			for _, d := range []struct{ kind, digest string }{{KindPolicy, n.Policy}, {KindSchema, n.Schema}} {
				if d.digest != "" {
					note(d.kind, v, WhatFirstSeen, d.digest, "")
				}
			}
			for _, s := range n.Secrets {
				note(KindSecret, v, WhatFirstSeen, s, "")
			}
			continue
		case !wasThere:
			note(KindVendor, v, WhatAdded, "", "")
		}
		for _, d := range []struct{ kind, now, was string }{{KindPolicy, n.Policy, o.Policy}, {KindSchema, n.Schema, o.Schema}} {
			switch {
			case d.now == d.was:
			case d.was == "":
				note(d.kind, v, WhatAdded, d.now, "")
			case d.now == "":
				note(d.kind, v, WhatRemoved, "", d.was)
			default:
				note(d.kind, v, WhatChanged, d.now, d.was)
			}
		}
		for _, s := range n.Secrets {
			if !slices.Contains(o.Secrets, s) {
				note(KindSecret, v, WhatAdded, s, "")
			}
		}
		for _, s := range o.Secrets {
			if !slices.Contains(n.Secrets, s) {
				note(KindSecret, v, WhatRemoved, s, "")
			}
		}
	}
	for _, a := range notes {
		a.Time = a.Time.UTC()
		if err := l.Append(a.Time, a.Vendor, a.AppendJSON(nil)); err != nil {
			return 0, err
		}
	}
	l.mu.Lock()
	l.config, l.hasConfig, l.headDirty = cfg, true, true
	l.mu.Unlock()
	return len(notes), l.Flush()
}

// normalizeConfig returns cfg with each vendor's secret digests sorted and deduplicated, never
// nil.
func normalizeConfig(cfg map[string]VendorConfig) map[string]VendorConfig {
	out := make(map[string]VendorConfig, len(cfg))
	for v, c := range cfg {
		c.Secrets = slices.Compact(slices.Sorted(slices.Values(c.Secrets)))
		out[v] = c
	}
	return out
}
