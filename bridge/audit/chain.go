package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The chain. Each directory of the trail (a vendor's, or noVendorDir) is one chain: its records,
// in the order they were appended, which is the order of its hourly files and of the lines in
// each. A record line is the record's JSON object with two members added at its end:
//
//	{...,"seq":17,"mac":"<64 hex digits>"}
//
// seq counts the chain's records from 1. mac is HMAC-SHA256, under the chain key (Keys), of the
// previous record's MAC (32 bytes) followed by the record's canonical bytes: the line without its
// mac member, that is `{...,"seq":17}`. The first record's "previous MAC" is the chain's genesis,
// a MAC of its name, so a chain's records cannot pass for another's.
//
// So a changed byte breaks its record's MAC; a removed record leaves the next one without its
// predecessor; records out of order break the rising seq. What verification cannot see from the
// records alone is a cut at the end: the head file (headName) names, per chain, the newest record
// written to disk, with a MAC of its own, and a chain that ends before its head was cut.
//
// Retention deletes the oldest hours of a chain. Before it deletes them it appends a checkpoint
// record (kind "purge") that says how many records went, their time range, and the seq and MAC of
// the last one; the oldest record left then follows the checkpoint's MAC instead of its missing
// predecessor. The checkpoint is chained like any record, so it cannot be made or changed without
// the key either. Each chain is purged on its own, by its vendor's retention, and never has a
// hole in the middle.

type sum [sha256.Size]byte

// macSuffix is how a sealed line ends: `,"mac":"` + hex + `"}`.
const (
	macPrefix = `,"mac":"`
	macSuffix = len(macPrefix) + 2*sha256.Size + len(`"}`)
)

// sealer makes record MACs. It is not safe for concurrent use.
type sealer struct {
	h hash.Hash
	// in and out are scratch space: bytes passed to h through its interface escape, and would
	// cost an allocation per record.
	in, out []byte
}

func newSealer(k *Keys) *sealer {
	return &sealer{h: hmac.New(sha256.New, k.chain), in: make([]byte, 0, sha256.Size), out: make([]byte, 0, sha256.Size)}
}

// genesis is the "previous MAC" of a chain's first record.
func (s *sealer) genesis(chain string) sum {
	s.h.Reset()
	s.h.Write([]byte("genesis\x00"))
	s.h.Write([]byte(chain))
	var out sum
	s.h.Sum(out[:0])
	return out
}

// mac returns the MAC of a record's canonical bytes following prev.
func (s *sealer) mac(prev sum, canonical []byte) sum {
	s.h.Reset()
	s.in = append(s.in[:0], prev[:]...)
	s.h.Write(s.in)
	s.h.Write(canonical)
	s.out = s.h.Sum(s.out[:0])
	return sum(s.out)
}

// seal appends to dst the sealed line (with its newline) of record, a JSON object, as the seq-th
// record following prev, and returns it with the record's MAC.
func (s *sealer) seal(dst []byte, prev sum, seq uint64, record []byte) ([]byte, sum) {
	start := len(dst)
	dst = append(dst, record[:len(record)-1]...) // without its '}'
	if len(record) > 2 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '}')
	m := s.mac(prev, dst[start:])
	dst = dst[:len(dst)-1]
	dst = append(dst, macPrefix...)
	dst = hex.AppendEncode(dst, m[:])
	return append(dst, '"', '}', '\n'), m
}

// sealed is what a line says of itself, read without trusting it.
type sealed struct {
	canonical []byte // the line without its mac member; nil when the line is not sealed
	seq       uint64
	mac       sum
}

// unseal reads a line's seq and MAC (line without its newline). It needs no JSON parse, so even a
// line whose JSON was broken by an edit is recognised as a sealed record, and found changed by its
// MAC. ok is false for a line that is not sealed (written before the chain began, or not a
// record).
func unseal(line []byte) (s sealed, ok bool) {
	n := len(line)
	if n < macSuffix+len(`{"seq":1`) || !bytes.Equal(line[n-macSuffix:n-macSuffix+len(macPrefix)], []byte(macPrefix)) ||
		line[n-2] != '"' || line[n-1] != '}' {
		return sealed{}, false
	}
	if _, err := hex.Decode(s.mac[:], line[n-macSuffix+len(macPrefix):n-2]); err != nil {
		return sealed{}, false
	}
	body := line[:n-macSuffix] // `{...,"seq":17`
	i := bytes.LastIndex(body, []byte(`"seq":`))
	if i < 1 || (body[i-1] != ',' && body[i-1] != '{') {
		return sealed{}, false
	}
	seq, err := strconv.ParseUint(string(body[i+len(`"seq":`):]), 10, 64)
	if err != nil || seq == 0 {
		return sealed{}, false
	}
	s.seq = seq
	s.canonical = append(append(make([]byte, 0, len(body)+1), body...), '}')
	return s, true
}

// headName is the head file in the trail's directory: per chain the newest record on disk (seq and
// MAC), and the configuration the last start saw (NoteConfig), under a MAC of the head key. It is
// rewritten, whole, after each flush that wrote records.
const headName = "head.json"

// head is the head file's content.
type head struct {
	Version int                     `json:"version"`
	Written time.Time               `json:"written"`
	Chains  map[string]headChain    `json:"chains"`
	Config  map[string]VendorConfig `json:"config,omitempty"`
	MAC     string                  `json:"mac,omitempty"`
}

// headChain is a chain's newest record on disk.
type headChain struct {
	Seq uint64 `json:"seq"`
	MAC string `json:"mac"`
}

// VendorConfig is what the trail remembers of a vendor's configuration from one start to the
// next, to record what changed (NoteConfig). Nothing in it is secret.
type VendorConfig struct {
	// Policy and Schema are Hash of the vendor's policy and schema documents.
	Policy string `json:"policy,omitempty"`
	Schema string `json:"schema,omitempty"`
	// Secrets are the keyed digests (Keys.SecretDigest) of the vendor's configured secrets.
	Secrets []string `json:"secrets,omitempty"`
}

// errHead reports a head file whose MAC does not match its content.
var errHead = errors.New("the head file does not match its MAC")

// headMAC returns the MAC of a head's content (its MAC member left out).
func headMAC(k *Keys, h head) (string, error) {
	h.MAC = ""
	data, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k.head)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// readHead reads and checks the head file of the trail in dir. found is false when there is none.
func readHead(dir string, k *Keys) (h head, found bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, headName))
	if errors.Is(err, os.ErrNotExist) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, err
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return head{}, true, fmt.Errorf("%w: %v", errHead, err)
	}
	want, err := headMAC(k, h)
	if err != nil {
		return head{}, true, err
	}
	if !hmac.Equal([]byte(want), []byte(h.MAC)) {
		return h, true, errHead
	}
	return h, true, nil
}

// writeHead replaces the head file in dir, durably.
func writeHead(dir string, k *Keys, h head) error {
	h.Version = 1
	mac, err := headMAC(k, h)
	if err != nil {
		return err
	}
	h.MAC = mac
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, headName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}
