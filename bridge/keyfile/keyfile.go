// Package keyfile keeps a random key in a file of its own in the data dir: hex, one line, mode
// 0600, written whole (a temporary file renamed over it) or not at all. The pseudonym key and the
// audit trail's key live this way.
package keyfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MinLen is the shortest key Read accepts, in bytes.
const MinLen = 16

// ErrDamaged reports a key file that holds no hex key of MinLen bytes or more.
var ErrDamaged = errors.New("damaged key file")

// Read returns the key in path. A missing file is an error that wraps os.ErrNotExist.
func Read(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(k) < MinLen {
		return nil, ErrDamaged
	}
	return k, nil
}

// Create writes a new random key of n bytes to path, creating its directory (mode 0700) if need
// be, and returns it.
func Create(path string, n int) ([]byte, error) {
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return k, nil
}
