package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookbridge/hookbridge/bridge/keyfile"
)

// KeyFile is the name of the audit trail's master key in the data dir: 32 random bytes in hex,
// readable by its owner only, written at the first start. It sits beside the trail's directory,
// never inside it: whoever is handed audit files (an export, a copy of the directory) does not get
// the key with them, and without it no record or MAC can be made that verify accepts.
//
// The key is Hookbridge's own, not derived from the pseudonym key: pseudonym_key may be a phrase
// a user typed into the options (and so shows in the Supervisor UI and in backups of the options),
// and a weak one must not also make the trail forgeable. Losing the key leaves the records readable
// and exportable, but no longer verifiable.
const KeyFile = "audit.key"

// ErrNoKey reports that the data dir holds no audit key, so the trail cannot be verified.
var ErrNoKey = errors.New("no audit key")

// Keys are the trail's keys, each derived from the master key under a domain of its own: the
// chain's record MACs, the head file's MAC, and the keyed digests of vendor secrets. A MAC or a
// digest reveals nothing of the key it was made with (HMAC-SHA256 with a 256-bit random key), so
// they may be shown; none of them can be made without the key.
type Keys struct {
	chain, head, secret []byte
}

// keyLen is the master key's length in bytes.
const keyLen = 32

// Domains of the derived keys.
const (
	domainChain  = "hookbridge audit chain v1"
	domainHead   = "hookbridge audit head v1"
	domainSecret = "hookbridge secret digest v1"
)

// NewKeys derives the keys from a master key of at least 16 bytes.
func NewKeys(master []byte) (*Keys, error) {
	if len(master) < 16 {
		return nil, errors.New("audit key shorter than 16 bytes")
	}
	derive := func(domain string) []byte {
		m := hmac.New(sha256.New, master)
		m.Write([]byte(domain))
		return m.Sum(nil)
	}
	return &Keys{chain: derive(domainChain), head: derive(domainHead), secret: derive(domainSecret)}, nil
}

// LoadKeys reads the keys from dataDir's KeyFile; ErrNoKey when there is none. It never creates
// one: verifying with a fresh key would only say that every record is forged.
func LoadKeys(dataDir string) (*Keys, error) {
	path := filepath.Join(dataDir, KeyFile)
	master, err := keyfile.Read(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w in %s", ErrNoKey, dataDir)
	case errors.Is(err, keyfile.ErrDamaged):
		return nil, fmt.Errorf("audit key %s is damaged; restore it from a backup", path)
	case err != nil:
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	return NewKeys(master)
}

// LoadOrCreateKeys reads the keys from dataDir's KeyFile, writing a new random one (mode 0600)
// when there is none; created says so.
func LoadOrCreateKeys(dataDir string) (k *Keys, created bool, err error) {
	k, err = LoadKeys(dataDir)
	if !errors.Is(err, ErrNoKey) {
		return k, false, err
	}
	master, err := keyfile.Create(filepath.Join(dataDir, KeyFile), keyLen)
	if err != nil {
		return nil, false, fmt.Errorf("write audit key: %w", err)
	}
	k, err = NewKeys(master)
	return k, true, err
}

// SecretDigest returns the keyed digest by which a vendor's secret is known in the trail (and may
// be shown anywhere): 32 hex digits of HMAC-SHA256 under the secret-digest key, over the vendor's
// name and the secret. Never the secret and never a plain hash of it: a plain hash of a short or
// guessable secret (a bearer token, a password) could be tested against guesses by whoever reads
// it; this one only by whoever holds the key. The same secret gives different digests for
// different vendors.
func (k *Keys) SecretDigest(vendor, secret string) string {
	m := hmac.New(sha256.New, k.secret)
	writePart(m, vendor)
	writePart(m, secret)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// writePart writes s with its length first, so that parts cannot run into each other.
func writePart(w interface{ Write([]byte) (int, error) }, s string) {
	n := len(s)
	w.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	w.Write([]byte(s))
}

// Hash returns the SHA-256 of a document that is not secret (a policy, a schema), in hex: how
// the trail tells that one changed between two starts.
func Hash(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}
