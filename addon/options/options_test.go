package options_test

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/options"
	"github.com/hookbridge/hookbridge/bridge/vendor"
)

func TestParseDefaults(t *testing.T) {
	for _, doc := range []string{`{}`, " \n{ }\n\t"} {
		o, err := options.Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", doc, err)
		}
		if want := options.Defaults(); !reflect.DeepEqual(*o, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", doc, *o, want)
		}
	}
	d := options.Defaults()
	if d.LogLevel != "info" || d.TopicPrefix != "hookbridge" || d.Broker != "embedded" || d.MaxBodyKB != 64 ||
		d.SourceRatePerMinute != 1200 || d.RetentionDays != 7 || d.HAMQTT != "auto" || d.PseudonymKey != "" {
		t.Errorf("Defaults() = %+v, want the documented defaults", d)
	}
	if d.TrustedProxies == nil || d.BridgeTopics == nil || d.Vendors == nil || d.Devices == nil {
		t.Errorf("Defaults() has nil lists, want empty ones: %+v", d)
	}
}

func TestParseEntryDefaults(t *testing.T) {
	o, err := options.Parse([]byte(`{"vendors":[{"name":"acme"}],"devices":[{"username":"panel","password":"long enough"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := options.VendorDefaults()
	want.Name = "acme"
	if !reflect.DeepEqual(o.Vendors, []options.Vendor{want}) {
		t.Errorf("Parse(vendor with a name only) = %+v, want %+v", o.Vendors, want)
	}
	if want.RatePerMinute != 600 || !want.Enabled || want.Mode != options.ModeLive {
		t.Errorf("VendorDefaults() = %+v, want enabled with 600 per minute, live", want)
	}
	if d := o.Devices[0]; d.Allow == nil || len(d.Allow) != 0 || d.Username != "panel" {
		t.Errorf("Parse(device without allow) = %+v, want an empty allow list", d)
	}
}

const fullOptions = `{
  "log_level": "debug",
  "topic_prefix": "home/hooks",
  "broker": "embedded",
  "external_broker": {"url": "ssl://broker.lan:8883", "username": "hb", "password": "pw",
    "ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "k.pem"},
  "max_body_kb": 128,
  "source_rate_per_minute": 60,
  "trusted_proxies": ["172.30.32.2", "10.0.0.0/8", "2001:db8::/32"],
  "retention_days": 30,
  "pseudonym_key": "0123456789abcdef0123456789abcdef",
  "ha_mqtt": "off",
  "bridge_topics": ["acme-locks/#", "+/energy/tariff"],
  "vendors": [
    {"name": "acme-locks", "enabled": false, "secret": "whsec_b", "previous_secret": "whsec_a", "allowed_cidrs": ["192.0.2.0/24"], "rate_per_minute": 30},
    {"name": "newcomer", "secrets": ["whsec_c"], "mode": "learn"}
  ],
  "devices": [
    {"username": "hallway-panel", "password": "correct horse", "allow": ["acme-locks/locks/+/state"]},
    {"username": "homeassistant", "password": "another one", "allow": []}
  ]
}`

func TestParseFull(t *testing.T) {
	o, err := options.Parse([]byte(fullOptions))
	if err != nil {
		t.Fatalf("Parse(full) = %v", err)
	}
	want := options.Options{
		LogLevel:    "debug",
		TopicPrefix: "home/hooks",
		Broker:      options.BrokerEmbedded,
		ExternalBroker: options.ExternalBroker{URL: "ssl://broker.lan:8883", Username: "hb", Password: "pw",
			CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"},
		MaxBodyKB:           128,
		SourceRatePerMinute: 60,
		TrustedProxies:      []string{"172.30.32.2", "10.0.0.0/8", "2001:db8::/32"},
		RetentionDays:       30,
		PseudonymKey:        "0123456789abcdef0123456789abcdef",
		HAMQTT:              options.HAMQTTOff,
		BridgeTopics:        []string{"acme-locks/#", "+/energy/tariff"},
		Vendors: []options.Vendor{{Name: "acme-locks", Enabled: false, Secrets: []string{"whsec_b", "whsec_a"},
			AllowedCIDRs: []string{"192.0.2.0/24"}, RatePerMinute: 30, Mode: options.ModeLive},
			{Name: "newcomer", Enabled: true, Secrets: []string{"whsec_c"}, LegacySecrets: true, AllowedCIDRs: []string{}, RatePerMinute: 600, Mode: options.ModeLearn}},
		Devices: []options.Device{
			{Username: "hallway-panel", Password: "correct horse", Allow: []string{"acme-locks/locks/+/state"}},
			{Username: "homeassistant", Password: "another one", Allow: []string{}},
		},
	}
	if !reflect.DeepEqual(*o, want) {
		t.Errorf("Parse(full) =\n%+v\nwant\n%+v", *o, want)
	}
}

// problem is an expected problem: its key path and a part of its message.
type problem struct {
	path, text string
}

var problemTests = []struct {
	name string
	doc  string
	want []problem
}{
	{"not an object", `[]`, []problem{{"", "must be an object, not a list"}}},
	{"null", `null`, []problem{{"", "must be an object, not null"}}},
	{"unknown top-level key", `{"colour":"red"}`, []problem{{"colour", "unknown key"}}},
	{"unknown keys at every level", `{"x":1,"external_broker":{"y":2},"vendors":[{"name":"a"},{"name":"b","z":3}],"devices":[{"username":"u","password":"12345678","w":4}]}`,
		[]problem{{"x", "unknown key"}, {"external_broker.y", "unknown key"}, {"vendors[1].z", "unknown key"}, {"devices[0].w", "unknown key"}}},
	{"wrong type string", `{"log_level":5}`, []problem{{"log_level", "must be a string, not a number"}}},
	{"wrong type int", `{"max_body_kb":"64"}`, []problem{{"max_body_kb", "must be a whole number, not a string"}}},
	{"fraction for an int", `{"max_body_kb":64.5}`, []problem{{"max_body_kb", "whole number"}}},
	{"exponent for an int", `{"retention_days":1e3}`, []problem{{"retention_days", "whole number"}}},
	{"huge int", `{"retention_days":99999999999999999999999}`, []problem{{"retention_days", "whole number"}}},
	{"wrong type bool", `{"vendors":[{"name":"a","enabled":"yes"}]}`, []problem{{"vendors[0].enabled", "must be true or false, not a string"}}},
	{"unknown mode", `{"vendors":[{"name":"a","mode":"pilot"}]}`, []problem{{"vendors[0].mode", "must be one of live, shadow, learn"}}},
	{"wrong type mode", `{"vendors":[{"name":"a","mode":true}]}`, []problem{{"vendors[0].mode", "must be a string, not a boolean"}}},
	{"wrong type list", `{"trusted_proxies":"10.0.0.1"}`, []problem{{"trusted_proxies", "must be a list, not a string"}}},
	{"public url not a URL", `{"public_url":"hooks.example.net"}`, []problem{{"public_url", "must be the URL vendors are given"}}},
	{"public url not a string", `{"public_url":true}`, []problem{{"public_url", "must be a string, not a boolean"}}},
	{"wrong type list element", `{"bridge_topics":["a/#",7]}`, []problem{{"bridge_topics[1]", "must be a string, not a number"}}},
	{"wrong type vendors", `{"vendors":{}}`, []problem{{"vendors", "must be a list, not an object"}}},
	{"wrong type vendor", `{"vendors":["acme"]}`, []problem{{"vendors[0]", "must be an object, not a string"}}},
	{"wrong type devices", `{"devices":true}`, []problem{{"devices", "must be a list, not a boolean"}}},
	{"wrong type allow", `{"devices":[{"username":"u","password":"12345678","allow":"a/#"}]}`, []problem{{"devices[0].allow", "must be a list"}}},
	{"wrong type external_broker", `{"external_broker":"tcp://x"}`, []problem{{"external_broker", "must be an object"}}},
	{"null value", `{"topic_prefix":null}`, []problem{{"topic_prefix", "must be a string, not null"}}},
	{"NUL in a string", `{"pseudonym_key":"abc\u0000"}`, []problem{{"pseudonym_key", "must not contain NUL"}}},
	{"bad choice", `{"broker":"cloud"}`, []problem{{"broker", "must be one of embedded, supervisor, external"}}},
	{"bad log level", `{"log_level":"verbose"}`, []problem{{"log_level", "must be one of"}}},
	{"bad ha_mqtt", `{"ha_mqtt":"yes"}`, []problem{{"ha_mqtt", "must be one of"}}},
	{"max_body_kb zero", `{"max_body_kb":0}`, []problem{{"max_body_kb", "between 1 and 10240"}}},
	{"max_body_kb too big", `{"max_body_kb":10241}`, []problem{{"max_body_kb", "between 1 and 10240"}}},
	{"negative rate", `{"source_rate_per_minute":-1}`, []problem{{"source_rate_per_minute", "between 1 and 1000000"}}},
	{"retention zero", `{"retention_days":0}`, []problem{{"retention_days", "between 1 and 3650"}}},
	{"vendor rate zero", `{"vendors":[{"name":"a","rate_per_minute":0}]}`, []problem{{"vendors[0].rate_per_minute", "between"}}},
	{"bad CIDR", `{"trusted_proxies":["10.0.0.0/33"]}`, []problem{{"trusted_proxies[0]", "not a valid CIDR"}}},
	{"host bits in CIDR", `{"vendors":[{"name":"a","allowed_cidrs":["192.0.2.1/24"]}]}`, []problem{{"vendors[0].allowed_cidrs[0]", "did you mean 192.0.2.0/24"}}},
	{"not an address", `{"vendors":[{"name":"a","allowed_cidrs":["10.0.0.0/8","example.com"]}]}`, []problem{{"vendors[0].allowed_cidrs[1]", "not a valid address"}}},
	{"empty CIDR", `{"trusted_proxies":[""]}`, []problem{{"trusted_proxies[0]", "not a valid address"}}},
	{"duplicate vendor names", `{"vendors":[{"name":"a"},{"name":"b"},{"name":"a"}]}`, []problem{{"vendors[2].name", `duplicate vendor name "a"`}}},
	{"bad vendor name", `{"vendors":[{"name":"Acme Locks"}]}`, []problem{{"vendors[0].name", "lowercase"}}},
	{"missing vendor name", `{"vendors":[{"enabled":true}]}`, []problem{{"vendors[0].name", "is required"}}},
	{"empty secret", `{"vendors":[{"name":"a","secrets":["ok-secret"," "]}]}`, []problem{{"vendors[0].secrets[1]", "must not be empty"}}},
	{"duplicate usernames", `{"devices":[{"username":"u","password":"12345678"},{"username":"u","password":"12345678"}]}`, []problem{{"devices[1].username", `duplicate username "u"`}}},
	{"bad username", `{"devices":[{"username":"a b","password":"12345678"}]}`, []problem{{"devices[0].username", "must be letters"}}},
	{"missing username and password", `{"devices":[{}]}`, []problem{{"devices[0].username", "is required"}, {"devices[0].password", "is required"}}},
	{"short password", `{"devices":[{"username":"u","password":"1234567"}]}`, []problem{{"devices[0].password", "at least 8"}}},
	{"bad allow filter", `{"devices":[{"username":"u","password":"12345678","allow":["a/#/b","/a","a+/b","$SYS/#"]}]}`,
		[]problem{{"devices[0].allow[0]", "'#' must be the last level"}, {"devices[0].allow[1]", "drop the leading '/'"},
			{"devices[0].allow[2]", "must fill a whole level"}, {"devices[0].allow[3]", "must not start with '$'"}}},
	{"bad bridge topic", `{"bridge_topics":[""]}`, []problem{{"bridge_topics[0]", "must not be empty"}}},
	{"external broker without URL", `{"broker":"external"}`, []problem{{"external_broker.url", "is required when broker is external"}}},
	{"external broker empty URL", `{"broker":"external","external_broker":{"url":""}}`, []problem{{"external_broker.url", "is required when broker is external"}}},
	{"bad broker URL", `{"external_broker":{"url":"http://broker"}}`, []problem{{"external_broker.url", "scheme must be"}}},
	{"broker URL without scheme", `{"external_broker":{"url":"broker:1883"}}`, []problem{{"external_broker.url", "must be a URL"}}},
	{"cert without key", `{"external_broker":{"cert_file":"c.pem"}}`, []problem{{"external_broker.cert_file", "go together"}}},
	{"short pseudonym key", `{"pseudonym_key":"short"}`, []problem{{"pseudonym_key", "at least 32 characters"}}},
	{"bad topic prefix", `{"topic_prefix":"a/+/b"}`, []problem{{"topic_prefix", "must not contain"}}},
	{"discovery topic prefix", `{"topic_prefix":"homeassistant"}`, []problem{{"topic_prefix", "must not be homeassistant"}}},
	{
		"every problem at once",
		`{"colour":1,"log_level":"loud","max_body_kb":0,"trusted_proxies":["x"],"broker":"external",
		  "vendors":[{"name":"a","q":1},{"name":"a","allowed_cidrs":["10.0.0.1/8"]}],
		  "devices":[{"username":"u","password":"p"},{"username":"u","password":"12345678","allow":["#/x"]}]}`,
		[]problem{
			{"colour", "unknown key"},
			{"log_level", "must be one of"},
			{"max_body_kb", "between"},
			{"trusted_proxies[0]", "not a valid address"},
			{"vendors[0].q", "unknown key"},
			{"vendors[1].name", "duplicate"},
			{"vendors[1].allowed_cidrs[0]", "host bits"},
			{"devices[0].password", "at least 8"},
			{"devices[1].username", "duplicate"},
			{"devices[1].allow[0]", "last level"},
			{"external_broker.url", "is required"},
		},
	},
}

func TestParseProblems(t *testing.T) {
	for _, tt := range problemTests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := options.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, nil, want an error", tt.doc, o)
			}
			var oe *options.Error
			if !errors.As(err, &oe) || !errors.Is(err, options.ErrInvalid) || o != nil {
				t.Fatalf("Parse(%s) = %v, %v, want nil, *options.Error", tt.doc, o, err)
			}
			if len(oe.Problems) != len(tt.want) {
				t.Fatalf("Parse(%s) = %d problems %q, want %d", tt.doc, len(oe.Problems), oe.Problems, len(tt.want))
			}
			for _, w := range tt.want {
				found := slices.ContainsFunc(oe.Problems, func(p options.Problem) bool {
					return p.Path == w.path && strings.Contains(p.Message, w.text)
				})
				if !found {
					t.Errorf("Parse(%s) problems %q lack %s: %q", tt.doc, oe.Problems, w.path, w.text)
				}
			}
			for _, p := range oe.Problems {
				if p.Path != "" && !strings.Contains(err.Error(), p.Path+": ") {
					t.Errorf("Error() = %q lacks the path %s", err, p.Path)
				}
			}
		})
	}
}

// TestParseNeverQuotes checks that JSON errors, and problems about values, never repeat the file:
// options hold passwords and secrets.
func TestParseNeverQuotes(t *testing.T) {
	const secret = "SECRETVALUE"
	docs := []string{
		`{"pseudonym_key": "SECRETVALUE" x}`,
		`{"pseudonym_key": "SECRETVALUE",}`,
		`{"pseudonym_key": "SECRETVALUE"`,
		`{"pseudonym_key": SECRETVALUE}`,
		`{"SECRETVALUE"}`,
		`{"vendors":[{"name":"a","secrets":["SECRETVALUE"]}]} SECRETVALUE`,
		`{"vendors":[{"name":"a","secrets":["SECRETVALUE"]}]}}`,
		`{"vendors":[{"name":"a","secrets":["SECRETVALUE"]}]}]`,
		"{\"pseudonym_key\": \"SECRETVALUE\x01\"}",
		"{\"pseudonym_key\": \"SECRETVALUE\xff\" x}",
		`{"devices":[{"username":"u","password":"SECRETVALUE","allow":"SECRETVALUE"}], "x": "SECRETVALUE"}`,
		`{"pseudonym_key":"SECRETVALUE"}`,
		`{"devices":[{"username":"u","password":"SECRET"}]}`,
		`{"external_broker":{"url":"SECRETVALUE"}}`,
		`{"vendors":[{"name":"SECRETVALUE"}]}`,
		`{"trusted_proxies":["SECRETVALUE"]}`,
		`{"log_level":"SECRETVALUE"}`,
		`{"public_url":"SECRETVALUE"}`,
		`{"public_url":"https://SECRETVALUE@x"}`,
		``,
		`SECRETVALUE`,
	}
	for _, doc := range docs {
		t.Run(doc, func(t *testing.T) {
			_, err := options.Parse([]byte(doc))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one", doc)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("Parse(%q) = %q, quotes the file", doc, err)
			}
		})
	}
}

func TestParseTrailingData(t *testing.T) {
	for _, doc := range []string{`{} {}`, `{} }`, `{}]`, `{} x`, `{},`, `{}"`, `{} null`} {
		if _, err := options.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "data after") {
			t.Errorf("Parse(%q) = %v, want a data-after error", doc, err)
		}
	}
	for _, doc := range []string{"{}\n", "{}\r\n\t ", "\n{}"} {
		if _, err := options.Parse([]byte(doc)); err != nil {
			t.Errorf("Parse(%q) = %v, want nil", doc, err)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when refused
	}{
		{"192.168.1.0/24", "192.168.1.0/24"},
		{"10.0.0.1", "10.0.0.1/32"},
		{"10.0.0.1/32", "10.0.0.1/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"fe80::1%eth0", "fe80::1/128"},
		{"10.0.0.0/33", ""},
		{"10.0.0.1/8", ""},
		{"2001:db8::1/32", ""},
		{"10.0.0", ""},
		{"10.0.0.01", ""},
		{" 10.0.0.1", ""},
		{"example.com", ""},
		{"10.0.0.0/", ""},
		{"/8", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := options.ParsePrefix(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ParsePrefix(%q) = %v, nil, want an error", tt.in, p)
				}
				return
			}
			if err != nil || p != netip.MustParsePrefix(tt.want) {
				t.Errorf("ParsePrefix(%q) = %v, %v, want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

func TestCheckTopicPrefix(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"hookbridge", true},
		{"home/hooks", true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("a", 128), true},
		{"a/+", false},
		{"a/#", false},
		{"a\x00", false},
		{"$SYS", false},
		{"homeassistant", false},
		{"homeassistant/x", false},
		{"homeassistantx", true},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
	}
	for _, tt := range tests {
		if err := options.CheckTopicPrefix(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckTopicPrefix(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckRelativeFilter(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"acme-locks/locks/+/state", true},
		{"#", true},
		{"+", true},
		{"a/#", true},
		{"+/+/#", true},
		{"", false},
		{strings.Repeat("a", 257), false},
		{"/a", false},
		{"$SYS/#", false},
		{"a\x00", false},
		{"a/#/b", false},
		{"#/a", false},
		{"a#", false},
		{"a+", false},
		{"a/b+/c", false},
	}
	for _, tt := range tests {
		if err := options.CheckRelativeFilter(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckRelativeFilter(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckBrokerURL(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"tcp://host:1883", true},
		{"mqtt://host", true},
		{"ssl://host:8883", true},
		{"tls://host:8883", true},
		{"mqtts://host:8883", true},
		{"ws://host/mqtt", true},
		{"wss://host/mqtt", true},
		{"http://host", false},
		{"host:1883", false},
		{"tcp://", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := options.CheckBrokerURL(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckBrokerURL(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckPublicURL(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://hooks.example.net", "https://hooks.example.net", true},
		{"https://hooks.example.net/", "https://hooks.example.net", true},
		{"http://192.0.2.7:8080/hookbridge/", "http://192.0.2.7:8080/hookbridge", true},
		{"https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443", true},
		{"hooks.example.net", "", false},
		{"https://", "", false},
		{"https://hooks.example.net?x=1", "", false},
		{"https://hooks.example.net/#x", "", false},
		{"https://user:pw@hooks.example.net", "", false},
		{"ftp://hooks.example.net", "", false},
		{"https://hooks example.net", "", false},
		{"https://:443", "", false},
	}
	for _, tt := range tests {
		got, err := options.CheckPublicURL(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("CheckPublicURL(%q) = %q, %v, want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	o, err := options.Parse([]byte(`{"public_url":"https://hooks.example.net/"}`))
	if err != nil || o.PublicURL != "https://hooks.example.net" {
		t.Errorf("Parse(public_url with a slash) = %+v, %v, want it without", o, err)
	}
}

func TestKeys(t *testing.T) {
	keys := options.Keys()
	if !slices.IsSorted(keys) {
		t.Errorf("Keys() = %q, not sorted", keys)
	}
	for _, k := range []string{"log_level", "vendors", "devices", "external_broker", "external_broker.url",
		"vendors.name", "vendors.allowed_cidrs", "devices.username", "devices.allow", "bridge_topics"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys() lacks %s", k)
		}
	}
	// Every key Keys lists is one Parse takes.
	for _, k := range keys {
		if strings.Contains(k, ".") {
			continue
		}
		if _, err := options.Parse([]byte(`{"` + k + `": 12345}`)); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("Parse(%s) = %v, an unknown key", k, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(fullOptions))
	f.Add([]byte(`{}`))
	for _, tt := range problemTests {
		f.Add([]byte(tt.doc))
	}
	f.Add([]byte(`{"vendors":[{"name":"a"},{"name":"a"}]}`))
	f.Add([]byte(`{"x":1} }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := options.Parse(data)
		if (o == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v, want exactly one", data, o, err)
		}
		if err != nil {
			var oe *options.Error
			if !errors.As(err, &oe) || len(oe.Problems) == 0 {
				t.Fatalf("Parse(%q) = %v, want an *Error with problems", data, err)
			}
			return
		}
		if o.Vendors == nil || o.Devices == nil || o.TrustedProxies == nil || o.BridgeTopics == nil {
			t.Fatalf("Parse(%q) = %+v, with a nil list", data, o)
		}
	})
}

// TestParseConflicts: options valid one by one that cannot work with the broker mode are refused,
// naming the key, so that check reports them as serve would.
func TestParseConflicts(t *testing.T) {
	for _, c := range []struct{ name, json, path string }{
		{"bridge_topics with an external broker", `{"broker":"external","external_broker":{"url":"tcp://b:1883"},"bridge_topics":["a/#"]}`, "bridge_topics"},
		{"ha_mqtt embedded with the Supervisor's broker", `{"broker":"supervisor","ha_mqtt":"embedded"}`, "ha_mqtt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := options.Parse([]byte(c.json))
			var oe *options.Error
			if !errors.As(err, &oe) || len(oe.Problems) != 1 || oe.Problems[0].Path != c.path {
				t.Fatalf("Parse = %v, want one problem at %s", err, c.path)
			}
		})
	}
}

// TestVendorConfigsMode checks that a vendor's mode reaches the pipeline's settings, live when
// the options leave it out (options files written before 0.2 have no mode).
func TestVendorConfigsMode(t *testing.T) {
	o, err := options.Parse([]byte(`{"vendors":[{"name":"a"},{"name":"b","mode":"shadow"},{"name":"c","mode":"learn"},{"name":"d","mode":"live"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := o.VendorConfigs()
	if err != nil {
		t.Fatal(err)
	}
	want := []vendor.Mode{vendor.ModeLive, vendor.ModeShadow, vendor.ModeLearn, vendor.ModeLive}
	for i, c := range cfgs {
		if c.Mode != want[i] {
			t.Errorf("VendorConfigs()[%d].Mode = %q, want %q", i, c.Mode, want[i])
		}
	}
}
