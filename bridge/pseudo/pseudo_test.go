package pseudo_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/pseudo"
)

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210")
)

func mustNew(t *testing.T, key []byte) *pseudo.Pseudonymizer {
	t.Helper()
	p, err := pseudo.New(key)
	if err != nil {
		t.Fatalf("New(%d bytes) = %v", len(key), err)
	}
	return p
}

// reference computes a token the documented way: HMAC-SHA256 over length-prefixed domain, vendor
// and value, first 128 bits in hex. Tokens must never change, or devices lose their correlation.
func reference(key []byte, domain, vendor, value string) string {
	m := hmac.New(sha256.New, key)
	for _, s := range []string{domain, vendor, value} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func TestTokenKnownAnswer(t *testing.T) {
	p := mustNew(t, key1)
	tests := []struct{ domain, vendor, value string }{
		{pseudo.DomainField, "acme-locks", "front-door"},
		{pseudo.DomainEvent, "acme-locks", "evt_1"},
		{pseudo.DomainField, "", ""},
		{pseudo.DomainField, "gridwise-energy", strings.Repeat("x", 1000)},
		{pseudo.DomainField, "v", "é\x00\xff"},
	}
	for _, tt := range tests {
		want := reference(key1, tt.domain, tt.vendor, tt.value)
		if got := p.Token(tt.domain, tt.vendor, tt.value); got != want {
			t.Errorf("Token(%q, %q, %q) = %s, want %s", tt.domain, tt.vendor, tt.value, got, want)
		}
	}
	// A pinned value, so that a change of construction cannot pass unnoticed with the reference
	// changed alongside.
	if got, want := p.Token(pseudo.DomainField, "acme-locks", "front-door"), pinned; got != want {
		t.Errorf("Token(field, acme-locks, front-door) = %s, want pinned %s", got, want)
	}
}

// pinned is Token(field, acme-locks, front-door) under key1.
const pinned = "e906c77efc4cd914fec3bc126b7f23e3"

var hexToken = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestTokenDistinct(t *testing.T) {
	p1, p2 := mustNew(t, key1), mustNew(t, key2)
	base := p1.Token(pseudo.DomainField, "acme-locks", "front-door")
	tests := []struct {
		name  string
		token string
		same  bool
	}{
		{"same inputs", p1.Token(pseudo.DomainField, "acme-locks", "front-door"), true},
		{"another pseudonymizer with the same key", mustNew(t, append([]byte(nil), key1...)).Token(pseudo.DomainField, "acme-locks", "front-door"), true},
		{"other value", p1.Token(pseudo.DomainField, "acme-locks", "back-door"), false},
		{"other vendor", p1.Token(pseudo.DomainField, "porchlight-cams", "front-door"), false},
		{"other domain", p1.Token(pseudo.DomainEvent, "acme-locks", "front-door"), false},
		{"other key", p2.Token(pseudo.DomainField, "acme-locks", "front-door"), false},
		{"boundary moved between vendor and value", p1.Token(pseudo.DomainField, "acme-locksf", "ront-door"), false},
		{"boundary moved between domain and vendor", p1.Token("fielda", "cme-locks", "front-door"), false},
		{"case of the value", p1.Token(pseudo.DomainField, "acme-locks", "Front-door"), false},
		{"trailing space", p1.Token(pseudo.DomainField, "acme-locks", "front-door "), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !hexToken.MatchString(tt.token) || len(tt.token) != pseudo.TokenLen {
				t.Errorf("token = %q, want %d lowercase hex digits", tt.token, pseudo.TokenLen)
			}
			if (tt.token == base) != tt.same {
				t.Errorf("token = %s, base %s: same = %v, want %v", tt.token, base, tt.token == base, tt.same)
			}
		})
	}
}

func TestAppendToken(t *testing.T) {
	p := mustNew(t, key1)
	got := p.AppendToken([]byte("x/"), pseudo.DomainField, "v", "id")
	want := "x/" + p.Token(pseudo.DomainField, "v", "id")
	if string(got) != want {
		t.Errorf("AppendToken(\"x/\") = %q, want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 1, 15} {
		if p, err := pseudo.New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) = %v, nil, want an error", n, p)
		}
	}
	key := bytes.Clone(key1)
	p := mustNew(t, key)
	before := p.Token(pseudo.DomainField, "v", "id")
	key[0] ^= 0xff // the caller reusing its buffer must not change tokens
	if after := p.Token(pseudo.DomainField, "v", "id"); after != before {
		t.Errorf("Token after the caller changed its key slice = %s, want %s", after, before)
	}
}

func TestTokenConcurrent(t *testing.T) {
	p := mustNew(t, key1)
	want := p.Token(pseudo.DomainField, "v", "id")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				// Interleave other inputs so that pooled hashes are reused dirty.
				p.Token(pseudo.DomainEvent, "w", strings.Repeat("z", g+i%7))
				if got := p.Token(pseudo.DomainField, "v", "id"); got != want {
					errs <- got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent Token = %s, want %s", got, want)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Run("configured wins", func(t *testing.T) {
		dir := t.TempDir()
		k, err := pseudo.LoadOrCreateKey("a configured key of some length!", dir)
		if err != nil || string(k) != "a configured key of some length!" {
			t.Fatalf("LoadOrCreateKey(configured) = %q, %v", k, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "pseudonym.key")); !os.IsNotExist(err) {
			t.Errorf("LoadOrCreateKey(configured) wrote a key file: %v", err)
		}
	})
	t.Run("created then reloaded", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "nested")
		k1, err := pseudo.LoadOrCreateKey("", dir)
		if err != nil {
			t.Fatalf("LoadOrCreateKey(new dir) = %v", err)
		}
		if len(k1) != pseudo.KeyLen {
			t.Errorf("created key = %d bytes, want %d", len(k1), pseudo.KeyLen)
		}
		path := filepath.Join(dir, "pseudonym.key")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		if string(data) != hex.EncodeToString(k1)+"\n" {
			t.Errorf("key file = %q, want the key in hex and a newline", data)
		}
		if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
			t.Errorf("temporary file left behind: %v", err)
		}
		k2, err := pseudo.LoadOrCreateKey("", dir)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Errorf("LoadOrCreateKey(again) = %x, %v, want %x", k2, err, k1)
		}
		if _, err := pseudo.New(k2); err != nil {
			t.Errorf("New(created key) = %v", err)
		}
		other, err := pseudo.LoadOrCreateKey("", t.TempDir())
		if err != nil || bytes.Equal(other, k1) {
			t.Errorf("LoadOrCreateKey(another dir) = %x, %v, want a different key", other, err)
		}
	})
	t.Run("hand-written key", func(t *testing.T) {
		dir := t.TempDir()
		want := bytes.Repeat([]byte{0xab}, 20)
		os.WriteFile(filepath.Join(dir, "pseudonym.key"), []byte("  "+hex.EncodeToString(want)+"\r\n"), 0o600)
		k, err := pseudo.LoadOrCreateKey("", dir)
		if err != nil || !bytes.Equal(k, want) {
			t.Errorf("LoadOrCreateKey(hand-written) = %x, %v, want %x", k, err, want)
		}
	})
	damaged := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"not hex", "this is not hex at all, SECRETCONTENT\n"},
		{"odd length", strings.Repeat("a", 63)},
		{"too short", strings.Repeat("ab", 15) + "\n"},
		{"truncated", hex.EncodeToString(key1)[:20]},
	}
	for _, tt := range damaged {
		t.Run("damaged "+tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pseudonym.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := pseudo.LoadOrCreateKey("", dir)
			if err == nil {
				t.Fatalf("LoadOrCreateKey(%s) = %x, nil, want an error", tt.name, k)
			}
			if !strings.Contains(err.Error(), path) || (tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content))) {
				t.Errorf("LoadOrCreateKey(%s) error %q, want the path and not the content", tt.name, err)
			}
			// The damaged file is left for a person to restore, not replaced.
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("LoadOrCreateKey(%s) changed the file to %q", tt.name, data)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "pseudonym.key"), 0o700); err != nil {
			t.Fatal(err)
		}
		if k, err := pseudo.LoadOrCreateKey("", dir); err == nil {
			t.Errorf("LoadOrCreateKey(key path is a directory) = %x, nil, want an error", k)
		}
	})
}
