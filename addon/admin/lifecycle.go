package admin

import (
	"time"

	"github.com/hookbridge/hookbridge/bridge/audit"
)

// Lifecycle is what the inventory and the status page show of each vendor's lifecycle beside its
// policy and state: its secrets, known by keyed digest only, with their age and last use; when it
// last had an event accepted and whether it went silent; and whether it was offboarded. The
// composition root implements it; nil shows none of it.
type Lifecycle interface {
	// Secrets returns the vendor's secrets, in the order the options give them.
	Secrets(vendor string) []SecretInfo
	// Activity returns the vendor's rotation and silence state; nil when it is not tracked
	// (offboarded).
	Activity(vendor string) *Activity
	// Offboarded returns what offboarding the vendor did, nil when it was not offboarded.
	Offboarded(vendor string) *Offboarding
}

// SecretInfo is one of a vendor's secrets as the inventory shows it: never the secret, never a
// plain hash of it, only the start of its keyed digest (the one the audit trail records).
type SecretInfo struct {
	// Digest is the first DigestPrefix hex digits of the secret's keyed digest.
	Digest string `json:"digest"`
	// Key is where the options hold it: secret, previous_secret, or secrets[i] in 0.1's list.
	Key string `json:"key"`
	// FirstSeen is when a start first found it in the options; AgeDays counts whole days since.
	FirstSeen  time.Time `json:"first_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	AgeDays    int       `json:"age_days"`
	// FirstVerified and LastVerified are when it first and last verified a webhook; nil when it
	// never did.
	FirstVerified *time.Time `json:"first_verified,omitempty"`
	LastVerified  *time.Time `json:"last_verified,omitempty"`
	// Newest reports the vendor's newest secret (first seen last; between two seen at once, secret
	// over previous_secret, a later entry of 0.1's list over an earlier one); RotationDue, that
	// it is older than the policy's rotate_after.
	Newest      bool `json:"newest"`
	RotationDue bool `json:"rotation_due"`
	// ReadyToRemove reports an older secret that has verified nothing since a newer one did:
	// the vendor has switched. ReadySince is since when (its last use, or the newer one's first,
	// whichever is later), ReadyForSeconds how long ago that is.
	ReadyToRemove   bool       `json:"ready_to_remove"`
	ReadySince      *time.Time `json:"ready_since,omitempty"`
	ReadyForSeconds float64    `json:"ready_for_seconds,omitempty"`
}

// DigestPrefix is how many hex digits of a secret's keyed digest the inventory shows.
const DigestPrefix = 12

// ShortDigest returns the start of a keyed digest that the inventory shows.
func ShortDigest(d string) string { return d[:min(len(d), DigestPrefix)] }

// Activity is a vendor's rotation and silence state.
type Activity struct {
	// RotateAfter is the policy's rotate_after (365d by default); RotationDue reports that the
	// newest secret is older.
	RotateAfter string `json:"rotate_after"`
	RotationDue bool   `json:"rotation_due"`
	// LastAccepted is when an event of the vendor was last accepted (kept across restarts).
	LastAccepted *time.Time `json:"last_accepted,omitempty"`
	// ExpectEvery is the policy's expect_every, "" when it sets none; Silent reports that no event
	// was accepted for that long (while the vendor was enabled), since SilentSince.
	ExpectEvery string     `json:"expect_every,omitempty"`
	Silent      bool       `json:"silent"`
	SilentSince *time.Time `json:"silent_since,omitempty"`
}

// Offboarding is what offboarding a vendor did: when, by whom, and how many of each thing it
// removed (retained and queued messages, relay records, replay records, entities, ...).
type Offboarding struct {
	Vendor  string         `json:"vendor"`
	At      time.Time      `json:"at"`
	By      string         `json:"by"`
	Removed map[string]int `json:"removed"`
	// Notes say what offboarding could not remove itself, in general terms.
	Notes []string `json:"notes,omitempty"`
}

// Notes records what people did on the admin listener in the audit trail (audit.KindAdmin): a
// device's sessions dropped. Acknowledgements and kill switch changes are recorded as incident
// and kill switch steps, where the switches report them.
type Notes interface {
	Note(a audit.Action) error
}
