package catalog_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookbridge/hookbridge/bridge/catalog"
	"github.com/hookbridge/hookbridge/bridge/payload"
	"github.com/hookbridge/hookbridge/bridge/policy"
	"github.com/hookbridge/hookbridge/bridge/pseudo"
	"github.com/hookbridge/hookbridge/bridge/route"
	"github.com/hookbridge/hookbridge/bridge/verify"
)

// hostileVendorRE finds a policy's vendor line, to rename the seeds' vendors to the fuzz vendor.
var (
	hostileVendorRE = regexp.MustCompile(`(?m)^vendor: .*$`)
	hostileSchemaRE = regexp.MustCompile(`(?m)^schema: .*$`)
	// hostileTokenRE is an HTTP header name (RFC 9110 token).
	hostileTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// hostileDocs are payloads routed through every policy the fuzzer gets loaded.
var hostileDocs = []string{
	`{"id":"evt_1","type":"lock.state_changed","data":{"device_id":"a/b+#$\u0000","state":"locked","battery_pct":5,"user":{"id":"u"}}}`,
	`{"id":"evt_2","type":"t","event":"t","data":{"object":{"camera_id":"../../$SYS/#"}},"account":{"meter_serial":"` + strings.Repeat("m", 300) + `"}}`,
	`{"a":[{"b":{"c":[1,2,{"d":"e"}]}}],"type":"*","~":{"/":"x"},"":""}`,
	`[]`, `"x"`, `null`, `{"id":{"x":1},"type":["t"]}`,
}

// FuzzPolicyLoader loads a vendor policy and its schema through the catalog loader, as
// `hookbridge check` and every start do, seeded with the real policies and schemas and with
// hostile YAML and JSON. It never panics; and a policy it accepts must work: its header names can
// travel over HTTP, a secret can be configured for its scheme, what its signer signs its verifier
// accepts, and its routes only ever publish under {topic_prefix}/{vendor}/ on topics without
// wildcards, NUL or empty levels, with its pseudonymized fields as tokens.
func FuzzPolicyLoader(f *testing.F) {
	for _, dir := range []string{"../../policies", "../../testdata/catalog/policies", "../../testdata/catalog/senders/policies"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			p, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			m := hostileSchemaRE.Find(p)
			name := strings.TrimSpace(strings.TrimPrefix(string(m), "schema:"))
			s, err := os.ReadFile(filepath.Join("../../schemas", name))
			if os.IsNotExist(err) {
				s, err = os.ReadFile(filepath.Join(dir, "..", "schemas", name))
			}
			if err != nil {
				f.Fatalf("%s: schema %s: %v", file, name, err)
			}
			p = hostileVendorRE.ReplaceAll(p, []byte("vendor: fz"))
			p = hostileSchemaRE.ReplaceAll(p, []byte("schema: fz/v1.json"))
			f.Add(p, s)
		}
	}
	good, _ := os.ReadFile("../../policies/acme-locks.yaml")
	good = hostileVendorRE.ReplaceAll(good, []byte("vendor: fz"))
	good = hostileSchemaRE.ReplaceAll(good, []byte("schema: fz/v1.json"))
	schema, _ := os.ReadFile("../../schemas/acme-locks/v1.json")
	for _, p := range []string{
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		string(good) + "---\nvendor: other\n",
		string(good) + "vendor: fz\n",
		strings.Replace(string(good), "auth:", "auth: &x\n  <<: *x\n", 1),
		strings.Replace(string(good), "scheme: standard-webhooks", "scheme: hmac-sha256\n  header: \"X Sig\\r\\nInjected: 1\"\n  prefix: \"\\u0000\"", 1),
		strings.Replace(string(good), "topic: locks/{device}/state", "topic: \"../{device}/#/$SYS\"", 1),
		strings.Replace(string(good), "/data/device_id", "/data/device_id~2", 1),
		strings.Replace(string(good), "tolerance: 5m", "tolerance: !!binary aGVsbG8=", 1),
		"\xef\xbb\xbf" + string(good),
		"vendor: fz\x00\n",
		"",
	} {
		f.Add([]byte(p), schema)
	}
	for _, s := range []string{
		`{"$ref":"#"}`,
		`{"$ref":"http://169.254.169.254/latest/meta-data"}`,
		`{"$ref":"file:///etc/passwd"}`,
		`{"$ref":"../acme-locks/v1.json"}`,
		`{"type":"object","properties":{"id":{"pattern":"("}}}`,
		`{"type":"object","properties":{"id":{"pattern":"^(a+)+$"}}}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"minimum":1e999999}`,
		strings.Repeat(`{"items":`, 1000) + `{}` + strings.Repeat(`}`, 1000), // deeper compiles slowly: 2000 levels 1s, 5000 levels 30s
		`not json`,
	} {
		f.Add(good, []byte(s))
	}
	ps, err := pseudo.New([]byte("fuzz-pseudonym-key-0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, policyYAML, schemaJSON []byte) {
		fsys := fstest.MapFS{
			"policies/fz.yaml":   {Data: policyYAML},
			"schemas/fz/v1.json": {Data: schemaJSON},
		}
		c, problems, err := catalog.Load(catalog.Sources{Builtin: fsys})
		for _, p := range problems {
			if p.File == "" || p.Message == "" {
				t.Fatalf("problem without a file or message: %+v", p)
			}
		}
		if err != nil || c == nil {
			return
		}
		v, ok := c.Vendor("fz")
		if !ok {
			return
		}
		p := v.Policy
		a := p.Auth
		if a.IDHeader != "" && !hostileTokenRE.MatchString(a.IDHeader) {
			t.Fatalf("loaded a policy whose id header %q cannot be sent over HTTP", a.IDHeader)
		}

		// A secret can be configured, and what the signer signs, the verifier accepts, through
		// headers as HTTP carries them.
		secret, err := a.NewSecret()
		if errors.Is(err, verify.ErrCannotGenerate) {
			// The sender issues it (or it is a public key): a plain secret, if the scheme takes one.
			secret = "fuzz-secret-0123456789abcdef"
			if a.CheckSecret(secret) != nil {
				secret = ""
			}
		} else if err != nil {
			t.Fatalf("no secret for the loaded policy's auth %+v: %v", a, err)
		}
		if secret != "" {
			vf, err := verify.New(a, []string{secret})
			if err != nil {
				t.Fatalf("the loaded policy's auth %+v refuses its own fresh secret: %v", a, err)
			}
			body := []byte(hostileDocs[0])
			now := time.Now()
			m := &verify.Message{URL: "https://hooks.example.test/hooks/fz", Body: body, ID: "evt_fuzz", Time: now}
			err = verify.Signer{Auth: a, Secret: secret}.SignMessage(m)
			switch {
			case errors.Is(err, verify.ErrCannotSign):
				// A recipe that signs a header the message does not have.
			case err != nil:
				t.Fatalf("sign: %v", err)
			default:
				h := http.Header{}
				for k, val := range m.Header {
					if !hostileTokenRE.MatchString(k) {
						t.Fatalf("loaded a policy whose header %q cannot be sent over HTTP", k)
					}
					if strings.ContainsFunc(val, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
						t.Fatalf("loaded a policy whose header %s value %q cannot be sent over HTTP", k, val)
					}
					h.Add(k, val)
				}
				// As the receiver does: the path after /hooks/fz/ is the request's rest (a
				// path-token scheme's token goes there).
				u, q, _ := strings.Cut(m.URL, "?")
				rest := strings.TrimPrefix(strings.TrimPrefix(u, "https://hooks.example.test/hooks/fz"), "/")
				if _, err := vf.Verify(&verify.Request{Method: "POST", Header: h, Body: body, URL: m.URL, Query: q, Rest: rest, Now: now}); err != nil {
					t.Fatalf("the loaded policy's verifier refuses its own signer's request: %v (auth %+v)", err, a)
				}
			}
		}

		// Routes stay in the vendor's subtree; the schema validates without panicking.
		table := route.Compile("hookbridge", p, ps)
		for _, d := range hostileDocs {
			doc, err := payload.Parse([]byte(d), payload.DefaultLimits)
			if err != nil {
				t.Fatalf("seed doc %s: %v", d, err)
			}
			_ = v.Schema.Validate(doc)
			_ = v.Schema.UnknownFields(doc)
			for _, r := range p.Routes {
				res := table.Apply(doc, r.When)
				for _, m := range res.Messages {
					hostileCheckMessage(t, m, p)
				}
			}
		}
	})
}

// hostileCheckMessage checks one routed message of the fuzz vendor.
func hostileCheckMessage(t *testing.T, m route.Message, p *policy.Policy) {
	t.Helper()
	if !strings.HasPrefix(m.Topic, "hookbridge/fz/") || strings.ContainsAny(m.Topic, "+#\x00") {
		t.Fatalf("route published on %q", m.Topic)
	}
	for _, l := range strings.Split(m.Topic, "/") {
		if l == "" || strings.HasPrefix(l, "$") {
			t.Fatalf("route published on %q: empty or '$' level", m.Topic)
		}
	}
	doc, err := payload.Parse(m.Payload, payload.Limits{})
	if err != nil {
		t.Fatalf("payload %q: %v", m.Payload, err)
	}
	fields, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("payload %q is not an object", m.Payload)
	}
	for _, r := range p.Routes {
		for _, fd := range r.Fields {
			if v, ok := fields[fd.Name]; ok && fd.Pseudonymize {
				if s, _ := v.(string); len(s) != pseudo.TokenLen || !bytes.ContainsAny([]byte(s), "0123456789abcdef") {
					// A field of the same name may be plain in another route; only flag it when
					// every route that lists the name pseudonymizes it.
					if hostileAlwaysPseudonymized(p, fd.Name) {
						t.Fatalf("pseudonymized field %s = %v in %q", fd.Name, v, m.Payload)
					}
				}
			}
		}
	}
}

func hostileAlwaysPseudonymized(p *policy.Policy, name string) bool {
	for _, r := range p.Routes {
		for _, fd := range r.Fields {
			if fd.Name == name && !fd.Pseudonymize {
				return false
			}
		}
	}
	return true
}
