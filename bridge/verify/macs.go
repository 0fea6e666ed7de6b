package verify

import (
	"crypto/hmac"
	"crypto/sha256"
)

// macs computes HMAC-SHA256 under each of a vendor's keys.
type macs struct {
	keys [][]byte
}

func newMACs(keys []Key) macs {
	m := macs{keys: make([][]byte, 0, len(keys))}
	for _, k := range keys {
		m.keys = append(m.keys, k.MAC)
	}
	return m
}

// match reports whether any key's MAC over the parts equals one of the candidate MACs. Every
// candidate is compared with every key, in constant time, without stopping early on a key.
func (m macs) match(candidates [][]byte, parts ...[]byte) bool {
	ok := false
	for _, k := range m.keys {
		h := hmac.New(sha256.New, k)
		for _, p := range parts {
			h.Write(p)
		}
		if anyEqual(h.Sum(nil), candidates) {
			ok = true
		}
	}
	return ok
}

// hmacSHA256 returns the HMAC-SHA256 of the parts under key.
func hmacSHA256(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}
