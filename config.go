package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/policy"
)

// flags are the command-line settings shared by the commands. A flag beats an option.
type flags struct {
	options   string
	data      string
	policies  string
	schemas   string
	httpAddr  string
	adminAddr string
	mqttAddr  string
	// underSupervisor is true when the Supervisor started us (SUPERVISOR_TOKEN is set).
	underSupervisor bool
	// noSync turns fsync off: for benchmarks measuring its cost only. Not documented for users.
	noSync bool
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *flags) {
	f := &flags{underSupervisor: os.Getenv("SUPERVISOR_TOKEN") != ""}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&f.options, "options", "", "options file")
	fs.StringVar(&f.data, "data", "", "data directory")
	fs.StringVar(&f.policies, "policies", "", "extra policies directory")
	fs.StringVar(&f.schemas, "schemas", "", "extra schemas directory")
	fs.StringVar(&f.httpAddr, "http-addr", ":8080", "partner listener address")
	fs.StringVar(&f.adminAddr, "admin-addr", "", "admin listener address")
	fs.StringVar(&f.mqttAddr, "mqtt-addr", ":1883", "embedded MQTT broker address")
	fs.BoolVar(&f.noSync, "unsafe-no-fsync", false, "")
	return fs, f
}

// parseInterspersed parses flags that may come before, between or after positional arguments,
// returning the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// resolve fills the path defaults: /data when it exists (under the Supervisor), else ./data.
func (f *flags) resolve() {
	if f.data == "" {
		f.data = "./data"
		if st, err := os.Stat("/data"); err == nil && st.IsDir() {
			f.data = "/data"
		}
	}
	if f.options == "" {
		f.options = "./data/options.json"
		if _, err := os.Stat("/data/options.json"); err == nil {
			f.options = "/data/options.json"
		}
	}
	// Under the Supervisor, the app's own config folder (map: addon_config) holds the user's extra
	// vendor catalog.
	if f.underSupervisor {
		for dst, dir := range map[*string]string{&f.policies: "/config/policies", &f.schemas: "/config/schemas"} {
			if st, err := os.Stat(dir); *dst == "" && err == nil && st.IsDir() {
				*dst = dir
			}
		}
	}
	if f.adminAddr == "" {
		f.adminAddr = "127.0.0.1:8099"
		if f.underSupervisor {
			f.adminAddr = ":8099"
		}
	}
}

// loadCatalog reads the built-in catalog with the flags' overrides.
func loadCatalog(f *flags) (*catalog.Catalog, []policy.Problem, error) {
	sub, err := fs.Sub(builtinCatalog, ".")
	if err != nil {
		return nil, nil, err
	}
	return catalog.Load(catalog.Sources{Builtin: sub, PolicyDir: f.policies, SchemaDir: f.schemas})
}

// loadConfig reads the catalog and then the options file (created on a first run), as serve, send
// and the bench's child do.
func loadConfig(f *flags) (cat *catalog.Catalog, o *options.Options, created bool, err error) {
	if cat, _, err = loadCatalog(f); err != nil {
		return nil, nil, false, err
	}
	o, created, err = loadOptions(f, cat)
	return cat, o, created, err
}

// loadOptions reads the options file; created reports that it did not exist and was written with
// fresh secrets.
func loadOptions(f *flags, cat *catalog.Catalog) (o *options.Options, created bool, err error) {
	o, err = readOptions(f.options)
	if errors.Is(err, os.ErrNotExist) {
		o, err = freshOptions(cat)
		if err != nil {
			return nil, false, err
		}
		if err := writeOptions(f.options, o); err != nil {
			return nil, false, err
		}
		return o, true, nil
	}
	return o, false, err
}

// readOptions reads and strictly parses the options file at path.
func readOptions(path string) (*options.Options, error) {
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

// freshOptions returns first-run options: every built-in vendor enabled with a new random secret in
// its scheme's format, a demo device that may read them all, and the homeassistant account.
func freshOptions(cat *catalog.Catalog) (*options.Options, error) {
	o := options.Defaults()
	var allow []string
	for _, name := range cat.Names() {
		v, _ := cat.Vendor(name)
		secret, err := newSecret(v.Policy.Auth.Scheme)
		if err != nil {
			return nil, err
		}
		vd := options.VendorDefaults()
		vd.Name, vd.Secrets = name, []string{secret}
		o.Vendors = append(o.Vendors, vd)
		allow = append(allow, name+"/#")
	}
	for _, user := range []string{"demo-panel", options.HomeAssistantUser} {
		pw, err := randomHex(16)
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

func newSecret(scheme string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	switch scheme {
	case policy.SchemeStandardWebhooks, policy.SchemeStripe:
		return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
	}
	return hex.EncodeToString(b), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeOptions(path string, o *options.Options) error {
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

// newLogger returns the process logger at an options level.
func newLogger(w io.Writer, level string) zerolog.Logger {
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
