package verify_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbridge/hookbridge/bridge/verify"
)

func mustAuth(t testing.TB, text string) verify.Auth {
	t.Helper()
	a, err := verify.ParseAuth(text)
	if err != nil {
		t.Fatalf("ParseAuth(%q) = %v", text, err)
	}
	return a
}

// recipeProblemTests are auth sections a policy may not have; each problem on its key's line.
var recipeProblemTests = []struct {
	name string
	yaml string
	line int
	text string
}{
	{"no recipe", "scheme: recipe\n", 0, "auth.recipe: is required"},
	{"timestamp in the signature's header", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}.{body}\"\n  mac: hmac-sha256\n  signature: {header: X-Sig}\n  timestamp: {header: x-sig}\n", 0, "timestamp.header: is signature.header's header too"},
	{"id in the timestamp's header", "scheme: recipe\nrecipe:\n  signed: \"{id}{timestamp}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-Sig}\n  timestamp: {header: X-T}\n  id: {header: X-T}\n", 0, "id.header: is timestamp.header's header too"},
	{"timestamp key holds the separator", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \";\", pair: \"=\", keys: [v1]}\n  timestamp: {list_key: \"t;\"}\n", 0, "holds the list's separator or pair"},
	{"separator in a hex signature", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \"0\", pair: \"=\", keys: [v]}\n  timestamp: {list_key: t}\n", 0, "can appear in a hex signature or a timestamp"},
	{"separator in a base64 signature", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    encoding: base64\n    list: {separator: \"/\", pair: \":\", keys: [v]}\n", 0, "can appear in a base64 signature"},
	{"signs its own signature", "scheme: recipe\nrecipe:\n  signed: \"{header:x-sig}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-Sig}\n", 0, "signs the signature's own header X-Sig"},
	{"recipe not a mapping", "scheme: recipe\nrecipe: x\n", 2, "auth.recipe must be a mapping"},
	{"unknown recipe key", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  sig: {header: X}\n", 5, `unknown key "sig" in auth.recipe`},
	{"unknown signature key", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    format: hex\n", 7, `unknown key "format" in auth.recipe.signature`},
	{"no signed", "scheme: recipe\nrecipe:\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "auth.recipe.signed: is required"},
	{"unknown placeholder", "scheme: recipe\nrecipe:\n  signed: \"{payload}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "unknown placeholder {payload}"},
	{"unclosed brace", "scheme: recipe\nrecipe:\n  signed: \"v0:{body\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "without its '}'"},
	{"stray closing brace", "scheme: recipe\nrecipe:\n  signed: \"v0}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "without its '{'"},
	{"bad header placeholder", "scheme: recipe\nrecipe:\n  signed: \"{header:a b}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "does not name an HTTP header"},
	{"body not covered", "scheme: recipe\nrecipe:\n  signed: \"{url}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "must cover the body"},
	{"timestamp not signed", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  timestamp: {header: X-T}\n", 3, "{timestamp} and a timestamp: section go together"},
	{"timestamp without section", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}.{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "{timestamp} and a timestamp: section go together"},
	{"id not signed", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  id: {header: X-Id}\n", 3, "{id} and an id: section go together"},
	{"no mac", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  signature: {header: X-S}\n", 3, "auth.recipe.mac: is required"},
	{"bad mac", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: md5\n  signature: {header: X-S}\n", 4, "auth.recipe.mac: must be one of"},
	{"bad key format", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  key: base32\n  signature: {header: X-S}\n", 5, "auth.recipe.key: must be one of"},
	{"public key for an hmac", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  key: pem\n  signature: {header: X-S}\n", 5, "pem does not fit mac hmac-sha256"},
	{"shared secret for ed25519", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: ed25519\n  key: raw\n  signature: {header: X-S}\n", 5, "raw does not fit mac ed25519"},
	{"no signature header", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n", 3, "auth.recipe.signature.header: is required"},
	{"bad signature header", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature: {header: \"X S\"}\n", 5, "must be an HTTP header name"},
	{"bad encoding", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S, encoding: base32}\n", 5, "encoding: must be one of hex, base64, base64url"},
	{"prefix with list", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    prefix: v1=\n    list: {separator: \",\", pair: \"=\", keys: [v1]}\n", 7, "does not go with a list"},
	{"list without keys", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \",\", pair: \"=\"}\n", 7, "list.keys: is required"},
	{"list same separator and pair", "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \",\", pair: \",\", keys: [v1]}\n", 7, "separator and pair must differ"},
	{"timestamp with both", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \",\", pair: \"=\", keys: [v1]}\n  timestamp: {header: X-T, list_key: t}\n", 8, "exactly one of header and list_key"},
	{"timestamp list key without list", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  timestamp: {list_key: t}\n", 6, "needs signature.list"},
	{"timestamp key is a signature key", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature:\n    header: X-S\n    list: {separator: \",\", pair: \"=\", keys: [t]}\n  timestamp: {list_key: t}\n", 8, "is also a signature key"},
	{"bad unit", "scheme: recipe\nrecipe:\n  signed: \"{timestamp}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  timestamp: {header: X-T, unit: minutes}\n", 6, "unit: must be seconds, milliseconds or rfc3339"},
	{"id without header", "scheme: recipe\nrecipe:\n  signed: \"{id}{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  id: {}\n", 6, "id.header: is required"},
	{"tolerance without timestamp", "scheme: recipe\ntolerance: 5m\nrecipe:\n  signed: \"{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 2, "signs no timestamp"},
	{"template too long", "scheme: recipe\nrecipe:\n  signed: \"" + strings.Repeat("x", 1025) + "{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n", 3, "at most 1024 characters"},
}

func TestRecipeProblems(t *testing.T) {
	for _, tt := range recipeProblemTests {
		t.Run(tt.name, func(t *testing.T) {
			var root yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &root); err != nil {
				t.Fatal(err)
			}
			_, problems := verify.DecodeAuth(root.Content[0])
			if len(problems) == 0 {
				t.Fatalf("DecodeAuth(%s) = no problem, want one with %q", tt.name, tt.text)
			}
			p := problems[0]
			if !strings.Contains(p.Message, tt.text) || (tt.line != 0 && p.Line != tt.line) {
				t.Errorf("DecodeAuth(%s) = %+v, want line %d with %q", tt.name, problems, tt.line, tt.text)
			}
		})
	}
}

// recipeCase is a recipe and the secrets to test it with: Secret verifies, Signing signs (the
// private key for a public-key mac, else the secret), Other is another sender's.
type recipeCase struct {
	name                     string
	yaml                     string
	secret, signing, other   string
	url                      string // the URL the sender was given, for {url}
	contentType              string
	body                     []byte
	headers                  map[string]string // set before signing, for {header:Name}
	timed, signsID, signsURL bool
}

func recipeCases(t testing.TB) []recipeCase {
	kp := keyPairs(t)
	hmacSecret, hmacOther := "recipe-secret-0123456789", "other-secret-0123456789ab"
	b64 := base64.StdEncoding.EncodeToString
	form := []byte("To=%2B18005551212&Digits=1234&From=%2B14158675310&Digits=5678&Body=hello+world")
	return []recipeCase{
		{name: "slack-like hmac-sha256 hex prefix", yaml: `scheme: recipe
recipe:
  signed: "v0:{timestamp}:{body}"
  mac: hmac-sha256
  signature: {header: X-Slack-Signature, encoding: hex, prefix: "v0="}
  timestamp: {header: X-Slack-Request-Timestamp, unit: seconds}
`, secret: hmacSecret, other: hmacOther, timed: true},
		{name: "stripe-like list with list timestamp", yaml: `scheme: recipe
tolerance: 2m
recipe:
  signed: "{timestamp}.{body}"
  mac: hmac-sha256
  signature:
    header: X-List-Signature
    list: {separator: ",", pair: "=", keys: [v1]}
  timestamp: {list_key: t}
`, secret: hmacSecret, other: hmacOther, timed: true},
		{name: "standard-webhooks-like space list, whsec, id", yaml: `scheme: recipe
recipe:
  signed: "{id}.{timestamp}.{body}"
  mac: hmac-sha256
  key: whsec
  signature:
    header: Webhook-Signature
    encoding: base64
    list: {separator: " ", pair: ",", keys: [v1]}
  timestamp: {header: Webhook-Timestamp}
  id: {header: Webhook-Id}
`, secret: "whsec_" + b64([]byte("0123456789abcdef0123")), other: "whsec_" + b64([]byte("another vendor's key")), timed: true, signsID: true},
		{name: "hmac-sha1 base64 url and form", yaml: `scheme: recipe
recipe:
  signed: "{url}{form}"
  mac: hmac-sha1
  signature: {header: X-Twilio-Signature, encoding: base64}
`, secret: hmacSecret, other: hmacOther, url: "https://hooks.example.net/hooks/twilio?foo=1&bar=2",
			contentType: "application/x-www-form-urlencoded", body: form, signsURL: true},
		{name: "hmac-sha512 base64url millisecond timestamp and signed header", yaml: `scheme: recipe
recipe:
  signed: "{header:X-Account}|{timestamp}|{body}"
  mac: hmac-sha512
  key: hex
  signature: {header: X-Sig-512, encoding: base64url}
  timestamp: {header: X-Ms, unit: milliseconds}
`, secret: "00112233445566778899aabbccddeeff", other: "ffeeddccbbaa99887766554433221100",
			headers: map[string]string{"X-Account": "acct_42"}, timed: true},
		{name: "hmac-sha256 base64 key rfc3339 timestamp", yaml: `scheme: recipe
recipe:
  signed: "{timestamp}\n{body}"
  mac: hmac-sha256
  key: base64
  signature: {header: X-Sig, encoding: base64}
  timestamp: {header: X-Time, unit: rfc3339}
`, secret: b64([]byte("0123456789abcdef0123456789abcdef")), other: b64([]byte("fedcba9876543210fedcba9876543210")), timed: true},
		{name: "ed25519 whpk in a list", yaml: `scheme: recipe
recipe:
  signed: "{id}.{timestamp}.{body}"
  mac: ed25519
  key: whpk
  signature:
    header: Webhook-Signature
    encoding: base64
    list: {separator: " ", pair: ",", keys: [v1a]}
  timestamp: {header: Webhook-Timestamp}
  id: {header: Webhook-Id}
`, secret: whpkOf(t, kp["ed25519"].Private), signing: whskOf(t, kp["ed25519"].Private), other: whpkOf(t, freshEd25519(t)), timed: true, signsID: true},
		{name: "ed25519 pem", yaml: "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: ed25519\n  key: pem\n  signature: {header: X-Ed, encoding: base64}\n",
			secret: kp["ed25519"].Public, signing: kp["ed25519"].Private, other: pemOfEd25519(t, freshEd25519(t))},
		{name: "rsa-pss-sha256 pem", yaml: "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: rsa-pss-sha256\n  signature: {header: WebHook-Signature, encoding: base64}\n",
			secret: kp["rsa"].Public, signing: kp["rsa"].Private},
		{name: "rsa-pkcs1v15-sha256 over url and body", yaml: "scheme: recipe\nrecipe:\n  signed: \"{url}{body}\"\n  mac: rsa-pkcs1v15-sha256\n  signature: {header: X-Rsa, encoding: base64}\n",
			secret: kp["rsa"].Public, signing: kp["rsa"].Private, url: "https://hooks.example.net/hooks/rsa", signsURL: true},
		{name: "ecdsa-p256-sha256 hex", yaml: "scheme: recipe\nrecipe:\n  signed: \"{timestamp}.{body}\"\n  mac: ecdsa-p256-sha256\n  signature: {header: X-Ec, encoding: hex}\n  timestamp: {header: X-T}\n",
			secret: kp["p256"].Public, signing: kp["p256"].Private, timed: true},
	}
}

func freshEd25519(t testing.TB) string {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func ed25519Of(t testing.TB, privPEM string) ed25519.PrivateKey {
	blk, _ := pem.Decode([]byte(privPEM))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

func whpkOf(t testing.TB, privPEM string) string {
	return "whpk_" + base64.StdEncoding.EncodeToString(ed25519Of(t, privPEM).Public().(ed25519.PublicKey))
}

func whskOf(t testing.TB, privPEM string) string {
	return "whsk_" + base64.StdEncoding.EncodeToString(ed25519Of(t, privPEM).Seed())
}

func pemOfEd25519(t testing.TB, privPEM string) string {
	der, err := x509.MarshalPKIXPublicKey(ed25519Of(t, privPEM).Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// signCase signs the case's message at when and returns the request it makes.
func signCase(t testing.TB, a verify.Auth, c recipeCase, when time.Time) *verify.Request {
	t.Helper()
	signing := c.signing
	if signing == "" {
		signing = c.secret
	}
	b := c.body
	if b == nil {
		b = body
	}
	m := &verify.Message{URL: c.url, ContentType: c.contentType, Body: b, ID: "evt_1", Time: when, Header: map[string]string{}}
	for k, v := range c.headers {
		m.Header[k] = v
	}
	if err := (verify.Signer{Auth: a, Secret: signing}).SignMessage(m); err != nil {
		t.Fatalf("%s: SignMessage = %v", c.name, err)
	}
	h := http.Header{}
	for k, v := range m.Header {
		h.Set(k, v)
	}
	return &verify.Request{Method: "POST", Header: h, Body: b, URL: m.URL, Now: when}
}

func clone(r *verify.Request) *verify.Request {
	c := *r
	c.Header = r.Header.(http.Header).Clone()
	c.Body = bytes.Clone(r.Body)
	return &c
}

func TestRecipeRoundTrip(t *testing.T) {
	for _, c := range recipeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			a := mustAuth(t, c.yaml)
			if a.SignsTimestamp() != c.timed || a.SignsID() != c.signsID || a.SignsURL() != c.signsURL {
				t.Fatalf("auth signs timestamp/id/url = %v/%v/%v, want %v/%v/%v", a.SignsTimestamp(), a.SignsID(), a.SignsURL(), c.timed, c.signsID, c.signsURL)
			}
			secrets := []string{c.secret}
			if c.other != "" {
				secrets = []string{c.other, c.secret} // a rotation: the second one verifies
			}
			v, err := verify.New(a, secrets)
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			good := signCase(t, a, c, epoch)
			res, err := v.Verify(good)
			if err != nil {
				t.Fatalf("Verify(signed) = %v, want nil", err)
			}
			if wantID := map[bool]string{true: "evt_1"}[c.signsID]; res.ID != wantID {
				t.Errorf("Verify(signed).ID = %q, want %q", res.ID, wantID)
			}
			checkErrorText(t, err, nil, secrets...)

			// Each change below must be refused; refusals never reveal a secret.
			type change struct {
				name string
				edit func(r *verify.Request)
				want error
			}
			changes := []change{
				{"body byte", func(r *verify.Request) { r.Body[len(r.Body)/2] ^= 1 }, verify.ErrBadSignature},
				{"body longer", func(r *verify.Request) { r.Body = append(r.Body, ' ') }, verify.ErrBadSignature},
				{"no headers", func(r *verify.Request) { r.Header = http.Header{} }, verify.ErrBadSignature},
			}
			for name := range good.Header.(http.Header) {
				changes = append(changes, change{"header " + name + " changed", func(r *verify.Request) {
					h := r.Header.(http.Header)
					val := []byte(h.Get(name))
					mid := len(val) / 2
					val[mid] ^= 1
					if val[mid] < 0x21 || val[mid] > 0x7e {
						val[mid] = 'A'
					}
					if string(val) == h.Get(name) {
						val[mid] = 'B'
					}
					h.Set(name, string(val))
				}, nil}, change{"header " + name + " missing", func(r *verify.Request) { r.Header.(http.Header).Del(name) }, verify.ErrBadSignature},
					change{"header " + name + " repeated", func(r *verify.Request) {
						h := r.Header.(http.Header)
						h.Add(name, h.Get(name))
					}, verify.ErrBadSignature})
			}
			if c.url != "" {
				changes = append(changes,
					change{"url scheme", func(r *verify.Request) { r.URL = strings.Replace(r.URL, "https:", "http:", 1) }, verify.ErrBadSignature},
					change{"url path", func(r *verify.Request) { r.URL += "x" }, verify.ErrBadSignature},
					change{"no public_url", func(r *verify.Request) { r.URL = "" }, verify.ErrBadSignature})
			}
			if c.timed {
				changes = append(changes,
					change{"too old", func(r *verify.Request) { r.Now = epoch.Add(a.Tolerance + time.Second) }, verify.ErrTimestamp},
					change{"too new", func(r *verify.Request) { r.Now = epoch.Add(-a.Tolerance - time.Second) }, verify.ErrTimestamp})
			}
			for _, ch := range changes {
				t.Run(ch.name, func(t *testing.T) {
					r := clone(good)
					ch.edit(r)
					_, err := v.Verify(r)
					if err == nil {
						t.Fatalf("Verify(%s) = nil, want a refusal", ch.name)
					}
					if ch.want != nil && !errors.Is(err, ch.want) {
						t.Errorf("Verify(%s) = %v, want %v", ch.name, err, ch.want)
					}
					if !errors.Is(err, verify.ErrBadSignature) && !errors.Is(err, verify.ErrTimestamp) {
						t.Errorf("Verify(%s) = %v, want ErrBadSignature or ErrTimestamp", ch.name, err)
					}
					checkErrorText(t, err, nil, secrets...)
				})
			}
			if c.timed {
				for _, at := range []time.Time{epoch.Add(a.Tolerance), epoch.Add(-a.Tolerance)} {
					r := clone(good)
					r.Now = at
					if _, err := v.Verify(r); err != nil {
						t.Errorf("Verify(at the window's edge %v) = %v, want nil", at.Sub(epoch), err)
					}
				}
			}
			if c.other != "" {
				only, err := verify.New(a, []string{c.other})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := only.Verify(clone(good)); !errors.Is(err, verify.ErrBadSignature) {
					t.Errorf("Verify(another sender's secret) = %v, want ErrBadSignature", err)
				}
			}
		})
	}
}

// TestRecipeListCandidates checks a list header's candidates: any one matching is enough (a
// rotation), other keys and undecodable values are skipped, at most 8 are tried, and a
// repeated timestamp is refused.
func TestRecipeListCandidates(t *testing.T) {
	c := recipeCases(t)[1] // stripe-like
	a := mustAuth(t, c.yaml)
	v, err := verify.New(a, []string{c.secret})
	if err != nil {
		t.Fatal(err)
	}
	good := signCase(t, a, c, epoch)
	h := good.Header.(http.Header).Get("X-List-Signature")
	ts, sig, _ := strings.Cut(h, ",")
	bad := "v1=" + strings.Repeat("0", 64)
	tests := []struct {
		header string
		ok     bool
	}{
		{h, true},
		{ts + "," + bad + "," + sig, true},
		{sig + "," + ts, true},
		{ts + ", " + sig, true},
		{ts + ",v0=" + strings.TrimPrefix(sig, "v1=") + "," + bad, false},
		{ts + ",v1=zz," + sig, true},
		{ts + ",v1=" + strings.TrimPrefix(sig, "v1=")[:62] + "," + bad, false},
		{ts + strings.Repeat(","+bad, 7) + "," + sig, true},
		{ts + strings.Repeat(","+bad, 8) + "," + sig, false},
		{ts + "," + ts + "," + sig, false},
		{sig, false},
		{ts, false},
		{"", false},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			r := clone(good)
			r.Header.(http.Header).Set("X-List-Signature", tt.header)
			if _, err := v.Verify(r); (err == nil) != tt.ok {
				t.Fatalf("Verify(%q) = %v, want ok=%v", tt.header, err, tt.ok)
			}
		})
	}
}

// TestRecipeKeys checks that secrets are validated when the vendor is built: a key of the wrong
// type, size or curve, or not a key at all, fails closed with ErrNoSecret.
func TestRecipeKeys(t *testing.T) {
	kp := keyPairs(t)
	oneLine := strings.Join(strings.Fields(kp["rsa"].Public), " ")
	oneLine = strings.Replace(strings.Replace(oneLine, "BEGIN PUBLIC", "BEGIN_PUBLIC", 1), "END PUBLIC", "END_PUBLIC", 1)
	oneLine = strings.ReplaceAll(strings.ReplaceAll(oneLine, "BEGIN_PUBLIC", "BEGIN PUBLIC"), "END_PUBLIC", "END PUBLIC")
	bare := func(p string) string {
		blk, _ := pem.Decode([]byte(p))
		return base64.StdEncoding.EncodeToString(blk.Bytes)
	}
	edCert := certificateOf(t, kp["ed25519"].Private)
	tests := []struct {
		name, mac, key, secret string
		ok                     bool
	}{
		{"rsa pem", "rsa-pss-sha256", "pem", kp["rsa"].Public, true},
		{"rsa pem on one line", "rsa-pss-sha256", "pem", oneLine, true},
		{"rsa bare base64", "rsa-pkcs1v15-sha256", "pem", bare(kp["rsa"].Public), true},
		{"rsa 1024 bits", "rsa-pss-sha256", "pem", kp["rsa1024"].Public, false},
		{"ed25519 key for rsa", "rsa-pss-sha256", "pem", kp["ed25519"].Public, false},
		{"rsa key for ed25519", "ed25519", "pem", kp["rsa"].Public, false},
		{"ed25519 pem", "ed25519", "pem", kp["ed25519"].Public, true},
		{"ed25519 certificate", "ed25519", "pem", edCert, true},
		{"p256", "ecdsa-p256-sha256", "pem", kp["p256"].Public, true},
		{"p384 for p256", "ecdsa-p256-sha256", "pem", kp["p384"].Public, false},
		{"private key as the secret", "ecdsa-p256-sha256", "pem", kp["p256"].Private, false},
		{"truncated pem", "rsa-pss-sha256", "pem", kp["rsa"].Public[:200], false},
		{"garbage", "rsa-pss-sha256", "pem", "not a key at all, not even close", false},
		{"whpk", "ed25519", "whpk", whpkOf(t, kp["ed25519"].Private), true},
		{"whpk 31 bytes", "ed25519", "whpk", "whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"whpk not base64", "ed25519", "whpk", "whpk_!!!!", false},
		{"whsec as whpk", "ed25519", "whpk", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
		{"hex 16 bytes", "hmac-sha256", "hex", strings.Repeat("ab", 16), true},
		{"hex 15 bytes", "hmac-sha256", "hex", strings.Repeat("ab", 15), false},
		{"hex odd", "hmac-sha256", "hex", strings.Repeat("ab", 16) + "a", false},
		{"base64 16 bytes", "hmac-sha512", "base64", base64.StdEncoding.EncodeToString(make([]byte, 16)), true},
		{"base64 not base64", "hmac-sha512", "base64", "!!!!!!!!!!!!!!!!!!!!!!!!", false},
		{"raw 15 characters", "hmac-sha1", "raw", "0123456789abcde", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustAuth(t, "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: "+tt.mac+"\n  key: "+tt.key+"\n  signature: {header: X-S}\n")
			_, err := verify.New(a, []string{tt.secret})
			if tt.ok && err != nil {
				t.Fatalf("New(%s) = %v, want nil", tt.name, err)
			}
			if !tt.ok {
				if !errors.Is(err, verify.ErrNoSecret) {
					t.Fatalf("New(%s) = %v, want ErrNoSecret", tt.name, err)
				}
				if len(tt.secret) > 8 && strings.Contains(err.Error(), tt.secret[len(tt.secret)/2:]) {
					t.Errorf("New(%s) error %q holds the secret", tt.name, err)
				}
			}
		})
	}
	t.Run("public key secrets cannot be generated", func(t *testing.T) {
		a := mustAuth(t, "scheme: recipe\nrecipe:\n  signed: \"{body}\"\n  mac: ed25519\n  signature: {header: X-S}\n")
		if _, err := a.NewSecret(); !errors.Is(err, verify.ErrCannotGenerate) {
			t.Errorf("NewSecret(ed25519) = %v, want ErrCannotGenerate", err)
		}
		if _, err := (verify.Signer{Auth: a, Secret: whpkOf(t, kp["ed25519"].Private)}).Sign(body, "x", epoch); !errors.Is(err, verify.ErrCannotSign) {
			t.Errorf("Sign(with the public key) = %v, want ErrCannotSign", err)
		}
	})
}

func certificateOf(t testing.TB, privPEM string) string {
	k := ed25519Of(t, privPEM)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sender"},
		NotBefore: epoch, NotAfter: epoch.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestRecipeTimestampUnits checks each unit's strict parsing: only what the unit allows.
func TestRecipeTimestampUnits(t *testing.T) {
	tests := []struct {
		unit, text string
		ok         bool
	}{
		{"seconds", "1700000000", true},
		{"seconds", "1700000000000", false},
		{"seconds", "+1700000000", false},
		{"seconds", " 1700000000", false},
		{"seconds", "1700000000.5", false},
		{"milliseconds", "1700000000000", true},
		{"milliseconds", "-1700000000000", false},
		{"milliseconds", "1.7e12", false},
		{"rfc3339", "2023-11-14T22:13:20Z", true},
		{"rfc3339", "2023-11-14T22:13:20.000+00:00", true},
		{"rfc3339", "2023-11-14 22:13:20Z", false},
		{"rfc3339", "1700000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.unit+" "+tt.text, func(t *testing.T) {
			a := mustAuth(t, "scheme: recipe\nrecipe:\n  signed: \"{timestamp}.{body}\"\n  mac: hmac-sha256\n  signature: {header: X-S}\n  timestamp: {header: X-T, unit: "+tt.unit+"}\n")
			v, err := verify.New(a, []string{plain1})
			if err != nil {
				t.Fatal(err)
			}
			mac := hmacHex(plain1, tt.text+"."+string(body))
			h := http.Header{"X-S": {mac}, "X-T": {tt.text}}
			_, err = v.Verify(&verify.Request{Header: h, Body: body, Now: epoch})
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%s %q) = %v, want ok=%v", tt.unit, tt.text, err, tt.ok)
			}
		})
	}
}

// TestRecipeExplain checks that Explain says which check failed, in general terms.
func TestRecipeExplain(t *testing.T) {
	c := recipeCases(t)[3] // twilio-like: url + form
	a := mustAuth(t, c.yaml)
	v, err := verify.New(a, []string{c.secret})
	if err != nil {
		t.Fatal(err)
	}
	good := signCase(t, a, c, epoch)
	tests := []struct {
		name   string
		edit   func(r *verify.Request)
		failed string // the name of the failing check
		detail string
	}{
		{"all good", func(*verify.Request) {}, "", ""},
		{"missing header", func(r *verify.Request) { r.Header = http.Header{} }, "signature header X-Twilio-Signature", "missing X-Twilio-Signature header"},
		{"proxy turned https into http", func(r *verify.Request) { r.URL = strings.Replace(r.URL, "https:", "http:", 1) }, "signature", "no signature in X-Twilio-Signature matches"},
		{"no public_url", func(r *verify.Request) { r.URL = "" }, "URL", "public_url is not set"},
		{"body not a form", func(r *verify.Request) { r.Body = []byte("a=%zz") }, "form body", "not a form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := clone(good)
			tt.edit(r)
			checks := verify.Explain(v, r)
			var failed *verify.Check
			for i := range checks {
				if !checks[i].OK && checks[i].Name != "URL probe" {
					failed = &checks[i]
					break
				}
			}
			if tt.failed == "" {
				if failed != nil {
					t.Fatalf("Explain = %+v, want every check passed", checks)
				}
				return
			}
			if failed == nil || failed.Name != tt.failed || !strings.Contains(failed.Detail, tt.detail) {
				t.Fatalf("Explain = %+v, want check %q failed with %q", checks, tt.failed, tt.detail)
			}
			for _, ch := range checks {
				checkErrorText(t, errors.New(ch.Detail), nil, c.secret)
			}
			if tt.name == "proxy turned https into http" {
				last := checks[len(checks)-1]
				if last.Name != "URL probe" || !strings.Contains(last.Detail, "https://hooks.example.net/hooks/twilio?foo=1&bar=2") {
					t.Errorf("Explain probe = %+v, want it to find the https URL", last)
				}
			}
		})
	}
}

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// templateSeeds are the templates of the tables, and some odd ones.
func templateSeeds(t testing.TB) []string {
	out := []string{"{body}", "{{{body}}}", "{{}}", "{", "}", "{header:}", "{header:X-A}{header:X-A}{form}", "{url}{form}",
		"v0:{timestamp}:{body}", "{id}.{timestamp}.{body}", "\x00{body}", "{body}\n", strings.Repeat("{body}", 40)}
	for _, c := range recipeCases(t) {
		var p struct {
			Recipe struct {
				Signed string `yaml:"signed"`
			} `yaml:"recipe"`
		}
		if err := yaml.Unmarshal([]byte(c.yaml), &p); err == nil {
			out = append(out, p.Recipe.Signed)
		}
	}
	return out
}

// FuzzRecipeTemplate checks the template parser through the recipe scheme: it never panics, and
// a template it accepts gives a recipe that verifies what it signs and refuses a changed body.
func FuzzRecipeTemplate(f *testing.F) {
	for _, s := range templateSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		params := &verify.RecipeParams{Recipe: &verify.Recipe{Signed: tmpl, MAC: "hmac-sha256",
			Signature: verify.SignatureSpec{Header: "X-S"}}}
		if strings.Contains(tmpl, "{timestamp}") {
			params.Recipe.Timestamp = &verify.TimestampSpec{Header: "X-T"}
		}
		if strings.Contains(tmpl, "{id}") {
			params.Recipe.ID = &verify.IDSpec{Header: "X-Id"}
		}
		a, err := verify.CompileAuth("recipe", 0, params)
		if err != nil {
			return
		}
		v, err := verify.New(a, []string{plain1})
		if err != nil {
			t.Fatal(err)
		}
		b := []byte("a=1&b=2")
		m := &verify.Message{URL: "https://h.example/hooks/x", Body: b, ID: "evt", Time: epoch, Header: map[string]string{}}
		for _, h := range []string{"X-A", "X-B"} {
			m.Header[h] = "v"
		}
		if err := (verify.Signer{Auth: a, Secret: plain1}).SignMessage(m); err != nil {
			return // a {header:Name} the message lacks
		}
		h := http.Header{}
		for k, val := range m.Header {
			h.Set(k, val)
		}
		r := &verify.Request{Header: h, Body: b, URL: m.URL, Now: epoch}
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("template %q: Verify(signed) = %v", tmpl, err)
		}
		r.Body = []byte("a=1&b=3")
		if _, err := v.Verify(r); !errors.Is(err, verify.ErrBadSignature) {
			t.Fatalf("template %q: Verify(changed body) = %v, want ErrBadSignature", tmpl, err)
		}
	})
}

// FuzzRecipeAuth feeds auth sections to DecodeAuth: it never panics, every problem has a
// message, and a recipe it accepts verifies what its own signer signs.
func FuzzRecipeAuth(f *testing.F) {
	for _, tt := range recipeProblemTests {
		f.Add(tt.yaml)
	}
	for _, c := range recipeCases(f) {
		f.Add(c.yaml)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var root yaml.Node
		if yaml.Unmarshal([]byte(text), &root) != nil || len(root.Content) == 0 {
			return
		}
		a, problems := verify.DecodeAuth(root.Content[0])
		for _, p := range problems {
			if p.Message == "" {
				t.Fatalf("DecodeAuth(%q): a problem without a message", text)
			}
		}
		if len(problems) > 0 {
			return
		}
		secret, err := a.NewSecret()
		if err != nil {
			return // a public key: the sender makes it
		}
		v, err := verify.New(a, []string{secret})
		if err != nil {
			t.Fatalf("DecodeAuth(%q): its own fresh secret is refused: %v", text, err)
		}
		m := &verify.Message{URL: "https://h.example/hooks/x", ContentType: "application/x-www-form-urlencoded",
			Body: []byte("a=1"), ID: "evt", Time: epoch, Header: map[string]string{}}
		if err := (verify.Signer{Auth: a, Secret: secret}).SignMessage(m); err != nil {
			return
		}
		h := http.Header{}
		for k, val := range m.Header {
			if !regexpToken.MatchString(k) || strings.ContainsAny(val, "\r\n\x00") {
				t.Fatalf("DecodeAuth(%q): the signer makes header %q: %q, which HTTP cannot carry", text, k, val)
			}
			h.Add(k, val)
		}
		if _, err := v.Verify(&verify.Request{Header: h, Body: m.Body, URL: m.URL, Now: epoch}); err != nil {
			t.Fatalf("DecodeAuth(%q): Verify(own signature) = %v", text, err)
		}
	})
}

var regexpToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// FuzzRecipeVerify fuzzes each recipe case's verifier (every mac, encoding, list and timestamp
// form): a fuzzed body and signature header never panic and are refused unless they are the
// signed ones; a signed body verifies and a changed byte of it is refused.
func FuzzRecipeVerify(f *testing.F) {
	cases := recipeCases(f)
	for i := range cases {
		f.Add(uint8(i), []byte(`{"id":1}`), "")
		f.Add(uint8(i), []byte("To=%2B1&Body=hi"), "v0=00")
	}
	f.Add(uint8(1), []byte("x"), "t=1,v1=00,v1=zz,t=2")
	f.Add(uint8(2), []byte("x"), "v1,AAAA v1a,BBBB")
	auths := make([]verify.Auth, len(cases))
	verifiers := make([]verify.Verifier, len(cases))
	for i, c := range cases {
		auths[i] = mustAuth(f, c.yaml)
		v, err := verify.New(auths[i], []string{c.secret})
		if err != nil {
			f.Fatal(err)
		}
		verifiers[i] = v
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte, sig string) {
		i := int(which) % len(cases)
		c, v := cases[i], verifiers[i]
		if len(b) == 0 {
			return
		}
		c.body = b
		if c.contentType != "" {
			c.body = []byte("a=" + url.QueryEscape(string(b)))
		}
		good := signCase(t, auths[i], c, epoch)
		if _, err := v.Verify(good); err != nil {
			t.Fatalf("%s: Verify(signed %q) = %v", c.name, b, err)
		}
		bad := clone(good)
		if c.contentType != "" {
			bad.Body = append(bad.Body, "&z=1"...) // a form's bytes may change and decode the same
		} else {
			bad.Body[int(which)%len(bad.Body)] ^= 0x20
		}
		if _, err := v.Verify(bad); !errors.Is(err, verify.ErrBadSignature) {
			t.Fatalf("%s: Verify(changed body) = %v, want ErrBadSignature", c.name, err)
		}
		var header string
		for k := range good.Header.(http.Header) {
			if strings.Contains(strings.ToLower(k), "sig") || strings.EqualFold(k, "X-Ec") || strings.EqualFold(k, "X-Rsa") || strings.EqualFold(k, "X-Ed") {
				header = k
			}
		}
		forged := clone(good)
		forged.Header.(http.Header).Set(header, sig)
		_, err := v.Verify(forged)
		if err == nil && sig != good.Header.(http.Header).Get(header) && !strings.EqualFold(sig, good.Header.(http.Header).Get(header)) {
			// Another spelling of the same signature (base64 alphabet or padding, a list with
			// the genuine item) is fine; anything else is a forgery.
			if !strings.Contains(sig, strings.TrimRight(good.Header.(http.Header).Get(header), "=")[len(good.Header.(http.Header).Get(header))/2:]) {
				t.Fatalf("%s: Verify(signature %q) = nil, want a refusal", c.name, sig)
			}
		}
		if err != nil && !errors.Is(err, verify.ErrBadSignature) && !errors.Is(err, verify.ErrTimestamp) {
			t.Fatalf("%s: Verify(signature %q) = %v, want ErrBadSignature", c.name, sig, err)
		}
	})
}
