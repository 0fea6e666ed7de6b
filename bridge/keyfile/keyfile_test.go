package keyfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookbridge/hookbridge/bridge/keyfile"
)

func TestCreateRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.key")
	if _, err := keyfile.Read(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read(missing) = %v, want os.ErrNotExist", err)
	}
	k, err := keyfile.Create(path, 32)
	if err != nil || len(k) != 32 {
		t.Fatalf("Create = %x, %v", k, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v, want 0600", fi.Mode(), err)
	}
	if got, err := keyfile.Read(path); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("Read = %x, %v, want %x", got, err, k)
	}
	for _, bad := range []string{"not hex\n", "00112233\n", ""} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := keyfile.Read(path); !errors.Is(err, keyfile.ErrDamaged) {
			t.Errorf("Read(%q) = %v, want ErrDamaged", bad, err)
		}
	}
}
