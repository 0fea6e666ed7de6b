package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/options"
)

func TestDefaultOptionsLoad(t *testing.T) {
	m := manifest(t)
	defaults := object(t, m, "options")
	schema := object(t, m, "schema")

	// The Supervisor must accept config.yaml's options as they are (it validates them before it
	// writes /data/options.json)...
	for _, p := range supervisorValidate(schema, defaults) {
		t.Errorf("Supervisor would refuse config.yaml options: %s", p)
	}
	// ...and the app must load what it writes.
	data := mustJSON(t, defaults)
	got, err := options.Parse(data)
	if err != nil {
		t.Fatalf("options.Parse(config.yaml options) = %v, want no error\noptions: %s", err, data)
	}
	// A key left out of config.yaml's options takes the loader's default; the ones written must
	// say the same, so the UI shows what the app does.
	if want := options.Defaults(); !sameOptions(*got, want) {
		t.Errorf("options.Parse(config.yaml options) = %+v, want the loader's defaults %+v", *got, want)
	}
}

// sameOptions compares the scalar and list options that have defaults.
func sameOptions(a, b options.Options) bool {
	return a.LogLevel == b.LogLevel && a.TopicPrefix == b.TopicPrefix && a.Broker == b.Broker &&
		a.ExternalBroker == b.ExternalBroker && a.MaxBodyKB == b.MaxBodyKB &&
		a.SourceRatePerMinute == b.SourceRatePerMinute && a.RetentionDays == b.RetentionDays &&
		a.PseudonymKey == b.PseudonymKey && a.HAMQTT == b.HAMQTT &&
		len(a.TrustedProxies) == len(b.TrustedProxies) && len(a.BridgeTopics) == len(b.BridgeTopics) &&
		len(a.Vendors) == len(b.Vendors) && len(a.Devices) == len(b.Devices)
}

func TestSchemaKeysMatchLoader(t *testing.T) {
	got := optionKeys(object(t, manifest(t), "schema"))
	want := options.Keys()
	for _, k := range diff(want, got) {
		t.Errorf("loader option %q is missing from config.yaml's schema (every option is a UI field)", k)
	}
	for _, k := range diff(got, want) {
		t.Errorf("config.yaml schema key %q is unknown to addon/options (the app would refuse it)", k)
	}
}

// TestSchemaAgreesWithLoader feeds the same options to the Supervisor's validation (with
// config.yaml's schema) and to options.Parse: what the Supervisor would save, the app must load,
// and what the schema's types can refuse, both must refuse. (Checks the grammar cannot express,
// like CIDRs and password lengths, are the loader's alone.)
func TestSchemaAgreesWithLoader(t *testing.T) {
	m := manifest(t)
	schema := object(t, m, "schema")
	defaults := object(t, m, "options")

	vendor := map[string]any{"name": "acme-locks", "enabled": true, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"allowed_cidrs": []any{"192.0.2.0/24"}, "rate_per_minute": 600.0}
	device := map[string]any{"username": "hallway-panel", "password": "correct-horse-battery",
		"allow": []any{"acme-locks/locks/+/state"}}
	with := func(key string, v any) map[string]any { return map[string]any{key: v} }
	withVendor := func(k string, v any) map[string]any {
		e := clone(t, vendor).(map[string]any)
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
		return with("vendors", []any{e})
	}
	withDevice := func(k string, v any) map[string]any {
		e := clone(t, device).(map[string]any)
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
		return with("devices", []any{e})
	}

	tests := []struct {
		name string
		set  map[string]any // top-level keys over config.yaml's options, as the Supervisor merges them
		ok   bool
	}{
		{"defaults", nil, true},
		{"design example", map[string]any{
			"log_level": "debug", "trusted_proxies": []any{"172.30.32.1", "10.0.0.0/8"},
			"pseudonym_key": strings.Repeat("k", 40), "ha_mqtt": "supervisor", "bridge_topics": []any{"acme-locks/#"},
			"vendors": []any{vendor}, "devices": []any{device},
		}, true},
		{"external broker", map[string]any{"broker": "external", "external_broker": map[string]any{
			"url": "ssl://broker.example:8883", "username": "hookbridge", "password": "pw", "ca_file": "ca.pem",
			"cert_file": "client.pem", "key_file": "client.key"}}, true},
		{"vendor with only a name and a secret", with("vendors", []any{map[string]any{"name": "acme-locks", "secret": "s3cret"}}), true},
		{"vendor rotating", withVendor("previous_secret", "whsec_b2xkLWFjbWUtc2VjcmV0LTAxMjM0NTY3ODk="), true},
		{"vendor with 0.1's list of secrets", with("vendors", []any{map[string]any{"name": "acme-locks", "secrets": []any{"s3cret-old", "s3cret-new"}}}), true},
		{"vendor with the list emptied", withVendor("secrets", []any{}), true},
		{"vendor with only a name", with("vendors", []any{map[string]any{"name": "acme-locks", "enabled": false}}), true},
		{"vendor disabled", withVendor("enabled", false), true},
		{"vendor in shadow mode", withVendor("mode", "shadow"), true},
		{"vendor in learn mode", withVendor("mode", "learn"), true},
		{"vendor in live mode", withVendor("mode", "live"), true},
		{"device without allow", withDevice("allow", nil), true},
		{"public url", with("public_url", "https://hooks.example.net"), true},
		{"public url with a path and a port", with("public_url", "http://example.net:8443/hb/"), true},

		{"log level not in list", with("log_level", "verbose"), false},
		{"broker not in list", with("broker", "cloud"), false},
		{"ha_mqtt not in list", with("ha_mqtt", "maybe"), false},
		{"body size zero", with("max_body_kb", 0.0), false},
		{"body size too large", with("max_body_kb", 20000.0), false},
		{"source rate zero", with("source_rate_per_minute", 0.0), false},
		{"retention too long", with("retention_days", 5000.0), false},
		{"retention not whole", with("retention_days", 1.5), false},
		{"external broker http URL", with("external_broker", map[string]any{"url": "http://broker.example"}), false},
		{"external broker unknown field", with("external_broker", map[string]any{"host": "broker.example"}), false},
		{"vendor name upper case", withVendor("name", "Acme-Locks"), false},
		{"vendor name underscore", withVendor("name", "acme_locks"), false},
		{"vendor without name", withVendor("name", nil), false},
		{"vendor rate zero", withVendor("rate_per_minute", 0.0), false},
		{"vendor enabled not a boolean", withVendor("enabled", "yes"), false},
		{"vendor mode not in list", withVendor("mode", "pilot"), false},
		{"vendor mode not a string", withVendor("mode", true), false},
		{"vendor unknown field", withVendor("colour", "blue"), false},
		{"vendor secret a list", withVendor("secret", []any{"s3cret"}), false},
		{"vendor previous secret a number", withVendor("previous_secret", 5.0), false},
		{"device name with a space", withDevice("username", "hall panel"), false},
		{"device without username", withDevice("username", nil), false},
		{"device without password", withDevice("password", nil), false},
		{"unknown top-level key", with("colour", "blue"), false},
		{"public url without a scheme", with("public_url", "hooks.example.net"), false},
		{"public url with a query", with("public_url", "https://hooks.example.net/?x=1"), false},
		{"public url with a user", with("public_url", "https://me@hooks.example.net"), false},
		{"public url ftp", with("public_url", "ftp://hooks.example.net"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := clone(t, defaults).(map[string]any)
			for k, v := range tc.set {
				opts[k] = v
			}
			supervisor := supervisorValidate(schema, opts)
			_, loaderErr := options.Parse(mustJSON(t, opts))
			if got := len(supervisor) == 0; got != tc.ok {
				t.Errorf("Supervisor validation of %s = %v, want ok %v", mustJSON(t, tc.set), supervisor, tc.ok)
			}
			if got := loaderErr == nil; got != tc.ok {
				t.Errorf("options.Parse(%s) = %v, want ok %v", mustJSON(t, tc.set), loaderErr, tc.ok)
			}
		})
	}
}

// TestLoaderOnlyRefusals lists what the Supervisor saves but the app refuses at start, with a
// message naming the key: combinations of values its type grammar cannot express. Each must stay
// that way on both sides (the Supervisor saving them is what lets the user fix them in its UI).
func TestLoaderOnlyRefusals(t *testing.T) {
	m := manifest(t)
	schema := object(t, m, "schema")
	defaults := object(t, m, "options")
	tests := []struct {
		name   string
		vendor map[string]any
		key    string // the problem's key path
	}{
		{"both shapes of secrets", map[string]any{"name": "acme-locks", "secret": "s3cret-new", "secrets": []any{"s3cret-old"}}, "vendors[0].secrets"},
		{"previous_secret without secret", map[string]any{"name": "acme-locks", "previous_secret": "s3cret-old"}, "vendors[0].previous_secret"},
		{"previous_secret the same as secret", map[string]any{"name": "acme-locks", "secret": "s3cret", "previous_secret": "s3cret"}, "vendors[0].previous_secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := clone(t, defaults).(map[string]any)
			opts["vendors"] = []any{tc.vendor}
			if p := supervisorValidate(schema, opts); len(p) != 0 {
				t.Errorf("Supervisor validation = %v, want it saved", p)
			}
			_, err := options.Parse(mustJSON(t, opts))
			var oe *options.Error
			if !errors.As(err, &oe) || len(oe.Problems) != 1 || oe.Problems[0].Path != tc.key {
				t.Errorf("options.Parse = %v, want one problem at %s", err, tc.key)
			}
		})
	}
}

// TestSecretsMasked: the Supervisor's UI masks an option of type password and shows a list of
// password strings in clear (the frontend renders any list of strings as chips). Every option
// holding a secret is therefore a single password field; the one list of passwords left is 0.1's
// vendors.secrets, optional, kept only so that old options files survive the Supervisor's
// validation, and its label says it is shown in clear.
func TestSecretsMasked(t *testing.T) {
	schema := object(t, manifest(t), "schema")
	secretKeys := map[string]bool{"password": true, "pseudonym_key": true, "secret": true, "previous_secret": true}
	legacy := map[string]bool{"vendors.secrets": true}
	var walk func(v any, path string, inList bool)
	walk = func(v any, path string, inList bool) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				walk(x[k], join(path, k), false)
			}
		case []any:
			if s, ok := x[0].(string); ok && strings.HasPrefix(s, "password") && !legacy[path] {
				t.Errorf("schema.%s is a list of passwords, which the Supervisor's UI shows in clear", path)
			}
			walk(x[0], path, true)
		case string:
			key := path[strings.LastIndex(path, ".")+1:]
			if secretKeys[key] && !strings.HasPrefix(x, "password") {
				t.Errorf("schema.%s = %q, want a password field (masked in the UI)", path, x)
			}
			if legacy[path] && (!inList || !strings.HasSuffix(x, "?")) {
				t.Errorf("schema.%s = %q, want an optional list element", path, x)
			}
		}
	}
	walk(schema, "", false)
	vendors, _ := schema["vendors"].([]any)
	entry, _ := vendors[0].(map[string]any)
	for _, k := range []string{"secret", "previous_secret"} {
		if typ, _ := entry[k].(string); typ != "password?" {
			t.Errorf("schema.vendors.%s = %v, want password? (a single masked field, optional for a vendor without one)", k, entry[k])
		}
	}
	tr := readTranslations(t)
	if d := tr.Configuration["vendors"].Fields["secrets"].Description; !strings.Contains(d, "in clear") {
		t.Errorf("translations: vendors.secrets description %q must say the list is shown in clear", d)
	}
}
