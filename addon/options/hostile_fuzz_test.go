package options_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hookbridge/hookbridge/addon/options"
)

// hostileOptions is a complete options file, the base of the seeds.
const hostileOptions = `{
  "log_level": "debug", "topic_prefix": "hookbridge", "broker": "embedded",
  "external_broker": {"url": "", "username": "", "password": ""},
  "max_body_kb": 64, "source_rate_per_minute": 1200, "trusted_proxies": ["10.0.0.0/8", "::1"],
  "retention_days": 7, "pseudonym_key": "", "ha_mqtt": "auto", "bridge_topics": ["acme-locks/#"],
  "vendors": [{"name": "acme-locks", "enabled": true, "secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="], "allowed_cidrs": ["192.0.2.0/24"], "rate_per_minute": 600}],
  "devices": [{"username": "hallway-panel", "password": "panel-password-123", "allow": ["acme-locks/locks/+/state"]},
              {"username": "homeassistant", "password": "ha-password-12345", "allow": []}]
}`

var hostileSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// hostileCanaries are the secret values FuzzOptionsLoader plants in every options object it gets;
// no error text may quote them.
var hostileCanaries = []string{"CANARY-PASSWORD-7f3a", "CANARY-SECRET-91c2", "CANARY-PSEUDONYM-KEY-0123456789abcdef", "CANARY-EXTERNAL-5d0e"}

// FuzzOptionsLoader loads options files, seeded with a complete file and hostile variants of it
// (wrong types, huge numbers, deep nesting, NUL, duplicate keys, bad CIDRs and filters). It never
// panics; options it accepts hold only valid values and survive a round trip through JSON
// unchanged; and no error text ever quotes a password, secret or key, which the fuzzer plants in
// every options object it produces.
func FuzzOptionsLoader(f *testing.F) {
	f.Add([]byte(hostileOptions))
	for _, edit := range [][2]string{
		{`"max_body_kb": 64`, `"max_body_kb": 1e999999`},
		{`"max_body_kb": 64`, `"max_body_kb": 99999999999999999999999`},
		{`"max_body_kb": 64`, `"max_body_kb": -0`},
		{`"retention_days": 7`, `"retention_days": 7.5`},
		{`"log_level": "debug"`, `"log_level": "debug\u0000"`},
		{`"log_level": "debug"`, `"log_level": "debug", "log_level": "info"`},
		{`"topic_prefix": "hookbridge"`, `"topic_prefix": "$SYS/#"`},
		{`"topic_prefix": "hookbridge"`, `"topic_prefix": "homeassistant"`},
		{`"10.0.0.0/8"`, `"10.0.0.1/8"`},
		{`"10.0.0.0/8"`, `"fe80::1%eth0"`},
		{`"::1"`, `"::ffff:10.0.0.0/104"`},
		{`"acme-locks/#"`, `"acme-locks/#/x"`},
		{`"acme-locks/locks/+/state"`, `"$share/g/#"`},
		{`"name": "acme-locks"`, `"name": "Acme_Locks"`},
		{`"username": "hallway-panel"`, `"username": "homeassistant"`},
		{`"password": "panel-password-123"`, `"password": ["panel-password-123"]`},
		{`"secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="]`, `"secrets": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="`},
		{`"url": ""`, `"url": "http://169.254.169.254/"`},
		{`"broker": "embedded"`, `"broker": "external"`},
		{`"ha_mqtt": "auto"`, `"ha_mqtt": "auto", "extra": {"deep": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`},
	} {
		f.Add([]byte(strings.Replace(hostileOptions, edit[0], edit[1], 1)))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte("\xef\xbb\xbf{}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := options.Parse(data)
		if err == nil {
			hostileCheckValid(t, o)
			again, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("marshal accepted options: %v", err)
			}
			o2, err := options.Parse(again)
			if err != nil {
				t.Fatalf("accepted options do not load again after a round trip: %v\n%s", err, again)
			}
			if !reflect.DeepEqual(o, o2) {
				t.Fatalf("round trip changed the options:\n%+v\n%+v", o, o2)
			}
		}

		// The same document with canary secrets planted wherever secrets go.
		var doc map[string]any
		if json.Unmarshal(data, &doc) != nil {
			return
		}
		doc["pseudonym_key"] = hostileCanaries[2]
		if eb, ok := doc["external_broker"].(map[string]any); ok {
			eb["password"] = hostileCanaries[3]
		}
		for _, list := range []string{"vendors", "devices"} {
			entries, _ := doc[list].([]any)
			for _, e := range entries {
				m, ok := e.(map[string]any)
				if !ok {
					continue
				}
				if list == "vendors" {
					m["secrets"] = []any{hostileCanaries[1], hostileCanaries[1] + "-old"}
				} else {
					m["password"] = hostileCanaries[0]
				}
			}
		}
		planted, err := json.Marshal(doc)
		if err != nil {
			return
		}
		if _, err := options.Parse(planted); err != nil {
			for _, c := range hostileCanaries {
				if strings.Contains(err.Error(), c) {
					t.Fatalf("an options error quotes a secret: %v", err)
				}
			}
		}
	})
}

// hostileCheckValid checks that accepted options hold only valid values.
func hostileCheckValid(t *testing.T, o *options.Options) {
	t.Helper()
	if err := options.CheckTopicPrefix(o.TopicPrefix); err != nil {
		t.Fatalf("accepted topic_prefix %q: %v", o.TopicPrefix, err)
	}
	if o.MaxBodyKB < 1 || o.SourceRatePerMinute < 1 || o.RetentionDays < 1 {
		t.Fatalf("accepted out-of-range numbers: %+v", o)
	}
	for _, p := range o.TrustedProxies {
		if _, err := options.ParsePrefix(p); err != nil {
			t.Fatalf("accepted trusted proxy %q: %v", p, err)
		}
	}
	for _, f := range o.BridgeTopics {
		if err := options.CheckRelativeFilter(f); err != nil {
			t.Fatalf("accepted bridge topic %q: %v", f, err)
		}
	}
	names := map[string]bool{}
	for _, v := range o.Vendors {
		if !hostileSlugRE.MatchString(v.Name) || names[v.Name] {
			t.Fatalf("accepted vendor name %q (duplicate: %v)", v.Name, names[v.Name])
		}
		names[v.Name] = true
		for _, c := range v.AllowedCIDRs {
			if _, err := options.ParsePrefix(c); err != nil {
				t.Fatalf("accepted CIDR %q: %v", c, err)
			}
		}
		if v.RatePerMinute < 1 {
			t.Fatalf("accepted rate %d", v.RatePerMinute)
		}
	}
	users := map[string]bool{}
	for _, d := range o.Devices {
		if users[d.Username] || len(d.Password) < 8 || strings.ContainsRune(d.Password, 0) {
			t.Fatalf("accepted device %q (duplicate %v)", d.Username, users[d.Username])
		}
		users[d.Username] = true
		for _, f := range d.Allow {
			if err := options.CheckRelativeFilter(f); err != nil {
				t.Fatalf("accepted device filter %q: %v", f, err)
			}
		}
	}
	if o.Broker == options.BrokerExternal && options.CheckBrokerURL(o.ExternalBroker.URL) != nil {
		t.Fatalf("accepted external broker URL %q", o.ExternalBroker.URL)
	}
}
