package app

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// Files says where a configuration is read from: the vendor catalog built into the binary with
// extra policy and schema directories over it, and the options file.
type Files struct {
	// Builtin holds policies/*.yaml and schemas/{vendor}/{version}.json.
	Builtin fs.FS
	// Policies and Schemas, when set, add files or replace built-in ones.
	Policies, Schemas string
	// Options is the options file.
	Options string
}

// Catalog reads the built-in catalog with the extra directories over it. It returns the problems
// found, warnings included; err is non-nil when any problem is not a warning.
func (f Files) Catalog() (*catalog.Catalog, []policy.Problem, error) {
	return catalog.Load(catalog.Sources{Builtin: f.Builtin, PolicyDir: f.Policies, SchemaDir: f.Schemas})
}

// Load reads the catalog and then the options file. A missing options file is created with fresh
// random secrets (FreshOptions), and created says so.
func (f Files) Load() (cat *catalog.Catalog, o *options.Options, created bool, err error) {
	if cat, _, err = f.Catalog(); err != nil {
		return nil, nil, false, err
	}
	o, err = ReadOptions(f.Options)
	if errors.Is(err, os.ErrNotExist) {
		if o, err = FreshOptions(cat); err != nil {
			return nil, nil, false, err
		}
		if err := WriteOptions(f.Options, o); err != nil {
			return nil, nil, false, err
		}
		return cat, o, true, nil
	}
	return cat, o, false, err
}

// ReadOptions reads and strictly parses the options file at path.
func ReadOptions(path string) (*options.Options, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read options: %w", err)
	}
	o, err := options.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// WriteOptions writes an options file readable by its owner only, replacing any at path at once.
func WriteOptions(path string, o *options.Options) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create options dir: %w", err)
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write options: %w", err)
	}
	return os.Rename(tmp, path)
}

// FreshOptions returns first-run options: every catalog vendor enabled with a new random secret in
// its scheme's format, a demo device that may read them all, and the homeassistant account. A
// vendor whose secret only the sender can make (its public key) is listed disabled, without one;
// one whose policy has no schema or routes yet, in learn mode.
func FreshOptions(cat *catalog.Catalog) (*options.Options, error) {
	o := options.Defaults()
	var allow []string
	for _, name := range cat.Names() {
		v, _ := cat.Vendor(name)
		vd := options.VendorDefaults()
		vd.Name = name
		if !v.Policy.CanPublish() {
			vd.Mode = options.ModeLearn // a policy without schema or routes runs in learn mode only
		}
		secret, err := v.Policy.Auth.NewSecret()
		switch {
		case errors.Is(err, verify.ErrCannotGenerate):
			vd.Enabled = false
		case err != nil:
			return nil, err
		default:
			vd.Secrets = []string{secret}
		}
		o.Vendors = append(o.Vendors, vd)
		allow = append(allow, name+"/#")
	}
	for _, user := range []string{"demo-panel", options.HomeAssistantUser} {
		pw, err := RandomHex(16)
		if err != nil {
			return nil, err
		}
		d := options.Device{Username: user, Password: pw, Allow: allow}
		if user == options.HomeAssistantUser {
			d.Allow = []string{}
		}
		o.Devices = append(o.Devices, d)
	}
	return &o, nil
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// NewLogger returns the process logger at an options log level.
func NewLogger(w io.Writer, level string) zerolog.Logger {
	l := zerolog.InfoLevel
	switch strings.ToLower(level) {
	case "trace":
		l = zerolog.TraceLevel
	case "debug":
		l = zerolog.DebugLevel
	case "notice", "info":
		l = zerolog.InfoLevel
	case "warning":
		l = zerolog.WarnLevel
	case "error":
		l = zerolog.ErrorLevel
	case "fatal":
		l = zerolog.FatalLevel
	}
	return zerolog.New(w).Level(l).With().Timestamp().Logger()
}

// EventID returns the id the scheme's header should carry: the payload's own id when the policy
// points at one, else a fresh random one.
func EventID(p *policy.Policy, body []byte) string {
	if doc, err := payload.Parse(body, payload.DefaultLimits); err == nil && p.Event.ID != "" {
		if v, ok := payload.Resolve(doc, policy.SplitPointer(p.Event.ID)); ok {
			if s, ok := payload.Scalar(v); ok {
				return s
			}
		}
	}
	id, _ := RandomHex(12)
	return "msg_" + id
}
