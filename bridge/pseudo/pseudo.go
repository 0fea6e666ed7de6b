// Package pseudo replaces identifiers with keyed pseudonyms: HMAC-SHA256 tokens that are stable for
// one (key, vendor, value), so a device can correlate events without learning the identifier, and
// that differ between vendors, so two partners' tokens cannot be joined.
package pseudo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"

	"github.com/hookbridge/hookbridge/bridge/keyfile"
)

// KeyLen is the length in bytes of a generated key.
const KeyLen = 32

// TokenLen is the length in characters of a token: 128 bits in hex.
const TokenLen = 32

// Pseudonymizer computes tokens. It is safe for concurrent use.
type Pseudonymizer struct {
	pool sync.Pool // of hash.Hash keyed with the secret key
}

// New returns a Pseudonymizer for a secret key.
func New(key []byte) (*Pseudonymizer, error) {
	if len(key) < 16 {
		return nil, errors.New("pseudonym key shorter than 16 bytes")
	}
	k := append([]byte(nil), key...)
	p := &Pseudonymizer{}
	p.pool.New = func() any { return hmac.New(sha256.New, k) }
	return p, nil
}

// Domains separate what a token stands for, so an event id and a device id with the same text get
// different tokens.
const (
	DomainField = "field"
	DomainEvent = "event"
)

// Token returns the pseudonym of value for a vendor in a domain.
func (p *Pseudonymizer) Token(domain, vendor, value string) string {
	var buf [TokenLen]byte
	return string(p.AppendToken(buf[:0], domain, vendor, value))
}

// AppendToken appends the pseudonym of value to dst.
func (p *Pseudonymizer) AppendToken(dst []byte, domain, vendor, value string) []byte {
	h := p.pool.Get().(hash.Hash)
	h.Reset()
	// Length-prefixed parts, so ("a", "bc") and ("ab", "c") never collide.
	writePart(h, domain)
	writePart(h, vendor)
	writePart(h, value)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	p.pool.Put(h)
	return hex.AppendEncode(dst, sum[:TokenLen/2])
}

func writePart(h hash.Hash, s string) {
	n := len(s)
	h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	h.Write([]byte(s))
}

// LoadOrCreateKey returns the key to use: the configured one when set, else the one kept in
// dir/pseudonym.key, created with fresh random bytes (mode 0600) on first use.
func LoadOrCreateKey(configured, dir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dir, "pseudonym.key")
	k, err := keyfile.Read(path)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, keyfile.ErrDamaged):
		return nil, fmt.Errorf("pseudonym key %s is damaged; restore it from a backup (new tokens would not match old ones)", path)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read pseudonym key: %w", err)
	}
	k, err = keyfile.Create(path, KeyLen)
	if err != nil {
		return nil, fmt.Errorf("write pseudonym key: %w", err)
	}
	return k, nil
}
