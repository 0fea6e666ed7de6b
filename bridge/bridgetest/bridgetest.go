// Package bridgetest runs Hookbridge for end-to-end tests, the way caddytest and nats-server's
// test package do for theirs: an instance in the test process on loopback ports (Start, Launch),
// or the real binary in a child process (Binary, NewProcess, RunBinary), with the built-in
// catalog read from the repository and the test catalog's extra policies over it.
//
// Around an instance it offers what the tests do to it from outside: fixed options and secrets
// (DefaultOptions, Secrets), signed and raw HTTP requests (Instance.Send, Do, SendRaw), MQTT
// clients that record what they receive (Connect, Subscribe), polling with a deadline
// (CheckFor), and reading its JSON log (LogBuffer, LogEntries). A real Mosquitto comes from
// bridge/uplink/mosquittotest.
//
// Internals of a running instance are reached only through bridge/app's accessors (the
// embedded *app.App) or its admin API.
package bridgetest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/app"
	"github.com/hookbridge/hookbridge/bridge/catalog"
)

// Module is the module whose root Root looks for.
const Module = "github.com/hookbridge/hookbridge"

// Test secrets and accounts. Fixed values make golden pseudonyms reproducible.
const (
	PseudonymKey     = "test-pseudonym-key-0123456789abcdef"
	AcmeSecret       = "whsec_dGVzdC1hY21lLXNlY3JldC0wMTIzNDU2Nzg5"
	AcmeOldSecret    = "whsec_b2xkLWFjbWUtc2VjcmV0LTAxMjM0NTY3ODk="
	PorchlightSecret = "whsec_porchlight_test_secret_0123"
	GridwiseSecret   = "gridwise-test-secret-0123456789"
	LockedDownSecret = "locked-down-secret-0123456789"
	BearerSecret     = "bearer-token-secret-0123456789"
	PanelUser        = "hallway-panel"
	PanelPassword    = "panel-password-123"
	HAPassword       = "ha-password-12345"
	TopicPrefix      = "hookbridge"
	MaxBodyKB        = 8
	// WaitForDeliveries is how long a test waits for MQTT messages to arrive.
	WaitForDeliveries = 10 * time.Second
)

// Secrets returns each test vendor's current secret, by vendor name.
func Secrets() map[string]string {
	return map[string]string{
		"acme-locks": AcmeSecret, "porchlight-cams": PorchlightSecret, "gridwise-energy": GridwiseSecret,
		"locked-down": LockedDownSecret, "bearer-vendor": BearerSecret,
	}
}

// DefaultOptions returns the options the end-to-end tests run with: the sample vendors and the
// test catalog's locked-down (allowed_cidrs 10.0.0.0/8) and bearer-vendor (1 request a minute),
// the hallway panel device and the homeassistant account, logging at debug level.
func DefaultOptions() *options.Options {
	o := options.Defaults()
	o.LogLevel = "debug"
	o.PseudonymKey = PseudonymKey
	o.MaxBodyKB = MaxBodyKB
	o.SourceRatePerMinute = 100_000
	vendor := func(name string, secrets ...string) options.Vendor {
		v := options.VendorDefaults()
		v.Name, v.Secrets, v.RatePerMinute = name, secrets, 100_000
		return v
	}
	locked := vendor("locked-down", LockedDownSecret)
	locked.AllowedCIDRs = []string{"10.0.0.0/8"}
	slow := vendor("bearer-vendor", BearerSecret)
	slow.RatePerMinute = 1
	o.Vendors = []options.Vendor{
		vendor("acme-locks", AcmeSecret, AcmeOldSecret),
		vendor("porchlight-cams", PorchlightSecret),
		vendor("gridwise-energy", GridwiseSecret),
		locked, slow,
	}
	o.Devices = []options.Device{
		{Username: PanelUser, Password: PanelPassword, Allow: []string{"acme-locks/locks/+/state"}},
		{Username: options.HomeAssistantUser, Password: HAPassword, Allow: []string{}},
	}
	return &o
}

// NewSecret returns a fresh random Standard Webhooks secret (whsec_ and the base64 of 24 bytes).
func NewSecret(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// AcmeEvent returns an Acme Locks lock.state_changed event with an id, a device id and a battery
// level, and personal data that no route publishes.
func AcmeEvent(id, device string, battery int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"lock.state_changed","created_at":"2026-11-25T08:14:03Z","data":{"device_id":%q,"state":"locked","battery_pct":%d,"method":"app","user":{"id":"usr_1","name":"Jane Doe","email":"jane@example.com"}}}`, id, device, battery)
}

var root = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(data) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bridgetest: no go.mod of " + Module + " in the working directory or above it")
		}
		dir = parent
	}
})

// modulePath returns the path of a go.mod's module line.
func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(bytes.TrimSpace(sc.Bytes()), []byte("module ")); ok {
			return string(bytes.Trim(bytes.TrimSpace(rest), `"`))
		}
	}
	return ""
}

// Root returns the repository's root as an absolute path: the directory, the test's working
// directory or one above it, whose go.mod declares Module. The built-in catalog and the test data
// are there.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := root()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Path returns a path under the repository's root.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Root(tb)}, elem...)...)
}

// TestPolicies returns the test catalog's extra policies' directory, testdata/catalog/policies.
func TestPolicies(tb testing.TB) string {
	tb.Helper()
	return Path(tb, "testdata", "catalog", "policies")
}

// ReadTestdata reads a file under the repository's testdata/.
func ReadTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Files returns where an instance reads its catalog: the built-in catalog from the repository's
// root, and the policies in policies (none when "") over it.
func Files(tb testing.TB, policies string) app.Files {
	tb.Helper()
	return app.Files{Builtin: os.DirFS(Root(tb)), Policies: policies}
}

// Catalog reads the built-in catalog with the policies in policies (none when "") over it.
func Catalog(tb testing.TB, policies string) *catalog.Catalog {
	tb.Helper()
	cat, _, err := Files(tb, policies).Catalog()
	if err != nil {
		tb.Fatal(err)
	}
	return cat
}
